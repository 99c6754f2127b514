/**
 * The coordinator worker's bundled source. This placeholder is what TypeScript, vitest and tsx
 * see; the browser bundles (tools/build.mjs, examples/browser) replace this module with the
 * bundle of src/browser/coordinator-worker.ts (workers/browser/bundle.mjs). Without it, a page
 * runs the model in place on one thread (factory.ts's note says there is no pool).
 */
export const COORDINATOR_SOURCE: string | null = null;
