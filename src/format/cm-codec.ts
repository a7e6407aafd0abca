/**
 * Context-mixing section coder: a binary arithmetic coder driven by CmModel (_cm-model.ts).
 * Slower than deflate (a few MB/s each way) but it codes new content, and the sparse difference
 * bytes of near-matches, markedly smaller: it learns from every bit instead of a 32 KiB window.
 *
 * Coded form: the arithmetic coder's output bytes (each byte a zero flag, then its 8 bits unless
 * it is zero: see _cm-model.ts), 32-bit range, carry-free (the range's top byte is emitted once
 * both ends agree on it), four bytes flushed at the end. The raw length is carried by the
 * container, so the decoder knows when to stop; bytes read past the end count as zero, and a
 * damaged input decodes to wrong bytes that the frame CRC and target hash catch.
 */
import { CmModel } from './_cm-model.js';

/**
 * Codes `raw` with the context-mixing model. `segments` (lengths of the runs the bytes belong
 * to, such as the literal ops of a frame) sharpen the model; the decoder must be given the same.
 * @example
 * const packed = cmEncode(literals);
 * cmDecode(packed, literals.length); // equals literals
 */
export function cmEncode(raw: Uint8Array, segments?: ArrayLike<number>): Uint8Array {
  const model = new CmModel(raw.length, segments);
  let out: Uint8Array = new Uint8Array(Math.max(64, (raw.length >>> 1) + 64));
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    // A zero flag first (1: the byte is 0, and nothing more is coded for it), then the 8 bits.
    for (let j = 8; j >= 0; j--) {
      model.cmStep(j === 8 ? (c === 0 ? 1 : 0) : (c >>> j) & 1);
      while (((model.x1 ^ model.x2) & 0xff000000) === 0) {
        if (n === out.length) out = grow(out);
        out[n++] = model.x2 >>> 24;
        model.x1 = (model.x1 << 8) >>> 0;
        model.x2 = ((model.x2 << 8) | 255) >>> 0;
      }
      if (c === 0) break;
    }
  }
  const x1 = model.x1;
  if (n + 4 > out.length) out = grow(out);
  out[n++] = x1 >>> 24;
  out[n++] = (x1 >>> 16) & 0xff;
  out[n++] = (x1 >>> 8) & 0xff;
  out[n++] = x1 & 0xff;
  return out.slice(0, n);
}

/**
 * Decodes `rawLength` bytes coded by cmEncode. The result is the model's history, whose memory the
 * next cmEncode or cmDecode reuses: copy it to keep it.
 * @example
 * const literals = cmDecode(packed, 4096);
 */
export function cmDecode(packed: Uint8Array, rawLength: number, segments?: ArrayLike<number>): Uint8Array {
  const model = new CmModel(rawLength, segments);
  const out = model.history;
  const end = packed.length;
  let q = 0;
  let x = 0;
  for (let k = 0; k < 4; k++) x = ((x << 8) | (q < end ? packed[q++] : 0)) >>> 0;
  model.x = x;
  for (let i = 0; i < rawLength; i++) {
    for (let j = 0; j < 9; j++) {
      const bit = model.cmStep(-1);
      while (((model.x1 ^ model.x2) & 0xff000000) === 0) {
        model.x1 = (model.x1 << 8) >>> 0;
        model.x2 = ((model.x2 << 8) | 255) >>> 0;
        model.x = ((model.x << 8) | (q < end ? packed[q++] : 0)) >>> 0;
      }
      if (j === 0 && bit === 1) break; // a zero byte: its flag is all it takes
    }
  }
  return out;
}

function grow(out: Uint8Array): Uint8Array {
  const next = new Uint8Array(out.length * 2);
  next.set(out);
  return next;
}
