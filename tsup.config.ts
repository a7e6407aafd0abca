import { defineConfig } from 'tsup';

/**
 * Dependencies the CLI and the worker carry inside their bundles, only the parts they use: loading
 * them as packages took 22 of the CLI's 34 ms of start-up (module resolution across msgpack's many
 * files, fflate's whole module), paid by every command. The library entry keeps them as packages.
 */
const BUNDLED = ['fflate', '@msgpack/msgpack', 'fzstd'];

export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    // No shims: tsup's ESM shim computes __filename from import.meta.url when the module loads,
    // which throws in a CommonJS bundle made from index.js (esbuild --format=cjs has no
    // import.meta); worker-pool.ts reads __filename only where import.meta.url is missing.
    shims: false,
  },
  {
    entry: { index: 'src/index.ts' },
    format: ['cjs'],
    dts: true,
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    splitting: false,
    // import.meta.url in the CJS bundle, to find dist/worker.mjs beside it.
    shims: true,
  },
  {
    // The worker_threads entry, loaded by path from index.js, index.cjs and cli.js alike; .mjs so a
    // copy beside a one-file application bundle loads as ESM whatever that project's "type".
    entry: { worker: 'src/stream/worker-entry.ts' },
    format: ['esm'],
    outExtension: () => ({ js: '.mjs' }),
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    noExternal: BUNDLED,
  },
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    noExternal: BUNDLED,
  },
]);
