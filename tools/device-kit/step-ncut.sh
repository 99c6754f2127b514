step_ncut() { # ncu of the default Mamba-1 tiled scan's three kernels at [1, 16384, 1536] (where does the 0.367 ms go?)
  stamp "ncut: ncu --set full on scanTiled* (pass 1, carry, pass 3)"
  which ncu >/dev/null 2>&1 || export PATH=$PATH:/usr/local/cuda/bin
  timeout $(cap 100) ncu --clock-control none --set full -k regex:"scanTiled" --launch-skip 3 -c 3 -o /tmp/proft -f node --import tsx bench/cuda.ts --only-bandwidth --no-ssd --scan-widths 1536 --scan-tokens 16384 --scan-reps 1 > $RES/ncut-run.log 2>&1; echo "ncu rc=$?" | tee -a $L
  tail -3 $RES/ncut-run.log | cut -c1-200 | tee -a $L
  ncu -i /tmp/proft.ncu-rep --page details > $RES/ncut.txt 2>&1
  ncu -i /tmp/proft.ncu-rep --page raw --csv > $RES/ncut-raw.csv 2>&1
  grep -E "^  [a-zA-Z_].*\(|Duration|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|One or More Eligible|Executed Ipc A|L2 Hit" $RES/ncut.txt | head -45 | cut -c1-160 | tee -a $L
}
