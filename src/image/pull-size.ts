import { createGzip } from 'node:zlib';

/**
 * Bytes the layer would take gzip-compressed (level 6, what registries serve), and its raw
 * length, measured in one streaming pass.
 */
export async function measureLayer(chunks: AsyncIterable<Uint8Array>): Promise<{ rawBytes: number; gzipBytes: number }> {
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
