import { deflateSync, inflateSync } from 'fflate';
import { concatBytes, equalBytes, fromHex, toHex } from '../core/bytes.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { decodeHeaderBlock, encodeHeaderBlock, HEADER_OVERHEAD } from '../format/_header-block.js';
import { readU32 } from '../format/_reader.js';
import { describeFormat, detectFormat } from '../format/detect.js';
import { NATIVE_IMAGE_DELTA_MAGIC } from '../format/native-magic.js';
import { digestHex, sha256Digest } from './digest.js';

/**
 * Image delta, version 1:
 * `72 64 69 6d 01` ("rdim", version) | header block (u32 length | msgpack | u32 crc32) | a native
 * delta (docs/FORMAT.md) whose basis is the old image's layers concatenated in order and whose
 * target is the new image's sent layers concatenated in order.
 *
 * The header map, with one-letter keys and digests as 32 raw bytes (the delta of a one-line edit
 * is a few KiB, and the header was 40% of it):
 *   { o: { i: old image ID, d: [old DiffIDs] },
 *     n: { i: new image ID, c: new config packed, s: its length, t: [repo tags], l: [[DiffID, size, 0 old | 1 delta]] },
 *     p?: pull bytes }
 * The new config is raw DEFLATE with (the last 32 KiB of) the old image's config as preset
 * dictionary: two configs of one application share most of their bytes (1652 → 217 bytes on the
 * bench's one-character edit).
 */
export const IMAGE_DELTA_MAGIC = Uint8Array.of(...NATIVE_IMAGE_DELTA_MAGIC, 0x01);

/** Largest image delta header accepted by default (the config JSON travels in it). */
const MAX_HEADER = 16 << 20;

/** Options of the image delta header readers. */
export interface ImageDeltaHeaderOptions {
  /** Largest header (its msgpack map, which carries the new config) read into memory. Default 16 MiB. */
  maxHeaderBytes?: number;
}

function headerCap(opts: ImageDeltaHeaderOptions): number {
  const max = opts.maxHeaderBytes ?? MAX_HEADER;
  if (!Number.isSafeInteger(max) || max < 1) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `maxHeaderBytes must be a positive integer, got ${String(max)}`);
  return max;
}

/** A layer of the new image: taken from the old image (`old`), or rebuilt from the delta. */
export interface ImageDeltaLayer {
  diffId: string;
  /** Uncompressed bytes of the layer tar. */
  size: number;
  from: 'old' | 'delta';
}

/** The new image's config as a delta carries it: see {@link packImageConfig}. */
export interface PackedImageConfig {
  /** The config's length in bytes. */
  length: number;
  /** Raw DEFLATE of the config, with the old image's config as preset dictionary. */
  packed: Uint8Array;
}

/** What an image delta says about the two images. */
export interface ImageDeltaHeader {
  old: { id: string; diffIds: string[] };
  new: { id: string; config: PackedImageConfig; repoTags: string[]; layers: ImageDeltaLayer[] };
  /** Bytes a `docker pull` of the new layers would have moved (compressed), for reports. */
  pullBytes?: number;
}

/** Deflate looks back 32 KiB: the dictionary is the end of the old config. */
const DICTIONARY_BYTES = 32 * 1024;

/**
 * Packs the new image's config against the old one's (raw DEFLATE, the old config as dictionary).
 * @example
 * const config = packImageConfig(newImage.config, oldImage.config);
 */
export function packImageConfig(config: Uint8Array, oldConfig: Uint8Array): PackedImageConfig {
  return { length: config.length, packed: deflateSync(config, { level: 9, dictionary: oldConfig.subarray(-DICTIONARY_BYTES) }) };
}

/**
 * The new image's config from a delta's header and the old image's config (whose ID the caller
 * has checked against `header.old.id`): unpacked into exactly its length, and checked against the
 * new image ID (ERR_CORRUPT otherwise).
 * @example
 * const config = unpackImageConfig(header, oldImage.config);
 */
