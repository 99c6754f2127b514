// What the edge platform (and build.mjs) make of the worker's non-JS imports.
declare module '*.wasm' {
  /** Compiled by the platform at deploy time (Cloudflare: CompiledWasm; Vercel: `?module`). */
  const module: WebAssembly.Module;
  export default module;
}
declare module 'edge-model-files' {
  /** The model folder's files as bytes, bundled by build.mjs. */
  const files: Record<string, Uint8Array>;
  export default files;
}
