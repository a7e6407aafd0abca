import { createHash, randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Blake2b, blake2b } from '../../src/core/blake2b.js';
import { toHex } from '../../src/core/bytes.js';
import { crc32 } from '../../src/core/crc32.js';
import { RolldeltaError } from '../../src/core/errors.js';
import { Md4, md4 } from '../../src/core/md4.js';
import { Sha256, sha256, sha256Factory } from '../../src/core/sha256.js';
import { STRONG_MAX_LENGTH, createStrongSummer } from '../../src/core/strong-hash.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const rand = (n: number) => new Uint8Array(randomBytes(n));
const nodeHex = (alg: string, d: Uint8Array) => createHash(alg).update(d).digest('hex');

describe('BLAKE2b', () => {
  it('matches RFC 7693 Appendix A (BLAKE2b-512 of "abc")', () => {
    expect(toHex(blake2b(utf8('abc')))).toBe(
      'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1' +
        '7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
    );
  });

  it('sets the output length in the parameter block (BLAKE2b-256 is not truncated -512)', () => {
    expect(toHex(blake2b(utf8(''), 32))).toBe('0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8');
    expect(toHex(blake2b(utf8('abc'), 32))).toBe('bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319');
    expect(toHex(new Blake2b(32).update(utf8('abc')).digest())).toBe(toHex(blake2b(utf8('abc'), 32)));
    expect(toHex(blake2b(utf8('abc'), 32))).not.toBe(toHex(blake2b(utf8('abc')).subarray(0, 32)));
  });

  it('agrees with node:crypto blake2b512 for every length 0..700 and some large inputs', () => {
    for (let n = 0; n <= 700; n++) {
      const d = rand(n);
      expect(toHex(blake2b(d))).toBe(nodeHex('blake2b512', d));
    }
    for (const n of [4096, 65535, 65536, 100_003, 1 << 20]) {
      const d = rand(n);
      expect(toHex(blake2b(d, 64))).toBe(nodeHex('blake2b512', d));
    }
  });

  it('gives outLength bytes for every length 1..64 and rejects others', () => {
    for (let n = 1; n <= 64; n++) expect(blake2b(utf8('x'), n).length).toBe(n);
    for (const bad of [0, 65, 1.5, -1, Number.NaN]) {
      expect(() => new Blake2b(bad)).toThrow(RolldeltaError);
    }
  });
});

describe('MD4', () => {
  it('matches the RFC 1320 A.5 test suite', () => {
    const suite: [string, string][] = [
      ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
      ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
      ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
      ['message digest', 'd9130a8164549fe818874806e1c7014b'],
      ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
      ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
      ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
    ];
    for (const [input, hex] of suite) expect(toHex(md4(utf8(input)))).toBe(hex);
  });

  it('agrees with a plain reference MD4 at every length 0..300 (padding around 56 bytes)', () => {
    for (let n = 0; n <= 300; n++) {
      const d = rand(n);
      expect(toHex(md4(d))).toBe(toHex(referenceMd4(d)));
    }
  });

  it.skipIf(!nodeHasMd4())('agrees with node:crypto md4 (only where OpenSSL still offers it)', () => {
    for (let n = 0; n <= 300; n++) {
      const d = rand(n);
      expect(toHex(md4(d))).toBe(nodeHex('md4', d));
    }
  });
});

function nodeHasMd4(): boolean {
  try {
    createHash('md4');
    return true;
  } catch {
    return false; // OpenSSL 3 keeps MD4 in its legacy provider
  }
}

