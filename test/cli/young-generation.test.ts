// The CLI's device-side commands keep V8's young generation from growing (peak RSS of long
// patches). Runs in its own process (vitest forks one per file), where nothing has grown it yet.
import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { isDeviceCommand, keepYoungGenerationSmall } from '../../src/cli/young-generation.js';

const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

/** Allocates short-lived objects of which some survive a collection or two, as a long patch does. */
function churn(): void {
  let keep: object[] = [];
  for (let i = 0; i < 2e6; i++) {
    const o = { a: i, b: [i, i + 1] };
    if (i % 8 === 0) keep.push(o);
    if (keep.length > 20_000) keep = [];
  }
}

describe('keepYoungGenerationSmall', () => {
  it('names the commands that run on a device', () => {
    for (const argv of [['patch', 'a', 'b', 'c'], ['update', '--to', 'x'], ['image', 'apply'], ['docker', 'apply', 'a', 'b']]) expect(isDeviceCommand(argv)).toBe(true);
    for (const argv of [['diff'], ['image', 'diff'], ['docker', 'diff'], ['serve'], ['signature'], ['delta'], []]) expect(isDeviceCommand(argv)).toBe(false);
  });

  it('stops the young generation from growing however much survives', () => {
    const before = newSpace();
    // Below the default ceiling (2 x 16 MiB) that churn() reaches without the call: else this test could not fail.
    expect(before).toBeLessThan(16 << 20);
    keepYoungGenerationSmall();
    churn();
    expect(newSpace()).toBe(before);
  });
});
