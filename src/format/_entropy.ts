const counts = new Uint32Array(256);

/**
 * True when bytes look like compressed or random data (order-0 entropy above 7.9 bits/byte), so
 * deflating them would cost time and save nothing: deflate then runs at 20 MB/s to store.
 * Samples every 4th byte of large inputs; small inputs (< 4 KiB) are always worth a try.
 */
export function looksIncompressible(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n < 4096) return false;
  counts.fill(0);
  const step = n >= 65536 ? 4 : 1;
  let seen = 0;
  for (let i = 0; i < n; i += step) {
    counts[bytes[i]]++;
    seen++;
  }
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b];
    if (c !== 0) bits -= c * Math.log2(c / seen);
  }
  return bits / seen > 7.9;
}