export function unpackImageConfig(header: ImageDeltaHeader, oldConfig: Uint8Array): Uint8Array {
  const { length, packed } = header.new.config;
  // DEFLATE expands at most 1032-fold: a longer claim is a lie, refused before allocating for it.
  if (!Number.isSafeInteger(length) || length < 0 || length > packed.length * 1032 + 16) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `image delta header: a new config of ${length} bytes cannot come from ${packed.length} packed bytes; the delta is damaged`);
  }
  let config: Uint8Array;
  try {
    // One byte more than promised: a stream that yields more is caught without unbounded memory.
    config = inflateSync(packed, { out: new Uint8Array(length + 1), dictionary: oldConfig.subarray(-DICTIONARY_BYTES) });
  } catch (e) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `image delta header: the new config does not unpack (${(e as Error).message}); the delta is damaged or was made against another old image`, { cause: e });
  }
  if (config.length !== length || sha256Digest(config) !== header.new.id) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `image delta header: the new config does not unpack to image ${header.new.id}; the delta is damaged or was made against another old image`);
  }
  return config;
}

/** Magic, version and header block: what precedes the embedded native delta. */
export function encodeImageDeltaHeader(h: ImageDeltaHeader): Uint8Array {
  const block = encodeHeaderBlock({
    o: { i: digestBytes(h.old.id), d: h.old.diffIds.map(digestBytes) },
    n: {
      i: digestBytes(h.new.id),
      c: h.new.config.packed,
      s: h.new.config.length,
      t: h.new.repoTags,
      l: h.new.layers.map((l) => [digestBytes(l.diffId), l.size, l.from === 'old' ? 0 : 1]),
    },
    p: h.pullBytes,
  });
  const out = new Uint8Array(IMAGE_DELTA_MAGIC.length + block.length);
  out.set(IMAGE_DELTA_MAGIC);
  out.set(block, IMAGE_DELTA_MAGIC.length);
  return out;
}

function bad(what: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.CORRUPT, `image delta header: ${what}; the delta is damaged or not from rolldelta`);
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(`${what} is not a string`);
  return v;
}

/** A repo:tag the archive writer accepts (a non-empty string): an empty one is the delta's fault. */
function tag(v: unknown, what: string): string {
  if (str(v, what) === '') throw bad(`${what} is empty`);
  return v as string;
}

/** A `sha256:<hex>` digest as the header carries it: its 32 bytes. */
function digestBytes(digest: string): Uint8Array {
  return fromHex(digestHex(digest));
}

/** A digest field of the header (32 bytes) as `sha256:<hex>`. */
function digest(v: unknown, what: string): string {
  if (!(v instanceof Uint8Array) || v.length !== 32) throw bad(`${what} is not a 32-byte digest`);
  return `sha256:${toHex(v)}`;
}

/**
 * Reads and checks an image delta's header from the start of the file; returns it and the offset
 * where the embedded native delta begins.
 * @example
 * const { header, deltaOffset } = await readImageDeltaHeader((p, n) => file.read(p, n), file.length);
 */
