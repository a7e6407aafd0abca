/**
 * The bit model of the context-mixing section coder (see cm-codec.ts): before each binary
 * decision it gives the probability, in 1/4096ths, that it is 1, narrows the arithmetic coder's
 * range by it, and learns from the outcome. Shared by encoder and decoder, which must drive it
 * identically: one `cmStep` per decision. A byte is first a zero flag (1: the byte is 0, which is
 * all of it), then, unless zero, its 8 bits, most significant first. Most of what the coder sees
 * at level 9 is the difference bytes of near-matches, 86-89% zeros on the size corpus's package
 * upgrades, where a zero byte took 8 steps and takes one now (libssl3's 4 MB of sections: 31.7M
 * steps, now 7.4M; its diff 2.2x and its patch 2.7x as fast, 0.8% smaller). New text pays a ninth
 * step a byte (6% slower, 0.03% larger); machine code, with its zero bytes, codes 2.5% smaller
 * and 30% faster. Every function on that path is named cm*: the CLI's device commands let V8's
 * optimizing compiler compile only those (`--turbo-filter=cm*`, see
 * cli/optimizing-compiler.ts).
 *
 * Inputs, mixed in the logistic domain by weights learnt online (as in PAQ/lpaq):
 * - order 0..4 and order 6 contexts: adaptive probabilities in hashed tables, one 16-slot bucket
 *   per context and half-byte so the bits of a nibble touch one cache line;
 * - a match model: where the last 6 bytes occurred before, it predicts the byte that followed,
 *   with a confidence learnt per match length.
 * - where the caller says where in the target each byte lands (segments: the literal or add ops
 *   the section's bytes belong to), the byte's column in 512-byte blocks, alone and with the
 *   previous byte: a tar header's fields sit at the same column in every header.
 * An adaptive probability map (order 1 for long sections, order 0 for short) refines the mix.
 * Tables are sized by the section length, so small sections cost little memory.
 */

// Orders 0, 1, 2, 3, 4, 6; the column context alone and with the previous byte; four sparse
// contexts (skipping the last byte, or keeping nibbles), which code machine code and tables better.
const ORDERS = 12;
const INPUTS = ORDERS + 2; // + match model + bias
const MIN_MATCH = 6;
/**
 * Updates after which a probability adapts at its slowest rate, 1/11.5. Delta sections are short
 * and change statistics often: 10 gave 4-13% smaller sections than 255 on the size corpus.
 */
const MAX_COUNT = 10;
const MATCH_LIMIT = 65535;
/**
 * Sections from this length refine with an order-1 probability map (previous byte and partial
 * byte); shorter ones with an order-0 map, which learns faster and is cheaper to set up. Order 0
 * throughout would save the patch 4.2 MiB but code 10.8 MiB of new Python source 1.6% larger.
 */
const APM_ORDER1_FROM = 1 << 16;
const LEARNING_RATE = 7;
/** Columns of 512 bytes: tar blocks, so a header field sits at the same column in every header. */
const COLUMN_MASK = 511;

/** stretch(p) = ln(p / (1 - p)), p in 1/4096ths, scaled by 256 and clamped to ±2047. */
const STRETCH = new Int16Array(4096);
/** cmSquash(d) = 4096 / (1 + e^(-d / 256)), the inverse of stretch, for d in -2047..2047. */
const SQUASH = new Int16Array(4096);
/** Adaptation rate of a probability seen n times: 1 / (n + 1.5), in 1/32768ths (products stay int32). */
const RATE = new Int32Array(MAX_COUNT + 1);
for (let i = 0; i < 4096; i++) {
  const d = i - 2048;
  SQUASH[i] = Math.min(4095, Math.max(1, Math.round(4096 / (1 + Math.exp(-d / 256)))));
  const p = Math.min(4095, Math.max(1, i));
  STRETCH[i] = Math.min(2047, Math.max(-2047, Math.round(256 * Math.log(p / (4096 - p)))));
}
for (let n = 0; n <= MAX_COUNT; n++) RATE[n] = Math.floor(32768 / (n + 1.5));

