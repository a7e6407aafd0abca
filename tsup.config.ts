import { defineConfig } from 'tsup';

/**
 * Dependencies the CLI and the worker carry inside their bundles, only the parts they use: loading
 * them as packages took 22 of the CLI's 34 ms of start-up (module resolution across msgpack's many
 * files, fflate's whole module), paid by every command. The library entry keeps them as packages.
 */
const BUNDLED = ['fflate', '@msgpack/msgpack'];

export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    // import.meta.url in the CJS bundle, to find dist/worker.js beside it.
    shims: true,
  },
  {
    // The worker_threads entry, loaded by path from index.js, index.cjs and cli.js alike.
    entry: { worker: 'src/stream/worker-entry.ts' },
    format: ['esm'],
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
