import type { WorkerCount } from '../stream/worker-count.js';
import { UsageError } from './usage-error.js';

export type OptionKind = 'string' | 'integer' | 'boolean';

export interface OptionSpec {
  kind: OptionKind;
  short?: string;
  /** Allowed values of a string option. */
  choices?: readonly string[];
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
      if (!/^-?\d+$/.test(raw)) throw new UsageError(`--${name} takes a whole number, got ${JSON.stringify(raw)}`);
      values[name] = Number(raw);
    } else {
      if (s.choices && !s.choices.includes(raw)) throw new UsageError(`--${name} is one of ${s.choices.join(', ')}; got ${JSON.stringify(raw)}`);
      values[name] = raw;
    }
  }
  return { positionals, values };
}

/** Throws a usage error unless exactly `names.length` positionals were given. */
export function expectPositionals(args: ParsedArgs, names: readonly string[], command: string): string[] {
  if (args.positionals.length !== names.length) {
    throw new UsageError(`${command} takes ${names.length} arguments: ${names.join(' ')}; got ${args.positionals.length}`);
  }
  return args.positionals;
}

/** The value of `--workers`: a whole number or auto (undefined when not given). */
export function workerCount(v: unknown): WorkerCount | undefined {
  if (v === undefined || v === 'auto') return v;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`--workers takes a whole number or auto, got ${JSON.stringify(v)}`);
  return Number(v);
}
