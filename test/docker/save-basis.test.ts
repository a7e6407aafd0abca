// How an update's old image is saved when the engine will not save it by ID. A stand-in engine,
// not a real one: Debian's Docker 20.10 saves every image by ID; the refusal this covers is that of
// Docker's containerd image store for multi-platform images (docker/cli#5523), which cannot run
// here. Saving by ID against the real engine, with the tag moved or removed, is in update-image.test.ts.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/core/errors.js';
import { saveBasis } from '../../src/docker/_save-basis.js';
import type { DockerEngine } from '../../src/docker/engine.js';
import { ReadRing } from '../../src/image/read-ring.js';

const ID = `sha256:${'1'.repeat(64)}`;
const OTHER = `sha256:${'2'.repeat(64)}`;

/** An engine that refuses to save by ID; `tags` maps references to the IDs they name. */
function engineRefusingIds(tags: Record<string, string>) {
  const saved: string[][] = [];
  const engine = {
    saveImagesToFile: async (refs: string[]) => {
      saved.push(refs);
      if (refs[0]!.startsWith('sha256:')) throw new Error('docker save of an ID: unable to find the content');
      return 1;
    },
    inspectImage: async (ref: string) => {
      const id = ref.startsWith('sha256:') ? Object.values(tags).find((v) => v === ref) : tags[ref];
      return id === undefined ? undefined : { Id: id };
    },
  } as unknown as DockerEngine;
  return { engine, saved };
}

const opts = () => ({ ring: new ReadRing(1 << 20) });

describe('saveBasis when the engine will not save by ID', () => {
  it('saves by the tag when it still names the image the delta was checked against', async () => {
    const { engine, saved } = engineRefusingIds({ 'app:1': ID });
    await saveBasis(engine, 'app:1', ID, '/nowhere/old.tar', opts());
    expect(saved).toEqual([[ID], ['app:1']]);
  });

  it('does not save by a tag moved to another image: the engine\'s error stands', async () => {
    const { engine, saved } = engineRefusingIds({ 'app:1': OTHER, 'kept:1': ID });
    await expect(saveBasis(engine, 'app:1', ID, '/nowhere/old.tar', opts())).rejects.toThrow('unable to find the content');
    expect(saved).toEqual([[ID]]);
  });

  it('an image gone for good is ERR_BASIS_MISMATCH saying so', async () => {
    const { engine } = engineRefusingIds({});
    await expect(saveBasis(engine, 'app:1', ID, '/nowhere/old.tar', opts())).rejects.toMatchObject({
      code: ErrorCode.BASIS_MISMATCH,
      message: `app:1 (${ID}) was removed from the engine during the update, before its archive could be saved`,
    });
  });

  it('after an abort, asks the engine nothing more', async () => {
    const { engine, saved } = engineRefusingIds({ 'app:1': ID });
    const ac = new AbortController();
    ac.abort();
    await expect(saveBasis(engine, 'app:1', ID, '/nowhere/old.tar', { ...opts(), signal: ac.signal })).rejects.toThrow('unable to find the content');
    expect(saved).toEqual([[ID]]);
  });
});
