import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The outcome of a peer check, for `describe.skipIf(peer.skip)(`... ${peer.message}`, ...)`. */
export interface PeerCheck {
  skip: boolean;
  message: string;
}

/**
 * The project's rule for tests that need a peer program (dockerd, rdiff, zstd, skopeo...): when it
 * is missing (`reason` set), SKIP with a message naming what to install, except in CI
 * (`CI=true`) where a missing peer is a failure, so it THROWS.
 * @example
 * const peer = requirePeer('rdiff', missingBinary('rdiff', 'rdiff'));
 * describe.skipIf(peer.skip)(`rdiff compatibility ${peer.message}`, () => { ... });
 */
export function requirePeer(name: string, reason: string | undefined): PeerCheck {
  if (reason === undefined) return { skip: false, message: '' };
  if (process.env.CI === 'true') {
    throw new Error(`${name} is required when CI=true but is unavailable: ${reason}`);
  }
  const message = `(skipped: ${name} unavailable: ${reason})`;
  console.warn(message);
  return { skip: true, message };
}

/** Full path of an executable found on PATH (or given as an absolute path), else undefined. */
export function whichBinary(bin: string): string | undefined {
  const candidates = bin.includes('/') ? [bin] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, bin));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // Keep looking.
    }
  }
  return undefined;
}

/**
 * A reason string when `bin` is not installed, naming the Debian package that provides it.
 * @example
 * requirePeer('zstd', missingBinary('zstd', 'zstd'));
 */
export function missingBinary(bin: string, debianPackage: string): string | undefined {
  return whichBinary(bin) ? undefined : `${bin} not found; install it with: apt-get install ${debianPackage}`;
}

/**
 * Shorthand for a peer that is one program from one Debian package.
 * @example
 * describe.skipIf(peer('rdiff', 'rdiff').skip)('interop with rdiff', () => { ... });
 */
export function peer(cmd: string, debianPackage: string): PeerCheck {
  return requirePeer(cmd, missingBinary(cmd, debianPackage));
}
