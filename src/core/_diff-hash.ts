/**
 * The seed hash shared by the diff index and the diff matcher: a polynomial rolling hash mod 2^32
 * over `seedLength` bytes, h = sum(b[p+i] * BASE^(L-1-i)), so the matcher can slide it one byte at
 * a time while the index computes it directly at strided positions. Both sides must agree bit for bit.
 */

/** Odd multiplier of the polynomial (FNV's 32-bit prime). */
export const SEED_BASE = 0x01000193;
/** Mixes the polynomial's well-spread high bits into the bucket number (golden-ratio multiply). */
export const BUCKET_MIX = 0x9e3779b1 | 0;
/** Second mix for the check bits stored beside each position, independent of the bucket bits. */
export const CHECK_MIX = 0x85ebca6b | 0;

/** BASE^(L-1) mod 2^32: what the outgoing byte weighs when the window slides. */
export function seedOutWeight(seedLength: number): number {
  let w = 1;
  for (let i = 1; i < seedLength; i++) w = Math.imul(w, SEED_BASE);
  return w;
}

/** Hash of `bytes[p .. p+L)` computed from scratch. */
export function seedHash(bytes: Uint8Array, p: number, seedLength: number): number {
  let h = 0;
  for (let e = p + seedLength; p < e; p++) h = (Math.imul(h, SEED_BASE) + bytes[p]) | 0;
  return h;
}

/** BASE^(L-1-j) for j < L: lets {@link seedHashPow} multiply every byte independently. */
export function seedPowers(seedLength: number): Int32Array {
  const pw = new Int32Array(seedLength);
  let w = 1;
  for (let j = seedLength - 1; j >= 0; j--) {
    pw[j] = w;
    w = Math.imul(w, SEED_BASE);
  }
  return pw;
}

/** Same value as {@link seedHash}, without Horner's serial multiply chain (about 3x faster). */
export function seedHashPow(bytes: Uint8Array, p: number, pw: Int32Array): number {
  let h = 0;
  for (let j = 0; j < pw.length; j++) h = (h + Math.imul(bytes[p + j], pw[j])) | 0;
  return h;
}

/** Check bits of a seed hash (the top `bits` of a second mix; 0 when bits is 0). */
export function seedCheck(h: number, bits: number): number {
  return bits === 0 ? 0 : Math.imul(h ^ (h >>> 15), CHECK_MIX) >>> (32 - bits);
}