/** See cmAdaptedTable; made by the first model, not by every process that loads this module. */
let adaptedTable: Uint16Array | undefined;

/**
 * Every slot value (a 12-bit probability above a 4-bit count) after an update towards 0 (entries
 * 0..65535) and towards 1 (65536..131071): one load in place of the update's arithmetic, which
 * took a fifth of the coder's time (12 updates a step). 256 KiB; the same values (4 MB of Python
 * source coded in 4.6-5.2 s instead of 5.3-5.6, decoded in 4.6-5.1 instead of 5.4; the libssl3
 * pair's level 9 patch 1.38 → 1.25 s, medians of 5).
 */
function cmAdaptedTable(): Uint16Array {
  if (adaptedTable) return adaptedTable;
  const a = new Uint16Array(2 << 16);
  for (let v = 0; v < 1 << 16; v++) {
    const p = v >>> 4;
    const n = Math.min(v & 15, MAX_COUNT); // counts above MAX_COUNT never occur
    for (let bit = 0; bit < 2; bit++) {
      const t = (bit << 12) - bit;
      // The count goes up by one, to MAX_COUNT.
      a[(bit << 16) | v] = ((p + (((t - p) * RATE[n] + 16384) >> 15)) << 4) | Math.min(n + 1, MAX_COUNT);
    }
  }
  return (adaptedTable = a);
}

const NO_SEGMENTS: ArrayLike<number> = [];
/** Mixes the bits of the byte seen so far into a nibble's bucket (1 for the first nibble). */
const NIBBLE_MIX = 0x6f4f2a35;

const cmSquash = (d: number): number => SQUASH[(d > 2047 ? 2047 : d < -2047 ? -2047 : d) + 2048];

/**
 * The probability map holds each entry XORed with its starting value (the identity at its
 * bucket), so a map fresh from the allocator starts right as zeros and its pages stay unmapped
 * until a context touches them. The one frame of a 225 MB image's one-line edit context-mixes a
 * 76 KB section of mostly zero tar header differences, whose order-1 map (4.3 MiB) was filled
 * outright: its apply peaked at 67 MiB, 63 now. The same for the context table's slots saved
 * nothing more there and made coding ~9% slower (a XOR per order per bit).
 */
const APM_START = /* @__PURE__ */ (() => {
  const a = new Uint16Array(33);
  for (let j = 0; j < 33; j++) a[j] = cmSquash((j - 16) * 128) * 16;
  return a;
})();

/**
 * Bits of the shared context table for a section of `length` bytes: 8 slots per byte (collisions
 * cost up to 3% at 2 per byte), at most 2^23 slots (16 MiB). A cap of 2^21 would save the patch
 * 12 MiB for sections from 1 MiB but code 10.8 MiB of new Python source 4.2% larger.
 */
export function cmTableBits(length: number): number {
  let bits = 12;
  while (bits < 23 && 2 ** bits < length * 8) bits++;
  return bits;
}

/** The big tables of a model, handed from one model to the next (see takeTables). */
class CmTables {
  slots = new Uint16Array(0);
  weights = new Int32Array(0);
  apm = new Uint16Array(0);
  matchTable = new Int32Array(0);
  history = new Uint8Array(0);
}

/**
 * The tables of the last model, for the next one: each section's model needs ~20 bytes per byte
 * of it, and fresh tables per frame waited for a collection (patch of a level 9 delta of 16 MiB of
 * new text: 154 MiB peak RSS). Models never overlap (a section is coded start to end in one
 * call), so one set serves them all; held weakly, so an idle process gives it back.
 */
let lastTables: WeakRef<CmTables> | undefined;

function takeTables(): CmTables {
  let t = lastTables?.deref();
  if (!t) {
    t = new CmTables();
    lastTables = new WeakRef(t);
  }
  return t;
}

/**
 * The model; one instance codes one section. Its tables are shared with the models made after
 * it: use each model to the end of its section before making the next (cmEncode and cmDecode do).
 * @example
 * const m = new CmModel(raw.length); m.cmStep(bit); // then shift out the range's settled top bytes
 */
