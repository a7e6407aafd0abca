import * as crypto from 'node:crypto';
import type { Hasher } from '../core/hash.js';
import type { OneShotHasherFactory } from '../core/strong-hash.js';

class NodeSha256 implements Hasher {
  private readonly h = crypto.createHash('sha256');
  update(data: Uint8Array): this {
    this.h.update(data);
    return this;
  }
  digest(): Uint8Array {
    return new Uint8Array(this.h.digest());
  }
}

/**
 * One block's SHA-256 prefix into `out`. crypto.hash (Node 20.12+) needs no Hash object, and a
 * latin1 string result (a char per byte) is cheaper to make and collect than a Buffer: 1.3x
 * faster per block than createHash (2.2x on 2 KiB blocks), measured.
 */
const digestPrefixInto: (data: Uint8Array, out: Uint8Array, offset: number, length: number) => void =
  typeof crypto.hash === 'function'
    ? (data, out, offset, length) => {
        const s = crypto.hash('sha256', data, 'binary') // 'binary' is latin1;
        for (let i = 0; i < length; i++) out[offset + i] = s.charCodeAt(i);
      }
    : (data, out, offset, length) => {
        const d = crypto.createHash('sha256').update(data).digest();
        for (let i = 0; i < length; i++) out[offset + i] = d[i];
      };

/**
 * SHA-256 from node:crypto (OpenSSL, SHA-NI in hardware), injected into the core wherever Node is
 * the runtime; `digestPrefixInto` hashes one signature block in a single call.
 * @example
 * buildSignature(basis, { hash: 'sha256', sha256: nodeSha256 });
 */
export const nodeSha256: OneShotHasherFactory = Object.assign((): Hasher => new NodeSha256(), { digestPrefixInto });
