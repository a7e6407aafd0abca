import { createHash } from 'node:crypto';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { equalBytes, toHex } from '../core/bytes.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { planInPlace, type InPlacePlan } from '../core/in-place-plan.js';
import type { OpSink } from '../core/ops.js';
import type { DeltaHeader } from '../format/delta-header.js';
import type { DecodeLimits } from '../format/limits.js';
import { NativeDeltaDecoder, pushFrameByFrame } from '../format/native-delta-decoder.js';
import type { NativeTrailer } from '../format/native-delta-encoder.js';
import { NATIVE_DELTA_MAGIC } from '../format/native-magic.js';
import { openFresh, readJournal, removeJournal, writeJournal, type InPlaceJournal } from './in-place-journal.js';
import { fileSha256 } from './file-sha256.js';
import { ioError, systemErrorIn } from './io-error.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { reusedFileChunks } from './reused-chunks.js';

/** Options of {@link patchInPlace}. */
export interface PatchInPlaceOptions {
  /** Most bytes saved aside to break copy cycles (a delta made with `inPlace` needs none). Default 64 MiB. */
  maxStashBytes?: number;
  limits?: Partial<DecodeLimits>;
  /** Test hook: called at each durable checkpoint with its number; throwing there simulates a crash. */
  onCheckpoint?: (n: number) => void;
}

/** What an in-place patch did. */
export interface PatchInPlaceResult {
  targetLength: number;
  /** True when an interrupted run was finished. */
  resumed: boolean;
  /** Bytes of copies saved aside to break cycles. */
  stashedBytes: number;
  /** The file already was the delta's target (patched before, a retry after a crash): nothing was written. */
  alreadyTarget: boolean;
}

const CHUNK = 1 << 20;
/** Write-ahead records stay below this, so journal and its temporary copy need < 1 MB of disk. */
const WAL_CHUNK = 256 << 10;
/** Copies run between two checkpoints when none conflicts: bounds the conflict checks. */
const MAX_PENDING = 1024;
/** Pieces up to this long go through write-ahead batches (cut copies are often a few bytes). */
const SMALL_PIECE = 64 << 10;
/**
 * File requests in flight at once (replaying write-ahead records, reading a batch's ranges): one
 * at a time, each cost a trip through the thread pool; all at once, the thousands of small adds
 * of a tar's headers held as many requests (the npm tree's peak 92 → 83-87 MiB with this bound).
 */
const IN_FLIGHT = 128;
/** Literal bytes written between two checkpoints of phase 2. */
const LITERAL_CHECKPOINT = 8 << 20;

/** Copies and adds of a delta (reads of the basis), in op order, plus what phase 2 needs. */
interface DeltaShape {
  header: DeltaHeader;
  trailer: NativeTrailer;
  targetOffset: Float64Array;
  sourceOffset: Float64Array;
  length: Float64Array;
  count: number;
}

/**
 * Rewrites the basis file at `path` into the target of the native delta at `deltaPath`, within
 * the same file: no second copy on disk. Copies run in an order where none reads bytes already
 * overwritten (cycles broken by saving the smallest pieces of copies aside first, in `<path>.rdstash`);
 * then literals and adds are written in op order; the file is truncated or grown to the target
 * length and its SHA-256 checked. A journal, `<path>.rdjournal`, records progress durably: a
 * killed run is resumed by calling again with the same delta, and before the first write the
 * file is untouched. The basis is checked against the delta's basis length and SHA-256 first;
 * a file that already is the delta's target (run again after it finished) is left as it is, and
 * the result says `alreadyTarget`.
 * While a journal exists the file is half patched: do not replace it (a journal resumes whatever
 * the path holds); to abandon a patch, restore the file and delete the journal and stash.
 * @example
 * await patchInPlace('/data/rootfs.img', '/tmp/update.rdelta');
 */
