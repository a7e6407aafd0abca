// Every crash or hang the fuzz suite found, with the exact input (or its essential part), so that
// none comes back. Each test names the finding; docs/LIMITS.md lists the caps they rely on.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRolldeltaError } from '../../src/core/errors.js';
import { JsonLineDecoder } from '../../src/docker/json-stream.js';
import { RegistryClient } from '../../src/docker/registry.js';
import { decodeRdiffSignature } from '../../src/format/rdiff-signature.js';
import { decodeNativeSignature, encodeNativeSignature } from '../../src/format/native-signature.js';
import { delta } from '../../src/format/operations.js';
import { concatBytes } from '../../src/core/bytes.js';
import { encodeHeaderBlock } from '../../src/format/_header-block.js';
import { IMAGE_DELTA_MAGIC, readImageDeltaHeader } from '../../src/image/image-delta-format.js';

const enc = new TextEncoder();
const hexBytes = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));

async function codeOfAsync(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (!isRolldeltaError(e)) expect.fail(`expected a RolldeltaError, got ${String(e)}\n${(e as Error).stack}`);
    return e.code;
  }
  return 'no error';
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!isRolldeltaError(e)) expect.fail(`expected a RolldeltaError, got ${String(e)}\n${(e as Error).stack}`);
    return e.code;
  }
  return 'no error';
}

describe('fuzz findings: JsonLineDecoder', () => {
  // Found: a 1 MiB line without a newline, pushed in 23-byte chunks, took 67-120 s (each push
  // concatenated and rescanned the whole pending line). It now ends in ERR_LIMIT at once.
  it('refuses an over-long line sent in small chunks without rescanning it (was quadratic)', { timeout: 15_000 }, () => {
    const d = new JsonLineDecoder();
    const piece = enc.encode('x'.repeat(23));
    let code = 'no error';
    try {
      for (let sent = 0; sent <= (1 << 20) + 23; sent += 23) d.push(piece);
    } catch (e) {
      code = isRolldeltaError(e) ? e.code : String(e);
    }
    expect(code).toBe('ERR_LIMIT');
  });

  it('still joins a line split over many chunks', () => {
    const d = new JsonLineDecoder();
    const text = enc.encode(JSON.stringify({ status: 'y'.repeat(5000) }) + '\n{"id":"a"}\n');
    const out = [];
    for (let p = 0; p < text.length; p += 7) out.push(...d.push(text.subarray(p, p + 7)));
    out.push(...d.end());
    expect(out).toEqual([{ status: 'y'.repeat(5000) }, { id: 'a' }]);
  });
});

