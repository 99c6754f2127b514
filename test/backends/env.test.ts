// The backends' environment switches: a misspelt name or value is an E_ARGUMENT naming it, never ignored
// (an A/B benchmark would otherwise measure the default and label it as the variant).
import { afterEach, describe, expect, it } from 'vitest';
import { checkEnv, envSwitch, parseSwitch } from '../../src/backends/env.js';
import { CUDA_ENV } from '../../src/backends/cuda/index.js';
import { WEBGPU_ENV } from '../../src/backends/webgpu/index.js';

const set: string[] = [];
function setEnv(vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) { process.env[k] = v; set.push(k); }
}
afterEach(() => { for (const k of set.splice(0)) delete process.env[k]; });

describe('environment switches', () => {
  it('parseSwitch: on / off words, unset, and anything else as null', () => {
    for (const v of ['1', 'on', 'TRUE', ' On ']) expect(parseSwitch(v)).toBe(true);
    for (const v of ['0', 'off', 'false']) expect(parseSwitch(v)).toBe(false);
    expect(parseSwitch(undefined)).toBeUndefined();
    expect(parseSwitch('')).toBeUndefined();
    expect(parseSwitch('yes')).toBeNull();
  });

  it('envSwitch raises E_ARGUMENT with the name, the value and what it takes', () => {
    setEnv({ MAMBA_EDGE_TEST_SWITCH: 'maybe' });
    expect(() => envSwitch('MAMBA_EDGE_TEST_SWITCH')).toThrow(/MAMBA_EDGE_TEST_SWITCH="maybe": expected 1 \/ on \/ true or 0 \/ off \/ false/);
  });

  it('checkEnv accepts the cuda table\'s values and ignores other prefixes and empty values', () => {
    setEnv({
      MAMBA_EDGE_CUDA_FUSE: 'off', MAMBA_EDGE_CUDA_SPLITK: '4', MAMBA_EDGE_CUDA_SCAN: 'tiled3one', MAMBA_EDGE_CUDA_SCAN_CHUNK: '128',
      MAMBA_EDGE_CUDA_SSD: 'tiled128', MAMBA_EDGE_CUDA_ADDON: '/x/y.node', MAMBA_EDGE_CUDA_PDL: '', MAMBA_EDGE_OTHER: 'whatever',
    });
    expect(() => checkEnv('MAMBA_EDGE_CUDA_', CUDA_ENV)).not.toThrow();
  });

  it.each([
    [{ MAMBA_EDGE_CUDA_SPLTK: 'on' }, /MAMBA_EDGE_CUDA_SPLTK: not a known switch; MAMBA_EDGE_CUDA_\* takes .*MAMBA_EDGE_CUDA_SPLITK/],
    [{ MAMBA_EDGE_CUDA_FUSE: 'of' }, /MAMBA_EDGE_CUDA_FUSE="of": expected 1 \/ on/],
    [{ MAMBA_EDGE_CUDA_SPLITK: '3' }, /MAMBA_EDGE_CUDA_SPLITK="3": expected one of on \/ auto \/ off \/ 2 \/ 4 \/ 8/],
    [{ MAMBA_EDGE_CUDA_SCAN: 'Tiled3' }, /MAMBA_EDGE_CUDA_SCAN="Tiled3": expected one of/],
    [{ MAMBA_EDGE_CUDA_SCAN_CHUNK: '100' }, /MAMBA_EDGE_CUDA_SCAN_CHUNK="100": expected an integer in \[32, 4096\], a multiple of 32/],
    [{ MAMBA_EDGE_CUDA_SCAN_CHUNK: '8192' }, /MAMBA_EDGE_CUDA_SCAN_CHUNK="8192": expected an integer in \[32, 4096\]/],
    [{ MAMBA_EDGE_CUDA_SCAN_CHUNK: '64.0' }, /expected an integer/],
  ])('checkEnv rejects %o', (vars, message) => {
    setEnv(vars);
    let err: unknown;
    try { checkEnv('MAMBA_EDGE_CUDA_', CUDA_ENV); } catch (e) { err = e; }
    expect(err).toMatchObject({ code: 'E_ARGUMENT', message: expect.stringMatching(message) });
  });

  it('MAMBA_EDGE_WEBGPU_SCAN takes the scan modes there are, and names them for one there is not (the removed subgroup scans)', () => {
    for (const mode of ['chunked', 'chunked-v1', 'sequential']) {
      setEnv({ MAMBA_EDGE_WEBGPU_SCAN: mode });
      expect(() => checkEnv('MAMBA_EDGE_WEBGPU_', WEBGPU_ENV)).not.toThrow();
    }
    for (const mode of ['subgroup', 'subgroup-chain', 'Chunked']) {
      setEnv({ MAMBA_EDGE_WEBGPU_SCAN: mode });
      let err: unknown;
      try { checkEnv('MAMBA_EDGE_WEBGPU_', WEBGPU_ENV); } catch (e) { err = e; }
      expect(err).toMatchObject({
        code: 'E_ARGUMENT',
        message: `MAMBA_EDGE_WEBGPU_SCAN=${JSON.stringify(mode)}: expected one of chunked / chunked-v1 / sequential`,
      });
    }
  });
});