export async function patchInPlace(path: string, deltaPath: string, opts: PatchInPlaceOptions = {}): Promise<PatchInPlaceResult> {
  const journalPath = `${path}.rdjournal`;
  const stashPath = `${path}.rdstash`;
  const deltaSha = await sha256File(deltaPath);
  let journal = await readJournal(journalPath);
  if (journal !== undefined && journal.delta !== deltaSha) {
    throw new RolldeltaError(
      ErrorCode.INVALID_ARGUMENT,
      `${path} is half way through an in-place patch with another delta (${journal.delta.slice(0, 12)}…); finish it with that delta first`,
    );
  }
  const resumed = journal !== undefined;
  const shape = await readShape(deltaPath, opts.limits);
  const plan = planInPlace(shape);
  const planSha = createHash('sha256').update(plan.order).update(plan.broken).digest('hex');
  if (journal !== undefined && journal.plan !== planSha) {
    throw new RolldeltaError(
      ErrorCode.UNSUPPORTED,
      `${path} is half way through an in-place patch planned by another rolldelta version; finish it with the version that started it`,
    );
  }
  const maxStash = opts.maxStashBytes ?? 64 << 20;
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (e) {
    throw ioError(e, 'open for in-place patching', path);
  }
  let checkpoints = 0;
  // From the first journal on, the file is being rewritten: a failure leaves it to be resumed.
  let journaled = resumed;
  try {
    if (journal === undefined) {
      if ((await basisOrTarget(fh, path, shape.header, shape.trailer)) === 'target') {
        await unlink(stashPath).catch(() => {}); // a finished run stopped before it removed its stash
        return { targetLength: shape.trailer.targetLength, resumed: false, stashedBytes: 0, alreadyTarget: true };
      }
      if (plan.brokenBytes > maxStash) {
        throw new RolldeltaError(
          ErrorCode.LIMIT,
          `patching ${path} in place needs ${plan.brokenBytes} bytes saved aside to break copy cycles, above maxStashBytes ${maxStash}; make the delta with the in-place option, or patch to a new file`,
        );
      }
      await writeStash(fh, stashPath, plan);
      journal = { delta: deltaSha, plan: planSha, phase: 1, step: 0, op: 0, chunk: 0, wal: [], walBytes: new Uint8Array(0) };
      await writeJournal(journalPath, journal);
      journaled = true;
    }
    const targetLength = shape.trailer.targetLength;
    const { size } = await fh.stat();
    if (targetLength > size) await fh.truncate(targetLength);
    const run = new Runner(fh, journalPath, journal, () => opts.onCheckpoint?.(checkpoints++));
    if (journal.phase === 1) await run.copies(plan);
    if (run.journal.phase === 2) await run.literalsAndAdds(deltaPath, plan, stashPath, opts.limits);
    await fh.truncate(targetLength);
    await fh.sync();
    const got = await sha256Handle(fh, targetLength);
    if (!equalBytes(got, shape.trailer.targetSha256)) {
      await removeJournal(journalPath);
      journaled = false; // nothing left to resume: the stash goes too
      throw new RolldeltaError(
        ErrorCode.CHECKSUM,
        `after patching ${path} in place its SHA-256 is ${toHex(got)}, the delta promised ${toHex(shape.trailer.targetSha256)}; the file is damaged and must be restored from elsewhere`,
      );
    }
  } catch (e) {
    // Without a journal to resume from, the stash (up to maxStashBytes) is of no use to anyone.
    if (!journaled) await unlink(stashPath).catch(() => {});
    throw inPlaceFailure(e, path, journalPath, journaled);
  } finally {
    await fh.close();
  }
  await removeJournal(journalPath);
  await unlink(stashPath).catch(() => {});
  return { targetLength: shape.trailer.targetLength, resumed, stashedBytes: plan.brokenBytes, alreadyTarget: false };
}

/**
 * A failure of the file system (ENOSPC, EIO: Node's bare errors from the file's own writes) as
 * ERR_IO naming the file and saying what state it is in: unchanged before the journal exists,
 * half patched and resumable after.
 */
function inPlaceFailure(e: unknown, path: string, journalPath: string, journaled: boolean): unknown {
  const system = systemErrorIn(e);
  if (system === undefined) return e;
  const what = system === e ? ioError(e, 'patch in place', path).message : (e as RolldeltaError).message;
  const state = journaled ? `${path} is half patched: run again with the same delta to finish it (${journalPath} records how far it got)` : `${path} is unchanged`;
  return new RolldeltaError(ErrorCode.IO, `${what}; ${state}`, { cause: system });
}