describe('fuzz findings: RegistryClient answers', () => {
  let server: Server;
  let base: string;
  let answers: Array<{ status: number; headers?: Record<string, string>; body?: string | Uint8Array; chunks?: number }> = [];
  let served = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      const a = answers[Math.min(served++, answers.length - 1)];
      res.writeHead(a.status, a.headers);
      if (a.chunks) {
        // Chunked, no Content-Length: the client cannot refuse it up front.
        const piece = new Uint8Array(64 << 10).fill(0x20);
        let left = a.chunks;
        const more = (): void => {
          while (left-- > 0) if (!res.write(piece)) return void res.once('drain', more);
          res.end();
        };
        res.on('error', () => {});
        more();
        return;
      }
      res.end(a.body ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const serve = (list: typeof answers) => {
    answers = list;
    served = 0;
  };
  const INDEX = { 'content-type': 'application/vnd.docker.distribution.manifest.list.v2+json' };
  const MANIFEST = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
  const digest = 'sha256:' + 'ab'.repeat(32);

  it('an index answer that is a JSON string (fuzz input 04227368613235363a22) is ERR_CORRUPT, not a TypeError', async () => {
    const body = hexBytes('04227368613235363a22').subarray(1);
    serve([{ status: 200, headers: INDEX, body }]);
    expect(await codeOfAsync(() => new RegistryClient({ baseUrl: base }).manifest('app', '1'))).toBe('ERR_CORRUPT');
  });

  it('a mediaType that is an object with a toString key is ERR_CORRUPT (String() threw a TypeError)', async () => {
    serve([{ status: 200, headers: MANIFEST, body: JSON.stringify({ schemaVersion: 2, mediaType: { toString: true }, config: { digest, size: 1 }, layers: [] }) }]);
    expect(await codeOfAsync(() => new RegistryClient({ baseUrl: base }).manifest('app', '1'))).toBe('ERR_CORRUPT');
  });

  it.each([
    ['null', 'null'],
    ['a list entry that is null', JSON.stringify({ manifests: [null] })],
    ['a list entry whose digest is a path', JSON.stringify({ manifests: [{ digest: '../../x', size: 1 }] })],
    ['a config that is a number', JSON.stringify({ config: 1, layers: [] })],
    ['a layer without a digest', JSON.stringify({ config: { digest, size: 1 }, layers: [{ size: 3 }] })],
    ['a layer with a negative size', JSON.stringify({ config: { digest, size: 1 }, layers: [{ digest, size: -1 }] })],
  ])('a manifest with %s is ERR_CORRUPT', async (_, body) => {
    serve([{ status: 200, headers: MANIFEST, body }]);
    expect(await codeOfAsync(() => new RegistryClient({ baseUrl: base }).manifest('app', '1'))).toBe('ERR_CORRUPT');
  });

  it('a manifest streamed without Content-Length past the cap is ERR_LIMIT, read no further', async () => {
    serve([{ status: 200, headers: MANIFEST, chunks: 1024 }]); // 64 MiB offered, 4 MiB cap
    expect(await codeOfAsync(() => new RegistryClient({ baseUrl: base }).manifest('app', '1'))).toBe('ERR_LIMIT');
    serve([{ status: 200, headers: MANIFEST, chunks: 2 }]);
    expect(await codeOfAsync(() => new RegistryClient({ baseUrl: base, maxManifestBytes: 64 << 10 }).manifest('app', '1'))).toBe('ERR_LIMIT');
  });

  it('a Bearer realm that is not a URL, and token answers that are not JSON objects, are ERR_REMOTE', async () => {
    serve([{ status: 401, headers: { 'www-authenticate': 'Bearer realm="::not a url"' } }]);
    expect(await codeOfAsync(() => new RegistryClient({ baseUrl: base }).manifest('app', '1'))).toBe('ERR_REMOTE');
    for (const body of ['{not json', 'null', '[1]', '{"token":5}']) {
      serve([{ status: 401, headers: { 'www-authenticate': `Bearer realm="${base}/token"` } }, { status: 200, body }]);
      expect(await codeOfAsync(() => new RegistryClient({ baseUrl: base }).manifest('app', '1'))).toBe('ERR_REMOTE');
    }
  });
});

describe('fuzz findings: signatures', () => {
  // Found: decoders accepted block lengths up to 2^32 - 1, which delta() then refused as
  // ERR_INVALID_ARGUMENT (the caller's fault) although the file was at fault.
  it('an rdiff signature with a block length above 16 MiB is ERR_UNSUPPORTED when decoded', () => {
    const sig = hexBytes('7273014701000001000000080000000100000000000000ff');
    expect(codeOf(() => decodeRdiffSignature(sig))).toBe('ERR_UNSUPPORTED');
  });

  it('a native signature with a block length above 16 MiB is ERR_UNSUPPORTED when decoded', () => {
    const ok = encodeNativeSignature({ blockLength: 1 << 24, strongLength: 8, rollsum: 'rollsum', hash: 'md4', blockCount: 0, weak: new Uint32Array(0), strong: new Uint8Array(0) });
    expect(() => delta(decodeNativeSignature(ok), enc.encode('x'))).not.toThrow();
    const big = encodeNativeSignature({ blockLength: (1 << 24) + 1, strongLength: 8, rollsum: 'rollsum', hash: 'md4', blockCount: 0, weak: new Uint32Array(0), strong: new Uint8Array(0) });
    expect(codeOf(() => decodeNativeSignature(big))).toBe('ERR_UNSUPPORTED');
  });
});

describe('fuzz findings: image delta header', () => {
  // Found (1M-input run, seed 1): a header whose new repoTags held "" passed the header check,
  // and the archive writer refused it as ERR_INVALID_ARGUMENT, blaming the caller for the delta.
  it('an empty repo tag is ERR_CORRUPT when the header is read', async () => {
    // The header's map as it goes on the wire (docs/FORMAT.md, image delta): one-letter keys, raw digests.
    const id = new Uint8Array(32).fill(0xab);
    const config = { c: enc.encode('{}'), s: 2 };
    const bytes = concatBytes([IMAGE_DELTA_MAGIC, encodeHeaderBlock({ o: { i: id, d: [] }, n: { i: id, ...config, t: [''], l: [] } })]);
    expect(await codeOfAsync(() => readImageDeltaHeader(async (p, n) => bytes.subarray(p, p + n), bytes.length))).toBe('ERR_CORRUPT');
    const good = concatBytes([IMAGE_DELTA_MAGIC, encodeHeaderBlock({ o: { i: id, d: [] }, n: { i: id, ...config, t: ['app:2'], l: [] } })]);
    expect((await readImageDeltaHeader(async (p, n) => good.subarray(p, p + n), good.length)).header.new.repoTags).toEqual(['app:2']);
  });
});
