import { createServer, type RequestListener } from 'node:http';
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