/** The two passes over the file, with the journal kept one durable step behind the writes. */
class Runner {
  /** Basis ranges read since the last checkpoint: a write over one of them needs a checkpoint first. */
  private pendingStart: number[] = [];
  private pendingEnd: number[] = [];
  /**
   * Reused for every batch: the write-ahead bytes (free again once a checkpoint has dropped
   * them from the journal) and the ranges read to gather them. Fresh ones per batch were garbage
   * at ~4 MiB a batch: the 256 MiB in-place patch peaked 6-9 MiB higher waiting for collections.
   */
  private readonly walBuffer = new Uint8Array(WAL_CHUNK);
  private readonly rangeBuffer = new Uint8Array(WAL_CHUNK + GAP_BUDGET);

  constructor(
    private readonly fh: FileHandle,
    private readonly journalPath: string,
    public journal: InPlaceJournal,
    private readonly oncheckpoint: () => void,
  ) {}

  private async checkpoint(next: Partial<InPlaceJournal>): Promise<void> {
    await this.fh.sync();
    this.journal = { ...this.journal, chunk: 0, wal: [], walBytes: new Uint8Array(0), ...next };
    await writeJournal(this.journalPath, this.journal);
    this.pendingStart = [];
    this.pendingEnd = [];
    this.oncheckpoint();
  }

