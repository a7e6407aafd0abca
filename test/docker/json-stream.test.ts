import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRolldeltaError } from '../../src/core/errors.js';
import { JsonLineDecoder, messageError, readJsonStream, type JsonMessage } from '../../src/docker/json-stream.js';

const enc = new TextEncoder();

function decodeSplit(bytes: Uint8Array, cuts: number[]): JsonMessage[] {
  const d = new JsonLineDecoder();
  const out: JsonMessage[] = [];
  let at = 0;
  for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
    out.push(...d.push(bytes.subarray(at, c)));
    at = c;
  }
  out.push(...d.push(bytes.subarray(at)));
  out.push(...d.end());
  return out;
}

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield enc.encode(p);
}

describe('JsonLineDecoder', () => {
  it('parses the engine load stream, CRLF endings, blank lines and a last line without newline', () => {
    const text = '{"status":"Loading layer","progressDetail":{"current":512,"total":1024},"id":"abc"}\r\n\n{"stream":"Loaded image: app:1\\n"}\n{"stream":"Loaded image ID: sha256:00"}';
    expect(decodeSplit(enc.encode(text), [])).toEqual([
      { status: 'Loading layer', progressDetail: { current: 512, total: 1024 }, id: 'abc' },
      { stream: 'Loaded image: app:1\n' },
      { stream: 'Loaded image ID: sha256:00' },
    ]);
  });

  it('gives the same messages for every way of cutting the bytes (multi-byte UTF-8 included)', () => {
    const msg = fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.integer()), { maxKeys: 4 });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (msgs, rawCuts) => {
        const bytes = enc.encode(msgs.map((m) => JSON.stringify(m) + '\r\n').join(''));
        const cuts = rawCuts.map((c) => c % (bytes.length + 1));
        expect(decodeSplit(bytes, cuts)).toEqual(msgs.map((m) => JSON.parse(JSON.stringify(m))));
      }),
    );
  });

  it('rejects non-JSON and non-object lines with ERR_REMOTE and over-long lines with ERR_LIMIT', () => {
    for (const bad of ['not json\n', '[1,2]\n', '42\n', 'null\n']) {
      try {
        new JsonLineDecoder().push(enc.encode(bad));
        expect.unreachable();
      } catch (e) {
        expect(isRolldeltaError(e) && e.code).toBe('ERR_REMOTE');
      }
    }
    const d = new JsonLineDecoder(100);
    expect(() => d.push(enc.encode('{"a":"' + 'x'.repeat(200)))).toThrow(expect.objectContaining({ code: 'ERR_LIMIT' }));
  });
});

describe('messageError / readJsonStream', () => {
  it('finds errors in errorDetail or error, and none in progress', () => {
    expect(messageError({ errorDetail: { message: 'bad tar' }, error: 'bad tar' })).toBe('bad tar');
    expect(messageError({ error: 'only error' })).toBe('only error');
    expect(messageError({ errorDetail: {} })).toMatch(/without a message/);
    expect(messageError({ status: 'Loading layer' })).toBeUndefined();
  });

  it('reports messages before the error, then rejects with ERR_REMOTE naming the operation', async () => {
    const seen: JsonMessage[] = [];
    const p = readJsonStream(chunks('{"stream":"Step 1/2"}\n{"errorD', 'etail":{"code":3,"message":"returned a non-zero code: 3"},"error":"x"}\n{"stream":"never"}\n'), 'docker build', (m) => seen.push(m));
    await expect(p).rejects.toMatchObject({ code: 'ERR_REMOTE', message: 'docker build failed in the Docker Engine: returned a non-zero code: 3' });
    expect(seen).toEqual([{ stream: 'Step 1/2' }]);
  });
});
