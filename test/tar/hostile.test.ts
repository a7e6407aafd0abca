import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RolldeltaError } from '../../src/core/errors.js';
import { encodeHeader } from '../../src/tar/encode-header.js';
import { looksLikeTarStart, writeChecksum } from '../../src/tar/header.js';
import { checkSafePath, isSafePath } from '../../src/tar/path-safety.js';
import { TarReader, type TarReaderOptions } from '../../src/tar/reader.js';
import { TarWriter } from '../../src/tar/writer.js';
import { readTar } from '../../src/tar/archive.js';
import { bytes, cutAt, pass, sha256 } from './_helpers.js';

const enc = new TextEncoder();

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One pax record with its self-inclusive length (ASCII only, length below 100). */
function paxRecord(key: string, v: string): Uint8Array {
  const body = ` ${key}=${v}\n`;
  return enc.encode(`${body.length + 2}${body}`);
}

const pad = (d: Uint8Array): Uint8Array => cat(d, new Uint8Array((512 - (d.length % 512)) % 512));
const EOA = new Uint8Array(1024);

/** A plain ustar header for `name`, then `mutate` applied and the checksum fixed. */
function header(name: string, size: number, typeflag = '0', mutate?: (b: Uint8Array) => void, linkname = ''): Uint8Array {
  const b = encodeHeader({ name, type: 'file', size, typeflag: typeflag.charCodeAt(0), linkname }).slice(-512);
  if (mutate) {
    mutate(b);
    writeChecksum(b);
  }
  return b;
}

function file(name: string, content: Uint8Array): Uint8Array {
  return cat(header(name, content.length), pad(content));
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof RolldeltaError) return e.code;
    throw e;
  }
  return 'ok';
}

const read = (a: Uint8Array, opts?: TarReaderOptions) => code(() => readTar(a, opts));

describe('hostile headers', () => {
  it('looksLikeTarStart tells a tar (even a damaged one) from another kind of file', () => {
    const h = header('a.txt', 0);
    expect(looksLikeTarStart(h)).toBe(true);
    expect(looksLikeTarStart(new Uint8Array(512))).toBe(true); // an empty archive
    expect(looksLikeTarStart(Uint8Array.from(h, (b, i) => (i === 0 ? b ^ 1 : b)))).toBe(true); // ustar magic, wrong sum
    const v7 = header('a.txt', 0, '0', (b) => b.fill(0, 257, 265));
    expect(looksLikeTarStart(v7)).toBe(true);
    expect(looksLikeTarStart(Uint8Array.from(v7, (b, i) => (i === 0 ? b ^ 1 : b)))).toBe(false); // no magic, wrong sum
    expect(looksLikeTarStart(enc.encode('x'.repeat(512)))).toBe(false);
    expect(looksLikeTarStart(enc.encode('hello\n'))).toBe(false);
  });

  it('checksum mismatch -> ERR_CHECKSUM; the signed-sum variant is accepted', () => {
    const a = cat(file('a.txt', bytes(10)), EOA);
    a[0] ^= 1;
    expect(read(a)).toBe('ERR_CHECKSUM');
    const h = header('a.txt', 0, '0', (b) => b.set([0xc3, 0xa9], 265)); // high bytes in uname
    let signed = 0;
    for (let i = 0; i < 512; i++) signed += i >= 148 && i < 156 ? 32 : h[i] < 128 ? h[i] : h[i] - 256;
    h.set(enc.encode(signed.toString(8).padStart(6, '0') + '\0 '), 148);
    expect(read(cat(h, EOA))).toBe('ok');
  });

  it('a size that lies -> ERR_TRUNCATED at final', () => {
    expect(read(cat(header('a', 1000), bytes(100)))).toBe('ERR_TRUNCATED');
  });

  it('base-256 sizes: small ones parse, beyond 2^53 -> ERR_CORRUPT', () => {
    const ok = header('a', 0, '0', (b) => b.set([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5], 124));
    const { items } = readTar(cat(ok, pad(bytes(5)), EOA));
    expect(items[0].kind === 'entry' && items[0].entry.size).toBe(5);
    const huge = header('a', 0, '0', (b) => b.set([0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0], 124));
    expect(read(cat(huge, EOA))).toBe('ERR_CORRUPT');
    const negative = header('a', 0, '0', (b) => b.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], 124));
    expect(read(cat(negative, EOA))).toBe('ERR_CORRUPT');
  });

  it('non-octal garbage in numeric fields -> ERR_CORRUPT', () => {
    for (const off of [100, 108, 116, 124, 136, 329]) {
      expect(read(cat(header('a', 0, '0', (b) => b.set(enc.encode('12x4'), off)), EOA)), String(off)).toBe('ERR_CORRUPT');
    }
    const h = header('a', 0);
    h.set(enc.encode('zzzzzzz\0'), 148);
    expect(read(cat(h, EOA))).toBe('ERR_CHECKSUM');
  });

  it('malformed pax records and pax numbers -> ERR_CORRUPT', () => {
    for (const rec of ['99 path=x\n', '7 path\n', 'x path=a\n', '10 path=ab']) {
      const d = enc.encode(rec);
      expect(read(cat(header('p', d.length, 'x'), pad(d), header('a', 0), EOA)), rec).toBe('ERR_CORRUPT');
    }
    const d = enc.encode('12 size=1x\n');
    expect(read(cat(header('p', d.length, 'x'), pad(d), header('a', 0), EOA))).toBe('ERR_CORRUPT');
  });
});

