// The image delta container (magic, version, header block) and the layered basis, without an
// engine or archives: round trips as laws, hostile headers, reads across layer boundaries.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesBasis, type RandomAccessBasis } from '../../src/core/basis.js';
import { RolldeltaError } from '../../src/core/errors.js';
import { sha256Digest } from '../../src/image/digest.js';
import {
  encodeImageDeltaHeader,
  IMAGE_DELTA_MAGIC,
  packImageConfig,
  readImageDeltaHeader,
  readImageDeltaHeaderFrom,
  unpackImageConfig,
  type ImageDeltaHeader,
} from '../../src/image/image-delta-format.js';
import { layeredBasis } from '../../src/image/layered-basis.js';
import { rejectionCode } from '../format/_helpers.js';

const digestArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `sha256:${Buffer.from(b).toString('hex')}`);

const headerArb: fc.Arbitrary<ImageDeltaHeader> = fc.record({
  old: fc.record({ id: digestArb, diffIds: fc.array(digestArb, { maxLength: 6 }) }),
  new: fc.record({
    id: digestArb,
    config: fc.tuple(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 2000 })).map(([c, old]) => packImageConfig(c, old)),
    repoTags: fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 3 }),
    layers: fc.array(
      fc.record({ diffId: digestArb, size: fc.maxSafeInteger().map((n) => Math.abs(n)), from: fc.constantFrom('old' as const, 'delta' as const) }),
      { maxLength: 6 },
    ),
  }),
  pullBytes: fc.option(fc.nat(), { nil: undefined }),
});

/** Reads `bytes` + a tail as an image delta file would be read. */
async function readHeader(bytes: Uint8Array): ReturnType<typeof readImageDeltaHeader> {
  return readImageDeltaHeader(async (p, n) => bytes.slice(p, p + n), bytes.length);
}

function sample(): ImageDeltaHeader {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  return {
    old: { id: d('a'), diffIds: [d('1'), d('2')] },
    new: { id: d('b'), config: packImageConfig(new TextEncoder().encode('{"os":"linux"}'), new Uint8Array(0)), repoTags: ['app:v2'], layers: [{ diffId: d('1'), size: 10, from: 'old' }, { diffId: d('3'), size: 20, from: 'delta' }] },
    pullBytes: 1234,
  };
}

