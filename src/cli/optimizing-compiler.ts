import { setFlagsFromString } from 'node:v8';
import type { JavaScriptWork } from '../format/native-delta-decoder.js';
import { isDeviceCommand } from './young-generation.js';

let deferred = false;
/** Compiling the context-mixing functions only (see CONTEXT_MIXING_FILTER). */
let compilingContextMixing = false;

/**
 * Bytes of each kind of per-byte JavaScript work a patch may do without the optimizing compiler
 * before it is turned back on: some 20-70 ms of slower work (measured without the compiler:
 * context mixing ~18 µs more a byte, fflate's inflater ~16 ms more a MiB, adding differences
 * 3-10 ms more a MiB, word by word: ~3 where they are mostly zero, as a recompiled binary's are,
 * ~10 where a sixth of the bytes differ), against the 5-10 MiB of RSS the compiler costs once on.
 * A delta with one small section of zero runs (an image delta's tar header differences) or a few
 * edits (the bench pairs' adds, 36 KiB-1.1 MiB) so patches without it: the 256 MiB bench image in
 * 58.9 MiB instead of 63.5; so does a package upgrade's (libssl3's 3.8 MiB of differences at level
 * 6: 59.9 MiB instead of 65.7, 0.19 s instead of 0.18).
 */
const BUDGET: Readonly<Record<JavaScriptWork, number>> = { 'context-mixing': 4 << 10, inflate: 4 << 20, add: 6 << 20 };
/** What is left of each budget since the compiler was deferred. */
let remaining = { ...BUDGET };

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
  compilingContextMixing = false;
  remaining = { ...BUDGET };
  setFlagsFromString('--no-opt');
  setFlagsFromString('--turbo-filter=*');
}

/** Whether a command line (without node and script) patches by streaming: the device commands but `patch --in-place`. */
export function patchesByStreaming(argv: readonly string[]): boolean {
  return isDeviceCommand(argv) && !argv.includes('--in-place');
}

/** Turns the optimizing compiler back on for every function (once; nothing if it was not deferred). */
export function resumeOptimizingCompiler(): void {
  if (!deferred) return;
  deferred = false;
  setFlagsFromString('--turbo-filter=*');
  setFlagsFromString('--opt');
}

/**
 * Functions the optimizing compiler may compile when context mixing alone needs it: the model's
 * and the coder's hot path is all named cm* (_cm-model.ts, cm-codec.ts), and nothing else the
 * patch runs is then worth compiling. The compiler's memory then comes from that one compile job
 * and its own code pages: the 1 GiB bench image's apply (one 73 KB context-mixing frame) peaked at
 * 66.8-67.9 MiB instead of 70.3-70.5 (RssAnon 26.2-27.3 against 29.5-29.7), in the same time.
 */
const CONTEXT_MIXING_FILTER = 'cm*';

function resumeForContextMixing(): void {
  if (!deferred || compilingContextMixing) return;
  compilingContextMixing = true;
  setFlagsFromString(`--turbo-filter=${CONTEXT_MIXING_FILTER}`);
  setFlagsFromString('--opt');
}

/**
 * The commands' `beforeJavaScriptWork`: counts the per-byte JavaScript work the patch is about to
 * do and turns the optimizing compiler back on once a kind's budget is spent. Without it context
 * mixing is ~15-20x slower (the 1 GiB bench image's 73 KB frame: its apply 2.3 s instead of 1.0),
 * fflate's inflater ~6x (512 MiB of zeros: 9.7 s instead of 1.5), adding differences ~3-20x (a
 * quarter of 16 MiB differing in a sixth of its bytes: 0.20 s instead of 0.16 for the patch):
 * deltas with much of it so patch as fast as before.
 */
export function resumeForJavaScriptWork(kind: JavaScriptWork, bytes: number): void {
  if (!deferred) return;
  remaining[kind] -= bytes;
  if (remaining[kind] >= 0) return;
  if (kind === 'context-mixing') resumeForContextMixing();
  else resumeOptimizingCompiler();
}
