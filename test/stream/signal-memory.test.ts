// A stream given an AbortSignal (every Duplex has one: destroy() aborts its pending read) raced
// each read against one promise living as long as the signal, and that promise's reactions kept
// every chunk reachable to the end: 256 MiB in meant ~256 MiB more RSS. Measured in processes of
// their own: 317 → 91 MiB (one thread), 439 → 131 (two workers), 317 → 92 (the Duplex).
import { describe, expect, it } from 'vitest';
import { peakRssMiB } from '../helpers/peak-rss.js';

/** 256 fresh 1 MiB chunks, every page written (untouched pages of a new array cost no RSS). */
const source = `function* chunks() {
  for (let i = 0; i < 256; i++) yield new Uint8Array(1 << 20).fill(i);
}`;

describe('memory of a 256 MiB stream with a signal', () => {
  it('signatureChunks on one thread keeps no chunk it is done with', async () => {
    const peak = await peakRssMiB(`${source}
      const { signatureChunks } = await import(dist);
      for await (const c of signatureChunks(chunks(), { size: 256 << 20, workers: 1, signal: new AbortController().signal }));`);
    expect(peak).toBeLessThan(160);
  });

  it('signatureChunks on two workers reuses its pieces and keeps no chunk', async () => {
    const peak = await peakRssMiB(`${source}
      const { signatureChunks } = await import(dist);
      for await (const c of signatureChunks(chunks(), { size: 256 << 20, workers: 2, signal: new AbortController().signal }));`);
    expect(peak).toBeLessThan(192);
  });

  it('a Duplex (createSignatureStream) keeps no chunk written to it', async () => {
    const peak = await peakRssMiB(`${source}
      const { createSignatureStream } = await import(dist);
      const { Readable, Writable } = await import('node:stream');
      const { pipeline } = await import('node:stream/promises');
      await pipeline(Readable.from(chunks()), createSignatureStream({ size: 256 << 20 }), new Writable({ write: (c, e, cb) => cb() }));`);
    expect(peak).toBeLessThan(160);
  });
});