export class CmModel {
  private readonly mask: number;
  /** Per slot, for all orders: a 12-bit probability above a 4-bit update count. */
  private readonly slots: Uint16Array;
  private readonly adapted = cmAdaptedTable();
  /** Per order: the bucket of the current nibble. */
  private readonly base = new Int32Array(ORDERS);
  /** Byte-boundary context hashes per order. */
  private readonly hash = new Int32Array(ORDERS);
  private readonly weights: Int32Array;
  private readonly apm: Uint16Array;
  private readonly apmOrder1: boolean;
  private readonly matchTable: Int32Array;
  private readonly matchBits: number;
  /** Per match length (to 31) and predicted bit, for the bits (0..63) and the zero flag (64..127). */
  private readonly matchProb = new Uint16Array(64 * 2);
  private readonly matchCount = new Uint8Array(64 * 2);
  /** The bytes coded so far: the match model's history. */
  readonly history: Uint8Array;
  private pos = 0;
  private c0 = 1;
  /** Bits of the current byte coded so far; -1 before its zero flag (see cmStep). */
  private bitCount = -1;
  private c4 = 0;
  private c8 = 0;
  private matchPtr = 0;
  private matchLen = 0;
  private expected = 0;
  /** The arithmetic coder's range [x1, x2]; cmEncode and cmDecode shift out its settled top bytes. */
  x1 = 0;
  x2 = 0xffffffff;
  /** Decoding: the coded value as far as read (32 bits). */
  x = 0;

  private readonly segments: ArrayLike<number>;
  private segIndex = 0;
  private segLength = 0;
  private segStart = 0;
  private segPos = 0;

  /** `segments`: (target offset, length) pairs of the runs the section's bytes fill, or none. */
  constructor(length: number, segments: ArrayLike<number> = NO_SEGMENTS) {
    this.segments = segments;
    this.segStart = segments.length > 1 ? segments[0]! : 0;
    this.segLength = segments.length > 1 ? segments[1]! : 0;
    this.hash[6] = cmHashOf(this.segStart & COLUMN_MASK, 7);
    this.hash[7] = cmHashOf(this.segStart & COLUMN_MASK, 8);
    const bits = cmTableBits(length);
    this.mask = (1 << bits) - 1;
    const t = takeTables();
    if (t.slots.length < 1 << bits) t.slots = new Uint16Array(1 << bits);
    this.slots = t.slots.subarray(0, 1 << bits).fill(2048 << 4);
    if (t.weights.length === 0) t.weights = new Int32Array(4 * 256 * INPUTS);
    this.weights = t.weights.fill(1 << 14);
    this.apmOrder1 = length >= APM_ORDER1_FROM;
    const apmLength = (this.apmOrder1 ? 65536 : 256) * 33;
    const freshApm = t.apm.length < apmLength;
    if (freshApm) t.apm = new Uint16Array(apmLength);
    this.apm = t.apm.subarray(0, apmLength);
    if (!freshApm) this.apm.fill(0); // every context starts as the identity map (see APM_START)
    this.matchBits = Math.max(10, bits - 4);
    if (t.matchTable.length < 1 << this.matchBits) t.matchTable = new Int32Array(1 << this.matchBits);
    this.matchTable = t.matchTable.subarray(0, 1 << this.matchBits).fill(0);
    this.matchProb.fill(32768);
    if (t.history.length < length) t.history = new Uint8Array(length);
    this.history = t.history.subarray(0, length).fill(0);
    this.matchPtr = 0;
    this.cmNewNibble();
  }

