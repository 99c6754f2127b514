import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatEval, runsInline } from '../../src/cli/host.js';
import { INLINE_MAX_WEIGHT_BYTES, type Job } from '../../src/cli/protocol.js';
import { UsageError, collect, list, nonNegativeInt, nonNegativeNumber, positiveInt, probability } from '../../src/cli/args.js';
import { humanBytes, humanCount, markdownTable, table } from '../../src/cli/format.js';
import { LOAD_BAR_MIN_BYTES, ProgressBars } from '../../src/cli/progress.js';

describe('flag parsers', () => {
  it('accept good values and refuse bad ones with the flag name', () => {
    expect(positiveInt('--n')('12')).toBe(12);
    for (const bad of ['0', '-1', '1.5', 'abc', '', '1e3', '9007199254740993']) expect(() => positiveInt('--n')(bad)).toThrow(UsageError);
    expect(() => positiveInt('--max-tokens')('abc')).toThrow('--max-tokens must be a positive integer (got "abc")');
    expect(nonNegativeInt('--seed')('0')).toBe(0);
    expect(() => nonNegativeInt('--seed')('-2')).toThrow('--seed must be a non-negative integer');
    expect(nonNegativeNumber('--t')('0.7')).toBe(0.7);
    expect(nonNegativeNumber('--t')('.5')).toBe(0.5);
    for (const bad of ['-0.1', 'NaN', 'Infinity', '0x10', '']) expect(() => nonNegativeNumber('--t')(bad)).toThrow(UsageError);
    expect(probability('--p')('1')).toBe(1);
    for (const bad of ['0', '1.1', '-0.5']) expect(() => probability('--p')(bad)).toThrow(UsageError);
    expect(collect('--stop')('b', collect('--stop')('a', undefined))).toEqual(['a', 'b']);
    expect(() => collect('--stop')('', undefined)).toThrow('--stop must not be empty');
    expect(list('--backends', ['reference', 'wasm'] as const)('reference, wasm')).toEqual(['reference', 'wasm']);
    expect(() => list('--backends', ['reference'] as const)('gpu')).toThrow('"gpu" is not one of reference');
  });
});

describe('formatting', () => {
  it('human units', () => {
    expect(humanBytes(512)).toBe('512 B');
    expect(humanBytes(2_899_968)).toBe('2.77 MiB');
    expect(humanBytes(518 * 1024 * 1024)).toBe('518 MiB');
    expect(humanCount(129_135_360)).toBe('129.1M');
    expect(humanCount(999)).toBe('999');
  });
  it('tables', () => {
    expect(table(['a', 'bb'], [['x', 1], ['yyy', 22]])).toBe('a    bb\n---  --\nx     1\nyyy  22');
    expect(markdownTable(['a', 'b'], [['x', 1]])).toBe('| a | b |\n| --- | ---: |\n| x | 1 |');
  });
});

describe('progress bars', () => {
  function fakeTerminal() {
    let written = '';
    const stream = new Writable({ write(chunk, _enc, cb) { written += String(chunk); cb(); } }) as unknown as NodeJS.WriteStream;
    Object.assign(stream, { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    return { stream, output: () => written };
  }

  it('draw for large files and long prompts on a terminal, stay silent otherwise', () => {
    const big = fakeTerminal();
    const bars = new ProgressBars(big.stream, true);
    bars.load('model.safetensors', 0, LOAD_BAR_MIN_BYTES * 2);
    bars.load('model.safetensors', LOAD_BAR_MIN_BYTES, LOAD_BAR_MIN_BYTES * 2);
    bars.load('model.safetensors', LOAD_BAR_MIN_BYTES * 2, LOAD_BAR_MIN_BYTES * 2);
    expect(big.output()).toContain('loading model.safetensors');
    bars.prefill(0, 1000);
    bars.prefill(1000, 1000);
    expect(big.output()).toContain('prefill');

    const small = fakeTerminal();
    const quiet = new ProgressBars(small.stream, true);
    quiet.load('config.json', 100, 100);
    quiet.load('model.safetensors', 1024, LOAD_BAR_MIN_BYTES);
    quiet.prefill(10, 10);
    expect(small.output()).toBe('');

    const notTty = fakeTerminal();
    new ProgressBars(notTty.stream, false).load('model.safetensors', 0, LOAD_BAR_MIN_BYTES * 4);
    expect(notTty.output()).toBe('');
  });
});

describe('where a job runs', () => {
  const job = (model?: string): Job => ({ command: 'info', load: { ...(model !== undefined ? { model } : {}), backend: 'auto', dtype: 'f32' } });

  it('small models and the default model on the main thread, large ones in a worker, MAMBA_EDGE_CLI_WORKER overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mamba-edge-inline-'));
    try {
      const small = join(dir, 'small');
      const large = join(dir, 'large');
      for (const d of [small, large]) {
        mkdirSync(d);
        writeFileSync(join(d, 'config.json'), '{}');
        writeFileSync(join(d, 'model.safetensors'), '');
      }
      truncateSync(join(small, 'model.safetensors'), 1024 * 1024);
      truncateSync(join(large, 'model.safetensors'), INLINE_MAX_WEIGHT_BYTES + 1); // sparse: no disk used
      expect(runsInline(job(), {})).toBe(true);
      expect(runsInline(job(small), {})).toBe(true);
      expect(runsInline(job(large), {})).toBe(false);
      expect(runsInline(job(join(dir, 'missing')), {})).toBe(true); // loading reports the error at once
      expect(runsInline(job(small), { MAMBA_EDGE_CLI_WORKER: '1' })).toBe(false);
      expect(runsInline(job(), { MAMBA_EDGE_CLI_WORKER: '1' })).toBe(false);
      expect(runsInline(job(large), { MAMBA_EDGE_CLI_WORKER: '0' })).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formats an eval report', () => {
    const text = formatEval({
      source: 'models/default', file: 'a.txt', fileBytes: 100, backend: 'wasm', threads: 1, dtype: 'f32', fingerprint: 'mamba2-0',
      tokens: 100, predictedTokens: 99, predictedBytes: 99, nats: 100, bitsPerByte: 1.45734, perplexity: 2.7456, loadMs: 90, evalMs: 1500, tokensPerSec: 66.7,
    });
    expect(text).toContain('bits per byte  1.4573\n');
    expect(text).toContain('perplexity     2.7456 (per token)');
    expect(text).toContain('time           1.50 s (66.7 tokens/s); load 90.0 ms');
  });
});
