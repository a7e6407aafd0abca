import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { concatBytes } from '../../src/core/bytes.js';
import { isRolldeltaError } from '../../src/core/errors.js';
import { reusedFileChunks } from '../../src/stream/reused-chunks.js';

const dir = mkdtempSync(join(tmpdir(), 'rd-reused-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reusedFileChunks', () => {
  it('yields the file from `start` to its end, every chunk a view of one of two buffers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.integer({ min: 1, max: 700 }), async (bytes, s, chunk) => {
        const start = bytes.length === 0 ? 0 : s % (bytes.length + 1);
        const file = join(dir, 'f.bin');
        writeFileSync(file, bytes);
        const got: Uint8Array[] = [];
        const buffers = new Set<ArrayBufferLike>();
        for await (const c of reusedFileChunks(file, start, chunk)) {
          expect(c.length).toBeLessThanOrEqual(chunk);
          buffers.add(c.buffer);
          got.push(c.slice()); // the next chunk overwrites this one
        }
        expect(concatBytes(got)).toEqual(bytes.subarray(start));
        expect(buffers.size).toBeLessThanOrEqual(2);
      }),
      { numRuns: 60 },
    );
  });

  it('says which file it could not open', async () => {
    const missing = join(dir, 'missing.bin');
    const err = await (async () => {
      for await (const _ of reusedFileChunks(missing)) void _;
    })().catch((e: unknown) => e);
    expect(isRolldeltaError(err) && err.code).toBe('ERR_IO');
    expect(String((err as Error).message)).toContain(missing);
  });
});
