import { cmDecode } from './cm-codec.js';
import { corrupt } from './_reader.js';
import { opSegments } from './_op-segments.js';
import { OP_ADD, OP_LITERAL } from './native-codes.js';
import { Cursor } from './varint.js';

/** A sectioned frame's raw bytes and the sizes its sections declared (checked against its ops). */
export interface Sections {
  raw: Uint8Array;
  tagsRaw: number;
  offsRaw: number;
  litRaw: number;
}

/**
 * Rebuilds the raw of a sectioned frame (codec 2 or 3) into `buffer(rawLength)` (the decoder's,
 * reused: sinks copy what they keep), asked for only once the sizes add up: four sections (op count and tags, offsets,
 * literals, diffs), each packed (deflate or context mixing) or stored, whose declared sizes must
 * add up exactly to `rawLength` and to the payload.
 */
export function unpackSections(
  inflate: (payload: Uint8Array, rawLength: number) => Uint8Array,
  payload: Uint8Array,
  rawLength: number,
  buffer: (n: number) => Uint8Array,
  at: number,
  cm: boolean,
  frameStart: number,
  opsOnly: boolean,
): Sections {
  if (payload.length >= rawLength) throw corrupt(`a sectioned frame of ${payload.length} bytes is not smaller than its raw ${rawLength}`, at);
  const c = new Cursor(payload, 0, payload.length);
  const tagsRaw = c.varint();
  const tagsPacked = c.varint();
  const offsRaw = c.varint();
  const offsPacked = c.varint();
  const litRaw = c.varint();
  const litPacked = c.varint();
  const diffPacked = c.varint();
  if (tagsRaw + offsRaw + litRaw > rawLength) throw corrupt(`sections of ${tagsRaw}, ${offsRaw} and ${litRaw} bytes in a raw of ${rawLength}`, at);
  const sizes = [tagsRaw, tagsPacked, offsRaw, offsPacked, litRaw, litPacked, rawLength - tagsRaw - offsRaw - litRaw, diffPacked];
  if (c.pos + tagsPacked + offsPacked + litPacked + diffPacked !== payload.length) {
    throw corrupt(`sections of ${tagsPacked + offsPacked + litPacked + diffPacked} packed bytes in a payload of ${payload.length - c.pos}`, at);
  }
  const raw = buffer(rawLength);
  let src = c.pos;
  let dst = 0;
  for (let k = 0; k < 8; k += 2) {
    const r = sizes[k]!;
    const p = sizes[k + 1]!;
    if (p > r) throw corrupt(`a section packed into ${p} bytes, more than its raw ${r}`, at);
    const part = payload.subarray(src, src + p);
    // The coder's segments for literals and diffs come from the tags, already unpacked.
    const kind = k === 4 ? OP_LITERAL : k === 6 ? OP_ADD : -1;
    if (opsOnly && kind >= 0) {
      src += p;
      dst += r;
      continue;
    }
    const unpacked = p === r ? part : cm ? cmDecode(part, r, kind < 0 ? undefined : opSegments(raw.subarray(0, tagsRaw), kind, frameStart)) : inflate(part, r);
    raw.set(unpacked, dst);
    src += p;
    dst += r;
  }
  return { raw, tagsRaw, offsRaw, litRaw };
}