  /** Phase 1: the copies (and the basis part of adds) in planned order. */
  async copies(plan: InPlacePlan): Promise<void> {
    const { order, pieces } = plan;
    const j = this.journal;
    if (j.wal.length > 0) await this.replayWal();
    // Small pieces are gathered into write-ahead batches: all their sources are read first (in
    // plan order no piece reads what an earlier one writes, so reading ahead is safe), logged,
    // then written, with one checkpoint per batch instead of one per conflict.
    let batch: number[] = []; // source, target, length of each piece
    let batchBytes = 0;
    const flushBatch = async (next: number) => {
      if (batch.length === 0) return;
      const { wal, walBytes } = await gatherPieces(this.fh, batch, batchBytes, this.walBuffer, this.rangeBuffer);
      await this.fh.sync();
      this.journal = { ...this.journal, step: next, chunk: 0, wal, walBytes };
      await writeJournal(this.journalPath, this.journal);
      await this.replayWal();
      batch = [];
      batchBytes = 0;
      await this.checkpoint({ step: next });
    };
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let s = j.step; s < order.length; s++) {
      const i = order[s]!;
      const dst = pieces.targetOffset[i]!;
      const src = pieces.sourceOffset[i]!;
      const len = pieces.length[i]!;
      if (dst === src) continue;
      if (len <= SMALL_PIECE) {
        if (batchBytes + len > WAL_CHUNK) await flushBatch(s);
        batch.push(src, dst, len);
        batchBytes += len;
        continue;
      }
      await flushBatch(s);
      if (src < dst + len && dst < src + len) {
        // Overlaps its own source: moved in write-ahead chunks, in memmove's direction.
        if (this.pendingStart.length > 0) await this.checkpoint({ step: s });
        await this.moveOverlapping(s, src, dst, len, s === j.step ? j.chunk : 0);
        await this.checkpoint({ step: s + 1 });
        continue;
      }
      if (this.conflicts(dst, dst + len) || this.pendingStart.length >= MAX_PENDING) await this.checkpoint({ step: s });
      for (let o = 0; o < len; o += CHUNK) {
        const n = Math.min(CHUNK, len - o);
        await writeAt(this.fh, dst + o, await readAt(this.fh, src + o, n, buf));
      }
      this.pendingStart.push(src);
      this.pendingEnd.push(src + len);
    }
    await flushBatch(order.length);
    await this.checkpoint({ phase: 2, step: order.length, op: 0 });
  }

  private conflicts(a: number, b: number): boolean {
    const s = this.pendingStart;
    const e = this.pendingEnd;
    for (let k = 0; k < s.length; k++) if (s[k]! < b && a < e[k]!) return true;
    return false;
  }

  private async moveOverlapping(step: number, src: number, dst: number, len: number, fromChunk: number): Promise<void> {
    const chunks = Math.ceil(len / WAL_CHUNK);
    for (let c = fromChunk; c < chunks; c++) {
      // Forward when moving down, backward when moving up: no chunk reads what another wrote.
      const k = dst < src ? c : chunks - 1 - c;
      const o = k * WAL_CHUNK;
      const n = Math.min(WAL_CHUNK, len - o);
      const bytes = await readAt(this.fh, src + o, n, this.walBuffer);
      this.journal = { ...this.journal, step, chunk: c + 1, wal: [{ offset: dst + o, length: n }], walBytes: bytes };
      await writeJournal(this.journalPath, this.journal);
      await writeAt(this.fh, dst + o, bytes);
      await this.fh.sync();
      this.oncheckpoint();
    }
  }

  private async replayWal(): Promise<void> {
    // The records never overlap: written several at once.
    const { wal, walBytes } = this.journal;
    const at = recordStarts(wal);
    await inFlight(wal, (w, k) => writeAt(this.fh, w.offset, walBytes.subarray(at[k]!, at[k]! + w.length)));
    await this.fh.sync();
  }

  /** Phase 2: literals, adds (their sums written ahead) and stashed copies, in op order. */
  async literalsAndAdds(deltaPath: string, plan: InPlacePlan, stashPath: string, limits?: Partial<DecodeLimits>): Promise<void> {
    if (this.journal.wal.length > 0) await this.replayWal();
    // Per copy index: its cycle-breaking pieces (target offset, length, offset in the stash).
    const stashed = new Map<number, number[]>();
    let stashOffset = 0;
    for (const k of plan.broken) {
      const c = plan.copyOf[k]!;
      const list = stashed.get(c) ?? [];
      list.push(plan.pieces.targetOffset[k]!, plan.pieces.length[k]!, stashOffset);
      stashed.set(c, list);
      stashOffset += plan.pieces.length[k]!;
    }
    const stash = plan.broken.length > 0 ? await open(stashPath, 'r') : undefined;
    const fh = this.fh;
    const from = this.journal.op;
    let wal: { offset: number; length: number }[] = [];
    // The adds' diff bytes for the records in `wal`, at the same offsets as their sums will be.
    const diffs = new Uint8Array(WAL_CHUNK);
    let walBytes = 0;
    let sinceCheckpoint = 0;
    // Makes everything up to op `nextOp` (and its first `nextChunk` add pieces) durable: the
    // plain writes are synced before the journal moves past them, the sums logged before written.
    const flush = async (nextOp: number, nextChunk = 0) => {
      await fh.sync();
      if (wal.length > 0) {
        this.journal = { ...this.journal, op: nextOp, chunk: nextChunk, wal, walBytes: await readSums(fh, wal, diffs, walBytes, this.walBuffer, this.rangeBuffer) };
        await writeJournal(this.journalPath, this.journal);
        await this.replayWal();
        wal = [];
        walBytes = 0;
      }
      await this.checkpoint({ op: nextOp, chunk: nextChunk });
      sinceCheckpoint = 0;
    };
    const fromChunk = this.journal.chunk;
    try {
      let op = 0;
      let copyIndex = 0;
      let at = 0;
      for await (const batch of decodeOps(deltaPath, limits)) {
        for (const o of batch) {
          const len = o.kind === 'literal' ? o.data!.length : o.length;
          if (op >= from) {
            if (o.kind === 'literal') {
              await writeAt(fh, at, o.data!);
              sinceCheckpoint += len;
            } else {
              // Cycle-breaking pieces get their basis bytes back from the stash (a plain copy of
              // saved bytes: repeating it is harmless); for an add they are the bytes summed below.
              // Resuming inside an add: what lies below `summed` already holds sums, keep it.
              const summed = o.kind === 'add' && op === from ? at + fromChunk * WAL_CHUNK : 0;
              const pieces = stashed.get(copyIndex) ?? [];
              for (let q = 0; q < pieces.length; q += 3) {
                const start = Math.max(pieces[q]!, summed);
                const end = pieces[q]! + pieces[q + 1]!;
                for (let t = start; t < end; t += CHUNK) {
                  const n = Math.min(CHUNK, end - t);
                  await writeAt(fh, t, await readAt(stash!, pieces[q + 2]! + (t - pieces[q]!), n));
                }
                sinceCheckpoint += Math.max(0, end - start);
              }
              if (o.kind === 'add') {
                // The basis bytes are in place now; the sum is logged before it is written,
                // because a rerun could not recompute it from overwritten bytes. It is read at
                // the flush, with the others of its batch: until then nothing writes there.
                // Pieces an interrupted run already summed are in the file: never add twice.
                for (let k = op === from ? fromChunk * WAL_CHUNK : 0; k < len; k += WAL_CHUNK) {
                  const n = Math.min(WAL_CHUNK, len - k);
                  if (walBytes + n > WAL_CHUNK) await flush(op, k / WAL_CHUNK);
                  wal.push({ offset: at + k, length: n });
                  diffs.set(o.data!.subarray(k, k + n), walBytes);
                  walBytes += n;
                }
              }
            }
            if (sinceCheckpoint >= LITERAL_CHECKPOINT) await flush(op + 1);
          }
          if (o.kind !== 'literal') copyIndex++;
          at += len;
          op++;
        }
      }
      await flush(op);
      await this.checkpoint({ phase: 3, op });
    } finally {
      await stash?.close();
    }
  }
}

