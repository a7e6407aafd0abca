import type { UpdateEvent } from '../docker/delta-download.js';
import { formatBytes } from './progress-bar.js';

/** Longest time `rolldelta update` stays silent while bytes move: a device's log shows it is not hung. */
export const UPDATE_LOG_INTERVAL_MS = 10_000;

/**
 * The progress handler of `rolldelta update`: each event with a message is a line, and the bytes
 * of a download or an apply are a line when the phase begins, then at most every `intervalMs`
 * (and when a download completes). A log file gets them as well as a terminal: a level 9 apply on
 * a slow device decodes for minutes, and a download over a slow link takes as long.
 * @example
 * const onProgress = updateLog((line) => process.stderr.write(line));
 * onProgress({ phase: 'download', bytes: 65536, total: 940318 }); // 'download: 64.0 KiB of 918.3 KiB (7%)\n'
 */
export function updateLog(write: (line: string) => void, intervalMs = UPDATE_LOG_INTERVAL_MS, now: () => number = Date.now): (e: UpdateEvent) => void {
  let phase: UpdateEvent['phase'] | undefined;
  let last = 0;
  return (e) => {
    const t = now();
    const newPhase = e.phase !== phase;
    phase = e.phase;
    if (e.message !== undefined) {
      write(`${e.phase}: ${e.message}\n`);
      // A line just said where things stand: the count starts again from it.
      last = t;
      return;
    }
    if (e.bytes === undefined || (e.phase !== 'download' && e.phase !== 'apply')) return;
    const finished = e.phase === 'download' && e.total !== undefined && e.bytes === e.total;
    if (!newPhase && !finished && t - last < intervalMs) return;
    last = t;
    if (e.phase === 'apply') return write(`apply: ${formatBytes(e.bytes)} of the new image handed to docker load\n`);
    const of = e.total === undefined ? '' : ` of ${formatBytes(e.total)} (${Math.floor((e.bytes / e.total) * 100)}%)`;
    write(`download: ${formatBytes(e.bytes)}${of}\n`);
  };
}
