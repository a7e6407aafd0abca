import type { DeltaServerEvent } from '../docker/delta-server.js';

/**
 * One log line for a delta server's event, or undefined for a device's poll while its delta is
 * being generated (a 202 every few seconds from every waiting device would drown the rest).
 * @example
 * serverLogLine({ type: 'generation-started', from: 'app:1', to: 'app:2', level: 9 });
 * // '2026-11-24T09:30:00.000Z generating app:1 -> app:2 at level 9\n'
 */
export function serverLogLine(e: DeltaServerEvent, now = new Date()): string | undefined {
  const pair = 'from' in e && e.from !== undefined ? `${e.from} -> ${e.to}` : '';
  let text: string;
  switch (e.type) {
    case 'request':
      if (e.status === 202) return undefined;
      text = `${e.method} ${pair || '(no pair)'}${e.level === undefined ? '' : ` level ${e.level}`}: ${e.status}, ${e.bytes} bytes in ${Math.round(e.ms)} ms${e.complete ? '' : ' (closed early)'}${e.reason === undefined ? '' : `: ${e.reason}`}`;
      break;
    case 'generation-queued':
      text = `queued ${pair} at level ${e.level}: ${e.ahead} ahead of it, the most generations already running`;
      break;
    case 'generation-started':
      text = `generating ${pair} at level ${e.level}`;
      break;
    case 'generation-finished':
      text = `generated ${pair} at level ${e.level}: ${e.bytes} bytes in ${Math.round(e.ms)} ms`;
      break;
    case 'deltas-removed':
      text = `removed ${e.files} least recently used deltas (${e.bytes} bytes) to keep the store within ${e.maxBytes} bytes`;
      break;
    case 'delta-damaged':
    case 'delta-outdated':
      text = `removed ${pair} at level ${e.level} from the store, to make it again: ${e.reason}`;
      break;
    case 'generation-failed':
      text = `generating ${pair} at level ${e.level} failed after ${Math.round(e.ms)} ms: ${e.reason}`;
      break;
  }
  return `${now.toISOString()} ${text}\n`;
}