/** RFC 1320 written as directly as possible (rounds as loops over tables), for cross-checking. */
function referenceMd4(msg: Uint8Array): Uint8Array {
  const bitLen = msg.length * 8;
  const padded = new Uint8Array(Math.ceil((msg.length + 9) / 64) * 64);
  padded.set(msg);
  padded[msg.length] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setUint32(padded.length - 8, bitLen >>> 0, true);
  dv.setUint32(padded.length - 4, Math.floor(bitLen / 2 ** 32), true);
  const rotl = (x: number, s: number) => (x << s) | (x >>> (32 - s));
  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  const order = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15],
    [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15],
  ];
  const shifts = [[3, 7, 11, 19], [3, 5, 9, 13], [3, 9, 11, 15]];
  const consts = [0, 0x5a827999, 0x6ed9eba1];
  const f = [
    (x: number, y: number, z: number) => (x & y) | (~x & z),
    (x: number, y: number, z: number) => (x & y) | (x & z) | (y & z),
    (x: number, y: number, z: number) => x ^ y ^ z,
  ];
  for (let o = 0; o < padded.length; o += 64) {
    const x = Array.from({ length: 16 }, (_, i) => dv.getUint32(o + 4 * i, true));
    const v = h.slice();
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < 16; i++) {
        const a = (16 - i) % 4; // the register this step updates: a, d, c, b, a, ...
        const [b, c, d] = [(a + 1) % 4, (a + 2) % 4, (a + 3) % 4];
        v[a] = rotl((v[a] + f[r](v[b], v[c], v[d]) + x[order[r][i]] + consts[r]) | 0, shifts[r][i % 4]);
      }
    }
    for (let i = 0; i < 4; i++) h[i] = (h[i] + v[i]) | 0;
  }
  const out = new Uint8Array(16);
  const odv = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) odv.setUint32(4 * i, h[i] >>> 0, true);
  return out;
}

