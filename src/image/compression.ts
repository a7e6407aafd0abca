import { createGunzip, type Gunzip } from 'node:zlib';
import { Decompress, ZstdErrorCode } from 'fzstd';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { ZstdFrameWalker } from './_zstd-frames.js';
import type { LayerCompression } from './image-types.js';

/** Bytes `detectCompression` needs to see. */
export const COMPRESSION_PROBE_BYTES = 10;

/**
 * The compression whose magic `head` starts with, or undefined (plain data, such as a tar).
 * @example
 * compressionOf(Uint8Array.of(0x1f, 0x8b, 8)); // 'gzip'
 */
export function compressionOf(head: Uint8Array): 'gzip' | 'zstd' | 'xz' | 'bzip2' | undefined {
  const b = head;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0) return 'xz';
  // "BZh" + level digit + the block magic 0x314159265359: unambiguous, no tar starts with it
  if (b.length >= 10 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[4] === 0x31 && b[5] === 0x41 && b[6] === 0x59 && b[7] === 0x26 && b[8] === 0x53 && b[9] === 0x59) return 'bzip2';
  return undefined;
}

/**
 * Tells how a layer blob is stored from its first bytes (media types lie: skopeo and Docker label
 * uncompressed layers `tar.gzip` and the reverse). Plain tar, gzip and zstd are read; xz and bzip2
 * are ERR_UNSUPPORTED with a message that says how to re-save the image.
 * @example
 * detectCompression(await file.read(offset, 10), 'blobs/sha256/ab12...'); // 'gzip'
 */
export function detectCompression(head: Uint8Array, what: string): LayerCompression {
  const kind = compressionOf(head);
  if (kind === 'gzip' || kind === 'zstd') return kind;
  if (kind !== undefined) {
    throw new RolldeltaError(
      ErrorCode.UNSUPPORTED,
      `layer ${what} is ${kind}-compressed, which rolldelta cannot decode (it reads plain tar, gzip and zstd layers); ` +
        'save the image with `docker save` or copy it with `skopeo copy --dest-compress-format gzip` first',
    );
  }
  return 'none';
}

/**
 * The uncompressed bytes of a compressed layer blob, decoded as they arrive (see gunzipChunks
 * and unzstdChunks, whose contract is the same).
 * @example
 * for await (const tarChunk of decompressedChunks(layer.compression, readChunks(file), 'layer 2')) hash.update(tarChunk);
 */
export function decompressedChunks(compression: 'gzip' | 'zstd', source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  return compression === 'gzip' ? gunzipChunks(source, what) : unzstdChunks(source, what);
}

/** Bytes of output per zlib step: fewer, larger chunks than its 16 KiB default. */
const GUNZIP_CHUNK = 64 << 10;

/**
 * Decodes a gzip stream (one or several members) as it arrives, with node:zlib: native, 3x faster
 * than fflate's pure-TypeScript inflater here (64 MiB: 0.23 vs 0.70 s), and as fast without V8's
 * optimizing compiler, which the CLI's device commands run without (fflate then took 3.7 s).
 * Memory stays bounded whatever the ratio: zlib yields 64 KiB at a time and stops while its
 * output waits to be taken, and the next input chunk is asked for only once zlib has consumed the
 * last (so a source may reuse its buffers). A damaged or cut stream is ERR_CORRUPT /
 * ERR_TRUNCATED naming `what`; a failure of `source` itself comes through as it is.
 * @example
 * for await (const tarChunk of gunzipChunks(readChunks(file), 'layer 2')) hash.update(tarChunk);
 */
export async function* gunzipChunks(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const gz = createGunzip({ chunkSize: GUNZIP_CHUNK });
  let sourceFailure: { error: unknown } | undefined;
  const feed = (async () => {
    const it = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } catch (e) {
          sourceFailure = { error: e };
          gz.destroy(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        if (r.done) break;
        if (!(await written(gz, r.value))) return;
      }
      gz.end();
    } finally {
      if (!sourceFailure) await it.return?.();
    }
  })();
  feed.catch(() => {}); // awaited below; a source that fails to close meanwhile is not unhandled
  try {
    for await (const chunk of gz) yield chunk as Buffer;
  } catch (e) {
    if (sourceFailure) throw sourceFailure.error;
    const msg = (e as Error).message;
    const code = (e as { code?: string }).code === 'Z_BUF_ERROR' || /unexpected end/i.test(msg) ? ErrorCode.TRUNCATED : ErrorCode.CORRUPT;
    throw new RolldeltaError(code, `${what} is not a valid gzip stream (${msg}); the archive is damaged or cut short`, { cause: e });
  } finally {
    gz.destroy();
    await feed;
  }
}

/** Writes `chunk` to zlib; true once zlib has consumed it, false if the stream failed or closed first. */
function written(gz: Gunzip, chunk: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    const closed = (): void => resolve(false);
    gz.once('close', closed);
    gz.write(chunk, (err) => {
      gz.off('close', closed);
      resolve(!err);
    });
  });
}

/**
 * Most bytes fzstd may move per byte of output, beyond a first 1 GiB. fzstd shifts its whole window
 * for every block (and allocates it for every frame), so a stream of tiny blocks in a large window
 * costs time out of all proportion: one-byte RLE blocks in a 128 MiB window took 23 s per 8 KB of
 * input. The slowest legitimate streams move about 2048 bytes per byte out (`zstd --ultra -22` on a
 * large layer: a 128 MiB window, blocks of 64 KiB on average after zstd's block splitting); 8192
 * leaves room and holds any stream to about 1 MB/s of output at the worst.
 */
