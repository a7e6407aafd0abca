/** Progress of a streaming operation, reported at most every `interval` bytes of input. */
export interface Progress {
  /** Bytes consumed from the main input so far. */
  bytesIn: number;
  /** Bytes produced so far. */
  bytesOut: number;
  /** Total input bytes when known (a file), for percentages. */
  total?: number;
}

/** Options every streaming operation takes. */
export interface StreamOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /**
   * Input length when known, passed through to progress events (and used for default block
   * lengths, and by the two-sided diff to decide whether a worker thread hashes the target).
   */
  size?: number;
}

/** Counts bytes in and out and calls `onProgress` about every 1 MiB of input and at the end. */
export class ProgressMeter {
  bytesIn = 0;
  bytesOut = 0;
  private nextReport = 0;

  constructor(private readonly opts: StreamOptions) {}

  input(n: number): void {
    this.bytesIn += n;
    if (this.opts.onProgress && this.bytesIn >= this.nextReport) {
      this.nextReport = this.bytesIn + (1 << 20);
      this.report();
    }
  }

  output(n: number): void {
    this.bytesOut += n;
  }

  report(): void {
    this.opts.onProgress?.({ bytesIn: this.bytesIn, bytesOut: this.bytesOut, total: this.opts.size });
  }
}
