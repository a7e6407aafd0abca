/**
 * Int32 tables whose 32-byte buckets each sit in one 64-byte cache line, on glibc at least.
 *
 * A bucket read (up to eight slots, scanned until an empty one) that straddles two cache lines
 * pays a second miss, and prefetching the bucket's first slot brings only one line in. JavaScript
 * cannot see addresses, but glibc serves large blocks (any ArrayBuffer or SharedArrayBuffer of the
 * diff index's size) straight from mmap, 16 bytes past a page boundary: a table at offset 0 had
 * every other bucket straddling. Starting the view 16 bytes in puts every bucket inside a line.
 * Measured on the file pairs of `npm run bench` (2-core Xeon, medians of 6 alternating runs):
 * `rolldelta diff` of 64 MiB 0.61 → 0.58 s, of 256 MiB 1.84 → 1.74 s; `DiffIndex.build` of the
 * 256 MiB basis 0.89-0.95 → 0.78-0.84 s. An allocator that aligns blocks to 64 bytes instead gets
 * the straddling layout glibc's blocks had before: slower by as much, never wrong.
 */
const SHIFT = 16;

/** A zeroed Int32Array of `length` entries, in a SharedArrayBuffer when `shared`, its start shifted as above. */
export function lineAlignedInt32Array(length: number, shared: boolean): Int32Array {
  const bytes = 4 * length + SHIFT;
  return new Int32Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes), SHIFT, length);
}
