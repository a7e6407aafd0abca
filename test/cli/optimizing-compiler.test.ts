// The CLI's streaming patch commands run without V8's optimizing compiler until a context-mixing
// frame needs it. Runs in its own process (vitest forks one per file): the flags are process-wide.
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { deferOptimizingCompiler, patchesByStreaming, resumeForJavaScriptWork, resumeOptimizingCompiler } from '../../src/cli/optimizing-compiler.js';

// V8's own view of a function, through its test intrinsics (enabled before the code using them compiles).
setFlagsFromString('--allow-natives-syntax');
const optimizationStatus = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
const TURBOFANNED = 1 << 6; // V8's OptimizationStatus::kTurboFanned

let made = 0;
/** A new function each time (its own code, not a closure sharing code V8 may have optimized already). */
const hotFunction = (name = 'hot') =>
  new Function(`return function ${name}(n) { let s = ${made++}; for (let i = 0; i < n; i++) s = (s + i * 7) | 0; return s; }`)() as (n: number) => number;

/** Calls `f` until TurboFan has compiled it, at most 200,000 times; whether it did. */
function warm(f: (n: number) => number): boolean {
  for (let i = 0; i < 200_000; i++) {
    f(100);
    if (optimizationStatus(f) & TURBOFANNED) return true;
  }
  return false;
}

describe('deferOptimizingCompiler', () => {
  it('names the commands that patch by streaming: the device ones but patch --in-place', () => {
    for (const argv of [['patch', 'a', 'b', 'c'], ['update', '--to', 'x'], ['image', 'apply'], ['docker', 'apply', 'a', 'b']]) expect(patchesByStreaming(argv)).toBe(true);
    for (const argv of [['patch', '--in-place', 'a', 'b'], ['diff'], ['image', 'diff'], ['serve'], ['signature'], []]) expect(patchesByStreaming(argv)).toBe(false);
  });

  it('leaves hot code unoptimized until resumed, then optimizes it again', () => {
    const early = hotFunction();
    deferOptimizingCompiler();
    expect(warm(early)).toBe(false);
    resumeOptimizingCompiler();
    expect(warm(hotFunction())).toBe(true);
    expect(warm(early)).toBe(true);
    // Resuming again changes nothing.
    resumeOptimizingCompiler();
    expect(warm(hotFunction())).toBe(true);
  });

  it("resumes once a kind of per-byte JavaScript work exceeds its budget: 4 MiB inflated, 4 KiB context-mixed (cm* functions only), 6 MiB added", () => {
    deferOptimizingCompiler();
    for (let i = 0; i < 4; i++) resumeForJavaScriptWork('inflate', 1 << 20);
    resumeForJavaScriptWork('context-mixing', 4 << 10);
    expect(warm(hotFunction())).toBe(false); // neither over its budget yet
    resumeForJavaScriptWork('inflate', 1);
    expect(warm(hotFunction())).toBe(true);
    deferOptimizingCompiler(); // budgets start again
    resumeForJavaScriptWork('inflate', 3 << 20);
    expect(warm(hotFunction())).toBe(false);
    // Context mixing alone: only its functions, all named cm*, are compiled.
    resumeForJavaScriptWork('context-mixing', 5 << 10);
    expect(warm(hotFunction('cmHot'))).toBe(true);
    expect(warm(hotFunction())).toBe(false);
    // Then another kind over its budget: everything again.
    resumeForJavaScriptWork('inflate', 2 << 20);
    expect(warm(hotFunction())).toBe(true);
    expect(warm(hotFunction('cmHot'))).toBe(true);
    deferOptimizingCompiler();
    resumeForJavaScriptWork('add', 6 << 20);
    expect(warm(hotFunction())).toBe(false);
    resumeForJavaScriptWork('add', 1);
    expect(warm(hotFunction())).toBe(true);
  });
});
