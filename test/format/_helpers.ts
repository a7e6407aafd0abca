import fc from 'fast-check';
import { expect } from 'vitest';
import { isRolldeltaError } from '../../src/core/errors.js';
import { OpCollector, type Op } from '../../src/core/ops.js';

/** Cuts `data` at points given as fractions of its length. */
export function cuts(data: Uint8Array, fractions: number[]): Uint8Array[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * data.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

/** Every chunk as its own copy, so a decoder that keeps views of them is caught when we scribble. */
export function pushAll(dec: { push(c: Uint8Array, f?: boolean): void }, chunks: Uint8Array[]): void {
  for (const c of chunks) {
    const copy = c.slice();
    dec.push(copy);
    copy.fill(0xaa); // the caller may reuse its chunk after push returns
  }
  dec.push(new Uint8Array(0), true);
}

/** One byte per push. */
export function bytewise(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i++) out.push(data.subarray(i, i + 1));
  return out;
}

export const arbFractions = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 });

/** Op lists as producers make them, normalised by OpCollector; offsets up to `maxOffset`; ADD ops when `withAdd`. */
export function arbOps(maxOffset: number, maxLiteral = 300, withAdd = false): fc.Arbitrary<Op[]> {
  const copy = fc.record({
    t: fc.constant('c' as const),
    offset: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: maxOffset })),
    length: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 100000 })),
  });
  const lit = fc.record({ t: fc.constant('l' as const), data: fc.uint8Array({ minLength: 1, maxLength: maxLiteral }) });
  const add = fc.record({
    t: fc.constant('a' as const),
    offset: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: maxOffset })),
    diff: fc.uint8Array({ minLength: 1, maxLength: maxLiteral }),
  });
  const kinds = withAdd ? fc.oneof(copy, lit, add) : fc.oneof(copy, lit);
  return fc.array(kinds, { maxLength: 30 }).map((list) => {
    const c = new OpCollector();
    for (const o of list) {
      if (o.t === 'c') c.copy(o.offset, o.length);
      else if (o.t === 'a') c.add(o.offset, o.diff.length, o.diff);
      else c.literal(o.data);
    }
    return c.finish();
  });
}

/** Feeds ops to a sink. */
export function replay(ops: readonly Op[], sink: { copy(o: number, l: number): void; literal(d: Uint8Array): void; add?(o: number, l: number, d: Uint8Array): void }): void {
  for (const op of ops) {
    if (op.type === 'copy') sink.copy(op.offset, op.length);
    else if (op.type === 'add') sink.add!(op.offset, op.length, op.diff);
    else sink.literal(op.data);
  }
}

/** Total bytes the ops write. */
export function targetLength(ops: readonly Op[]): number {
  let n = 0;
  for (const op of ops) n += op.type === 'literal' ? op.data.length : op.length;
  return n;
}

/** Applies ops to a basis. */
export function applyOps(basis: Uint8Array, ops: readonly Op[]): Uint8Array {
  const out = new Uint8Array(targetLength(ops));
  let p = 0;
  for (const op of ops) {
    if (op.type === 'copy') {
      out.set(basis.subarray(op.offset, op.offset + op.length), p);
      p += op.length;
    } else if (op.type === 'add') {
      for (let i = 0; i < op.length; i++) out[p + i] = (basis[op.offset + i]! + op.diff[i]!) & 0xff;
      p += op.length;
    } else {
      out.set(op.data, p);
      p += op.data.length;
    }
  }
  return out;
}

/** Runs `f` and returns the RolldeltaError code it throws; fails the test on success or on any other error. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!isRolldeltaError(e)) {
      expect.fail(`expected a RolldeltaError, got ${String(e)}\n${(e as Error).stack}`);
    }
    return e.code;
  }
  return 'no error';
}

/** Awaits `p` and returns the RolldeltaError code it rejects with; fails the test on any other error ('no error' when it resolves). */
export async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (!isRolldeltaError(e)) expect.fail(`expected a RolldeltaError, got ${String(e)}\n${(e as Error).stack}`);
    return e.code;
  }
  return 'no error';
}

/** Concatenates. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
