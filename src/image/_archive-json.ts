import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** Where a format parser found one image: entries to read, before configs and layers are opened. */
export interface ImageLocation {
  configEntry: string;
  layerEntries: string[];
  repoTags: string[];
  /** Sizes the manifest declares (OCI descriptors), checked against the entries; undefined = none. */
  configSize?: number;
  layerSizes?: Array<number | undefined>;
}

/** Reads one archive entry as JSON (the reader's readEntry with a size cap). */
export type JsonEntryReader = (name: string, what: string) => Promise<unknown>;

/**
 * ERR_CORRUPT for metadata that is not what the format promises.
 * @example
 * throw corrupt('manifest.json is not a list of images');
 */
export function corrupt(what: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.CORRUPT, `${what}; the file is not a docker save or OCI image archive, or it is damaged`);
}

/**
 * Parses JSON bytes, any failure being ERR_CORRUPT.
 * @example
 * parseJson(await archive.readEntry('index.json'), 'index.json');
 */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return JSON.parse(text);
  } catch {
    throw corrupt(`${what} is not valid UTF-8 JSON`);
  }
}

/**
 * A plain object (not null, not an array), else ERR_CORRUPT.
 * @example
 * const rootfs = object(config.rootfs, 'config rootfs');
 */
export function object(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw corrupt(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * A list of strings, else ERR_CORRUPT; `null`/absent is an empty list when `optional`.
 * @example
 * strings(item.RepoTags, 'RepoTags', true); // [] for null
 */
export function strings(v: unknown, what: string, optional = false): string[] {
  if (optional && v == null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw corrupt(`${what} is not a list of strings`);
  return v as string[];
}

/**
 * A declared descriptor size: a non-negative safe integer, or undefined when absent.
 * @example
 * optionalSize(descriptor.size, 'layer 0'); // 1234
 */
export function optionalSize(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw corrupt(`${what} size ${JSON.stringify(v)} is not a byte count`);
  return v;
}
