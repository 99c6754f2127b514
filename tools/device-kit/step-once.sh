step_oncetests() { # scan_once.cu on a GPU: the scan and goldens suites with every Mamba-1 scan forced through it
  stamp "oncetests: MAMBA_EDGE_CUDA_SCAN=once scan + goldens"
  MAMBA_EDGE_CUDA_SCAN=once CI=true timeout $(cap 60) $VT test/cuda/scan.test.ts test/cuda/goldens.test.ts > $RES/oncetests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/oncetests.log 6
  grep -E "✗|×|AssertionError|expected" $RES/oncetests.log | head -8 | cut -c1-200 | tee -a $L
}
step_oncebw() { # scanOnce against the default (tiled three passes), 2 interleaved rounds, 16k tokens at both widths
  stamp "oncebw: bench/cuda.ts --only-bandwidth, default | once, 2 rounds"
  local r v
  for r in $(seq ${ROUNDS:-2}); do for v in default once; do
    local e=X=1; [ $v = once ] && e=MAMBA_EDGE_CUDA_SCAN=once
    env $e timeout $(cap 40) node --import tsx bench/cuda.ts --only-bandwidth --no-ssd --scan-widths 1536,4096 --scan-tokens 16384 --scan-reps 20 --json $RES/oncebw-$v-$r.json > $RES/oncebw-$v-$r.log 2>&1
    echo "[$v $r] rc=$?" | tee -a $L; grep -E "selective scan" $RES/oncebw-$v-$r.log | cut -c1-220 | tee -a $L
  done; done
}
step_oncencu() { # ncu of scanOnce at [1, 16384, 1536]
  stamp "oncencu: ncu --set full on scanOnce"
  which ncu >/dev/null 2>&1 || export PATH=$PATH:/usr/local/cuda/bin
  MAMBA_EDGE_CUDA_SCAN=once timeout $(cap 80) ncu --clock-control none --set full -k regex:"scanOnce" --launch-skip 1 -c 1 -o /tmp/profo -f node --import tsx bench/cuda.ts --only-bandwidth --no-ssd --scan-widths 1536 --scan-tokens 16384 --scan-reps 1 > $RES/oncencu-run.log 2>&1; echo "ncu rc=$?" | tee -a $L
  ncu -i /tmp/profo.ncu-rep --page details > $RES/oncencu.txt 2>&1
  ncu -i /tmp/profo.ncu-rep --page raw --csv > $RES/oncencu-raw.csv 2>&1
  grep -E "^  [a-zA-Z_].*\(|Duration|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|One or More Eligible|Executed Ipc A|Executed Instructions  |L2 Hit" $RES/oncencu.txt | head -20 | cut -c1-160 | tee -a $L
  python3 - $RES/oncencu-raw.csv <<'PY' 2>/dev/null | tee -a $L
import csv,sys
rows=list(csv.reader(open(sys.argv[1]))); h=rows[0]; d=rows[2:]
for k in ('sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active','smsp__pcsamp_warps_issue_stalled_mio_throttle','smsp__pcsamp_warps_issue_stalled_short_scoreboard','smsp__pcsamp_warps_issue_stalled_long_scoreboard','smsp__pcsamp_warps_issue_stalled_barrier','smsp__pcsamp_warps_issue_stalled_wait','smsp__pcsamp_warps_issue_stalled_not_selected','smsp__pcsamp_warps_issue_stalled_selected','l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum'):
  if k in h: print(k, [r[h.index(k)] for r in d])
PY
}
