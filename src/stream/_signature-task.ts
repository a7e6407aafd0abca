import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { SignatureBuilder } from '../core/signature-builder.js';
import type { SignatureParams } from '../core/params.js';
import { FileBasis } from './file-basis.js';
import { nodeSha256 } from './node-sha256.js';
import type { BlockSums } from './_worker-protocol.js';

const READ_LENGTH = 1 << 20;

function builderFor(params: SignatureParams): SignatureBuilder {
  // No cap here: the main thread checks the whole signature's block count before it starts.
  return new SignatureBuilder(params, { sha256: nodeSha256, basisSha256: false, maxBlocks: Number.MAX_SAFE_INTEGER });
}

function sumsOf(b: SignatureBuilder): BlockSums {
  const sig = b.finish();
  return { blockCount: sig.blockCount, weak: sig.weak, strong: sig.strong };
}

/**
 * Block sums of bytes already in memory (a piece of a streamed basis).
 * @example
 * signatureBytesSums(params, piece); // { blockCount, weak, strong }
 */
export function signatureBytesSums(params: SignatureParams, bytes: Uint8Array): BlockSums {
  const b = builderFor(params);
  b.push(bytes);
  return sumsOf(b);
}

/**
 * Block sums of bytes [start, end) of a file, read with positional reads into one reused buffer.
 * A file shorter than `end` (changed since its size was taken) is ERR_IO.
 * @example
 * await signatureRangeSums(params, 'old.bin', 0, 8 << 20);
 */
export async function signatureRangeSums(params: SignatureParams, path: string, start: number, end: number): Promise<BlockSums> {
  const b = builderFor(params);
  const file = await FileBasis.open(path);
  try {
    if (end > file.length) {
      throw new RolldeltaError(ErrorCode.IO, `${path} has ${file.length} bytes, expected ${end}: the file changed while its signature was made; try again`);
    }
    const buf = new Uint8Array(Math.min(READ_LENGTH, Math.max(end - start, 1)));
    for (let pos = start; pos < end; ) {
      const n = Math.min(buf.length, end - pos);
      await file.readInto(buf, 0, pos, n);
      b.push(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    await file.close();
  }
  return sumsOf(b);
}
