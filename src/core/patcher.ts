import type { RandomAccessBasis } from './basis.js';
import { assertBytes, copyBytes, isBytes } from './bytes.js';
import { ErrorCode, RolldeltaError } from './errors.js';
import type { Op, OpSink } from './ops.js';

/** Default largest piece of a COPY emitted (or read) at once: bounds patch memory per op. */
export const DEFAULT_MAX_COPY_CHUNK = 1 << 20;

/** A basis whose reads return at once: bytes in memory, or a synchronous file reader. */
export interface SyncBasis {
  readonly length: number;
  read(position: number, length: number): Uint8Array;
}

/** Options of {@link Patcher} and `applyOps`. */
export interface PatchOpsOptions {
  /** Largest piece of a COPY emitted at once, in bytes; default 1 MiB. */
  maxCopyChunk?: number;
}

/**
 * Throws ERR_CORRUPT unless a COPY of `length` bytes at `offset` lies inside a basis of
 * `basisLength` bytes (and both are integers, offset >= 0, length > 0).
 * @example
 * checkCopyRange(100, 50, 120); // throws: the copy reaches byte 150 of a 120-byte basis
 */
export function checkCopyRange(offset: number, length: number, basisLength: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length <= 0) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `a COPY needs an offset >= 0 and a length > 0, found offset ${offset} and length ${length}: the delta is corrupt`);
  }
  if (offset + length > basisLength) {
    throw new RolldeltaError(
      ErrorCode.CORRUPT,
      `a COPY of ${length} bytes at offset ${offset} reaches byte ${offset + length}, past the end of the ${basisLength}-byte basis: ` +
        'the delta is corrupt or was made for another basis',
    );
  }
}

/**
 * Applies ops to a basis with synchronous reads, writing the target through `ondata` piece by piece
 * (COPYs in pieces of at most `maxCopyChunk`). Literal pieces are fresh copies; COPY pieces are views
 * of the basis (or of its reader's buffer), valid until the next write: a consumer that keeps them
 * must copy them. A COPY outside the basis throws ERR_CORRUPT before anything of it is written.
 * @example
 * const out: Uint8Array[] = [];
 * const p = new Patcher(oldBytes, (c) => out.push(c.slice()));
 * p.copy(0, 4096); p.literal(newTail);
 */
export class Patcher implements OpSink {
  private readonly basis: SyncBasis;
  private readonly ondata: (chunk: Uint8Array) => void;
  private readonly maxCopyChunk: number;
  private total = 0;

  constructor(basis: Uint8Array | SyncBasis, ondata: (chunk: Uint8Array) => void, opts: PatchOpsOptions = {}) {
    this.basis = isBytes(basis) ? bytesSyncBasis(basis) : checkBasis(basis);
    if (typeof ondata !== 'function') throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'ondata must be a function receiving each output chunk');
    this.ondata = ondata;
    this.maxCopyChunk = resolveMaxCopyChunk(opts);
  }

  /** Target bytes written so far. */
  get written(): number {
    return this.total;
  }

  copy(offset: number, length: number): void {
    const basis = this.basis;
    checkCopyRange(offset, length, basis.length);
    const step = this.maxCopyChunk;
    for (let done = 0; done < length; ) {
      const n = Math.min(step, length - done);
      const piece = basis.read(offset + done, n);
      checkRead(piece, n, offset + done);
      this.total += n;
      this.ondata(piece);
      done += n;
    }
  }

  literal(data: Uint8Array): void {
    assertBytes(data, 'literal data');
    if (data.length === 0) return;
    this.total += data.length;
    // The OpSink contract lends `data` only for this call; the consumer may keep what it gets.
    this.ondata(copyBytes(data));
  }

  add(offset: number, length: number, diff: Uint8Array): void {
    const basis = this.basis;
    checkAddRange(offset, length, diff, basis.length);
    const step = this.maxCopyChunk;
    for (let done = 0; done < length; ) {
      const n = Math.min(step, length - done);
      const piece = basis.read(offset + done, n);
      checkRead(piece, n, offset + done);
      this.total += n;
      this.ondata(addBytes(piece, diff.subarray(done, done + n)));
      done += n;
    }
  }
}

/**
 * Throws ERR_CORRUPT unless an ADD of `length` bytes at `offset` lies inside the basis and carries
 * exactly `length` diff bytes.
 * @example
 * checkAddRange(0, 4, new Uint8Array(4), 10); // fine
 */
export function checkAddRange(offset: number, length: number, diff: Uint8Array, basisLength: number): void {
  checkCopyRange(offset, length, basisLength);
  if (!isBytes(diff) || diff.length !== length) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `an ADD of ${length} bytes needs ${length} diff bytes, found ${isBytes(diff) ? diff.length : typeof diff}: the delta is corrupt`);
  }
}

