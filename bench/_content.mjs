// Deterministic, realistic-ish content for the benchmarks: a mix of text-like, record-like and
// incompressible blocks, so that deflate, zstd and xdelta3 see data they can compress a little,
// as real files and images are. Every block depends only on its seed, so any block can be made again.

/** xorshift32 step; callers keep the state in a local. */
export const next = (s) => {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
};

/** A 32-bit seed from numbers (FNV-1a over their 32-bit words), never 0. */
export function seedOf(...parts) {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ Math.floor(p / 2 ** 32), 0x01000193) >>> 0;
  }
  return h || 1;
}

// A fixed vocabulary of 4096 pseudo-words (2-9 letters), shared by all text blocks, as a language is.
const WORDS = (() => {
  const words = [];
  let s = 0x2545f491;
  for (let i = 0; i < 4096; i++) {
    s = next(s);
    const len = 2 + (s % 8);
    let w = '';
    for (let j = 0; j < len; j++) {
      s = next(s);
      w += String.fromCharCode(97 + (s % 26));
    }
    words.push(Buffer.from(w));
  }
  return words;
})();

/** Fills `buf` with text: words from the vocabulary, spaces, numbers and newlines. */
function fillText(buf, s) {
  let o = 0;
  const n = buf.length;
  while (o < n) {
    s = next(s);
    // Zipf-like choice: small indexes much more often.
    const w = WORDS[((s & 0xfff) * ((s >>> 12) & 0xfff)) >>> 12];
    const m = Math.min(w.length, n - o);
    for (let i = 0; i < m; i++) buf[o + i] = w[i];
    o += m;
    if (o < n) buf[o++] = (s >>> 24) % 11 === 0 ? 10 : 32;
  }
}

/** Fills `buf` with 16-byte records: a counter, small deltas, flags and zero padding. */
function fillRecords(buf, s) {
  let id = s & 0xffff;
  const n = buf.length & ~15;
  for (let o = 0; o < n; o += 16) {
    s = next(s);
    id += 1 + (s & 3);
    buf.writeUInt32LE(id >>> 0, o);
    buf.writeUInt32LE(s & 0x3ff, o + 4);
    buf.writeUInt32LE((s >>> 10) & 0x7, o + 8);
    buf.writeUInt32LE(0, o + 12);
  }
  buf.fill(0, n);
}

/** Fills `buf` with incompressible bytes (as compressed files embedded in a tree are). */
function fillRandom(buf, s) {
  const n = buf.length & ~3;
  for (let o = 0; o < n; o += 4) {
    s = next(s);
    buf.writeUInt32LE(s, o);
  }
  for (let o = n; o < buf.length; o++) buf[o] = (s = next(s)) & 0xff;
}

/**
 * Fills `buf` with one kind of content chosen by the seed: 55% text, 30% records, 15% random.
 * Whole buffers compress to about 45% with zstd -3.
 */
export function fillBlock(buf, seed) {
  const s = next(seed || 1);
  const kind = s % 100;
  if (kind < 55) fillText(buf, s);
  else if (kind < 85) fillRecords(buf, s);
  else fillRandom(buf, s);
}
