import type { DiffOptions } from '../core/diff-options.js';
import type { SignatureParams } from '../core/params.js';
import type { FrameJob } from '../format/_frame-packing.js';

/** Sum the blocks of `bytes` (whole blocks, except perhaps the basis's short last one). */
export interface SignatureBytesTask {
  kind: 'signature-bytes';
  params: SignatureParams;
  bytes: Uint8Array;
}

/** Read bytes [start, end) of the file at `path` with positional reads and sum its blocks. */
export interface SignatureRangeTask {
  kind: 'signature-range';
  params: SignatureParams;
  path: string;
  start: number;
  end: number;
}

/**
 * Fill one part of a diff index whose basis and table live in SharedArrayBuffers (see
 * DiffIndex.fillPart and BasisIndexer); the index is in the shared table.
 */
export interface DiffIndexPartTask {
  kind: 'diff-index-part';
  basis: Uint8Array;
  table: Int32Array;
  options: DiffOptions;
  part: number;
  parts: number;
  /**
   * progress[0] is the basis bytes in place so far (-1: filling it failed): the worker indexes what
   * has landed and waits (Atomics.wait) for more until the whole basis is in.
   */
  progress: Int32Array;
  /**
   * Also hash the basis as it lands, in consecutive ranges ending at these offsets (see
   * RangeSha256): the reply is their digests, else nothing.
   */
  hashEnds?: number[];
}

/** Pack one native delta frame (level 9: context mixing), as the encoder would (see packFrame). */
export interface PackFrameTask {
  kind: 'pack-frame';
  job: FrameJob;
}

/**
 * Hash `bytes` into the SHA-256 named `stream` (created on its first task) and, with `final`, reply
 * with its digest and forget it. A stream's tasks must all go to one worker, in order (a pool of one).
 */
export interface Sha256Task {
  kind: 'sha256';
  stream: number;
  bytes: Uint8Array;
  final: boolean;
}

/**
 * Decode one checked block of the zstd stream named `stream` (see unzstdChunks): `first` starts
 * the frame's decoder, `last` ends it. The reply is the block's output. A stream's blocks must all
 * go to one worker, in order (a pool of one).
 */
export interface ZstdBlockTask {
  kind: 'zstd-block';
  stream: number;
  bytes: Uint8Array;
  first: boolean;
  last: boolean;
}

/**
 * Unpack one checked context-mixed ops frame whose ops start at target offset `frameStart`; the
 * reply is the same frame stored (see storedFrameOf). `at`: its offset in the delta, for messages.
 */
export interface UnpackFrameTask {
  kind: 'unpack-frame';
  body: Uint8Array;
  frameStart: number;
  at: number;
}

/** What a worker can be asked to do. */
export type WorkerTask = SignatureBytesTask | SignatureRangeTask | DiffIndexPartTask | PackFrameTask | Sha256Task | ZstdBlockTask | UnpackFrameTask;

/** The weak and strong sums of consecutive blocks, in block order. */
export interface BlockSums {
  blockCount: number;
  weak: Uint32Array;
  strong: Uint8Array;
}

/** Main thread to worker. */
export interface WorkerRequest {
  id: number;
  task: WorkerTask;
}

/** Worker to main thread: a result, or a failure as a RolldeltaError's code and message. */
export interface WorkerReply {
  id: number;
  result?: unknown;
  error?: { code: string; message: string };
}