/**
 * The sums of a batch of adds, in `into`: each record's bytes in the file plus its diff (at the
 * same offset in `diffs`). Read one at a time, each add cost a trip through the thread pool; the
 * npm tree pair has an add per tar header.
 */
async function readSums(
  fh: FileHandle,
  wal: { offset: number; length: number }[],
  diffs: Uint8Array,
  bytes: number,
  into: Uint8Array,
  scratch: Uint8Array,
): Promise<Uint8Array> {
  const sums = into.subarray(0, bytes);
  await readRanges(
    fh,
    wal.map((w) => w.offset),
    wal.map((w) => w.length),
    recordStarts(wal),
    sums,
    scratch,
  );
  for (let i = 0; i < bytes; i++) sums[i] = (sums[i]! + diffs[i]!) & 0xff;
  return sums;
}

/**
 * Reads the sources of a batch of pieces (source, target, length triples, `bytes` in all) into
 * `into` as write-ahead records: by target, pieces that meet joined into one record. The plan
 * cuts copies into pieces of a few hundred bytes where an insertion shifts them, and a batch
 * holds hundreds: reading and writing each alone cost two system calls (and two trips through
 * the thread pool) per piece.
 */
async function gatherPieces(
  fh: FileHandle,
  batch: number[],
  bytes: number,
  into: Uint8Array,
  scratch: Uint8Array,
): Promise<{ wal: { offset: number; length: number }[]; walBytes: Uint8Array }> {
  const n = batch.length / 3;
  const byTarget = Array.from({ length: n }, (_, k) => k).sort((a, b) => batch[3 * a + 1]! - batch[3 * b + 1]!);
  const walBytes = into.subarray(0, bytes);
  const slots = new Array<number>(n);
  const wal: { offset: number; length: number }[] = [];
  let at = 0;
  for (const k of byTarget) {
    const dst = batch[3 * k + 1]!;
    const len = batch[3 * k + 2]!;
    slots[k] = at;
    const last = wal[wal.length - 1];
    if (last && last.offset + last.length === dst) last.length += len;
    else wal.push({ offset: dst, length: len });
    at += len;
  }
  const sources = Array.from({ length: n }, (_, k) => batch[3 * k]!);
  const lengths = Array.from({ length: n }, (_, k) => batch[3 * k + 2]!);
  await readRanges(fh, sources, lengths, slots, walBytes, scratch);
  return { wal, walBytes };
}

/** Ranges this close are read as one (the bytes between them are read and dropped)... */
const READ_GAP = 16 << 10;
/** ...as long as a call's dropped bytes stay within this (tiny pieces far apart stay apart). */
const GAP_BUDGET = 256 << 10;

/**
 * Reads `length[k]` bytes of the file at `position[k]` into `into` at `slot[k]`, for every k
 * (at most WAL_CHUNK bytes in all): ranges close together in the file are read as one, through
 * `scratch` (WAL_CHUNK + GAP_BUDGET bytes), several at once.
 */