  /**
   * Codes the next decision (the byte's zero flag, or its next bit) and returns it: `bitIn` 0 or
   * 1 when encoding, -1 to decode it from `x`. Predicts it, narrows the range [x1, x2] by the
   * prediction and learns from the outcome. Prediction, coding and learning are one body so that
   * the inputs stay in registers: as two calls, with the inputs in a typed array between them,
   * coding took 1.25x as long (same bytes).
   */
  cmStep(bitIn: number): number {
    const { slots, adapted, base, c0, weights } = this;
    const bitCount = this.bitCount;
    const flag = bitCount < 0;
    // The zero flag uses each first-nibble bucket's slot 0 and the mixer's and map's context 0,
    // which the bits (contexts 1..255) never do.
    const k = flag ? 0 : cmNibbleSlot(c0, bitCount);
    const ctx = flag ? 0 : c0;
    // Written out order by order: in a loop TurboFan checks every typed array again on each pass,
    // and coding took 1.6x as long.
    const b0 = base[0] + k, b1 = base[1] + k, b2 = base[2] + k, b3 = base[3] + k, b4 = base[4] + k, b5 = base[5] + k;
    const b6 = base[6] + k, b7 = base[7] + k, b8 = base[8] + k, b9 = base[9] + k, b10 = base[10] + k, b11 = base[11] + k;
    const s0 = STRETCH[slots[b0] >>> 4];
    const s1 = STRETCH[slots[b1] >>> 4];
    const s2 = STRETCH[slots[b2] >>> 4];
    const s3 = STRETCH[slots[b3] >>> 4];
    const s4 = STRETCH[slots[b4] >>> 4];
    const s5 = STRETCH[slots[b5] >>> 4];
    const s6 = STRETCH[slots[b6] >>> 4];
    const s7 = STRETCH[slots[b7] >>> 4];
    const s8 = STRETCH[slots[b8] >>> 4];
    const s9 = STRETCH[slots[b9] >>> 4];
    const s10 = STRETCH[slots[b10] >>> 4];
    const s11 = STRETCH[slots[b11] >>> 4];
    // Match model: only while the bits so far agree with the predicted byte.
    let s12 = 0;
    let matchSlot = -1;
    const matchLen = this.matchLen;
    if (matchLen > 0 && (flag || ((this.expected | 256) >>> (8 - bitCount)) === c0)) {
      const ebit = flag ? (this.expected === 0 ? 1 : 0) : (this.expected >>> (7 - bitCount)) & 1;
      matchSlot = (flag ? 64 : 0) + (matchLen > 31 ? 31 : matchLen) * 2 + ebit;
      s12 = STRETCH[this.matchProb[matchSlot] >>> 4];
    }
    const lenBucket = matchLen === 0 ? 0 : matchLen < 16 ? 1 : matchLen < 32 ? 2 : 3;
    const w = (lenBucket * 256 + ctx) * INPUTS;
    // Exact in doubles (14 products below 2^42), so the order of the sum does not matter. The
    // last input is the bias, 256.
    const dot =
      s0 * weights[w] + s1 * weights[w + 1] + s2 * weights[w + 2] + s3 * weights[w + 3] +
      s4 * weights[w + 4] + s5 * weights[w + 5] + s6 * weights[w + 6] + s7 * weights[w + 7] +
      s8 * weights[w + 8] + s9 * weights[w + 9] + s10 * weights[w + 10] + s11 * weights[w + 11] +
      s12 * weights[w + 12] + 256 * weights[w + 13];
    const pMix = cmSquash(dot >> 16);
    // Refine with an adaptive probability map, interpolating between two buckets.
    const s = STRETCH[pMix] + 2048;
    const lo = s >> 7;
    const wt = s & 127;
    const a = this.apm;
    const j = (this.apmOrder1 ? ((this.c4 & 0xff) << 8) | ctx : ctx) * 33 + lo;
    const st0 = APM_START[lo];
    const st1 = APM_START[lo + 1];
    const v0 = a[j] ^ st0;
    const v1 = a[j + 1] ^ st1;
    let pr = (pMix + 3 * ((v0 * (128 - wt) + v1 * wt) >> 11)) >> 2;
    if (pr < 1) pr = 1;
    else if (pr > 4095) pr = 4095;

    const x1 = this.x1;
    const x2 = this.x2;
    const range = x2 - x1;
    const xmid = x1 + (range >>> 12) * pr + (((range & 0xfff) * pr) >>> 12);
    const bit = bitIn < 0 ? (this.x <= xmid ? 1 : 0) : bitIn;
    if (bit) this.x2 = xmid;
    else this.x1 = xmid + 1;

    const t = bit << 16;
    cmAdapt(slots, adapted, b0, t);
    cmAdapt(slots, adapted, b1, t);
    cmAdapt(slots, adapted, b2, t);
    cmAdapt(slots, adapted, b3, t);
    cmAdapt(slots, adapted, b4, t);
    cmAdapt(slots, adapted, b5, t);
    cmAdapt(slots, adapted, b6, t);
    cmAdapt(slots, adapted, b7, t);
    cmAdapt(slots, adapted, b8, t);
    cmAdapt(slots, adapted, b9, t);
    cmAdapt(slots, adapted, b10, t);
    cmAdapt(slots, adapted, b11, t);
    if (matchSlot >= 0) {
      const n = this.matchCount[matchSlot];
      this.matchProb[matchSlot] += (((bit << 16) - bit - this.matchProb[matchSlot]) * RATE[n]) >> 15;
      if (n < MAX_COUNT) this.matchCount[matchSlot] = n + 1;
    }
    const err = ((bit << 12) - pMix) * LEARNING_RATE;
    weights[w] += (s0 * err + 0x8000) >> 16;
    weights[w + 1] += (s1 * err + 0x8000) >> 16;
    weights[w + 2] += (s2 * err + 0x8000) >> 16;
    weights[w + 3] += (s3 * err + 0x8000) >> 16;
    weights[w + 4] += (s4 * err + 0x8000) >> 16;
    weights[w + 5] += (s5 * err + 0x8000) >> 16;
    weights[w + 6] += (s6 * err + 0x8000) >> 16;
    weights[w + 7] += (s7 * err + 0x8000) >> 16;
    weights[w + 8] += (s8 * err + 0x8000) >> 16;
    weights[w + 9] += (s9 * err + 0x8000) >> 16;
    weights[w + 10] += (s10 * err + 0x8000) >> 16;
    weights[w + 11] += (s11 * err + 0x8000) >> 16;
    weights[w + 12] += (s12 * err + 0x8000) >> 16;
    weights[w + 13] += (256 * err + 0x8000) >> 16;
    const target = (bit << 16) - bit;
    a[j] = (v0 + ((((target - v0) >> 6) * (128 - wt)) >> 7)) ^ st0;
    a[j + 1] = (v1 + ((((target - v1) >> 6) * wt) >> 7)) ^ st1;

    if (flag) {
      if (bit) this.cmEndByte(0);
      else this.bitCount = 0;
      return bit;
    }
    this.c0 = (c0 << 1) | bit;
    if (++this.bitCount === 8) this.cmEndByte(this.c0 & 0xff);
    else if (this.bitCount === 4) this.cmNewNibble();
    return bit;
  }

