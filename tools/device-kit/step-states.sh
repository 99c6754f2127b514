# scan_states.cu (MAMBA_EDGE_CUDA_SCAN=states: one walk, a lane per state entry) on the GPU: its tests, then its rows
# beside the default (the tiled three passes) at both widths and two lengths, ROUNDS processes of each.
step_states() {
  stamp "states: scan + goldens suites forced to MAMBA_EDGE_CUDA_SCAN=states"
  MAMBA_EDGE_CUDA_SCAN=states CI=true timeout $(cap 40) $VT test/cuda/scan.test.ts test/cuda/goldens.test.ts > $RES/states-tests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/states-tests.log 4
  local r k
  for r in $(seq ${ROUNDS:-3}); do
    for k in default states; do
      if [ $k = default ]; then unset MAMBA_EDGE_CUDA_SCAN; else export MAMBA_EDGE_CUDA_SCAN=$k; fi
      timeout $(cap 25) node --import tsx bench/cuda.ts --only-bandwidth --no-ssd --scan-widths 1536,4096 --scan-tokens 16384,2048 --scan-reps 20 > $RES/states-$k-$r.log 2>&1
      echo "[$r $k] rc=$?" | tee -a $L; grep -E "GB/s" $RES/states-$k-$r.log | sed -E 's/^\[ *[0-9]+ s\] //' | cut -c1-170 | tee -a $L
    done
  done
  unset MAMBA_EDGE_CUDA_SCAN
}
step_statesncu() { # ncu of scanStates at [1, 16384, 1536]: issue slots, stalls, SFU / DRAM / L2 load
  stamp "statesncu: ncu --set full on scanStates"
  which ncu >/dev/null 2>&1 || export PATH=$PATH:/usr/local/cuda/bin
  MAMBA_EDGE_CUDA_SCAN=states timeout $(cap 90) ncu --clock-control none --set full -k regex:"scanStates" --launch-skip 1 -c 1 -o /tmp/profs -f node --import tsx bench/cuda.ts --only-bandwidth --no-ssd --scan-widths 1536 --scan-tokens 16384 --scan-reps 1 > $RES/statesncu-run.log 2>&1; echo "ncu rc=$?" | tee -a $L
  ncu -i /tmp/profs.ncu-rep --page details > $RES/statesncu.txt 2>&1
  ncu -i /tmp/profs.ncu-rep --page raw --csv > $RES/statesncu-raw.csv 2>&1
  ncu -i /tmp/profs.ncu-rep --page source --csv --print-source sass > $RES/statesncu-sass.csv 2>&1
  grep -E "^  [a-zA-Z_].*\(|Duration|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|One or More Eligible|Executed Ipc A|L2 Hit|Stall|Executed Instructions  " $RES/statesncu.txt | head -45 | cut -c1-160 | tee -a $L
}
