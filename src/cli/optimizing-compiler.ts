import { setFlagsFromString } from 'node:v8';
import type { JavaScriptCodec } from '../format/native-delta-decoder.js';
import { isDeviceCommand } from './young-generation.js';

let deferred = false;

/**
 * Bytes each of the decoder's JavaScript codecs may produce without the optimizing compiler before
 * it is turned back on: about 70 ms of extra decoding either way (measured without it: context
 * mixing ~18 µs more a byte, fflate's inflater ~16 ms more a MiB), against the 5-10 MiB of RSS the
 * compiler costs once on. A delta with one small section of zero runs (an image delta's tar header
 * differences) so decodes without it: 256 MiB bench image applied in 58.7 MiB instead of 63.5.
 */
const BUDGET: Record<JavaScriptCodec, number> = { 'context-mixing': 4 << 10, inflate: 4 << 20 };
const produced: Record<JavaScriptCodec, number> = { 'context-mixing': 0, inflate: 0 };

/**
 * Turns V8's optimizing compiler (TurboFan) off until {@link resumeOptimizingCompiler}: for the
 * CLI's streaming patch commands, called before their code loads (module set-up loops would
 * otherwise be compiled already). A streaming patch spends its time in native code (copying,
 * SHA-256, inflate, file I/O), so TurboFan only compiles the JavaScript between those calls, yet
 * on a long run its compile jobs' memory and its own code pages cost 8-12 MiB of peak RSS.
 * Measured with and without it: a 1 GiB patch 71 → 59 MiB, 256 MiB rsync-mode patch 65 → 57 MiB,
 * in the same time or less (no compile jobs competing for the second core). In-place patching
 * plans its writes in JavaScript (2.5x slower without): it keeps the compiler. A setting for the
 * whole process, so only the CLI makes it.
 */
export function deferOptimizingCompiler(): void {
  deferred = true;
  produced['context-mixing'] = 0;
  produced.inflate = 0;
  setFlagsFromString('--no-opt');
}

/** Whether a command line (without node and script) patches by streaming: the device commands but `patch --in-place`. */
export function patchesByStreaming(argv: readonly string[]): boolean {
  return isDeviceCommand(argv) && !argv.includes('--in-place');
}

/** Turns the optimizing compiler back on (once; nothing if it was not deferred). */
export function resumeOptimizingCompiler(): void {
  if (!deferred) return;
  deferred = false;
  setFlagsFromString('--opt');
}

/**
 * The commands' `beforeJavaScriptCodec`: counts what the decoder's JavaScript codecs are about to
 * produce and turns the optimizing compiler back on once a codec's budget is spent. Context mixing
 * is arithmetic per bit and decodes ~10x slower without the compiler (the 1 GiB bench image's
 * 73 KB frame: 2.3 s instead of 1.0 for the apply), fflate's inflater ~6x (512 MiB of zeros: 9.7 s
 * instead of 1.5): deltas that need them so patch as fast as before.
 */
export function resumeForJavaScriptCodec(codec: JavaScriptCodec, rawLength: number): void {
  if (!deferred) return;
  produced[codec] += rawLength;
  if (produced[codec] > BUDGET[codec]) resumeOptimizingCompiler();
}
