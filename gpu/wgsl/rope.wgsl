// Rotary position embedding (transformers apply_rotary_pos_emb, rotate_half form), thread per element:
//   first half  i < R:       x[i]·cos_i − x[R+i]·sin_i
//   second half R ≤ d < 2R:  x[d]·cos_i + x[i]·sin_i   (i = d − R)
//   the rest (partial rotary): passed through.
// cos / sin tables come from the host (src/backends/attention-math.ts ropeTables, f32 angles as HF).
//   x, y: [B, T, H, Dh]   cs: [2, T, R] = cos ++ sin
//   n0 elements  n1 Dh  n2 H  n3 T  n4 R
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = wgIndex(wid, nwg) * 256u + lid;
  if (e >= prm.n0) { return; }
  let Dh = prm.n1; let H = prm.n2; let T = prm.n3; let R = prm.n4;
  let d = e % Dh;
  let row = e / Dh;
  let t = (row / H) % T;
  let o = row * Dh;
  if (d < R) {
    y[e] = x[e] * cs[t * R + d] - x[o + R + d] * cs[T * R + t * R + d];
  } else if (d < 2u * R) {
    let i = d - R;
    y[e] = x[e] * cs[t * R + i] + x[o + i] * cs[T * R + t * R + i];
  } else {
    y[e] = x[e];
  }
}
