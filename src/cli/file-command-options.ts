import type { OptionSpec } from './args.js';

/** Options every file command (signature, delta, diff, patch) takes. */
export const fileCommandOptions: Record<string, OptionSpec> = {
  progress: { kind: 'boolean' },
  help: { kind: 'boolean', short: 'h' },
};

/** A line on standard error (the file commands' reports; standard output may be the data). */
export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}