describe('SHA-256', () => {
  it('matches FIPS 180-4 examples and node:crypto for every length 0..300', () => {
    expect(toHex(sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex(sha256(utf8('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (let n = 0; n <= 300; n++) {
      const d = rand(n);
      expect(toHex(sha256(d))).toBe(nodeHex('sha256', d));
    }
    const big = rand((1 << 20) + 17);
    expect(toHex(sha256Factory().update(big).digest())).toBe(nodeHex('sha256', big));
  });
});

describe('CRC-32', () => {
  it('matches the check value and chains across chunks', () => {
    expect(crc32(utf8('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(utf8('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (a, b) => {
        const ab = new Uint8Array(a.length + b.length);
        ab.set(a);
        ab.set(b, a.length);
        expect(crc32(b, crc32(a))).toBe(crc32(ab));
      }),
    );
  });

  const zcrc = (zlib as unknown as { crc32?: (d: Uint8Array, p?: number) => number }).crc32;
  it.skipIf(typeof zcrc !== 'function')('agrees with node:zlib crc32', () => {
    for (let n = 0; n <= 200; n++) {
      const d = rand(n);
      const prev = Math.imul(n, 0x9e3779b9) >>> 0;
      expect(crc32(d, prev)).toBe(zcrc!(d, prev));
    }
  });
});

type Incremental = {
  update(d: Uint8Array): unknown;
  updateRange(d: Uint8Array, s: number, e: number): unknown;
  digest(): Uint8Array;
  digestInto(o: Uint8Array, off: number): void;
  reset(): unknown;
};
const hashers: [string, () => Incremental, (d: Uint8Array) => Uint8Array][] = [
  ['blake2b-512', () => new Blake2b(), (d) => blake2b(d)],
  ['blake2b-256', () => new Blake2b(32), (d) => blake2b(d, 32)],
  ['md4', () => new Md4(), md4],
  ['sha256', () => new Sha256(), sha256],
];

describe.each(hashers)('%s incremental use', (_name, make, oneShot) => {
  const data = rand(300);
  const want = toHex(oneShot(data));
  const points = [0, 1, 55, 56, 63, 64, 65, 119, 127, 128, 129, 191, 192, 255, 256, 257, 299, 300];

  it('gives the same digest for every way of cutting the input into 2 chunks', () => {
    for (let i = 0; i <= data.length; i++) {
      const h = make();
      h.update(data.subarray(0, i));
      h.update(data.subarray(i));
      expect(toHex(h.digest())).toBe(want);
    }
  });

  it('gives the same digest for 3 chunks cut at block-boundary neighbours (incl. empty chunks)', () => {
    for (const i of points) {
      for (const j of points) {
        if (j < i) continue;
        const h = make();
        h.update(data.subarray(0, i));
        h.updateRange(data, i, j);
        h.update(data.subarray(j));
        expect(toHex(h.digest())).toBe(want);
      }
    }
  });

  it('gives the same digest for random chunkings (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.array(fc.nat({ max: 200 }), { maxLength: 8 }), (d, cuts) => {
        const h = make();
        let o = 0;
        for (const c of cuts) {
          const e = Math.min(d.length, o + c);
          h.update(d.subarray(o, e));
          o = e;
        }
        h.update(d.subarray(o));
        expect(toHex(h.digest())).toBe(toHex(oneShot(d)));
      }),
      { numRuns: 200 },
    );
  });

  it('reset() reuses the hasher, digestInto writes at an offset, a finished hash refuses use', () => {
    const h = make();
    h.update(rand(1000));
    h.digest();
    expect(() => h.update(data)).toThrow(RolldeltaError);
    expect(() => h.digest()).toThrow(RolldeltaError);
    h.reset();
    h.update(data);
    const out = new Uint8Array(want.length / 2 + 5).fill(0xee);
    h.digestInto(out, 3);
    expect(toHex(out.subarray(3, 3 + want.length / 2))).toBe(want);
    expect(out[2]).toBe(0xee);
    expect(out[3 + want.length / 2]).toBe(0xee);
    h.reset();
    expect(() => h.digestInto(new Uint8Array(4), 1)).toThrow(RolldeltaError);
  });
});

describe('strong summer', () => {
  it("has librsync's maximum lengths, and SHA-256's full 32 bytes", () => {
    expect(STRONG_MAX_LENGTH).toEqual({ blake2b: 32, md4: 16, sha256: 32 });
  });

  it('writes the truncated BLAKE2b-256 / MD4 of a range, leaving other bytes alone', () => {
    const data = rand(5000);
    for (const [name, full] of [
      ['blake2b', (d: Uint8Array) => blake2b(d, 32)],
      ['md4', md4],
    ] as const) {
      const s = createStrongSummer(name);
      expect(s.name).toBe(name);
      for (const [start, end] of [[0, 0], [0, 1], [7, 135], [100, 2148], [4000, 5000]]) {
        for (const len of [0, 1, 8, STRONG_MAX_LENGTH[name]]) {
          const out = new Uint8Array(len + 10).fill(0xaa);
          s.sumInto(data, start, end, out, 5, len);
          expect(toHex(out.subarray(5, 5 + len))).toBe(toHex(full(data.subarray(start, end)).subarray(0, len)));
          expect(out[4]).toBe(0xaa);
          expect(out[5 + len]).toBe(0xaa);
        }
      }
      const out = new Uint8Array(64);
      expect(() => s.sumInto(data, 0, 10, out, 0, STRONG_MAX_LENGTH[name] + 1)).toThrow(RolldeltaError);
      expect(() => s.sumInto(data, 0, 10, out, 60, 8)).toThrow(RolldeltaError);
      expect(() => s.sumInto(data, 10, 5, out, 0, 8)).toThrow(RolldeltaError);
      expect(() => s.sumInto(data, 0, data.length + 1, out, 0, 8)).toThrow(RolldeltaError);
    }
  });

  it('rejects unknown hash names with ERR_INVALID_ARGUMENT', () => {
    expect(() => createStrongSummer('sha1' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('inputs', () => {
  it('accepts Node Buffers and unaligned subarray views like plain Uint8Arrays', () => {
    const d = rand(1000);
    const view = new Uint8Array(d.buffer, 3, 900);
    const copy = view.slice();
    expect(toHex(blake2b(Buffer.from(copy), 32))).toBe(toHex(blake2b(copy, 32)));
    expect(toHex(blake2b(view, 32))).toBe(toHex(blake2b(copy, 32)));
    expect(toHex(md4(view))).toBe(toHex(md4(copy)));
    expect(toHex(sha256(view))).toBe(nodeHex('sha256', copy));
    expect(crc32(view)).toBe(crc32(copy));
  });
});
