// Appends T tokens of K and V to a KV cache laid out [B, Hkv, capacity, Dh], after the P held ones.
// Thread per element of k / v.
//   k, v: [B, T, Hkv, Dh]   cacheK, cacheV: [B, Hkv, capacity, Dh]
//   n0 B  n1 T  n2 Hkv  n3 Dh  n4 capacity  n5 P
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> cacheK: array<f32>;
@group(0) @binding(4) var<storage, read_write> cacheV: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = wgIndex(wid, nwg) * 256u + lid;
  let B = prm.n0; let T = prm.n1; let G = prm.n2; let Dh = prm.n3;
  if (e >= B * T * G * Dh) { return; }
  let d = e % Dh;
  let g = (e / Dh) % G;
  let t = (e / (Dh * G)) % T;
  let b = e / (Dh * G * T);
  let dst = ((b * G + g) * prm.n4 + prm.n5 + t) * Dh + d;
  cacheK[dst] = k[e];
  cacheV[dst] = v[e];
}