describe('limits before allocation', () => {
  it('GNU long name or pax header over maxHeaderBytes -> ERR_LIMIT from the header alone', () => {
    for (const t of ['L', 'K', 'x', 'g']) {
      const r = new TarReader({ onentry() {}, ondata() {}, onend() {} }, { maxHeaderBytes: 4096 });
      expect(code(() => r.push(header('././@LongLink', 5000, t)))).toBe('ERR_LIMIT');
      const r2 = new TarReader({ onentry() {}, ondata() {}, onend() {} });
      const tib = header('././@LongLink', 0, t, (b) => b.set([0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], 124)); // 2^32 in base-256
      expect(code(() => r2.push(tib))).toBe('ERR_LIMIT'); // never allocated
    }
  });

  it('a chain of many small long-name headers is capped too', () => {
    const d = pad(enc.encode('name'));
    const chain = cat(...Array.from({ length: 40 }, () => cat(header('././@LongLink', 4, 'L'), d)));
    expect(read(cat(chain, header('a', 0), EOA), { maxHeaderBytes: 8192 })).toBe('ERR_LIMIT');
  });

  it('a trailer over maxTrailerBytes -> ERR_LIMIT', () => {
    expect(read(cat(file('a', bytes(3)), new Uint8Array(8192)), { maxTrailerBytes: 4096 })).toBe('ERR_LIMIT');
  });
});

describe('unsafe paths', () => {
  const longName = (name: string) => {
    const d = enc.encode(name + '\0');
    return cat(header('././@LongLink', d.length, 'L'), pad(d));
  };
  const paxPath = (key: string, v: string) => {
    const d = paxRecord(key, v);
    return cat(header('PaxHeaders.0/x', d.length, 'x'), pad(d));
  };
  const cases: Array<[string, Uint8Array]> = [
    ['dotdot name', cat(header('../x', 0), EOA)],
    ['inner dotdot', cat(header('a/../../x', 0), EOA)],
    ['absolute', cat(header('/etc/passwd', 0), EOA)],
    ['GNU long name', cat(longName('../' + 'a'.repeat(120)), header('a', 0), EOA)],
    ['pax path', cat(paxPath('path', '../../etc/x'), header('ok', 0), EOA)],
    ['hardlink target', cat(header('h', 0, '1', undefined, '../../etc/shadow'), EOA)],
    ['pax hardlink target', cat(paxPath('linkpath', '/etc/shadow'), header('h', 0, '1'), EOA)],
  ];
  it.each(cases)('%s -> ERR_UNSAFE_PATH unless allowUnsafePaths', (_, a) => {
    expect(read(a)).toBe('ERR_UNSAFE_PATH');
    expect(read(a, { allowUnsafePaths: true })).toBe('ok');
  });

  it('symlink targets may be absolute or go up (every Debian layer has them)', () => {
    expect(read(cat(header('l', 0, '2', undefined, '/usr/bin/env'), header('m', 0, '2', undefined, '../lib'), EOA))).toBe('ok');
  });

  it('checkSafePath', () => {
    for (const ok of ['a', './a/b', 'a/b/', '.', 'a..b', '..a/b..', '.wh..wh..opq']) expect(isSafePath(ok), ok).toBe(true);
    for (const bad of ['..', '../a', 'a/..', 'a/../b', '/a', '\\a', 'C:\\x', 'a\\..\\b', 'a\0b']) {
      expect(code(() => checkSafePath(bad)), bad).toBe('ERR_UNSAFE_PATH');
    }
  });
});

