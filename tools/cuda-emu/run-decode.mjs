#!/usr/bin/env node
/**
 * decode.cu's decodeGemv (the one-row decode GEMV, with split-K) on the CPU, no GPU needed: the kernel text as
 * it is (from `namespace me {` to launchDecodeGemv), its dynamic shared row pointed at a host buffer, compiled
 * with decode_emu.h (CUDA built-ins as std::threads, barriers, and a per-warp exchange for the shuffles) and
 * decode_main.cc (launchDecodeGemv's grid and warps per column, against double-precision sums), with
 * AddressSanitizer and UBSan so a read or write outside any buffer stops it. A check of index math, tails,
 * the split-K partial sums and the epilogues, and of Mamba-2's ssdStep with its state loads held (bit-equal to
 * one at a time); and that every state-writing kernel of a step graph (the conv epilogue, ssdStep, scanDtStep with
 * its conv shift, convShift, conv1dStepBatch) reading the state from one block and writing it to another
 * (MAMBA_EDGE_CUDA_PINGPONG) gives what it gives in place, bit for bit, leaving the source untouched — not of
 * speed or of races between blocks (they run one by one).
 *
 *   node tools/cuda-emu/run-decode.mjs   (g++ ≥ 12 and the CUDA headers, /usr/local/cuda/include; ~1-2 min)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = readFileSync(resolve(here, '../../gpu/cuda/src/decode.cu'), 'utf8');
let body = src.slice(src.indexOf('namespace me {'), src.indexOf('cudaError_t launchDecodeGemv('));
const shared = 'extern __shared__ float4 xs4[];';
if (!body.includes(shared)) throw new Error(`decode.cu no longer has ${shared}`);
body = body.replace(shared, 'float4* xs4 = me_emu::dyn;');
// Mamba-2's ssdStep (with and without its state loads held: HOLD), appended after the GEMV.
const ssdFrom = src.indexOf('/** ssdStep<HOLD>'), ssdTo = src.indexOf('cudaError_t launchSsdStep(');
if (ssdFrom < 0 || ssdTo < ssdFrom) throw new Error('decode.cu no longer has ssdStep<HOLD> before launchSsdStep');
body += src.slice(ssdFrom, ssdTo).replace('extern __shared__ float bc[];', 'float* bc = reinterpret_cast<float*>(me_emu::dyn);');
// Mamba-1's scanDtStep and the convShift kernel (ping-pong: read one state block, write another), and conv1d.cu's conv1dStepBatch.
const dtFrom = src.indexOf(' * Mamba-1, one token'), dtTo = src.indexOf('cudaError_t launchConvShift(');
if (dtFrom < 0 || dtTo < dtFrom) throw new Error('decode.cu no longer has scanDtStep and convShift before launchConvShift');
body += '/**\n' + src.slice(dtFrom, dtTo);
const conv = readFileSync(resolve(here, '../../gpu/cuda/src/conv1d.cu'), 'utf8');
const cvFrom = conv.indexOf('/** Several T = 1 convs'), cvTo = conv.indexOf('cudaError_t launchConv1dStepBatch(');
if (cvFrom < 0 || cvTo < cvFrom) throw new Error('conv1d.cu no longer has conv1dStepBatch before launchConv1dStepBatch');
body += conv.slice(cvFrom, cvTo);
if (/asm\s*(volatile)?\s*\(/.test(body)) throw new Error('decode.cu has inline PTX this emulation does not replace');
const dir = mkdtempSync(join(tmpdir(), 'cuda-emu-'));
writeFileSync(join(dir, 'kern.inc'), `#include "decode_emu.h"\n${body}}  // namespace me\n`);
const cudaInc = process.env.CUDA_INCLUDE ?? '/usr/local/cuda/include';
execFileSync('g++', ['-std=c++20', '-O1', '-g', '-pthread', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', `-I${here}`, `-I${dir}`,
  `-I${resolve(here, '../../gpu/cuda/src')}`, `-I${cudaInc}`, '-o', join(dir, 'emu'), join(here, 'decode_main.cc')], { stdio: 'inherit' });
execFileSync(join(dir, 'emu'), { stdio: 'inherit' });
