// 2^x on the FMA pipe (FlashAttention-4's exp2 emulation; gpu/cuda/src/scan_tiled.cu ex2Poly is the same
// device): an H100 SM issues 16 SFU ops a clock against 128 FMA lanes, so moving some of a kernel's exp2
// from the SFU to ~12 FMA-pipe instructions balances an SFU-bound loop. 2^x = 2^j · 2^f with j = round(x)
// and f = x − j in [−½, ½]:
//  - round by the magic-number addition t = x + 1.5·2^23 (for |x| < 2^22, t lies in [2^23, 2^24) where the
//    ulp is 1, so round-to-nearest leaves round(x) in t's low mantissa bits, two's complement) and
//    f = x − (t − 1.5·2^23), both exact. No f32 → i32 conversion or floor: on NVIDIA those run on the
//    conversion pipe, as slow as the SFU.
//  - `keep` must be all ones, read at run time (the scan kernels take it from a uniform): t's bits are
//    ANDed with it before t − M. WGSL has no fast-math switch, but drivers treat SPIR-V float math as
//    reassociable: Mesa's lavapipe folds (x + M) − M to x — even with M read from a buffer — making f = 0
//    and 2^x = 2^round(x) (measured: 3.5e6 ulp off). An AND with a mask the compiler cannot know blocks
//    that (one integer op, off the FMA pipe); test/backends/webgpu-scan-poly.test.ts checks 2^x against
//    Math.pow on whatever adapter runs it, so a compiler that finds another way to fold it fails there.
//  - 2^f by a degree-6 polynomial (the coefficients of scan_tiled.cu: a minimax fit on [−½, ½]; its own
//    error ~2e-9 relative, far below f32's 6e-8 ulp, so the result is off by Horner's rounding: ≤ 2 ulp);
//  - 2^j · p by adding j to p's exponent bits: (bits(t) << 23) keeps exactly the low 9 bits of round(x)
//    in the exponent field (0x4B400000's low 9 bits are 0), i.e. adds j·2^23 modulo 2^32.
//  - x is clamped to [−125, 126] first so 2^j · p stays a normal float (p ∈ [0.707, 1.415]): below −125
//    the result is 2^−125 (≈ 2.4e-38) instead of a smaller number or 0 — invisible next to any O(1)
//    term it is added to (the scan's decay multiplies a state and adds Δ·x·B); above 126 it is 2^126.
const EX2_MAGIC: f32 = 12582912.0; // 1.5 · 2^23

fn ex2Poly(x0: vec4<f32>, keep: u32) -> vec4<f32> {
  let x = clamp(x0, vec4<f32>(-125.0), vec4<f32>(126.0));
  let t = x + EX2_MAGIC;
  let f = x - (bitcast<vec4<f32>>(bitcast<vec4<u32>>(t) & vec4<u32>(keep)) - EX2_MAGIC);
  var p = fma(vec4<f32>(1.535336188319500e-4), f, vec4<f32>(1.339887440266574e-3));
  p = fma(p, f, vec4<f32>(9.618437357674640e-3));
  p = fma(p, f, vec4<f32>(5.550332471162809e-2));
  p = fma(p, f, vec4<f32>(2.402264791363012e-1));
  p = fma(p, f, vec4<f32>(6.931472028550421e-1));
  p = fma(p, f, vec4<f32>(1.0));
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(p) + (bitcast<vec4<u32>>(t) << vec4<u32>(23u)));
}