  private cmEndByte(byte: number): void {
    this.history[this.pos++] = byte;
    // A zero after six zeros leaves c4 and the low half of c8 at 0, so every context but the
    // column's hashes to what it did a byte ago, and its first-nibble bucket is still in `base`
    // (a zero byte is its flag alone). Inside the zero runs of near-match differences that spares
    // ten hashes and buckets a byte; the same model (libssl3 pair, level 9 on one thread, medians
    // of 5: diff 1.61 → 1.53 s, patch 1.36 → 1.31 s).
    const unchanged = byte === 0 && this.c4 === 0 && (this.c8 & 0xffff) === 0 && this.pos >= 2;
    this.c8 = ((this.c8 << 8) | (this.c4 >>> 24)) >>> 0;
    this.c4 = ((this.c4 << 8) | byte) >>> 0;
    this.c0 = 1;
    this.bitCount = -1;
    if (unchanged) {
      this.cmNextSegmentByte();
      this.cmColumnHashes(0);
      const { base, hash, mask } = this;
      base[6] = cmBucketOf(hash[6], NIBBLE_MIX, mask);
      base[7] = cmBucketOf(hash[7], NIBBLE_MIX, mask);
      this.cmUpdateMatch(0);
      return;
    }
    const c4 = this.c4;
    const h = this.hash;
    h[0] = 0;
    h[1] = cmHashOf(c4 & 0xff, 1);
    h[2] = cmHashOf(c4 & 0xffff, 2);
    h[3] = cmHashOf(c4 & 0xffffff, 3);
    h[4] = cmHashOf(c4, 4);
    h[5] = cmHashOf(c4 ^ Math.imul(this.c8 & 0xffff, 0x2f0b4c4d), 6);
    this.cmNextSegmentByte();
    this.cmColumnHashes(c4 & 0xff);
    h[8] = cmHashOf(c4 & 0xff00, 9);
    h[9] = cmHashOf(c4 & 0xffff00, 10);
    h[10] = cmHashOf(c4 & 0xff0000ff, 11);
    h[11] = cmHashOf(c4 & 0xf0f0f0f0, 12);
    this.cmUpdateMatch(byte);
    this.cmNewNibble();
  }