const MAX_WINDOW_WORK_PER_BYTE = 8192;
const WINDOW_WORK_GRACE = 1 << 30;

/**
 * Decodes a zstd stream (frames and skippable frames) as it arrives, with fzstd (pure JavaScript:
 * Node 20's zlib has no zstd). A 64 MiB layer (a tar of /usr, `zstd -3`: 2 MiB window) takes
 * 0.26 s, against 0.05 s for `zstd -d` and 0.22 s for gunzipChunks on its gzip twin; with an
 * 8 MiB window 0.41 s. fzstd moves its whole window for each 128 KiB block, so time grows with
 * the window: 7.5 s with `--long=27` (128 MiB). Without V8's optimizing compiler (the CLI's
 * device commands) 2.8 s.
 * Every frame header and block is checked by ZstdFrameWalker before fzstd sees it (a window above
 * 128 MiB or a dictionary is ERR_UNSUPPORTED), and fzstd gets one block per push, so memory stays
 * bounded whatever the ratio: a push yields one block of at most 128 KiB (a 4-byte RLE block's
 * worth; a frame's first few when fzstd holds them until it has the 18 bytes it parses a header
 * from), handed on before the next block is decoded; a stream that would make fzstd move more than
 * 8192 bytes per byte of output (see MAX_WINDOW_WORK_PER_BYTE) is ERR_UNSUPPORTED. The next input chunk is asked for only once the
 * last is used up (blocks are copied out of it, so a source may reuse its buffers). fzstd skips
 * the frames' XXH64 checksums without checking them; each frame's content size, when its header
 * gives one, is checked here, and the layer's bytes are checked against its DiffID by every
 * reader (LayerCheck, checkLayerDigest, the archive writer). A damaged or cut stream is
 * ERR_CORRUPT / ERR_TRUNCATED naming `what`; a failure of `source` itself comes through as it is.
 * Known gap: fzstd does not check that a compressed block's sequences stay within its bitstream
 * and its 128 KiB of output, so a damaged block can keep it looping for minutes (two bits flipped
 * in a 96-byte stream: still running when stopped after 400 s; found by the fuzz suite's long pass
 * with FUZZ_SEED=7). Closing it needs the sequences decoded ahead of fzstd, or a deadline on a
 * worker thread; not done yet.
 * @example
 * for await (const tarChunk of unzstdChunks(readChunks(file), 'layer 2')) hash.update(tarChunk);
 */
export async function* unzstdChunks(source: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const walker = new ZstdFrameWalker(what);
  const it = source[Symbol.asyncIterator]();
  // fzstd hands each block's output to ondata as a fresh array (it keeps its window apart), so
  // the chunks are passed on without a copy.
  const out: Uint8Array[] = [];
  const ondata = (c: Uint8Array): void => {
    if (c.length > 0) out.push(c);
  };
  let decoder = new Decompress(ondata);
  let frameBytes = 0;
  let produced = 0;
  let windowWork = 0;
  let sourceDone = false; // ended or failed: nothing more to ask of it, nor to close
  try {
    for (;;) {
      const block = walker.next();
      if (block === undefined) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next(); // a source's failure comes through as it is
        } catch (e) {
          sourceDone = true;
          throw e;
        }
        if (r.done) {
          sourceDone = true;
          walker.finish();
          return;
        }
        walker.feed(r.value);
        continue;
      }
      const { contentSize, windowSize } = block.frame;
      windowWork += block.first ? 2 * windowSize : windowSize; // the window allocated, then shifted
      if (windowWork > WINDOW_WORK_GRACE + MAX_WINDOW_WORK_PER_BYTE * produced) {
        throw new RolldeltaError(
          ErrorCode.UNSUPPORTED,
          `${what} is a zstd stream of blocks too small for its ${windowSize}-byte window (${produced} bytes out so far) for rolldelta's zstd decoder to read in reasonable time; ` +
            're-compress the layer or save the image with `skopeo copy --dest-compress-format gzip`',
        );
      }
      if (block.first) {
        decoder = new Decompress(ondata); // a frame's window is let go with its decoder
        frameBytes = 0;
      }
      try {
        decoder.push(block.bytes, block.last);
      } catch (e) {
        const truncated = (e as { code?: unknown }).code === ZstdErrorCode.UnexpectedEOF;
        throw new RolldeltaError(truncated ? ErrorCode.TRUNCATED : ErrorCode.CORRUPT, `${what} is not a valid zstd stream (${(e as Error).message}); the archive is damaged or cut short`, { cause: e });
      }
      for (const c of out) frameBytes += c.length;
      if (contentSize >= 0 && (frameBytes > contentSize || (block.last && frameBytes !== contentSize))) {
        throw new RolldeltaError(ErrorCode.CORRUPT, `${what} is not a valid zstd stream: a frame says it holds ${contentSize} bytes but decodes to ${block.last ? '' : 'more than '}${frameBytes}; the archive is damaged`);
      }
      for (let i = 0; i < out.length; i++) {
        produced += out[i].length;
        yield out[i];
      }
      out.length = 0;
    }
  } finally {
    if (!sourceDone) await it.return?.();
  }
}
