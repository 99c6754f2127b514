#!/usr/bin/env node
/**
 * Runs gpu/cuda/src/scan_tiled.cu's kernels on the CPU (no GPU needed): takes the kernel text as it is
 * (everything from `namespace me {` to the host launch code), swaps its inline-PTX helpers (lg2,
 * cp.async) for host equivalents, compiles it with emu.h (CUDA built-ins as std::threads and a
 * std::barrier) and scan_tiled_main.cc (the launch sequence of tiledN, against a double-precision
 * sequential scan), and runs every length class of test/cuda/scan.test.ts, as three passes and as one,
 * with 16- and 4-byte staging, and the polynomial 2^x, built with AddressSanitizer and UBSan so a read or
 * write outside any tensor or the scratch stops it (as compute-sanitizer's memcheck would on a GPU).
 * A check of index math and pass logic, not of speed, of asynchronous-copy races or of the SFU's approximations.
 *
 *   node tools/cuda-emu/run.mjs        (needs g++ ≥ 12 and the CUDA headers, /usr/local/cuda/include)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = readFileSync(resolve(here, '../../gpu/cuda/src/scan_tiled.cu'), 'utf8');
let body = src.slice(src.indexOf('namespace me {'), src.indexOf('/** MAMBA_EDGE_CUDA_SCAN_CHUNK'));

/** Replaces the __device__ function whose signature contains `sig` (through its closing brace) with `host`. */
function swap(sig, host) {
  const at = body.indexOf(sig);
  if (at < 0) throw new Error(`scan_tiled.cu no longer has ${sig}`);
  const start = body.lastIndexOf('__device__', at);
  let k = body.indexOf('{', at), depth = 0;
  for (; ; k++) {
    if (body[k] === '{') depth++;
    else if (body[k] === '}' && --depth === 0) break;
  }
  body = body.slice(0, start) + host + body.slice(k + 1);
}
swap('float lg2(float x)', 'inline float lg2(float x) { return log2f(x); }');
swap('void cpAsync16(', 'inline void cpAsync16(void* dst, const void* src, bool valid) { if (valid) memcpy(dst, src, 16); else memset(dst, 0, 16); }');
swap('void cpAsyncCommit(', 'inline void cpAsyncCommit() {}');
swap('void cpAsyncWait0(', 'inline void cpAsyncWait0() {}');
if (/asm\s*(volatile)?\s*\(/.test(body)) throw new Error('scan_tiled.cu has inline PTX this emulation does not replace');

const dir = mkdtempSync(join(tmpdir(), 'cuda-emu-'));
writeFileSync(join(dir, 'kern.inc'), `#include "emu.h"\n${body}}  // namespace me\n`);
const cudaInc = process.env.CUDA_INCLUDE ?? '/usr/local/cuda/include';
execFileSync('g++', ['-std=c++20', '-O1', '-g', '-pthread', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', `-I${here}`, `-I${dir}`, `-I${cudaInc}`, '-o', join(dir, 'emu'), join(here, 'scan_tiled_main.cc')],
  { stdio: 'inherit' });
execFileSync(join(dir, 'emu'), { stdio: 'inherit' });