  /** The column contexts' hashes for the next byte: its column alone and with `last`, the byte before it. */
  private cmColumnHashes(last: number): void {
    const column = (this.segStart + this.segPos) & COLUMN_MASK;
    this.hash[6] = cmHashOf(column, 7);
    this.hash[7] = cmHashOf((column << 8) | last, 8);
  }

  /** Advances the position within the current segment past the byte just coded. */
  private cmNextSegmentByte(): void {
    if (++this.segPos < this.segLength) return;
    this.segPos = 0;
    const segs = this.segments;
    this.segIndex += 2;
    this.segStart = this.segIndex + 1 < segs.length ? segs[this.segIndex]! : 0;
    this.segLength = this.segIndex + 1 < segs.length ? segs[this.segIndex + 1]! : 0;
  }

  private cmUpdateMatch(byte: number): void {
    const hist = this.history;
    if (this.matchLen > 0 && this.expected === byte) {
      this.matchPtr++;
      if (this.matchLen < MATCH_LIMIT) this.matchLen++;
    } else {
      this.matchLen = 0;
    }
    if (this.pos >= MIN_MATCH) {
      const key = this.hash[5] >>> (32 - this.matchBits);
      if (this.matchLen === 0) {
        const cand = this.matchTable[key];
        if (cand > 0) {
          let len = 0;
          while (len < 32 && cand - 1 - len >= 0 && hist[cand - 1 - len] === hist[this.pos - 1 - len]) len++;
          if (len >= MIN_MATCH) {
            this.matchLen = len;
            this.matchPtr = cand;
          }
        }
      }
      this.matchTable[key] = this.pos;
    }
    this.expected = this.matchLen > 0 && this.matchPtr < this.pos ? hist[this.matchPtr] : 0;
    if (this.matchLen > 0 && this.matchPtr >= this.pos) this.matchLen = 0;
  }

  /** At a byte's start and middle: each order's bucket for the next four bits. */
  private cmNewNibble(): void {
    const { base, hash, mask } = this;
    const hi = this.bitCount === 4 ? this.c0 : 0;
    const m = Math.imul(hi + 1, NIBBLE_MIX);
    for (let i = 0; i < ORDERS; i++) base[i] = cmBucketOf(hash[i], m, mask);
  }
}

/** Moves the probability in slot `s` towards the coded bit (`toward`: the bit times 65536), faster while it is new. */
function cmAdapt(slots: Uint16Array, adapted: Uint16Array, s: number, toward: number): void {
  slots[s] = adapted[toward | slots[s]];
}

/** The first slot of the 16-slot bucket of a context hash and nibble mix `m`. */
function cmBucketOf(hash: number, m: number, mask: number): number {
  return (Math.imul(hash ^ m, 0x9e3779b1) >>> 0) & mask & ~15;
}

/** Slot 1..15 of a nibble's bucket for the bits seen so far in that nibble. */
function cmNibbleSlot(c0: number, bitCount: number): number {
  return bitCount < 4 ? c0 : ((c0 & ((1 << (bitCount - 4)) - 1)) | (1 << (bitCount - 4)));
}

function cmHashOf(x: number, order: number): number {
  return Math.imul(Math.imul(x, 0x2c9277b5) + order * 0x5bd1e995, 0x27d4eb2d) ^ order;
}
