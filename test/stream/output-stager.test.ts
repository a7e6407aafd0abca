import { describe, expect, it } from 'vitest';
import type { RandomAccessBasis } from '../../src/core/basis.js';
import type { Op } from '../../src/core/ops.js';
import { OutputStager, STAGE_BYTES } from '../../src/stream/_output-stager.js';

const MiB = STAGE_BYTES;

/** A basis whose reads complete on a later turn of the event loop (as a file's do), logging each read's start. */
function slowBasis(bytes: Uint8Array, log: string[]): RandomAccessBasis {
  return {
    length: bytes.length,
    read: (position, length) => bytes.slice(position, position + length),
    readInto: (buf, offset, position, length) => {
      log.push(`read ${position}`);
      return new Promise((resolve) => setImmediate(() => resolve(buf.set(bytes.subarray(position, position + length), offset))));
    },
  };
}

async function run(stager: OutputStager, ops: Op[], log: string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const take = (c: Uint8Array) => {
    log.push(`chunk ${out.length}`);
    out.push(c.slice());
  };
  for (const op of ops) if (!stager.add(op)) for await (const c of stager.push(op)) take(c);
  for await (const c of stager.finish()) take(c);
  return out;
}

describe('OutputStager', () => {
  const basis = new Uint8Array(4 * MiB + 333);
  for (let i = 0; i < basis.length; i++) basis[i] = (i * 2654435761) >>> 24;

  it("starts a chunk's basis reads before it hands out the chunk before it", async () => {
    const log: string[] = [];
    const out = await run(new OutputStager(slowBasis(basis, log), 0), [{ type: 'copy', offset: 0, length: 3 * MiB + 10 }], log);
    expect(Buffer.compare(Buffer.concat(out), basis.subarray(0, 3 * MiB + 10))).toBe(0);
    expect(out.map((c) => c.length)).toEqual([MiB, MiB, MiB, 10]);
    // Chunk 0 goes out once chunk 1's read is in flight, chunk 1 once chunk 2's is.
    expect(log.indexOf(`read ${MiB}`)).toBeLessThan(log.indexOf('chunk 0'));
    expect(log.indexOf(`read ${2 * MiB}`)).toBeLessThan(log.indexOf('chunk 1'));
  });

  it('keeps each chunk its own adds when consecutive chunks have them, through a ring of buffers', async () => {
    const log: string[] = [];
    const ops: Op[] = [];
    const want: number[] = [];
    // Adds of 1,000 bytes with their own diff, a literal and a copy, again and again over 4 MiB.
    for (let at = 0; at + 1200 <= 4 * MiB; at += 1200) {
      const diff = new Uint8Array(1000).map((_, i) => (at + i) % 7);
      ops.push({ type: 'add', offset: at, length: 1000, diff }, { type: 'literal', data: Uint8Array.of(at & 0xff) }, { type: 'copy', offset: at + 1001, length: 199 });
      for (let i = 0; i < 1000; i++) want.push((basis[at + i]! + diff[i]!) & 0xff);
      want.push(at & 0xff);
      for (let i = 0; i < 199; i++) want.push(basis[at + 1001 + i]!);
    }
    const out = await run(new OutputStager(slowBasis(basis, log), 3), ops, log);
    expect(Buffer.compare(Buffer.concat(out), Uint8Array.from(want))).toBe(0);
  });

  it("keeps at most 32 of a chunk's basis reads in flight (64 with the chunk before it's), however many short copies it holds", async () => {
    let inFlight = 0;
    let most = 0;
    const counting: RandomAccessBasis = {
      length: basis.length,
      read: (position, length) => basis.slice(position, position + length),
      readInto: (buf, offset, position, length) => {
        most = Math.max(most, ++inFlight);
        return new Promise((resolve) =>
          setImmediate(() => {
            inFlight--;
            resolve(buf.set(basis.subarray(position, position + length), offset));
          }),
        );
      },
    };
    // Short copies from scattered places, a literal byte between them (so no two merge): ~5,000 reads a chunk.
    const ops: Op[] = [];
    const want: number[] = [];
    for (let i = 0, at = 0; at < 2 * MiB; i++) {
      const offset = (i * 7919 * 64) % (basis.length - 200);
      ops.push({ type: 'copy', offset, length: 200 }, { type: 'literal', data: Uint8Array.of(i & 0xff) });
      for (let k = 0; k < 200; k++) want.push(basis[offset + k]!);
      want.push(i & 0xff);
      at += 201;
    }
    const out = await run(new OutputStager(counting, 3), ops, []);
    expect(Buffer.compare(Buffer.concat(out), Uint8Array.from(want))).toBe(0);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(64); // ~5,000 with every read of a chunk at once
  });

  it('hands out a target shorter than one chunk, and nothing for no ops', async () => {
    const log: string[] = [];
    const out = await run(new OutputStager(slowBasis(basis, log), 3), [{ type: 'copy', offset: 5, length: 100 }], log);
    expect(Buffer.compare(Buffer.concat(out), basis.subarray(5, 105))).toBe(0);
    expect(await run(new OutputStager(slowBasis(basis, log), 3), [], log)).toEqual([]);
  });
});
