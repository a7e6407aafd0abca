/**
 * Where a frame's ops of one kind start in the target (the frame's output starts at
 * `frameStart`) and how long they are (pairs in
 * one flat list), read from its tags section (varint op count, then one
 * varint tag = length * 4 + kind per op). The section coder uses them as the runs its bytes belong
 * to. Total on any input: a malformed tags section just ends the list early, the same way on both
 * sides; the frame's real checks happen later.
 * @example
 * opSegments(tags, OP_LITERAL, 0); // e.g. [0, 8, 4104, 1] (8 bytes at 0, 1 byte at 4104)
 */
export function opSegments(tags: Uint8Array, kind: number, frameStart: number): number[] {
  const out: number[] = [];
  let at = frameStart;
  let p = 0;
  const next = (): number => {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8 && p < tags.length; i++) {
      const b = tags[p++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 128;
    }
    return -1;
  };
  const count = next();
  for (let i = 0; i < count; i++) {
    const tag = next();
    if (tag < 0) break;
    const length = Math.floor(tag / 4);
    if (tag % 4 === kind) out.push(at, length);
    at += length;
  }
  return out;
}
