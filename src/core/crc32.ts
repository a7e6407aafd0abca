// CRC-32 as in IEEE 802.3, zlib, gzip and PNG (reflected polynomial 0xedb88320).

/**
 * Slicing-by-8 tables: T[k*256 + b] is the CRC of byte b followed by k zero bytes, so eight input
 * bytes fold in with eight independent lookups per step instead of eight dependent ones.
 */
const T = /* @__PURE__ */ (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/**
 * CRC-32 of `data` as a uint32; pass the previous result to continue over more chunks.
 * @example
 * crc32(new TextEncoder().encode('123456789')); // 0xcbf43926
 * crc32(b, crc32(a)) === crc32(concatBytes([a, b])); // true
 */
export function crc32(data: Uint8Array, previous = 0): number {
  const t = T;
  let c = ~previous;
  let i = 0;
  const n = data.length;
  const end8 = n - (n & 7);
  for (; i < end8; i += 8) {
    const lo = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    c =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + data[i + 4]] ^
      t[512 + data[i + 5]] ^
      t[256 + data[i + 6]] ^
      t[data[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
