import { describe, expect, it } from 'vitest';
import { OpCollector } from '../../src/core/ops.js';
import { isRolldeltaError } from '../../src/core/errors.js';
import { NativeDeltaDecoder } from '../../src/format/native-delta-decoder.js';
import { NativeSignatureDecoder } from '../../src/format/native-signature.js';

/** The two native decoders, each fed `bytes` one at a time, and what they fail with. */
const decoders = {
  delta: { magic: [0x72, 0x64, 0x6c, 0x74], make: (max?: number) => new NativeDeltaDecoder(new OpCollector(), { limits: { maxHeaderBytes: max } }) },
  signature: { magic: [0x72, 0x64, 0x73, 0x67], make: (max?: number) => new NativeSignatureDecoder({ limits: { maxHeaderBytes: max } }) },
};

/** Feeds `bytes` one byte per push; returns the failure and how many bytes went in before it. */
function feed(decoder: { push(chunk: Uint8Array, final?: boolean): void }, bytes: number[]): { error: unknown; fed: number } {
  let fed = 0;
  try {
    for (const b of bytes) {
      fed++;
      decoder.push(Uint8Array.of(b));
    }
    return { error: undefined, fed };
  } catch (error) {
    return { error, fed };
  }
}

describe.each(Object.entries(decoders))('the native %s prelude', (kind, { magic, make }) => {
  it('refuses another file at its first wrong byte, naming the magic it wanted', () => {
    const { error, fed } = feed(make(), [magic[0], magic[1], 0x00, 0x00, 1]);
    expect(fed).toBe(3);
    expect(isRolldeltaError(error) && error.code).toBe('ERR_BAD_MAGIC');
    expect((error as Error).message).toBe(`this is not a rolldelta ${kind} (it does not start with "${String.fromCharCode(...magic)}"); check which file was given`);
  });

  it('refuses another format version once its byte arrives', () => {
    const { error, fed } = feed(make(), [...magic, 2]);
    expect(fed).toBe(5);
    expect(error).toMatchObject({ code: 'ERR_UNSUPPORTED', message: `this ${kind} is format version 2; this build reads version 1: upgrade rolldelta` });
  });

  it('refuses a header length of 0, and one above maxHeaderBytes before waiting for it', () => {
    expect(feed(make(), [...magic, 1, 0, 0, 0, 0]).error).toMatchObject({ code: 'ERR_CORRUPT' });
    const { error, fed } = feed(make(100), [...magic, 1, 0, 0, 0, 101]);
    expect(fed).toBe(9);
    expect(error).toMatchObject({ code: 'ERR_LIMIT' });
  });

  it('waits, taking nothing, while the magic, version or header block is incomplete', () => {
    // A complete prelude up to a 3-byte map whose CRC never arrives: no failure, only waiting.
    expect(feed(make(), [...magic, 1, 0, 0, 0, 3, 0x80, 0x80]).error).toBeUndefined();
  });
});
