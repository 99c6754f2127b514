#!/usr/bin/env node
/**
 * Runs CUDA kernels' source on the CPU (no GPU needed): gpu/cuda/src/scan_tiled.cu (Mamba-1's tiled scan,
 * `scan`) and gpu/cuda/src/ssd_tiled.cu (Mamba-2's tiled SSD, `ssd`). For each: takes the kernel text as it
 * is (from `namespace me {` to the host launch code), swaps its inline-PTX helpers (lg2, cp.async) for host
 * equivalents, compiles it with emu.h (CUDA built-ins as std::threads and a std::barrier) and its *_main.cc
 * (the launch sequence, against a double-precision sequential scan), built with AddressSanitizer and UBSan so
 * a read or write outside any tensor or the scratch stops it (as compute-sanitizer's memcheck would on a GPU).
 * scan_tiled: every length class of test/cuda/scan.test.ts, as three passes and as one, 16- and 4-byte
 * staging. ssd_tiled: T = 1, 2, 63, 64, 65, 127, 1,000 …, odd heads, batch 2, groups,
 * P / N off the tiles, a carried state. A check of index math and pass logic, not of speed, of asynchronous-copy
 * races or of the SFU's approximations (ex2 / lg2 are libm's here; test/cuda/scan.test.ts does those on a GPU).
 *
 *   node tools/cuda-emu/run.mjs [scan|ssd ...]   (default: all; needs g++ ≥ 12 and the CUDA headers, /usr/local/cuda/include)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cudaInc = process.env.CUDA_INCLUDE ?? '/usr/local/cuda/include';

/**
 * The kernels of `parts` ([file, endMarker]: from `namespace me {` to endMarker, or to the closing `}  // namespace me`
 * where endMarker is null), one after another, with `swaps` applied, compiled with `main` and run.
 */
function emulate(parts, swaps, main) {
  const file = parts.map(([f]) => f).join(' + ');
  let body = parts.map(([f, endMarker]) => {
    const src = readFileSync(resolve(here, '../../gpu/cuda/src', f), 'utf8');
    const end = endMarker === null ? src.lastIndexOf('}  // namespace me') : src.indexOf(endMarker);
    if (end < 0) throw new Error(`${f} no longer has ${endMarker}`);
    return src.slice(src.indexOf('namespace me {'), end) + '}  // namespace me\n';
  }).join('\n');
  /** Replaces the __device__ function whose signature contains `sig` (through its closing brace) with `host`. */
  const swap = (sig, host) => {
    const at = body.indexOf(sig);
    if (at < 0) throw new Error(`${file} no longer has ${sig}`);
    const start = body.lastIndexOf('__device__', at);
    let k = body.indexOf('{', at), depth = 0;
    for (; ; k++) {
      if (body[k] === '{') depth++;
      else if (body[k] === '}' && --depth === 0) break;
    }
    body = body.slice(0, start) + host + body.slice(k + 1);
  };
  for (const [sig, host] of swaps) swap(sig, host);
  if (/asm\s*(volatile)?\s*\(/.test(body)) throw new Error(`${file} has inline PTX this emulation does not replace`);
  const dir = mkdtempSync(join(tmpdir(), 'cuda-emu-'));
  writeFileSync(join(dir, 'kern.inc'), `#include "emu.h"\n${body}`);
  execFileSync('g++', ['-std=c++20', '-O1', '-g', '-pthread', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', `-I${here}`, `-I${dir}`, `-I${cudaInc}`, '-o', join(dir, 'emu'), join(here, main)],
    { stdio: 'inherit' });
  execFileSync(join(dir, 'emu'), { stdio: 'inherit' });
}

const which = process.argv.slice(2);
/** scan_fast.cuh's inline-PTX helpers (lg2, 16-byte cp.async and its waits) as host code: the copies are synchronous here. */
const fastSwaps = [
  ['float lg2(float x)', 'inline float lg2(float x) { return log2f(x); }'],
  ['void cpAsync16(', 'inline void cpAsync16(void* dst, const void* src, bool valid) { if (valid) memcpy(dst, src, 16); else memset(dst, 0, 16); }'],
  ['void cpAsyncCommit(', 'inline void cpAsyncCommit() {}'],
  ['void cpAsyncWait0(', 'inline void cpAsyncWait0() {}'],
];
const tiled = [['scan_fast.cuh', null], ['scan_tiled.cu', '/** MAMBA_EDGE_CUDA_SCAN_CHUNK']];
if (which.length === 0 || which.includes('scan')) emulate(tiled, fastSwaps, 'scan_tiled_main.cc');
if (which.length === 0 || which.includes('ssd')) emulate([['ssd_tiled.cu', 'template <int L>\nstatic cudaError_t ssdTiledT(']], [], 'ssd_tiled_main.cc');
