import { createGzip } from 'node:zlib';

/**
 * A layer's raw length and, when `gzip` is set, the bytes it would take gzip-compressed (level 6,
 * what registries serve), in one streaming pass. Layers a pull would not move skip the gzip.
 */
export async function measureLayer(chunks: AsyncIterable<Uint8Array>, gzip: boolean): Promise<{ rawBytes: number; gzipBytes: number }> {
  if (!gzip) {
    let rawBytes = 0;
    for await (const c of chunks) rawBytes += c.length;
    return { rawBytes, gzipBytes: 0 };
  }
  const gz = createGzip({ level: 6 });
  let gzipBytes = 0;
  let rawBytes = 0;
  gz.on('data', (c: Buffer) => {
    gzipBytes += c.length;
  });
  const done = new Promise<void>((resolve, reject) => {
    gz.once('end', resolve);
    gz.once('error', reject);
  });
  for await (const c of chunks) {
    rawBytes += c.length;
    if (!gz.write(c)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  return { rawBytes, gzipBytes };
}
