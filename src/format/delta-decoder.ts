import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { OpSink } from '../core/ops.js';
import type { DeltaHeader } from './delta-header.js';
import { describeFormat, detectFormat } from './detect.js';
import { resolveLimits, type DecodeLimits } from './limits.js';
import { NativeDeltaDecoder, type NativeDeltaDecoderOptions } from './native-delta-decoder.js';
import { RdiffDeltaDecoder } from './rdiff-delta-decoder.js';

/** What a delta's trailer promises about the target (native format only). */
export interface DeltaTrailer {
  targetLength: number;
  targetSha256: Uint8Array;
}

/**
 * Decodes a delta of either format, chosen by its magic, chunk by chunk into an OpSink.
 * `onheader` fires before the first op (native format: with the basis identity to check).
 * @example
 * const d = new AnyDeltaDecoder(sink, { onheader: (h) => checkBasis(h, basis.length, sha) });
 * d.push(chunk); d.push(new Uint8Array(0), true);
 */
export class AnyDeltaDecoder {
  /** 'native' or 'rdiff' once the magic has been seen. */
  format: 'native' | 'rdiff' | undefined;
  header: DeltaHeader | undefined;
  trailer: DeltaTrailer | undefined;
  private inner: NativeDeltaDecoder | RdiffDeltaDecoder | undefined;
  private head = new Uint8Array(0);
  private readonly limits: DecodeLimits;

  constructor(
    private readonly sink: OpSink,
    private readonly opts: Pick<NativeDeltaDecoderOptions, 'limits' | 'onheader' | 'rawDeflate' | 'frameByFrame' | 'beforeJavaScriptWork'> = {},
  ) {
    this.limits = resolveLimits(opts.limits);
  }

  push(chunk: Uint8Array, final = false): void {
    if (!this.inner) {
      const joined = new Uint8Array(this.head.length + chunk.length);
      joined.set(this.head);
      joined.set(chunk, this.head.length);
      if (joined.length < 4 && !final) {
        this.head = joined;
        return;
      }
      this.head = new Uint8Array(0);
      this.inner = this.open(joined);
      chunk = joined;
    }
    this.inner.push(chunk, final);
  }

  /** With `frameByFrame` (native deltas): the last push stopped after a frame; push an empty chunk to go on. */
  get paused(): boolean {
    return this.inner instanceof NativeDeltaDecoder && this.inner.paused;
  }

  private open(first: Uint8Array): NativeDeltaDecoder | RdiffDeltaDecoder {
    if (first.length < 4) {
      throw new RolldeltaError(ErrorCode.TRUNCATED, `a delta needs at least 4 bytes of magic, got ${first.length}; the file is truncated or empty`);
    }
    const kind = detectFormat(first);
    if (kind === 'native-delta') {
      this.format = 'native';
      return new NativeDeltaDecoder(this.sink, {
        limits: this.limits,
        rawDeflate: this.opts.rawDeflate,
        frameByFrame: this.opts.frameByFrame,
        beforeJavaScriptWork: this.opts.beforeJavaScriptWork,
        onheader: (h) => {
          this.header = h;
          this.opts.onheader?.(h);
        },
        onend: (t) => {
          this.trailer = t;
        },
      });
    }
    if (kind === 'rdiff-delta') {
      this.format = 'rdiff';
      return new RdiffDeltaDecoder(this.sink, { limits: this.limits });
    }
    if (kind === 'image-delta') {
      throw new RolldeltaError(ErrorCode.BAD_MAGIC, 'this is an image delta, which patch does not apply: rebuild the new image with `rolldelta image apply OLD.tar DELTA NEW.tar` (applyImageDelta)');
    }
    throw new RolldeltaError(ErrorCode.BAD_MAGIC, `expected a delta (rolldelta or rdiff), but this is ${describeFormat(kind)}; check the order of the arguments`);
  }
}