export async function readImageDeltaHeader(
  read: (position: number, length: number) => Promise<Uint8Array>,
  length: number,
  opts: ImageDeltaHeaderOptions = {},
): Promise<{ header: ImageDeltaHeader; deltaOffset: number }> {
  const max = headerCap(opts);
  const m = IMAGE_DELTA_MAGIC.length;
  if (length < m + 4) throw new RolldeltaError(ErrorCode.TRUNCATED, `an image delta has at least ${m + 4} bytes, this one ${length}`);
  const magic = await read(0, m);
  if (!equalBytes(magic.subarray(0, 4), NATIVE_IMAGE_DELTA_MAGIC)) {
    const kind = detectFormat(magic);
    const hint = kind === 'native-delta' || kind === 'rdiff-delta' ? 'apply a file delta with `rolldelta patch` (patchFile)' : 'check the order of the arguments';
    throw new RolldeltaError(ErrorCode.BAD_MAGIC, `expected an image delta (starting "rdim"), but this is ${describeFormat(kind)}; ${hint}`);
  }
  if (magic[4] !== IMAGE_DELTA_MAGIC[4]) throw new RolldeltaError(ErrorCode.UNSUPPORTED, `image delta version ${magic[4]} is not supported by this build (it reads version 1)`);
  const mapLength = readU32(await read(m, 4), 0);
  if (mapLength > max) throw new RolldeltaError(ErrorCode.LIMIT, `the image delta header claims ${mapLength} bytes, more than the ${max} allowed; raise maxHeaderBytes if the delta is trusted`);
  const blockLength = mapLength + HEADER_OVERHEAD;
  if (m + blockLength > length) throw new RolldeltaError(ErrorCode.TRUNCATED, 'the image delta ends inside its header; it is truncated');
  const map = decodeHeaderBlock(await read(m, blockLength), m, { maxStrLength: 4096, maxBinLength: max, maxArrayLength: 4096, maxMapLength: 64 });
  const old = map.o as Record<string, unknown> | undefined;
  const neu = map.n as Record<string, unknown> | undefined;
  if (!old || !neu || typeof old !== 'object' || typeof neu !== 'object') throw bad('old or new image missing');
  if (!Array.isArray(old.d) || !Array.isArray(neu.l) || !Array.isArray(neu.t)) throw bad('layer lists missing');
  if (!(neu.c instanceof Uint8Array) || !Number.isSafeInteger(neu.s) || (neu.s as number) < 0) throw bad('config missing');
  if ((neu.s as number) > max) throw new RolldeltaError(ErrorCode.LIMIT, `the image delta's config claims ${neu.s as number} bytes, more than the ${max} allowed; raise maxHeaderBytes if the delta is trusted`);
  const layers = (neu.l as unknown[]).map((l, i): ImageDeltaLayer => {
    if (!Array.isArray(l) || l.length !== 3 || !Number.isSafeInteger(l[1]) || l[1] < 0 || (l[2] !== 0 && l[2] !== 1)) throw bad(`layer ${i} is malformed`);
    return { diffId: digest(l[0], `layer ${i} diffId`), size: l[1], from: l[2] === 0 ? 'old' : 'delta' };
  });
  const pullBytes = map.p;
  const header: ImageDeltaHeader = {
    old: { id: digest(old.i, 'old id'), diffIds: (old.d as unknown[]).map((d, i) => digest(d, `old diffId ${i}`)) },
    new: { id: digest(neu.i, 'new id'), config: { length: neu.s as number, packed: neu.c }, repoTags: (neu.t as unknown[]).map((t, i) => tag(t, `repo tag ${i}`)), layers },
    pullBytes: typeof pullBytes === 'number' ? pullBytes : undefined,
  };
  return { header, deltaOffset: m + blockLength };
}

/**
 * Reads an image delta's header from the front of a byte stream (a download, a request body):
 * buffers only the header, checks it like `readImageDeltaHeader`, and returns the rest of the
 * stream, which is the embedded native delta, and `close()`, which ends the source early (a
 * download whose rest is not wanted after all). A bad header also ends the source.
 * @example
 * const { header, rest } = await readImageDeltaHeaderFrom(response.body);
 */
export async function readImageDeltaHeaderFrom(
  source: AsyncIterable<Uint8Array>,
  opts: ImageDeltaHeaderOptions = {},
): Promise<{ header: ImageDeltaHeader; rest: AsyncIterable<Uint8Array>; close(): Promise<void> }> {
  const max = headerCap(opts);
  const it = source[Symbol.asyncIterator]();
  const close = async (): Promise<void> => {
    await it.return?.();
  };
  const parts: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  const fill = async (n: number): Promise<void> => {
    while (have < n && !ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else {
        parts.push(r.value);
        have += r.value.length;
      }
    }
  };
  const m = IMAGE_DELTA_MAGIC.length;
  let buf: Uint8Array;
  let found: Awaited<ReturnType<typeof readImageDeltaHeader>>;
  try {
    await fill(m + 4);
    buf = concatBytes(parts);
    // Buffer the header block only for the right magic and an allowed length (else the check below says what is wrong).
    if (buf.length >= m + 4 && equalBytes(buf.subarray(0, m), IMAGE_DELTA_MAGIC) && readU32(buf, m) <= max) {
      await fill(m + readU32(buf, m) + HEADER_OVERHEAD);
      buf = concatBytes(parts);
    }
    const b = buf;
    found = await readImageDeltaHeader(async (p, n) => b.subarray(p, p + n), ended ? b.length : Number.MAX_SAFE_INTEGER, opts);
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }
  const head = buf.subarray(found.deltaOffset);
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (head.length > 0) yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { header: found.header, rest: rest(), close };
}
