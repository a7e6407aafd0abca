import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { HasherFactory } from '../core/hash.js';
import type { Signature, SignatureParams } from '../core/params.js';
import { DEFAULT_MAX_BLOCKS } from '../core/signature-builder.js';
import { byteChunks, type ByteSource } from './chunks.js';
import { fileSha256 } from './file-sha256.js';
import { fileVersion } from './file-version.js';
import { nodeSha256 } from './node-sha256.js';
import type { ProgressMeter } from './progress.js';
import { WorkerPool } from './worker-pool.js';
import type { BlockSums, WorkerTask } from './_worker-protocol.js';

/** Options of the parallel signature paths. */
export interface ParallelSignatureOptions {
  /** Worker threads, 2 or more. */
  workers: number;
  /** Measure the whole basis's SHA-256 on the main thread (the native format carries it). */
  withSha256: boolean;
  meter: ProgressMeter;
  signal?: AbortSignal;
  sha256?: HasherFactory;
  /** A pool to reuse (left open); default a pool of `workers` made and closed here. */
  pool?: WorkerPool;
  /** Bytes of basis per worker task, rounded down to whole blocks; default 8 MiB (files), 4 MiB (streams). */
  pieceBytes?: number;
}

/** Gathers block sums in block order into one signature. */
class SumsAssembler {
  private readonly pieces: BlockSums[] = [];
  private count = 0;

  constructor(private readonly params: SignatureParams) {}

  add(s: BlockSums): void {
    this.count += s.blockCount;
    checkBlockCount(this.count, this.params.blockLength);
    this.pieces.push(s);
  }

  finish(basisLength: number, basisSha256: Uint8Array | undefined): Signature {
    const p = this.params;
    const n = this.count;
    const weak = new Uint32Array(n);
    const strong = new Uint8Array(n * p.strongLength);
    let at = 0;
    for (const s of this.pieces) {
      weak.set(s.weak, at);
      strong.set(s.strong, at * p.strongLength);
      at += s.blockCount;
    }
    return { blockLength: p.blockLength, strongLength: p.strongLength, rollsum: p.rollsum, hash: p.hash, blockCount: n, weak, strong, basisLength, basisSha256 };
  }
}

function checkBlockCount(count: number, blockLength: number): void {
  if (count > DEFAULT_MAX_BLOCKS) {
    throw new RolldeltaError(ErrorCode.LIMIT, `the signature would need more than ${DEFAULT_MAX_BLOCKS} blocks of ${blockLength} bytes: use a larger blockLength or raise maxBlocks`);
  }
}

function blocksPerPiece(blockLength: number, pieceBytes: number): number {
  return Math.max(1, Math.floor(pieceBytes / blockLength));
}

function changedWhileSigned(path: string, what: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.IO, `${path} ${what}: the file changed while its signature was made; try again`);
}

/** Awaited later, in order; this only keeps a rejection from being reported as unhandled meanwhile. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * Signature of the file at `path` (`size` bytes): the file is cut into pieces of whole blocks, each
 * worker reads its pieces with positional reads and sums their blocks, and the sums are joined in
 * block order; meanwhile the main thread streams the file once for its SHA-256 (native format only).
 * Byte-identical to the one-thread SignatureBuilder.
 * @example
 * const sig = await fileSignatureParallel('old.bin', size, params, { workers: 2, withSha256: true, meter });
 */
