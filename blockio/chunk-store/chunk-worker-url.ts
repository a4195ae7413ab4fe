/**
 * Where the compiled chunk worker lives.
 */

/**
 * The worker module for piscina. Worker threads on Node 20 cannot load TypeScript, and vitest runs
 * this module from its `.ts` source; then the compiled worker in `dist/` is used instead (`npm test`
 * runs `tsc` first, so it is current). From compiled code the worker sits next to this file.
 * docs/DECISIONS.md "How tests reach the piscina worker".
 */
export function chunkWorkerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../dist/blockio/chunk-store/chunk-worker.js', import.meta.url)
    : new URL('./chunk-worker.js', import.meta.url)
}
