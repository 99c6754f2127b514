// mamba-edge AssemblyScript kernels (wasm/ABI.md): scans, conv, norms, elementwise.
// Built with `npx asc --target release` (asconfig.json) into wasm/dist/kernels-as.wasm:
// SIMD128 + threads, shared memory imported from env.memory, runtime stub, no allocation.
// Nothing here calls env.abort on valid input (the build has noAssert and no checked accesses).
export { rmsNorm, gatedRmsNorm, add, vexp, vsoftplus, vsilu } from './norm';
export { conv1dCausal } from './conv';
export { selectiveScan } from './scan';
export { ssdChunkScan, ssdStep } from './ssd';
export { recurrentCell, ltiScan, glu } from './recurrent';
export { mamba3Scan, vsincos } from './mamba3';
export { rope, attention, swiglu, relu2 } from './attention';
export { mamba3ChunkScan } from './mamba3-chunk';
