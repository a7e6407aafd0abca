import { looksIncompressible } from './_entropy.js';
import { opSegments } from './_op-segments.js';
import { cmEncode } from './cm-codec.js';
import { CM_LEVEL, CODEC_LITERAL, CODEC_SECTIONS, CODEC_SECTIONS_CM, CODEC_STORED, OP_ADD, OP_LITERAL } from './native-codes.js';
import type { RawDeflate } from './raw-deflate.js';
import { varintLength, writeVarint } from './varint.js';

/**
 * One ops frame's raw bytes to pack: the op tags (`tagsRaw` bytes, count first), the offsets
 * (`offsLen`), the literals (`litLen`) and the add diffs (the rest), and where in the target the
 * frame's output starts (the context-mixing coder's columns).
 */
export interface FrameJob {
  raw: Uint8Array;
  tagsRaw: number;
  offsLen: number;
  litLen: number;
  level: number;
  frameStart: number;
}

/**
 * Packs a frame elsewhere (another thread) to the bytes `packFrame` gives, or returns undefined
 * for the caller to pack it. `last` is true for a delta's final frame, which no later frame's
 * packing can overlap with.
 */
export type FramePackerAsync = (job: FrameJob, last: boolean) => Promise<PackedFrame> | undefined;

/** A frame's payload and its codec byte. */
export interface PackedFrame {
  payload: Uint8Array;
  codec: number;
}

/**
 * Packs a frame the smallest way its level allows: stored, deflated sections, or (level 9) context-
 * mixed sections. Ops, literals and diffs pack better apart (their statistics differ: a tar's literal
 * headers match each other, diffs are mostly zeros); each section is stored when packing does not
 * shrink it (literal bytes that are already random are not even tried). A pure function of the job,
 * so a worker thread packs a frame to the same bytes.
 * @example
 * const { payload, codec } = packFrame(job, nodeRawDeflate);
 */
export function packFrame(job: FrameJob, rawDeflate: RawDeflate): PackedFrame {
  const { raw, tagsRaw, offsLen, litLen, level } = job;
  let best = storedFrame(job);
  // One literal of random bytes: every sectioned payload holds those bytes as they are, and more.
  if (best.codec === CODEC_LITERAL && looksIncompressible(best.payload)) return best;
  if (level < CM_LEVEL || raw.length < CM_ALONE_FROM) {
    const deflated = packSections(raw, tagsRaw, offsLen, litLen, (section, tryPack) => packSection(section, rawDeflate, level, tryPack));
    if (deflated.length < best.payload.length) best = { payload: deflated, codec: CODEC_SECTIONS };
  }
  if (level >= CM_LEVEL) {
    // Context mixing needs some bytes to learn from: tiny frames can still deflate smaller.
    const tags = raw.subarray(0, tagsRaw);
    const mixed = packSections(raw, tagsRaw, offsLen, litLen, (section, tryPack, kind) =>
      packSectionCm(section, tryPack, kind < 0 ? undefined : opSegments(tags, kind, job.frameStart)),
    );
    if (mixed.length < best.payload.length) best = { payload: mixed, codec: CODEC_SECTIONS_CM };
  }
  return best;
}

/**
 * Frame size from which level 9 does not try deflate beside context mixing: from there context
 * mixing was smaller on every frame measured (by 2-35%: the size corpus's frames of 106 KB to 1
 * MiB), while deflate still won some frames of 9-21 KB (image deltas' tar headers, by 50-70
 * bytes). zlib -9 on a 380 KB frame took ~10% of that pair's diff.
 */
const CM_ALONE_FROM = 64 << 10;

/** Bytes of the frame that level 9 context-mixes: all but literals that already look random. */
export function contextMixedBytes(job: FrameJob): number {
  const litStart = job.tagsRaw + job.offsLen;
  return job.raw.length - (looksIncompressible(job.raw.subarray(litStart, litStart + job.litLen)) ? job.litLen : 0);
}

/**
 * What `packFrame` gives below level 9, with each section deflated off the calling thread
 * (`deflateAsync`, libuv's thread pool at the Node edges) while the producer goes on.
 */
