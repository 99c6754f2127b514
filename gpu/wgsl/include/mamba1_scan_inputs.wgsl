// The Mamba-1 selective scan's inputs, as every scan kernel binds them (selective_scan_step, _chunk,
// _out and their tiled versions): x, dt: [B, T, I]   dtBias: [I]   A: [I, N]   Bm: [B, T, N]
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> dtBias: array<f32>;
@group(0) @binding(4) var<storage, read> A: array<f32>;
@group(0) @binding(5) var<storage, read> Bm: array<f32>;
