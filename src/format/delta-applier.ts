import type { Hasher } from '../core/hash.js';
import { Patcher, type SyncBasis } from '../core/patcher.js';
import { Sha256 } from '../core/sha256.js';
import { checkBasis, checkTarget } from './delta-checks.js';
import { AnyDeltaDecoder } from './delta-decoder.js';
import type { PatchOptions } from './operations-options.js';

/**
 * Incremental patch against a basis with synchronous reads: delta chunks in, target chunks out.
 * A wrong basis is refused before the first output byte; the target is verified at the end
 * (native format), and a mismatch throws ERR_CHECKSUM.
 * @example
 * const p = new DeltaApplier(basis, (c) => out.push(c));
 * p.push(deltaBytes, true);
 */
export class DeltaApplier {
  private readonly decoder: AnyDeltaDecoder;
  /** Hashes the output, unless `verifyTarget` is false. */
  private readonly hasher: Hasher | undefined;
  private written = 0;

  constructor(basis: Uint8Array | SyncBasis, ondata: (chunk: Uint8Array) => void, opts: PatchOptions = {}) {
    this.hasher = opts.verifyTarget === false ? undefined : opts.sha256 ? opts.sha256() : new Sha256();
    const length = basis.length;
    const patcher = new Patcher(basis, (chunk) => {
      this.written += chunk.length;
      this.hasher?.update(chunk);
      ondata(chunk);
    });
    this.decoder = new AnyDeltaDecoder(patcher, {
      limits: opts.limits,
      rawDeflate: opts.rawDeflate,
      beforeJavaScriptWork: opts.beforeJavaScriptWork,
      onheader: (h) => {
        const wantHash = h.basisSha256 !== undefined && opts.verifyBasis !== false; // in memory: cheap, always up front
        checkBasis(h, length, wantHash ? hashBasis(basis, opts) : undefined);
      },
    });
  }

  push(chunk: Uint8Array, final = false): void {
    this.decoder.push(chunk, final);
    if (final && this.decoder.trailer) checkTarget(this.decoder.trailer, this.written, this.hasher?.digest());
  }
}

function hashBasis(basis: Uint8Array | SyncBasis, opts: PatchOptions): Uint8Array {
  const h = opts.sha256 ? opts.sha256() : new Sha256();
  if (basis instanceof Uint8Array) return h.update(basis).digest();
  const step = 1 << 20;
  for (let pos = 0; pos < basis.length; pos += step) h.update(basis.read(pos, Math.min(step, basis.length - pos)));
  return h.digest();
}