describe('image delta header', () => {
  it('round-trips any header; the embedded delta starts right after it', async () => {
    await fc.assert(
      fc.asyncProperty(headerArb, fc.uint8Array({ maxLength: 16 }), async (h, tail) => {
        const head = encodeImageDeltaHeader(h);
        const file = new Uint8Array(head.length + tail.length);
        file.set(head);
        file.set(tail, head.length);
        const { header, deltaOffset } = await readHeader(file);
        expect(deltaOffset).toBe(head.length);
        expect(header.old).toEqual(h.old);
        expect(header.new.id).toBe(h.new.id);
        expect(header.new.config.length).toBe(h.new.config.length);
        expect(Array.from(header.new.config.packed)).toEqual(Array.from(h.new.config.packed));
        expect(header.new.repoTags).toEqual(h.new.repoTags);
        expect(header.new.layers).toEqual(h.new.layers);
        expect(header.pullBytes).toBe(h.pullBytes);
      }),
      { numRuns: 200 },
    );
  });

  it('packs the new config against the old one, and unpacks only what hashes to the new image ID', () => {
    const withConfig = (config: Uint8Array, old: Uint8Array): ImageDeltaHeader => {
      const h = sample();
      return { ...h, new: { ...h.new, id: sha256Digest(config), config: packImageConfig(config, old) } };
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 40_000 }), (config, old) => {
        expect(Array.from(unpackImageConfig(withConfig(config, old), old))).toEqual(Array.from(config));
      }),
      { numRuns: 100 },
    );
    // Two configs of one application: a new layer's DiffID and new timestamps.
    const cfg = (t: string, layer: string) =>
      new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/bin'], Cmd: ['/app/src/app.js'], WorkingDir: '/app' }, created: t, history: [{ created: t, created_by: '/bin/sh -c #(nop) COPY dir:' + layer.repeat(8) + ' in /app' }], rootfs: { type: 'layers', diff_ids: [`sha256:${'1'.repeat(64)}`, `sha256:${layer.repeat(8)}`] } }));
    const oldConfig = cfg('2026-11-22T10:00:00.123456789Z', '5a0e5eb5');
    const newConfig = cfg('2026-11-23T02:01:39.141792981Z', '96c75ce5');
    const h = withConfig(newConfig, oldConfig);
    expect(h.new.config.packed.length).toBeLessThan(newConfig.length / 3);
    expect(Array.from(unpackImageConfig(h, oldConfig))).toEqual(Array.from(newConfig));
    // Another old image's config, a damaged or lying packed config: ERR_CORRUPT, never a wrong config.
    expect(() => unpackImageConfig(h, cfg('2026-01-01T00:00:00.000000000Z', 'ffffffff'))).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }));
    for (let i = 0; i < h.new.config.packed.length * 8; i += 5) {
      const packed = h.new.config.packed.slice();
      packed[i >> 3] ^= 1 << (i & 7);
      expect(() => unpackImageConfig({ ...h, new: { ...h.new, config: { length: newConfig.length, packed } } }, oldConfig), `bit ${i}`).toThrow(
        expect.objectContaining({ code: 'ERR_CORRUPT' }),
      );
    }
    for (const length of [0, newConfig.length - 1, newConfig.length + 1, 2 ** 30]) {
      expect(() => unpackImageConfig({ ...h, new: { ...h.new, config: { length, packed: h.new.config.packed } } }, oldConfig)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }));
    }
  });

  it('starts with "rdim" and version 1', () => {
    const head = encodeImageDeltaHeader(sample());
    expect(Array.from(head.subarray(0, 5))).toEqual([0x72, 0x64, 0x69, 0x6d, 1]);
    expect(Array.from(IMAGE_DELTA_MAGIC)).toEqual([0x72, 0x64, 0x69, 0x6d, 1]);
  });

  it('names what is wrong: magic, version, truncation, CRC, size claim', async () => {
    const head = encodeImageDeltaHeader(sample());
    const native = Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1, 0, 0, 0, 0);
    expect(await rejectionCode(readHeader(native))).toBe('ERR_BAD_MAGIC');
    const v2 = head.slice();
    v2[4] = 2;
    expect(await rejectionCode(readHeader(v2))).toBe('ERR_UNSUPPORTED');
    expect(await rejectionCode(readHeader(head.subarray(0, 7)))).toBe('ERR_TRUNCATED');
    expect(await rejectionCode(readHeader(head.subarray(0, head.length - 1)))).toBe('ERR_TRUNCATED');
    const flipped = head.slice();
    flipped[20] ^= 0x10;
    expect(await rejectionCode(readHeader(flipped))).toBe('ERR_CHECKSUM');
    const huge = head.slice();
    huge.set([0x7f, 0xff, 0xff, 0xff], 5);
    expect(await rejectionCode(readHeader(huge))).toBe('ERR_LIMIT');
  });

  it('every truncation and every single bit flip is a RolldeltaError or the same header', async () => {
    const head = encodeImageDeltaHeader(sample());
    for (let n = 0; n < head.length; n++) expect(await rejectionCode(readHeader(head.subarray(0, n)))).not.toBe('no error');
    for (let i = 0; i < head.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = head.slice();
        b[i] ^= 1 << bit;
        await readHeader(b).then(
          (r) => expect(r.header.new.layers).toEqual(sample().new.layers),
          (e) => expect(e).toBeInstanceOf(RolldeltaError),
        );
      }
    }
  });
});

/** `bytes` as a stream cut at the given sizes (cycled), as a download arrives. */
async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  for (let p = 0, i = 0; p < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]);
    yield bytes.slice(p, p + n);
    p += n;
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<number[]> {
  const out: number[] = [];
  for await (const c of chunks) out.push(...c);
  return out;
}

