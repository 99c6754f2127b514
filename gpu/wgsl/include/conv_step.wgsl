// (shared by the decode kernels that take a causal depthwise conv's step, through //#include)
// One token of channel `ch` (weight row ch, state row at `base`): the sum bias + Σ_k W[ch, k] · s[k] over
// s = state ++ xin in that order (bias, the K − 1 held inputs, the new one), and xin shifted into the
// state row. Returns the sum before any activation. The including file declares convW [C, K],
// convB [C] and convState (its rows of K − 1).
fn convStep(ch: u32, base: u32, K: u32, xin: f32, hasBias: bool) -> f32 {
  let hist = K - 1u;
  var acc = 0.0;
  if (hasBias) { acc = convB[ch]; }
  for (var k = 0u; k < hist; k++) { acc += convW[ch * K + k] * convState[base + k]; }
  acc += convW[ch * K + hist] * xin;
  for (var k = 0u; k + 1u < hist; k++) { convState[base + k] = convState[base + k + 1u]; }
  if (hist > 0u) { convState[base + hist - 1u] = xin; }
  return acc;
}
