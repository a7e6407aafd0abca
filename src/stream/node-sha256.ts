import { createHash } from 'node:crypto';
import type { Hasher, HasherFactory } from '../core/hash.js';

class NodeSha256 implements Hasher {
  private readonly h = createHash('sha256');
  update(data: Uint8Array): this {
    this.h.update(data);
    return this;
  }
  digest(): Uint8Array {
    return new Uint8Array(this.h.digest());
  }
}

/** SHA-256 from node:crypto (OpenSSL), injected into the core wherever Node is the runtime. */
export const nodeSha256: HasherFactory = () => new NodeSha256();
