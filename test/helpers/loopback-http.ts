import { createServer, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An HTTP server a test listens with, and what it needs of it. */
export interface LoopbackServer {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `handler` over real HTTP on 127.0.0.1, at a port free now.
 * @example
 * const deltas = await serveLoopback(server.handler);
 * await updateImage({ ..., deltaUrl: `${deltas.url}/delta` });
 * await deltas.close();
 */
export async function serveLoopback(handler: RequestListener): Promise<LoopbackServer> {
  const http = createServer(handler);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => http.close(() => r())),
  };
}

/** The response's own write and end, for a {@link holdAnswer} hook to send what it decides. */
export interface RealResponse {
  write(body: Buffer): void;
  end(body?: Buffer): ServerResponse;
}

/**
 * Holds all a server writes to `res` and, when it ends, hands the whole body to `finish` to send
 * through `real` as it is, damaged or cut short: a link or a proxy that spoils answers.
 * @example
 * holdAnswer(res, (body, real) => ((body[body.length >> 1] ^= 1), real.end(body)));
 * server.handler(req, res);
 */
export function holdAnswer(res: ServerResponse, finish: (body: Buffer, real: RealResponse) => ServerResponse): void {
  const chunks: Buffer[] = [];
  const real: RealResponse = { write: res.write.bind(res), end: res.end.bind(res) };
  res.write = ((c: Buffer) => (chunks.push(Buffer.from(c)), true)) as typeof res.write;
  res.end = ((c?: Buffer) => {
    if (c && typeof c !== 'function') chunks.push(Buffer.from(c));
    return finish(Buffer.concat(chunks), real);
  }) as typeof res.end;
}