export async function fileSignatureParallel(path: string, size: number, params: SignatureParams, opts: ParallelSignatureOptions): Promise<Signature> {
  const bl = params.blockLength;
  checkBlockCount(Math.ceil(size / bl), bl);
  // Each task opens the file anew: one replaced by a file of the same size or larger meanwhile
  // would give sums of both, a signature of neither (its deltas failing ERR_CHECKSUM on the
  // device). Its version before the first task and after the last tells, and its size now the
  // caller's (one that grew since would be summed only up to `size`).
  const { version, size: now } = await fileVersion(path);
  if (now !== size) throw changedWhileSigned(path, `has ${now} bytes, expected ${size}`);
  const step = blocksPerPiece(bl, opts.pieceBytes ?? 8 << 20) * bl;
  const pool = opts.pool ?? new WorkerPool(opts.workers, { signal: opts.signal });
  // The hash ends with the signature: after a worker's failure (the file replaced or removed
  // meanwhile) it read on to the file's end, holding it open (a deleted one's space too) after
  // the call had failed.
  const hashing = new AbortController();
  const stopHashing = () => hashing.abort(opts.signal?.reason);
  if (opts.signal?.aborted) stopHashing();
  else opts.signal?.addEventListener('abort', stopHashing, { once: true });
  let sha: Promise<{ length: number; digest: Uint8Array }> | undefined;
  try {
    const jobs: { length: number; sums: Promise<BlockSums> }[] = [];
    for (let start = 0; start < size; start += step) {
      const end = Math.min(start + step, size);
      const task: WorkerTask = { kind: 'signature-range', params, path, start, end };
      jobs.push({ length: end - start, sums: quiet(pool.run<BlockSums>(task)) });
    }
    sha = opts.withSha256 ? quiet(fileSha256(path, { sha256: opts.sha256, signal: hashing.signal })) : undefined;
    const asm = new SumsAssembler(params);
    for (const j of jobs) {
      asm.add(await j.sums);
      opts.meter.input(j.length);
    }
    const whole = await sha;
    if (whole && whole.length !== size) throw changedWhileSigned(path, `has ${whole.length} bytes, expected ${size}`);
    if ((await fileVersion(path)).version !== version) throw changedWhileSigned(path, 'was replaced or written to');
    return asm.finish(size, whole?.digest);
  } finally {
    opts.signal?.removeEventListener('abort', stopHashing);
    hashing.abort();
    await sha?.catch(() => {});
    if (!opts.pool) await pool.close();
  }
}

/**
 * Signature of a basis that can only be read in order (a pipe, stdin): the main thread cuts the
 * chunks into pieces of whole blocks, hashes them for the basis SHA-256 (native format only) and
 * hands each piece to the next free worker (pieces live in SharedArrayBuffers: handed over without
 * a copy, and without detaching anything; see WorkerPool); sums are joined in block
 * order. At most 2 pieces per worker are in flight, and their buffers are reused: memory stays bounded.
 * @example
 * const sig = await streamSignatureParallel(process.stdin, params, { workers: 2, withSha256: true, meter });
 */
export async function streamSignatureParallel(source: ByteSource, params: SignatureParams, opts: ParallelSignatureOptions): Promise<Signature> {
  const pieceLength = blocksPerPiece(params.blockLength, opts.pieceBytes ?? 4 << 20) * params.blockLength;
  const sha = opts.withSha256 ? (opts.sha256 ?? nodeSha256)() : undefined;
  const pool = opts.pool ?? new WorkerPool(opts.workers, { signal: opts.signal });
  const asm = new SumsAssembler(params);
  const inFlight: Promise<BlockSums>[] = [];
  const maxInFlight = 2 * opts.workers;
  // Pieces are reused once their task is done (send waits for the oldest before a slot's turn
  // comes again): fresh ones were freed only when a worker's collector ran too, which it seldom
  // does, and a 256 MB pipe to two workers peaked at 219 MB RSS.
  const pieces: Uint8Array[] = [];
  let sent = 0;
  const nextPiece = () => (pieces[sent % maxInFlight] ??= new Uint8Array(new SharedArrayBuffer(pieceLength)));
  const send = async (bytes: Uint8Array): Promise<void> => {
    if (pool.error) throw pool.error; // stop reading the source at once, not at the next full queue
    sha?.update(bytes);
    const task: WorkerTask = { kind: 'signature-bytes', params, bytes };
    inFlight.push(quiet(pool.run<BlockSums>(task)));
    sent++;
    while (inFlight.length >= maxInFlight) asm.add(await inFlight.shift()!);
  };
  try {
    let length = 0;
    let piece = nextPiece();
    let fill = 0;
    for await (const chunk of byteChunks(source, opts.signal)) {
      length += chunk.length;
      for (let i = 0; i < chunk.length; ) {
        const take = Math.min(pieceLength - fill, chunk.length - i);
        piece.set(chunk.subarray(i, i + take), fill);
        fill += take;
        i += take;
        if (fill === pieceLength) {
          await send(piece);
          piece = nextPiece();
          fill = 0;
        }
      }
      opts.meter.input(chunk.length);
    }
    if (fill > 0) await send(piece.subarray(0, fill));
    while (inFlight.length > 0) asm.add(await inFlight.shift()!);
    return asm.finish(length, sha?.digest());
  } finally {
    if (!opts.pool) await pool.close();
  }
}
