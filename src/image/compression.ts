import { Gunzip } from 'fflate';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { LayerCompression } from './image-types.js';

/** Bytes `detectCompression` needs to see. */
export const COMPRESSION_PROBE_BYTES = 10;

/**
 * Tells how a layer blob is stored from its first bytes (media types lie: skopeo and Docker label
 * uncompressed layers `tar.gzip` and the reverse). gzip and plain tar are read; zstd, xz and bzip2
 * are ERR_UNSUPPORTED with a message that says how to re-save the image.
 * @example
 * detectCompression(await file.read(offset, 10), 'blobs/sha256/ab12...'); // 'gzip'
 */
export function detectCompression(head: Uint8Array, what: string): LayerCompression {
  const b = head;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  let kind: string | undefined;
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) kind = 'zstd';
  else if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0) kind = 'xz';
  // "BZh" + level digit + the block magic 0x314159265359: unambiguous, no tar starts with it
  else if (b.length >= 10 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[4] === 0x31 && b[5] === 0x41 && b[6] === 0x59 && b[7] === 0x26 && b[8] === 0x53 && b[9] === 0x59) kind = 'bzip2';
  if (kind !== undefined) {
    throw new RolldeltaError(
      ErrorCode.UNSUPPORTED,
      `layer ${what} is ${kind}-compressed, which rolldelta cannot decode (it reads plain tar and gzip layers); ` +
        'save the image with `docker save` or copy it with `skopeo copy --dest-compress-format gzip` first',
    );
  }
  return 'none';
}

/** Compressed bytes given to the inflater at once: deflate expands at most ~1032x, so one step's output stays under ~17 MB. */
const GZIP_STEP = 16 << 10;

/**
 * Decodes a gzip stream (one or several members) as it arrives. Memory stays bounded whatever the
 * ratio: input is fed in 16 KiB steps and each step's output is yielded before the next.
 * A damaged or cut stream is ERR_CORRUPT / ERR_TRUNCATED naming `what`.
 * @example
 * for await (const tarChunk of gunzipChunks(readChunks(file), 'layer 2')) hash.update(tarChunk);
 */
export async function* gunzipChunks(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  let out: Uint8Array[] = [];
  let ended = false;
  const gz = new Gunzip((chunk, final) => {
    if (chunk.length > 0) out.push(chunk);
    if (final) ended = true;
  });
  const step = (chunk: Uint8Array, final: boolean): void => {
    try {
      gz.push(chunk, final);
    } catch (e) {
      const msg = (e as Error).message;
      const code = /unexpected EOF/i.test(msg) ? ErrorCode.TRUNCATED : ErrorCode.CORRUPT;
      throw new RolldeltaError(code, `${what} is not a valid gzip stream (${msg}); the archive is damaged or cut short`, { cause: e });
    }
  };
  for await (const chunk of source) {
    for (let p = 0; p < chunk.length; p += GZIP_STEP) {
      step(chunk.subarray(p, Math.min(chunk.length, p + GZIP_STEP)), false);
      if (out.length > 0) {
        yield* out;
        out = [];
      }
    }
  }
  step(new Uint8Array(0), true);
  yield* out;
  out = [];
  if (!ended) throw new RolldeltaError(ErrorCode.TRUNCATED, `${what} ends inside its gzip stream; the archive is cut short`);
}
