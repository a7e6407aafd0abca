import { describe, expect, it } from 'vitest';
import { bytesBasis, type RandomAccessBasis } from '../../src/core/basis.js';
import { RolldeltaError } from '../../src/core/errors.js';
import type { Op } from '../../src/core/ops.js';
import { applyOps, checkCopyRange, Patcher, patchOps } from '../../src/core/patcher.js';

const basis = Uint8Array.from({ length: 100 }, (_, i) => i);

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RolldeltaError);
    return (e as RolldeltaError).code;
  }
  return undefined;
}

async function asyncCodeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RolldeltaError);
    return (e as RolldeltaError).code;
  }
  return undefined;
}

const ops: Op[] = [
  { type: 'copy', offset: 10, length: 5 },
  { type: 'literal', data: new Uint8Array([200, 201]) },
  { type: 'copy', offset: 0, length: 3 },
  { type: 'copy', offset: 95, length: 5 },
];
const expected = new Uint8Array([10, 11, 12, 13, 14, 200, 201, 0, 1, 2, 95, 96, 97, 98, 99]);

describe('patchOps', () => {
  it('applies copies and literals', () => {
    expect(patchOps(basis, ops)).toEqual(expected);
    expect(patchOps(basis, [])).toEqual(new Uint8Array(0));
    expect(patchOps(new Uint8Array(0), [{ type: 'literal', data: new Uint8Array([1]) }])).toEqual(new Uint8Array([1]));
  });

  it('refuses a copy past the basis end with ERR_CORRUPT', () => {
    expect(codeOf(() => patchOps(basis, [{ type: 'copy', offset: 96, length: 5 }]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => patchOps(basis, [{ type: 'copy', offset: 100, length: 1 }]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => patchOps(basis, [{ type: 'copy', offset: -1, length: 1 }]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => patchOps(basis, [{ type: 'copy', offset: 0, length: 0 }]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => patchOps(basis, [{ type: 'copy', offset: 0.5, length: 1 }]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => patchOps(basis, [{ type: 'copy', offset: 2 ** 60, length: 2 ** 60 }]))).toBe('ERR_CORRUPT');
  });

  it('says what went wrong', () => {
    expect(() => checkCopyRange(96, 5, 100)).toThrow(/reaches byte 101, past the end of the 100-byte basis.*another basis/);
  });
});

describe('Patcher', () => {
  it('writes the same bytes as patchOps, copies in pieces of maxCopyChunk', () => {
    const out: Uint8Array[] = [];
    const p = new Patcher(basis, (c) => out.push(c.slice()), { maxCopyChunk: 2 });
    for (const op of ops) op.type === 'copy' ? p.copy(op.offset, op.length) : op.type === 'add' ? p.add(op.offset, op.length, op.diff) : p.literal(op.data);
    expect(p.written).toBe(expected.length);
    expect(Uint8Array.from(Buffer.concat(out))).toEqual(expected);
    expect(Math.max(...out.map((c) => c.length))).toBe(2);
  });

  it('hands out a copy of literal data (the sink may reuse its buffer)', () => {
    const got: Uint8Array[] = [];
    const p = new Patcher(basis, (c) => got.push(c));
    const data = new Uint8Array([1, 2, 3]);
    p.literal(data);
    data.fill(9);
    expect(got[0]).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('reads a synchronous basis object and checks its reads', () => {
    const reads: Array<[number, number]> = [];
    const sync = {
      length: 100,
      read: (pos: number, len: number) => {
        reads.push([pos, len]);
        return basis.subarray(pos, pos + len);
      },
    };
    const out: Uint8Array[] = [];
    const p = new Patcher(sync, (c) => out.push(c.slice()), { maxCopyChunk: 40 });
    p.copy(0, 100);
    expect(reads).toEqual([
      [0, 40],
      [40, 40],
      [80, 20],
    ]);
    expect(Uint8Array.from(Buffer.concat(out))).toEqual(basis);
    const short = new Patcher({ length: 100, read: () => new Uint8Array(1) }, () => {});
    expect(codeOf(() => short.copy(0, 5))).toBe('ERR_IO');
  });

  it('refuses a copy past the end before writing anything of it', () => {
    let written = 0;
    const p = new Patcher(basis, (c) => (written += c.length));
    expect(codeOf(() => p.copy(50, 51))).toBe('ERR_CORRUPT');
    expect(written).toBe(0);
  });

  it('refuses bad arguments', () => {
    expect(codeOf(() => new Patcher(null as unknown as Uint8Array, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new Patcher(basis, 5 as unknown as () => void))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new Patcher(basis, () => {}, { maxCopyChunk: 0 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('applyOps', () => {
  function asyncBasis(bytes: Uint8Array, log?: Array<[number, number]>): RandomAccessBasis {
    return {
      length: bytes.length,
      read: async (pos, len) => {
        log?.push([pos, len]);
        await new Promise((r) => setTimeout(r, 0));
        return bytes.slice(pos, pos + len);
      },
    };
  }

  it('applies sync and async op sources to an async basis', async () => {
    const out: Uint8Array[] = [];
    const log: Array<[number, number]> = [];
    const n = await applyOps(asyncBasis(basis, log), ops, async (c) => void out.push(c), { maxCopyChunk: 4 });
    expect(n).toBe(expected.length);
    expect(Uint8Array.from(Buffer.concat(out))).toEqual(expected);
    expect(log).toEqual([
      [10, 4],
      [14, 1],
      [0, 3],
      [95, 4],
      [99, 1],
    ]);
    async function* gen() {
      yield* ops;
    }
    const out2: Uint8Array[] = [];
    expect(await applyOps(bytesBasis(basis), gen(), (c) => void out2.push(c.slice()))).toBe(expected.length);
    expect(Uint8Array.from(Buffer.concat(out2))).toEqual(expected);
  });

  it('refuses a copy past the basis end with ERR_CORRUPT', async () => {
    const out: Uint8Array[] = [];
    const bad: Op[] = [{ type: 'literal', data: new Uint8Array([1]) }, { type: 'copy', offset: 90, length: 11 }];
    expect(await asyncCodeOf(applyOps(asyncBasis(basis), bad, (c) => void out.push(c)))).toBe('ERR_CORRUPT');
    expect(out.length).toBe(1);
    expect(await asyncCodeOf(applyOps(asyncBasis(basis), [{ type: 'nope' } as unknown as Op], () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(await asyncCodeOf(applyOps({ length: 10, read: async () => new Uint8Array(3) }, [{ type: 'copy', offset: 0, length: 5 }], () => {}))).toBe(
      'ERR_IO',
    );
  });
});