describe('image delta header from a stream', () => {
  it('reads the same header however the stream is cut, and hands on exactly the rest', async () => {
    await fc.assert(
      fc.asyncProperty(headerArb, fc.uint8Array({ maxLength: 300 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }), async (h, tail, sizes) => {
        const head = encodeImageDeltaHeader(h);
        const file = new Uint8Array(head.length + tail.length);
        file.set(head);
        file.set(tail, head.length);
        const { header, rest } = await readImageDeltaHeaderFrom(chunked(file, sizes));
        expect(header.new.layers).toEqual(h.new.layers);
        expect(header.old).toEqual(h.old);
        expect(await collect(rest)).toEqual(Array.from(tail));
      }),
      { numRuns: 100 },
    );
  });

  it('names truncation, bad magic and a huge claim without reading on', async () => {
    const head = encodeImageDeltaHeader(sample());
    expect(await rejectionCode(readImageDeltaHeaderFrom(chunked(head.subarray(0, head.length - 3), [7])))).toBe('ERR_TRUNCATED');
    expect(await rejectionCode(readImageDeltaHeaderFrom(chunked(head.subarray(0, 3), [1])))).toBe('ERR_TRUNCATED');
    expect(await rejectionCode(readImageDeltaHeaderFrom(chunked(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1, 0, 0, 0, 9), [2])))).toBe('ERR_BAD_MAGIC');
    const huge = head.slice();
    huge.set([0x7f, 0xff, 0xff, 0xff], 5);
    let pulled = 0;
    async function* counting(): AsyncGenerator<Uint8Array> {
      for await (const c of chunked(huge, [4])) {
        pulled++;
        yield c;
      }
    }
    expect(await rejectionCode(readImageDeltaHeaderFrom(counting()))).toBe('ERR_LIMIT');
    expect(pulled).toBeLessThanOrEqual(3);
  });
});

/** A basis over `bytes` that only answers reads inside it, as a file-backed layer would. */
function strictBasis(bytes: Uint8Array): RandomAccessBasis {
  return {
    length: bytes.length,
    read: async (p, n) => {
      if (p < 0 || n < 0 || p + n > bytes.length) throw new Error(`read ${p}+${n} outside ${bytes.length}`);
      return bytes.slice(p, p + n);
    },
    readInto: async (buf, at, p, n) => {
      if (p < 0 || n < 0 || p + n > bytes.length || at + n > buf.length) throw new Error(`readInto ${p}+${n} outside ${bytes.length}`);
      buf.set(bytes.subarray(p, p + n), at);
    },
  };
}

describe('layeredBasis', () => {
  it('reads like the concatenation of its parts, across any boundaries and empty parts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }).chain((parts) => {
          const total = parts.reduce((s, p) => s + p.length, 0);
          return fc.tuple(fc.constant(parts), fc.nat(total).chain((pos) => fc.tuple(fc.constant(pos), fc.nat(total - pos))));
        }),
        async ([parts, [pos, len]]) => {
          const whole = Buffer.concat(parts);
          const basis = layeredBasis(parts.map(strictBasis));
          expect(basis.length).toBe(whole.length);
          expect(Array.from(await basis.read(pos, len))).toEqual(Array.from(whole.subarray(pos, pos + len)));
          const into = new Uint8Array(len + 3);
          await basis.readInto!(into, 3, pos, len);
          expect(Array.from(into.subarray(3))).toEqual(Array.from(whole.subarray(pos, pos + len)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('copies what it assembles, so parts may reuse their read buffers', async () => {
    const shared = new Uint8Array(8);
    const reusing = (fill: number): RandomAccessBasis => ({
      length: 8,
      read: (_p, n) => shared.fill(fill).subarray(0, n),
    });
    const basis = layeredBasis([reusing(1), reusing(2)]);
    expect(Array.from(await basis.read(6, 4))).toEqual([1, 1, 2, 2]);
  });

  it('a read past the end is ERR_CORRUPT, not a short read', async () => {
    const basis = layeredBasis([bytesBasis(new Uint8Array(5)), bytesBasis(new Uint8Array(3))]);
    expect(await rejectionCode(Promise.resolve().then(() => basis.read(6, 3)))).toBe('ERR_CORRUPT');
    expect(await rejectionCode(Promise.resolve().then(() => basis.read(-1, 1)))).toBe('ERR_CORRUPT');
    expect(layeredBasis([]).length).toBe(0);
  });
});