export async function deflateFrameAsync(job: FrameJob, deflateAsync: (data: Uint8Array, level: number) => Promise<Uint8Array>): Promise<PackedFrame> {
  const { raw, tagsRaw, offsLen, litLen, level } = job;
  const parts = await Promise.all(
    sectionsOf(raw, tagsRaw, offsLen, litLen).map(([section, tryPack]) =>
      tryPack && section.length > 0 ? deflateAsync(section, level).then((p) => (p.length < section.length ? p : section)) : section,
    ),
  );
  const deflated = joinSections(tagsRaw, offsLen, litLen, parts);
  const stored = storedFrame(job);
  return deflated.length < stored.payload.length ? { payload: deflated, codec: CODEC_SECTIONS } : stored;
}

/**
 * A frame unpacked: its raw as is, or, when it is one literal op, just that literal's bytes (new
 * content that does not compress costs no op list then, only the frame's head).
 */
export function storedFrame(job: FrameJob): PackedFrame {
  const { raw, tagsRaw, offsLen, litLen } = job;
  const oneLiteral = offsLen === 0 && litLen === raw.length - tagsRaw && tagsRaw === 1 + varintLength(litLen * 4 + OP_LITERAL) && raw[0] === 1;
  return oneLiteral ? { payload: raw.subarray(tagsRaw), codec: CODEC_LITERAL } : { payload: raw, codec: CODEC_STORED };
}

/**
 * The sectioned payload of a frame (codecs 2 and 3): section sizes, then the four sections each
 * packed by `pack` (told whether to try and, for literals and diffs, which op kind they belong to).
 */
function packSections(
  raw: Uint8Array,
  tagsRaw: number,
  offsLen: number,
  litLen: number,
  pack: (section: Uint8Array, tryPack: boolean, kind: number) => Uint8Array,
): Uint8Array {
  return joinSections(tagsRaw, offsLen, litLen, sectionsOf(raw, tagsRaw, offsLen, litLen).map(([s, tryPack, kind]) => pack(s, tryPack, kind)));
}

/** A frame raw's four sections: [bytes, whether packing is worth trying, op kind of their bytes]. */
function sectionsOf(raw: Uint8Array, tagsRaw: number, offsLen: number, litLen: number): Array<[Uint8Array, boolean, number]> {
  const litStart = tagsRaw + offsLen;
  const litRaw = raw.subarray(litStart, litStart + litLen);
  return [
    [raw.subarray(0, tagsRaw), true, -1],
    [raw.subarray(tagsRaw, litStart), true, -1],
    [litRaw, !looksIncompressible(litRaw), OP_LITERAL],
    [raw.subarray(litStart + litLen), true, OP_ADD],
  ];
}

/** The sectioned payload: the raw and packed sizes, then the four packed sections. */
function joinSections(tagsRaw: number, offsLen: number, litLen: number, parts: Uint8Array[]): Uint8Array {
  const [pTags, pOffs, pLit, pDiff] = parts;
  const head = [tagsRaw, pTags.length, offsLen, pOffs.length, litLen, pLit.length, pDiff.length];
  const headLen = head.reduce((a, v) => a + varintLength(v), 0);
  const out = new Uint8Array(headLen + pTags.length + pOffs.length + pLit.length + pDiff.length);
  let p = 0;
  for (const v of head) p = writeVarint(out, p, v);
  for (const part of [pTags, pOffs, pLit, pDiff]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** A section coded by context mixing, or as is when that would not make it shorter. */
function packSectionCm(raw: Uint8Array, tryPack: boolean, segments: number[] | undefined): Uint8Array {
  if (!tryPack || raw.length === 0) return raw;
  const packed = cmEncode(raw, segments);
  return packed.length < raw.length ? packed : raw;
}

/** A section deflated, or as is when deflate would not make it shorter (or `tryDeflate` is false). */
function packSection(raw: Uint8Array, rawDeflate: RawDeflate, level: number, tryDeflate: boolean): Uint8Array {
  if (!tryDeflate || raw.length === 0) return raw;
  const packed = rawDeflate.deflate(raw, level);
  return packed.length < raw.length ? packed : raw;
}
