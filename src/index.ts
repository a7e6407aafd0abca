/**
 * rolldelta: binary deltas for files and container images.
 * Layers: core (algorithms on bytes) → format (wire formats, one-shot API) → stream (Node adapters)
 * → tar → image → docker. This file only re-exports each layer's public names.
 */
export * from './core/index.js';
export * from './format/index.js';
export * from './stream/index.js';
export * from './tar/index.js';
export * from './image/index.js';
export * from './docker/index.js';
// In Node the one-shot operations run on node:crypto and node:zlib (the format layer's run anywhere).
export { signature, buildSignatureOf, delta, diff, patch } from './stream/node-operations.js';
