import { MAX_WORKERS, type WorkerCount } from '../stream/worker-count.js';
import { UsageError } from './usage-error.js';

export type OptionKind = 'string' | 'integer' | 'boolean';

export interface OptionSpec {
  kind: OptionKind;
  short?: string;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  /** Smallest and largest value of an integer option (checked here, so a bad value is bad usage). */
  min?: number;
  max?: number;
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | number | boolean | undefined>;
}

/**
 * Parses `--name value`, `--name=value`, `-x value` and boolean flags; `-` alone is a positional
 * (stdin/stdout) and `--` ends the options. Unknown options are usage errors.
 */
export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const positionals: string[] = [];
  const values: ParsedArgs['values'] = {};
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([name, s]) => [s.short!, name]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      const n = byShort.get(arg.slice(1));
      if (!n) throw new UsageError(`unknown option ${arg}`);
      name = n;
    }
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    if (s.kind === 'integer') {
      values[name] = integerValue(name, raw, s);
    } else {
      if (s.choices && !s.choices.includes(raw)) throw new UsageError(`--${name} is one of ${s.choices.join(', ')}; got ${JSON.stringify(raw)}`);
      values[name] = raw;
    }
  }
  return { positionals, values };
}

function integerValue(name: string, raw: string, s: OptionSpec): number {
  const min = s.min ?? Number.MIN_SAFE_INTEGER;
  const max = s.max ?? Number.MAX_SAFE_INTEGER;
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) {
    const range = s.min === undefined && s.max === undefined ? '' : s.max === undefined ? ` of at least ${min}` : ` from ${min} to ${max}`;
    throw new UsageError(`--${name} takes a whole number${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Throws a usage error unless exactly `names.length` positionals were given. */
export function expectPositionals(args: ParsedArgs, names: readonly string[], command: string): string[] {
  if (args.positionals.length !== names.length) {
    throw new UsageError(`${command} takes ${names.length} arguments: ${names.join(' ')}; got ${args.positionals.length}`);
  }
  return args.positionals;
}

/** `--level`, shared by every command that makes or asks for a native delta. */
export const levelOption: OptionSpec = { kind: 'integer', min: 0, max: 9 };

/** The value of `--workers`: auto or a whole number of threads, 1..MAX_WORKERS (undefined when not given). */
export function workerCount(v: unknown): WorkerCount | undefined {
  if (v === undefined || v === 'auto') return v;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_WORKERS)) throw new UsageError(`--workers takes auto or a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(v)}`);
  return n;
}
