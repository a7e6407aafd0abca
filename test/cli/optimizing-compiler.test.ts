// The CLI's streaming patch commands run without V8's optimizing compiler until a context-mixing
// frame needs it. Runs in its own process (vitest forks one per file): the flags are process-wide.
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { deferOptimizingCompiler, patchesByStreaming, resumeOptimizingCompiler } from '../../src/cli/optimizing-compiler.js';

// V8's own view of a function, through its test intrinsics (enabled before the code using them compiles).
setFlagsFromString('--allow-natives-syntax');
const optimizationStatus = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
const TURBOFANNED = 1 << 6; // V8's OptimizationStatus::kTurboFanned

const hotFunction = () =>
  function sum(n: number): number {
    let s = 0;
    for (let i = 0; i < n; i++) s = (s + i * 7) | 0;
    return s;
  };

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
    // Resuming again (the next context-mixing frame) changes nothing.
    resumeOptimizingCompiler();
    expect(warm(hotFunction())).toBe(true);
  });
});
