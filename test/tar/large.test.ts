import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeHeader } from '../../src/tar/encode-header.js';
import { TarReader } from '../../src/tar/reader.js';
import { TarWriter } from '../../src/tar/writer.js';

const SIZE = 100 * 1024 * 1024 + 123; // ~100 MB, not a multiple of 512

/** Yields an archive of [small file, ~100 MB file, small file, end marker] in `chunk`-byte pieces. */
function* archive(chunk: number): Generator<Uint8Array> {
  const small = new Uint8Array(512);
  small.fill(7, 0, 10);
  const parts: Array<Uint8Array | number> = [
    encodeHeader({ name: 'a', type: 'file', size: 10 }),
    small,
    encodeHeader({ name: 'big/' + 'n'.repeat(120), type: 'file', size: SIZE }), // pax header too
    SIZE,
    new Uint8Array(512 - (SIZE % 512)),
    encodeHeader({ name: 'z', type: 'file', size: 10 }),
    small,
    new Uint8Array(1024),
  ];
  // one reusable buffer: the reader must not keep views into it
  const buf = new Uint8Array(chunk);
  let fill = 0;
  let counter = 0;
  for (const p of parts) {
    if (typeof p === 'number') {
      for (let left = p; left > 0; ) {
        const k = Math.min(left, chunk - fill);
        for (let i = 0; i < k; i++) buf[fill + i] = (counter++ * 2654435761) >>> 24;
        fill += k;
        left -= k;
        if (fill === chunk) {
          yield buf;
          fill = 0;
        }
      }
      continue;
    }
    for (let o = 0; o < p.length; ) {
      const k = Math.min(p.length - o, chunk - fill);
      buf.set(p.subarray(o, o + k), fill);
      fill += k;
      o += k;
      if (fill === chunk) {
        yield buf;
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

describe('a ~100 MB entry streams through with bounded memory', () => {
  it.each([65536, 65536 + 7])('chunks of %i bytes', (chunk) => {
    const inHash = createHash('sha256');
    const outHash = createHash('sha256');
    const w = new TarWriter((c) => outHash.update(c));
    let maxBuffered = 0;
    let maxChunk = 0;
    let seen = 0;
    const r = new TarReader({
      onentry: (e) => w.beginEntry(e.headerBlocks, e.size),
      ondata: (e, c, final) => {
        maxChunk = Math.max(maxChunk, c.length);
        if (e.size === SIZE) seen += c.length;
        w.write(c);
        if (final) w.endEntry(e.paddingBytes);
      },
      onend: (t) => w.finish(t),
    });
    let last: Uint8Array | undefined;
    for (const c of archive(chunk)) {
      if (last) {
        inHash.update(last);
        r.push(last);
        maxBuffered = Math.max(maxBuffered, r.bufferedBytes);
      }
      last = c.slice(); // one chunk of look-ahead to know which push is final
    }
    inHash.update(last!);
    r.push(last!, true);
    expect(seen).toBe(SIZE);
    expect(outHash.digest('hex')).toBe(inHash.digest('hex'));
    expect(maxBuffered).toBeLessThanOrEqual(4 * 512);
    expect(maxChunk).toBeLessThanOrEqual(chunk); // content passed through as views, never gathered
  });
});
