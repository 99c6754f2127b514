import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
