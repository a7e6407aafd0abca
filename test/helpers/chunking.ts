import fc from 'fast-check';

/** Cuts `data` at the given (sorted, deduplicated, in-range) points. */
export function cutAt(data: Uint8Array, points: number[]): Uint8Array[] {
  const cuts = [...new Set(points.map((p) => Math.min(Math.max(0, p), data.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  out.push(data.subarray(prev));
  return out;
}

/** Arbitrary cut points, as fractions so they fit any length. */
export const arbCuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });

export function cutByFractions(data: Uint8Array, fractions: number[]): Uint8Array[] {
  return cutAt(
    data,
    fractions.map((f) => Math.floor(f * data.length)),
  );
}

/** Collects an async iterable of chunks into one array. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(Uint8Array.from(c));
  return Buffer.concat(parts);
}

/** Basis/target pairs of the shapes the laws must hold for: edits, shifts, truncations, splices, repeats. */
export const arbPair = fc
  .tuple(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 5 }))
  .map(([basis, extra, a, b, shape]) => {
    const i = basis.length ? a % basis.length : 0;
    const j = basis.length ? b % basis.length : 0;
    const [lo, hi] = i < j ? [i, j] : [j, i];
    let target: Uint8Array;
    switch (shape) {
      case 0: // unrelated
        target = extra;
        break;
      case 1: // shifted: bytes inserted at the front
        target = Buffer.concat([extra, basis]);
        break;
      case 2: // truncated
        target = basis.subarray(lo, hi);
        break;
      case 3: // spliced: the middle replaced
        target = Buffer.concat([basis.subarray(0, lo), extra, basis.subarray(hi)]);
        break;
      case 4: // repeated copies
        target = Buffer.concat([basis, basis.subarray(lo, hi), basis]);
        break;
      default: // blocks moved
        target = Buffer.concat([basis.subarray(hi), basis.subarray(lo, hi), basis.subarray(0, lo)]);
    }
    return { basis, target: Uint8Array.from(target) };
  });