describe('truncation and the end of the archive', () => {
  const a = cat(file('a', bytes(700)), EOA);
  const d = paxRecord('path', 'abcd');
  const withPax = cat(header('p', d.length, 'x'), pad(d), file('b', bytes(3)), EOA);

  it('final inside a header, content, padding or pax data -> ERR_TRUNCATED', () => {
    for (const at of [100, 511, 512 + 300, 512 + 700, 512 + 1000]) expect(read(a.subarray(0, at)), String(at)).toBe('ERR_TRUNCATED');
    expect(read(withPax.subarray(0, 700))).toBe('ERR_TRUNCATED');
    expect(read(withPax.subarray(0, 1024))).toBe('ERR_TRUNCATED'); // pax header with no entry after it
  });

  it('no end-of-archive blocks is accepted with an empty trailer; one zero block is kept', () => {
    const r = pass([a.subarray(0, 512 + 1024)]);
    expect(r.trailer.length).toBe(0);
    expect(sha256(r.out)).toBe(sha256(a.subarray(0, 1536)));
    expect(pass([a.subarray(0, 2048)]).trailer).toEqual(new Uint8Array(512));
    expect(pass([new Uint8Array(0)]).trailer.length).toBe(0);
  });

  it('extended headers followed by the end marker -> ERR_CORRUPT', () => {
    expect(read(cat(header('p', d.length, 'x'), pad(d), EOA))).toBe('ERR_CORRUPT');
  });

  it('junk in padding and after the end marker is kept verbatim', () => {
    const junk = cat(header('a', 3), bytes(512, 9), EOA, enc.encode('trailing junk, not a block'));
    const r = pass(cutAt(junk, [0.3, 0.5, 0.51]));
    expect(sha256(r.out)).toBe(sha256(junk));
    expect(r.entries[0].paddingBytes).toEqual(bytes(512, 9).subarray(3));
    expect(r.trailer.length).toBe(1024 + 26);
  });

  it('errors stick; pushing after final is refused', () => {
    const r = new TarReader({ onentry() {}, ondata() {}, onend() {} });
    const bad = cat(header('a', 0), EOA);
    bad[3] ^= 4;
    expect(code(() => r.push(bad))).toBe('ERR_CHECKSUM');
    expect(code(() => r.push(new Uint8Array(0), true))).toBe('ERR_CHECKSUM');
    const r2 = new TarReader({ onentry() {}, ondata() {}, onend() {} });
    r2.push(a, true);
    expect(code(() => r2.push(a))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('writer misuse -> ERR_INVALID_ARGUMENT', () => {
  it('sizes, order and block alignment are checked', () => {
    const w = () => new TarWriter(() => {});
    expect(code(() => w().beginEntry(new Uint8Array(100), 0))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => w().beginEntry(new Uint8Array(512), -1))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => w().write(new Uint8Array(1)))).toBe('ERR_INVALID_ARGUMENT');
    const x = w();
    x.beginEntry(new Uint8Array(512), 2);
    expect(code(() => x.write(new Uint8Array(3)))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => x.endEntry())).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => x.finish())).toBe('ERR_INVALID_ARGUMENT');
    x.write(new Uint8Array(2));
    expect(code(() => x.endEntry(new Uint8Array(3)))).toBe('ERR_INVALID_ARGUMENT');
    x.endEntry();
    x.finish();
    expect(code(() => x.writeRaw(new Uint8Array(512)))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('fuzz: only RolldeltaError escapes', () => {
  const longD = enc.encode('L'.repeat(130) + '\0');
  const paxD = paxRecord('path', 'p'.repeat(20) + '/x');
  const valid = cat(
    file('dir/a.txt', bytes(700, 3)),
    header('././@LongLink', longD.length, 'L'),
    pad(longD),
    file('short', bytes(20, 4)),
    header('PaxHeaders.0/x', paxD.length, 'x'),
    pad(paxD),
    file('x', bytes(512, 5)),
    header('sym', 0, '2', undefined, 'target'),
    EOA,
  );

  const expectOnlyRolldelta = (a: Uint8Array, cuts: number[] = []) => {
    try {
      pass(cutAt(a, cuts), { maxHeaderBytes: 65536 });
    } catch (e) {
      if (!(e instanceof RolldeltaError)) throw e;
    }
  };

  it('the fuzz seed is valid', () => {
    expect(sha256(pass([valid]).out)).toBe(sha256(valid));
  });

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), (a) => expectOnlyRolldelta(a)), { numRuns: 500 });
  });

  it('random blocks with valid checksums', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 512, maxLength: 512 }), fc.uint8Array({ maxLength: 2000 }), (h, rest) => {
        const b = h.slice();
        writeChecksum(b);
        expectOnlyRolldelta(cat(b, rest));
      }),
      { numRuns: 500 },
    );
  });

  it('bit flips and truncations of a valid archive, any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: valid.length * 8 - 1 }), { minLength: 1, maxLength: 4 }),
        fc.nat({ max: valid.length }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
        (flips, cut, cuts) => {
          const a = valid.slice();
          for (const f of flips) a[f >> 3] ^= 1 << (f & 7);
          expectOnlyRolldelta(a, cuts);
          expectOnlyRolldelta(valid.subarray(0, cut), cuts);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('flipped size and pax length digits', () => {
    fc.assert(
      fc.property(fc.constantFrom(124, 125, 130, 134, 512 * 3 + 124, 512 * 6), fc.integer({ min: 0x30, max: 0x39 }), (at, digit) => {
        const a = valid.slice();
        a[at] = digit;
        writeChecksum(a.subarray(Math.floor(at / 512) * 512, Math.floor(at / 512) * 512 + 512));
        expectOnlyRolldelta(a);
      }),
      { numRuns: 200 },
    );
  });
});
