// What the Mamba-1 scan kernels that emit y add to mamba1_scan_inputs (selective_scan_step, _out,
// _out_tiled): the readout and gate y = (C·h + D·x)·silu(z).   Cm: [B, T, N]   D: [I]   z: [B, T, I]
@group(0) @binding(6) var<storage, read> Cm: array<f32>;
@group(0) @binding(7) var<storage, read> D: array<f32>;
@group(0) @binding(8) var<storage, read> z: array<f32>;
