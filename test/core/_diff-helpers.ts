import type { Op } from '../../src/core/ops.js';

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function prng(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The smallest possible patch: replays ops against the basis. */
export function applyOps(basis: Uint8Array, ops: readonly Op[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const op of ops) {
    if (op.type === 'copy') {
      if (op.offset < 0 || op.length <= 0 || op.offset + op.length > basis.length) throw new Error(`bad copy ${op.offset}+${op.length}`);
      parts.push(basis.subarray(op.offset, op.offset + op.length));
      n += op.length;
    } else if (op.type === 'add') {
      if (op.offset < 0 || op.length <= 0 || op.offset + op.length > basis.length || op.diff.length !== op.length) throw new Error(`bad add ${op.offset}+${op.length}`);
      const t = new Uint8Array(op.length);
      for (let i = 0; i < op.length; i++) t[i] = (basis[op.offset + i]! + op.diff[i]!) & 0xff;
      parts.push(t);
      n += op.length;
    } else {
      if (op.data.length === 0) throw new Error('empty literal');
      parts.push(op.data);
      n += op.data.length;
    }
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Records exactly what a producer emits (no merging), copying literal views as the OpSink contract asks. */
export class RawSink {
  readonly ops: Op[] = [];
  copy(offset: number, length: number): void {
    this.ops.push({ type: 'copy', offset, length });
  }
  literal(data: Uint8Array): void {
    this.ops.push({ type: 'literal', data: data.slice() });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Fast equality for large byte arrays (deep-equal of multi-MiB typed arrays is very slow). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (!sameBytes(actual, expected)) {
    let i = 0;
    while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
    throw new Error(`bytes differ: lengths ${actual.length} vs ${expected.length}, first difference at ${i}`);
  }
}

/** Fast equality for op lists holding large literals. */
export function expectSameOps(actual: readonly Op[], expected: readonly Op[]): void {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok =
      a.type === 'copy'
        ? e.type === 'copy' && a.offset === e.offset && a.length === e.length
        : a.type === 'add'
          ? e.type === 'add' && a.offset === e.offset && a.length === e.length && sameBytes(a.diff, e.diff)
          : e.type === 'literal' && sameBytes(a.data, e.data);
    if (!ok) throw new Error(`op ${i} differs: ${describe(a)} vs expected ${describe(e)}`);
  }
  if (actual.length !== expected.length) throw new Error(`op count ${actual.length} vs expected ${expected.length}`);
}

function describe(op: Op): string {
  return op.type === 'literal' ? `literal(${op.data.length} bytes)` : `${op.type}(${op.offset}, ${op.length})`;
}

/** A {@link RawSink} that also takes ADD ops (copying the diff view), so approximate matching is on. */
export class RawAddSink extends RawSink {
  add(offset: number, length: number, diff: Uint8Array): void {
    this.ops.push({ type: 'add', offset, length, diff: diff.slice() });
  }
}
