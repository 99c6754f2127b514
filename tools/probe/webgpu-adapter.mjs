// Prints what Dawn (the npm package webgpu) reports for this machine's adapters: features, limits of
// interest, and the subgroup-matrix configurations when 'chromium-experimental-subgroup-matrix' is there.
//   node tools/probe/webgpu-adapter.mjs
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create(['enable-dawn-features=allow_unsafe_apis']); // referenced to the end (DESIGN.md: dawn.node crash)
for (const powerPreference of ['high-performance', 'low-power']) {
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) { console.log(`${powerPreference}: no adapter`); continue; }
  const info = adapter.info ?? {};
  console.log(`${powerPreference}: ${info.vendor} ${info.architecture} ${info.device} ${info.description} fallback=${adapter.isFallbackAdapter ?? info.isFallbackAdapter}`);
  console.log(`features: ${[...adapter.features].sort().join(' ')}`);
  const keys = Object.keys(Object.getPrototypeOf(info) ?? {}).concat(Object.keys(info));
  console.log(`info keys: ${[...new Set(keys)].join(' ')}`);
  const cfgs = info.subgroupMatrixConfigs;
  if (cfgs?.length) for (const c of cfgs) console.log(`subgroup matrix: ${c.componentType} × ${c.componentType} → ${c.resultComponentType}, M ${c.M} N ${c.N} K ${c.K}`);
  else console.log(`subgroupMatrixConfigs: ${cfgs ? 'none' : 'not reported'}`);
  if (adapter.features.has('chromium-experimental-subgroup-matrix')) {
    const device = await adapter.requestDevice({ requiredFeatures: ['chromium-experimental-subgroup-matrix'] });
    const m = device.createShaderModule({ code: 'enable chromium_experimental_subgroup_matrix;\n@compute @workgroup_size(32) fn main() { }' });
    const ci = await m.getCompilationInfo();
    console.log(`subgroup-matrix shader: ${ci.messages.length ? ci.messages.map((x) => x.message).join('; ') : 'compiles'}`);
    device.destroy();
  }
}
void gpu;
process.exit(0);
