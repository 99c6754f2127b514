# h/cudawarp2's device step (style of /work/main/.dev-lead2/steps.sh: $RES, $L, cap, stamp, summ, $VT defined there;
# the addon must be rebuilt from this branch: gpu/cuda/src/scan_warp2.cu, scan_fast.cuh, scan_tiled.cu, scan.cu).
# Issue 9, Mamba-1 prefill scan: scan_warp2.cu's scanWarp2 (MAMBA_EDGE_CUDA_SCAN=warp2, opt-in) — a warp per channel,
# x / dt / z read once, every exp once, 16-byte double-buffered cp.async, B / C once per 4-12 channels — against the
# default scanTiled (3 passes: 0.360 ms = 38.6 % of the copy at [1, 16384, 1536], 0.891 ms at [.., 4096]); and
# MAMBA_EDGE_CUDA_SCAN_POLY=k (the top k of 16 states' 2^x by polynomial on the FMA pipe) for scanTiled.
#
# 1. Correctness (~20 s, cap 35): test/cuda/scan.test.ts + test/cuda/goldens.test.ts with MAMBA_EDGE_CUDA_SCAN=warp2
#    (every Mamba-1 case through scanWarp2: T 1 … 4,099, I 5 … 1,540, N 3 … 16, batch 3, split calls, 1 / 2 / 4 chunks
#    — the test also checks lastScanChunks = scanWarp2Chunks, i.e. that warp2 ran; the goldens: the models against
#    transformers' outputs). At the end, only if the step is still under 72 s: the scan file with MAMBA_EDGE_CUDA_SCAN_R=2
#    (cap 15).
# 2. The A/B (~50 s): bench/cuda.ts --only-bandwidth --no-ssd at [1, 16384, 1536] and [1, 16384, 4096], one process per
#    variant (the kernel switch is read once a process), in 3 interleaved rounds of
#      default (scanTiled, K 0) | warp2 | tiled3 POLY=3 | tiled3 POLY=4
#    each row: GB/s moved, % of the copy, ms, chunks (no process starts past 80 s of the step; expected ~4-5 s a
#    process, so the 12 take ~55 s). Then, while under 80 s, one row each of warp2 with R=2 (two channels a warp: half
#    the B / C shared-memory reads, 220 registers, 6 warps an SM at CB 12), POLY=3, CB=4, CB=12 (warp2's own pick is
#    CB 12 at I 1536 and CB 8 at I 4096) — hints: a variant ≥ 5 % faster than warp2's median at a width is the next
#    call's A/B (with its forced scan file), not a default from one row.
#    Before the extras, if under 65 s: compute-sanitizer racecheck on the warp2 scan cases T = 257 and 4,099 (cap 15;
#    whether its shared-memory hazard tracking covers cp.async writes is not verified here: a clean summary is weak
#    evidence, a reported hazard in scanWarp2 is a bug).
# 3. A summary: per (variant, width) the median ms of the rounds and its ratio to the default's.
#
# Decision (the lead applies it):
# - warp2 becomes the Mamba-1 prefill default (scan.cu useWarp2: true for T ≥ 32 where scanWarp2Fits; kTiledDefault
#   stays for the rest) at a width where its median ms ≤ 0.95 × the default's median at that width, AND step 1's
#   forced files pass (0 failed). If it wins at 1536 but not at 4096 (or the reverse), make it the default only for
#   B·I ≤ (or ≥) the width it won at, and say so in scan.cu.
# - scanTiled's default K (scanPolyStates' fallback 0) becomes 3 or 4 where that row's median ≤ 0.95 × the default's
#   at both widths (the better of the two); otherwise it stays 0.
# - If warp2's rows fail or its forced tests fail: it stays opt-in; the log says which case (the CPU emulator,
#   node tools/cuda-emu/run.mjs warp2, passed 21 + 7 (R=2) cases — it cannot see cp.async races or the SFU's approximations).
step_cudawarp2() {
  local t0=$(date +%s)
  w2el() { echo $(( $(date +%s) - t0 )); }
  stamp "cudawarp2: scan + goldens with MAMBA_EDGE_CUDA_SCAN=warp2"
  MAMBA_EDGE_CUDA_SCAN=warp2 timeout $(cap 35) $VT test/cuda/scan.test.ts test/cuda/goldens.test.ts > $RES/cudawarp2-tests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/cudawarp2-tests.log 6
  local bw="bench/cuda.ts --only-bandwidth --no-ssd --scan-widths 1536,4096 --scan-tokens 16384 --scan-reps 20"
  local rows=$RES/cudawarp2-rows.txt; : > $rows
  w2one() { # label env... : one bandwidth process; its two rows into $rows as "label width ms"
    local lab=$1; shift
    [ $(w2el) -lt 80 ] || { echo "[$lab] skipped: the step is at $(w2el) s" | tee -a $L; return; }
    env "$@" timeout $(cap 9) node --import tsx $bw --json $RES/cudawarp2-bw-$lab-$(w2el).json 2>&1 | grep -E "GB/s|Error" | sed "s/^/[$lab] /" | cut -c1-240 | tee -a $L \
      | sed -nE "s/^\[([^]]*)\].*selective scan \[1, [0-9]+, ([0-9]+)\].*\(([0-9.]+) ms.*/\1 \2 \3/p" >> $rows
  }
  stamp "cudawarp2: bandwidth, 3 interleaved rounds of default | warp2 | tiled3 POLY=3 | tiled3 POLY=4"
  for r in 1 2 3; do
    w2one default X=1
    w2one warp2 MAMBA_EDGE_CUDA_SCAN=warp2
    w2one tiled3-poly3 MAMBA_EDGE_CUDA_SCAN=tiled3 MAMBA_EDGE_CUDA_SCAN_POLY=3
    w2one tiled3-poly4 MAMBA_EDGE_CUDA_SCAN=tiled3 MAMBA_EDGE_CUDA_SCAN_POLY=4
  done
  if [ $(w2el) -lt 65 ]; then  # cp.async double buffer vs the reads: the race the CPU emulator cannot see
    stamp "cudawarp2: racecheck, warp2, T = 257 and 4,099"
    MAMBA_EDGE_CUDA_SCAN=warp2 timeout $(cap 15) compute-sanitizer --tool racecheck --print-limit 5 $VT test/cuda/scan.test.ts -t "T = 257 as 257|T = 4099" > $RES/cudawarp2-race.log 2>&1
    grep -E "RACECHECK SUMMARY|ERROR SUMMARY|Tests " $RES/cudawarp2-race.log | tail -3 | tee -a $L
  fi
  # extras, each only while the step is under 80 s (w2one's guard): hints for the next version, not decisions
  w2one warp2-r2 MAMBA_EDGE_CUDA_SCAN=warp2 MAMBA_EDGE_CUDA_SCAN_R=2
  w2one warp2-poly3 MAMBA_EDGE_CUDA_SCAN=warp2 MAMBA_EDGE_CUDA_SCAN_POLY=3
  w2one warp2-cb4 MAMBA_EDGE_CUDA_SCAN=warp2 MAMBA_EDGE_CUDA_SCAN_CB=4
  w2one warp2-cb12 MAMBA_EDGE_CUDA_SCAN=warp2 MAMBA_EDGE_CUDA_SCAN_CB=12
  if [ $(w2el) -lt 72 ]; then
    stamp "cudawarp2: scan file with warp2, R=2"
    MAMBA_EDGE_CUDA_SCAN=warp2 MAMBA_EDGE_CUDA_SCAN_R=2 timeout $(cap 15) $VT test/cuda/scan.test.ts > $RES/cudawarp2-r2.log 2>&1; summ $RES/cudawarp2-r2.log 3
  fi
  stamp "cudawarp2: median ms of the rounds (ratio to default; warp2 is the default where <= 0.95 and step 1 passed)"
  sort -k1,1 -k2,2n -k3,3g $rows | awk '
    { k = $1 " " $2; v[k, ++n[k]] = $3; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
    END {
      for (i = 1; i <= m; i++) { k = order[i]; c = n[k]; med[k] = (c % 2) ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2 }
      for (i = 1; i <= m; i++) { k = order[i]; split(k, p, " "); d = med["default " p[2]];
        printf "[cudawarp2] %-14s I %5s: median %.3f ms of %d%s\n", p[1], p[2], med[k], n[k], d ? sprintf(" = %.3f x default", med[k] / d) : ""
        if (p[1] == "warp2" && d && n[k] >= 3) printf "[cudawarp2] rule: warp2 at I %s %s (<= 0.95 x default; also needs step 1 passed)\n", p[2], med[k] <= 0.95 * d ? "WINS" : "does not win" }
    }' | tee -a $L
  echo "cudawarp2 step: $(w2el) s" | tee -a $L
}
