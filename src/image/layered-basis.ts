import type { RandomAccessBasis } from '../core/basis.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * One basis over several parts laid end to end (an image's layers): a position maps to a part by
 * binary search over the cumulative lengths; a read across a boundary is assembled from both.
 * @example
 * const basis = layeredBasis(image.layers.map((l) => archive.layerBasis(l)!));
 */
export function layeredBasis(parts: readonly RandomAccessBasis[]): RandomAccessBasis {
  const starts: number[] = [];
  let total = 0;
  for (const p of parts) {
    starts.push(total);
    total += p.length;
  }
  const partAt = (pos: number): number => {
    let lo = 0;
    let hi = parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const check = (position: number, length: number): void => {
    if (position < 0 || length < 0 || position + length > total) {
      throw new RolldeltaError(ErrorCode.CORRUPT, `a read of ${length} bytes at ${position} reaches past the old image's ${total} bytes of layers`);
    }
  };
  /** The pieces of a checked, non-empty read: [part, position in it, length, offset in the read]. */
  function* pieces(position: number, length: number): Generator<[RandomAccessBasis, number, number, number]> {
    for (let i = partAt(position), done = 0; done < length; i++) {
      const pos = position + done - starts[i];
      const n = Math.min(length - done, parts[i].length - pos);
      if (n > 0) yield [parts[i], pos, n, done];
      done += n;
    }
  }
  const direct = parts.every((p) => p.readInto !== undefined);
  return {
    length: total,
    // Present only when every part has it; a read across a boundary becomes one read per part.
    readInto: direct
      ? async (buf: Uint8Array, offset: number, position: number, length: number): Promise<void> => {
          check(position, length);
          if (length === 0) return;
          await Promise.all(Array.from(pieces(position, length), ([part, pos, n, at]) => part.readInto!(buf, offset + at, pos, n)));
        }
      : undefined,
    async read(position: number, length: number): Promise<Uint8Array> {
      check(position, length);
      // An image with no layers has no part to ask.
      if (length === 0) return new Uint8Array(0);
      const first = pieces(position, length).next().value!;
      if (first[2] === length) return first[0].read(first[1], length);
      const out = new Uint8Array(length);
      for (const [part, pos, n, at] of pieces(position, length)) out.set(await part.read(pos, n), at);
      return out;
    },
  };
}