async function readRanges(fh: FileHandle, position: number[], length: number[], slot: number[], into: Uint8Array, scratch: Uint8Array): Promise<void> {
  const n = position.length;
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => position[a]! - position[b]!);
  // Ranges as [start, end, first member, end of members in `order`, offset in scratch].
  const ranges: number[][] = [];
  let budget = GAP_BUDGET;
  let used = 0;
  for (let r = 0; r < n; ) {
    const start = position[order[r]!]!;
    let end = start + length[order[r]!]!;
    let q = r + 1;
    for (; q < n; q++) {
      const from = position[order[q]!]!;
      const gap = Math.max(0, from - end);
      if (gap > READ_GAP || gap > budget) break;
      budget -= gap;
      end = Math.max(end, from + length[order[q]!]!);
    }
    ranges.push([start, end, r, q, used]);
    used += end - start;
    r = q;
  }
  await inFlight(ranges, async ([start, end, from, to, off]) => {
    const range = await readAt(fh, start!, end! - start!, scratch.subarray(off!));
    for (let k = from!; k < to!; k++) {
      const m = order[k]!;
      into.set(range.subarray(position[m]! - start!, position[m]! - start! + length[m]!), slot[m]!);
    }
  });
}

/** Where each write-ahead record's bytes start in the journal's `walBytes`. */
function recordStarts(wal: readonly { length: number }[]): number[] {
  const at: number[] = [];
  for (let k = 0, p = 0; k < wal.length; p += wal[k++]!.length) at.push(p);
  return at;
}

/** Runs `task` on every item, IN_FLIGHT at a time. */
async function inFlight<T>(items: readonly T[], task: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let g = 0; g < items.length; g += IN_FLIGHT) {
    await Promise.all(items.slice(g, g + IN_FLIGHT).map((item, k) => task(item, g + k)));
  }
}

interface DecodedOp {
  kind: 'copy' | 'literal' | 'add';
  offset: number;
  length: number;
  data?: Uint8Array;
}

/**
 * The delta's ops in order, one batch per frame (without literal and diff bytes if `withData` is
 * false): a few KiB of delta can pack many 1 MiB frames of literals, and batches per 1 MiB read
 * held them all (a 530 KB delta of 512 MiB of zeros peaked at 608 MiB). The bytes are the
 * decoder's, not copied: the next frame is decoded only when the consumer asks for the next batch.
 */
async function* decodeOps(
  deltaPath: string,
  limits?: Partial<DecodeLimits>,
  onheader?: (h: DeltaHeader) => void,
  onend?: (t: NativeTrailer) => void,
  withData = true,
): AsyncGenerator<DecodedOp[]> {
  let batch: DecodedOp[] = [];
  const sink: OpSink = {
    copy: (offset, length) => void batch.push({ kind: 'copy', offset, length }),
    literal: (data) => void batch.push({ kind: 'literal', offset: 0, length: data.length, data: withData ? data : undefined }),
    add: (offset, length, diff) => void batch.push({ kind: 'add', offset, length, data: withData ? diff : undefined }),
  };
  const dec = new NativeDeltaDecoder(sink, { limits, onheader, onend, rawDeflate: nodeRawDeflate, frameByFrame: true, opsOnly: !withData });
  const take = (): DecodedOp[] => {
    const out = batch;
    batch = [];
    return out;
  };
  let first = true;
  // Two reused buffers: each batch is done with before the next read is asked for.
  for await (const bytes of reusedFileChunks(deltaPath, 0, CHUNK)) {
    if (first && (bytes.length < 4 || !equalBytes(bytes.subarray(0, 4), NATIVE_DELTA_MAGIC.subarray(0, 4)))) {
      throw new RolldeltaError(ErrorCode.UNSUPPORTED, `${deltaPath} is not a native rolldelta delta; in-place patching needs the native format (its basis and target hashes)`);
    }
    first = false;
    for (const _ of pushFrameByFrame(dec, bytes)) if (batch.length > 0) yield take();
  }
  for (const _ of pushFrameByFrame(dec, new Uint8Array(0), true)) if (batch.length > 0) yield take();
}

