import { ErrorCode, RolldeltaError } from './errors.js';

/** True for Uint8Array and its subclasses (Node's Buffer included), checked across realms. */
export function isBytes(a: unknown): a is Uint8Array {
  return a instanceof Uint8Array || (ArrayBuffer.isView(a) && a.constructor.name === 'Uint8Array');
}

/** Throws ERR_INVALID_ARGUMENT unless `a` is bytes; `what` names the argument in the message. */
export function assertBytes(a: unknown, what: string): asserts a is Uint8Array {
  if (!isBytes(a)) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${what} must be a Uint8Array (or Buffer), got ${a === null ? 'null' : typeof a}`);
  }
}

/**
 * A copy of `a` in a new Uint8Array. Not `a.slice()`: on a Buffer (a Uint8Array too) slice()
 * shares memory, so bytes kept past a call from a caller's reused read buffer would change.
 */
export function copyBytes(a: Uint8Array): Uint8Array {
  return new Uint8Array(a);
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-shape byte comparison. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Lower-case hex of `a`. */
export function toHex(a: Uint8Array): string {
  let s = '';
  for (let i = 0; i < a.length; i++) s += (a[i] < 16 ? '0' : '') + a[i].toString(16);
  return s;
}

/** Parses lower- or upper-case hex; throws ERR_INVALID_ARGUMENT on odd length or bad digits. */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `expected an even-length hex string, got ${JSON.stringify(s.slice(0, 20))}`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