/**
 * A fresh array of `(basis[i] + diff[i]) & 0xff`: the target bytes of an ADD piece.
 * @example
 * addBytes(new Uint8Array([1, 255]), new Uint8Array([1, 2])); // [2, 1]
 */
export function addBytes(basis: Uint8Array, diff: Uint8Array): Uint8Array {
  const n = basis.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (basis[i]! + diff[i]!) & 0xff;
  return out;
}

/**
 * Applies ops (sync or async iterable) to a basis whose reads may be asynchronous (a file, a range
 * reader), awaiting each read and each `ondata`. COPYs are checked against the basis length and read
 * in pieces of at most `maxCopyChunk`. Resolves to the number of bytes written.
 * @example
 * const n = await applyOps(await FileBasis.open('old.bin'), ops, (c) => out.write(c));
 */
export async function applyOps(
  basis: RandomAccessBasis,
  ops: Iterable<Op> | AsyncIterable<Op>,
  ondata: (chunk: Uint8Array) => void | Promise<void>,
  opts: PatchOpsOptions = {},
): Promise<number> {
  checkBasis(basis);
  if (typeof ondata !== 'function') throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'ondata must be a function receiving each output chunk');
  const step = resolveMaxCopyChunk(opts);
  const length = basis.length;
  let written = 0;
  for await (const op of ops) {
    if (op.type === 'copy') {
      checkCopyRange(op.offset, op.length, length);
      for (let done = 0; done < op.length; ) {
        const n = Math.min(step, op.length - done);
        const piece = await basis.read(op.offset + done, n);
        checkRead(piece, n, op.offset + done);
        written += n;
        await ondata(piece);
        done += n;
      }
    } else if (op.type === 'literal') {
      assertBytes(op.data, 'literal data');
      if (op.data.length === 0) continue;
      written += op.data.length;
      await ondata(op.data);
    } else if (op.type === 'add') {
      checkAddRange(op.offset, op.length, op.diff, length);
      for (let done = 0; done < op.length; ) {
        const n = Math.min(step, op.length - done);
        const piece = await basis.read(op.offset + done, n);
        checkRead(piece, n, op.offset + done);
        written += n;
        await ondata(addBytes(piece, op.diff.subarray(done, done + n)));
        done += n;
      }
    } else {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `an op must have type 'copy', 'literal' or 'add', got ${JSON.stringify((op as { type?: unknown }).type)}`);
    }
  }
  return written;
}

/**
 * Applies ops to a basis in memory and returns the whole target. Every COPY is checked before the
 * output is allocated.
 * @example
 * patchOps(new Uint8Array([1, 2, 3]), [{ type: 'copy', offset: 1, length: 2 }]); // [2, 3]
 */
export function patchOps(basis: Uint8Array, ops: readonly Op[]): Uint8Array {
  assertBytes(basis, 'basis');
  let total = 0;
  for (const op of ops) {
    if (op.type === 'copy') {
      checkCopyRange(op.offset, op.length, basis.length);
      total += op.length;
    } else if (op.type === 'add') {
      checkAddRange(op.offset, op.length, op.diff, basis.length);
      total += op.length;
    } else {
      assertBytes(op.data, 'literal data');
      total += op.data.length;
    }
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const op of ops) {
    if (op.type === 'copy') {
      out.set(basis.subarray(op.offset, op.offset + op.length), o);
      o += op.length;
    } else if (op.type === 'add') {
      const { offset, length, diff } = op;
      for (let i = 0; i < length; i++) out[o + i] = (basis[offset + i]! + diff[i]!) & 0xff;
      o += length;
    } else {
      out.set(op.data, o);
      o += op.data.length;
    }
  }
  return out;
}

function bytesSyncBasis(bytes: Uint8Array): SyncBasis {
  return { length: bytes.length, read: (position, length) => bytes.subarray(position, position + length) };
}

function checkBasis<B extends { length: number; read: unknown }>(basis: B): B {
  if (basis === null || typeof basis !== 'object' || typeof basis.read !== 'function' || !Number.isSafeInteger(basis.length) || basis.length < 0) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'basis must be a Uint8Array or an object with a non-negative integer length and a read(position, length) method');
  }
  return basis;
}

function checkRead(piece: unknown, n: number, position: number): void {
  if (!isBytes(piece) || piece.length !== n) {
    const got = isBytes(piece) ? `${piece.length} bytes` : typeof piece;
    throw new RolldeltaError(ErrorCode.IO, `reading ${n} bytes of the basis at ${position} returned ${got}: the basis changed or its reader is broken`);
  }
}

function resolveMaxCopyChunk(opts: PatchOpsOptions): number {
  const n = opts.maxCopyChunk ?? DEFAULT_MAX_COPY_CHUNK;
  if (!Number.isSafeInteger(n) || n < 1) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `maxCopyChunk must be a positive integer, got ${n}`);
  return n;
}
