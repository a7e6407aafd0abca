import type { FrameJob, PackedFrame } from '../format/_frame-packing.js';
import type { WorkerPool } from './worker-pool.js';

/**
 * A `packFrameAsync` that packs each frame in one of `pool`'s worker threads (the frame's raw bytes
 * are copied there, a millisecond against seconds of coding): level 9's context mixing codes about
 * 0.7 MB/s, so two threads coding two frames at once halve a diff's time when literals dominate it.
 * Same bytes as packing here.
 * @example
 * new DiffDelta(basis, ondata, { level: 9, background: true, packFrameAsync: workerFramePacker(pool) });
 */
export function workerFramePacker(pool: WorkerPool): (job: FrameJob) => Promise<PackedFrame> {
  return (job) => pool.run<PackedFrame>({ kind: 'pack-frame', job });
}
