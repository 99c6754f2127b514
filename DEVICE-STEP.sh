# h/webpoly's device step (sourced by the lead's run.sh: stamp, cap, summ, $VT, $RES, $L come from there).
# ≤ 88 s (58 + 5 + 25): the tiled Mamba-1 scan's variants (WebGpuBackend.scanPoly: the last P states' decay 2^x from the
# FMA-pipe polynomial, per pass P1/P3; scanWorkgroup: 64 or 32 channels a workgroup) A/B'd at 16k tokens at
# mamba-130m's width ([1, 16384, 1536] × N 16) and mamba-1.4b's ([1, 16384, 4096] × N 16), in one process,
# interleaved (5 rounds, order rotated, the vec4 copy timed in the same rounds), then the scan-poly test file
# on the H100 (ex2Poly's ulp on NVIDIA's compiler: a folded (x + M) − M would show there; every POLY / WG vs
# the reference backend).
#
# Decision (printed as DECISION by the summary below): a variant becomes the default if, at BOTH widths, its
# median is ≥ 3 % below the default's (POLY 0/0, WG 64) median in the same run, its min is below the
# default's min, and its y agrees with the sequential scan; among such variants the one with the best
# worst-width ratio (median ÷ default median). The lead then sets scanPoly / scanWorkgroup's initial values
# in src/backends/webgpu/index.ts (and the README's defaults). Otherwise the defaults stay.
step_webpoly() {
  stamp "webpoly: tiled Mamba-1 scan POLY x WG A/B, 16k tokens, mamba-130m + mamba-1.4b widths"
  timeout $(cap 58) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 0 --no-recorded \
    --kernels --scan-tokens 16384 --kernel-shapes mamba-1.4b \
    --scan-poly 0,2,3,4,6,4/0,4/2,4/3,5/3 --scan-wg 64,32 --variant-rounds 5 --budget-s 50 \
    --json $RES/webpoly.json > $RES/webpoly-bench.log 2>&1; echo "rc=$?" | tee -a $L
  grep -v "^Warning" $RES/webpoly-bench.log | grep -E "DIFFER|Error|FAILED" | cut -c1-240 | tee -a $L
  cat > /tmp/webpoly-summary.mjs <<'EOF'
import { readFileSync } from 'node:fs';
const r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const widths = {};
for (const [shape, rows] of Object.entries(r.kernels)) {
  const copy = rows.find((k) => k.what.includes('best of the') && k.what.startsWith('copy'));
  const vs = rows.filter((k) => k.rounds && k.what.includes('tiled, POLY'));
  if (!copy || !vs.length) continue;
  const pct = (s) => (100 * (vs[0].bytes / s)) / copy.GBs / 1e9;
  console.log(`${shape} ${vs[0].shape}: copy best ${(copy.seconds * 1e3).toFixed(3)} ms (${copy.GBs.toFixed(0)} GB/s r+w)`);
  const m = {};
  for (const k of vs) {
    const name = k.what.replace(/.*tiled, /, '').replace(' (default)', '');
    m[name] = { med: k.medianSeconds, min: k.seconds, agree: /agree/.test(k.check ?? ''), p1: k.pass1?.median };
    console.log(`  ${name.padEnd(16)} min ${(k.seconds * 1e3).toFixed(3)} = ${pct(k.seconds).toFixed(1)} %  median ${(k.medianSeconds * 1e3).toFixed(3)} = ${pct(k.medianSeconds).toFixed(1)} %  pass1 med ${(k.pass1.median * 1e3).toFixed(3)}  rest med ${((k.medianSeconds - k.pass1.median) * 1e3).toFixed(3)}  ${/agree/.test(k.check) ? 'agree' : 'DIFFER'}`);
  }
  widths[shape] = m;
}
const shapes = Object.keys(widths);
const def = 'POLY 0/0, WG 64';
if (shapes.length < 2 || shapes.some((s) => !widths[s][def])) { console.log(`DECISION: incomplete (${shapes.length} widths measured): keep POLY 0/0, WG 64`); process.exit(0); }
let best = null;
for (const name of Object.keys(widths[shapes[0]])) {
  if (name === def || !shapes.every((s) => widths[s][name])) continue;
  const ok = shapes.every((s) => { const v = widths[s][name], d = widths[s][def]; return v.agree && v.med <= 0.97 * d.med && v.min < d.min; });
  const worst = Math.max(...shapes.map((s) => widths[s][name].med / widths[s][def].med));
  if (ok && (!best || worst < best.worst)) best = { name, worst };
}
console.log(best ? `DECISION: make ${best.name} the default (median ≤ ${(100 * best.worst).toFixed(1)} % of the default's at both widths)` : 'DECISION: keep POLY 0/0, WG 64 (no variant ≥ 3 % faster by median at both widths with a lower min)');
EOF
  timeout $(cap 5) node /tmp/webpoly-summary.mjs $RES/webpoly.json 2>&1 | cut -c1-200 | tee -a $L
  stamp "webpoly: test/backends/webgpu-scan-poly.test.ts on the GPU"
  CI=true timeout $(cap 25) $VT test/backends/webgpu-scan-poly.test.ts > $RES/webpoly-tests.log 2>&1; echo "rc=$?" | tee -a $L
  grep -E "ex2Poly on" $RES/webpoly-tests.log | cut -c1-200 | tee -a $L; summ $RES/webpoly-tests.log 6
}