/** First pass: header, trailer, and where every copy and add reads and writes. */
async function readShape(deltaPath: string, limits?: Partial<DecodeLimits>): Promise<DeltaShape> {
  let header: DeltaHeader | undefined;
  let trailer: NativeTrailer | undefined;
  let cap = 1024;
  let t = new Float64Array(cap);
  let s = new Float64Array(cap);
  let l = new Float64Array(cap);
  let count = 0;
  let at = 0;
  for await (const batch of decodeOps(deltaPath, limits, (h) => (header = h), (tr) => (trailer = tr), false)) {
    for (const o of batch) {
      if (o.kind !== 'literal') {
        if (count === cap) {
          cap *= 2;
          t = grow(t, cap);
          s = grow(s, cap);
          l = grow(l, cap);
        }
        t[count] = at;
        s[count] = o.offset;
        l[count] = o.length;
        count++;
      }
      at += o.length;
    }
  }
  return { header: header!, trailer: trailer!, targetOffset: t, sourceOffset: s, length: l, count };
}

function grow(a: Float64Array, cap: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}

/**
 * Whether the file is the basis the delta expects or already its target (a run again after one
 * that finished: a device that crashed before it recorded success). Hashed at most once, and only
 * when a length leaves a SHA-256 to compare. Neither is ERR_BASIS_MISMATCH.
 */
async function basisOrTarget(fh: FileHandle, path: string, header: DeltaHeader, trailer: NativeTrailer): Promise<'basis' | 'target'> {
  const { size } = await fh.stat();
  const fitsBasis = header.basisLength === undefined || header.basisLength === size;
  const fitsTarget = trailer.targetLength === size;
  if (!fitsBasis && !fitsTarget) throw lengthMismatch(path, size, header.basisLength!);
  // A delta without the basis hash takes any file of its length as the basis (unless it is the target).
  if (!fitsTarget && header.basisSha256 === undefined) return 'basis';
  const got = await sha256Handle(fh, size);
  if (fitsBasis && header.basisSha256 !== undefined && equalBytes(got, header.basisSha256)) return 'basis';
  if (fitsTarget && equalBytes(got, trailer.targetSha256)) return 'target';
  if (fitsBasis && header.basisSha256 === undefined) return 'basis';
  if (!fitsBasis) throw lengthMismatch(path, size, header.basisLength!);
  throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `${path} is not the basis the delta was made against (SHA-256 ${toHex(got)}, expected ${toHex(header.basisSha256!)}); nothing was written`);
}

function lengthMismatch(path: string, size: number, basisLength: number): RolldeltaError {
  return new RolldeltaError(ErrorCode.BASIS_MISMATCH, `${path} has ${size} bytes, the delta was made against a basis of ${basisLength}; nothing was written`);
}

/** Saves the cycle-breaking copies' basis bytes aside, durably, before anything is overwritten. */
async function writeStash(fh: FileHandle, stashPath: string, plan: InPlacePlan): Promise<void> {
  if (plan.broken.length === 0) return;
  let out: FileHandle | undefined;
  try {
    out = await openFresh(stashPath);
    let p = 0;
    for (const i of plan.broken) {
      const len = plan.pieces.length[i]!;
      for (let k = 0; k < len; k += CHUNK) {
        const n = Math.min(CHUNK, len - k);
        await writeAt(out, p, await readAt(fh, plan.pieces.sourceOffset[i]! + k, n));
        p += n;
      }
    }
    await out.sync();
  } catch (e) {
    throw ioError(e, 'write the in-place stash', stashPath);
  } finally {
    await out?.close();
  }
}

/** `length` bytes at `position`, into `into` (at least that long) or a fresh buffer. */
async function readAt(fh: FileHandle, position: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
  const buf = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new RolldeltaError(ErrorCode.IO, `the file ended at ${position + done} during an in-place patch; do not change it meanwhile`);
    done += bytesRead;
  }
  return buf;
}

async function writeAt(fh: FileHandle, position: number, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

async function sha256Handle(fh: FileHandle, length: number): Promise<Uint8Array> {
  const h = createHash('sha256');
  // One buffer for the whole file: a fresh one per read left hundreds of MiB to the collector.
  const buf = Buffer.allocUnsafe(Math.min(4 * CHUNK, length));
  for (let p = 0; p < length; p += 4 * CHUNK) h.update(await readAt(fh, p, Math.min(4 * CHUNK, length - p), buf));
  return new Uint8Array(h.digest());
}

async function sha256File(path: string): Promise<string> {
  try {
    await stat(path);
  } catch (e) {
    throw ioError(e, 'read the delta', path);
  }
  return toHex((await fileSha256(path)).digest);
}
