import type { Progress } from '../stream/progress.js';

/**
 * A one-line progress bar redrawn on stderr, only when stderr is a terminal (a log file gets
 * nothing). Returns the progress callback and a function that ends the line.
 */
export function progressBar(enabled: boolean, label: string): { onProgress?: (p: Progress) => void; done(): void } {
  const stream = process.stderr;
  if (!enabled || !stream.isTTY) return { done() {} };
  const start = Date.now();
  let drawn = false;
  let lastDraw = 0;
  return {
    onProgress(p: Progress) {
      const now = Date.now();
      // Redraw at most ten times a second; the final report (bytesIn === total) always draws.
      if (now - lastDraw < 100 && p.bytesIn !== p.total) return;
      lastDraw = now;
      const secs = Math.max((now - start) / 1000, 0.001);
      const rate = `${(p.bytesIn / 1e6 / secs).toFixed(1)} MB/s`;
      const width = 30;
      let bar = '';
      if (p.total) {
        const frac = Math.min(p.bytesIn / p.total, 1);
        const full = Math.round(frac * width);
        bar = `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% `;
      }
      stream.write(`\r${label} ${bar}${formatBytes(p.bytesIn)} ${rate}   `);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
