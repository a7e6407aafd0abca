import { setFlagsFromString } from 'node:v8';
import { isDeviceCommand } from './young-generation.js';

let deferred = false;

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
  setFlagsFromString('--no-opt');
}

/** Whether a command line (without node and script) patches by streaming: the device commands but `patch --in-place`. */
export function patchesByStreaming(argv: readonly string[]): boolean {
  return isDeviceCommand(argv) && !argv.includes('--in-place');
}

/**
 * Turns the optimizing compiler back on (once; nothing if it was not deferred): the decoders call
 * it before a context-mixing frame (`beforeContextMixing`), JavaScript doing arithmetic per bit
 * that decodes ~10x slower without it. A level 9 image delta so decodes as fast as before.
 */
export function resumeOptimizingCompiler(): void {
  if (!deferred) return;
  deferred = false;
  setFlagsFromString('--opt');
}
