/**
 * The cuda backend where it cannot run — every machine without an NVIDIA GPU, CI included. These run
 * everywhere: the addon missing or broken is a reason, never a crash; 'auto' passes over cuda and says
 * why; an explicit `backend: 'cuda'` is E_BACKEND with the same reason. Where the addon is built on a
 * machine without a driver (nvcc but no GPU, like the development machines), its own probe is checked.
 */
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/node.js';
import { ADDON_PATH, addonCandidates, loadAddon } from '../../src/backends/cuda/addon.js';
import { createCudaBackend } from '../../src/backends/cuda/factory.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { cudaUnavailable } from './available.js';

const mamba1 = randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 16, numLayers: 1, stateSize: 4 });
const built = addonCandidates().find((p) => existsSync(p));

describe('cuda backend where it cannot run', () => {
  it('a missing addon is a reason naming the build command, not an error', async () => {
    const missing = join(tmpdir(), 'no-such-dir', 'mamba_edge_cuda.node');
    const r = loadAddon([missing]);
    expect('unavailable' in r && r.unavailable).toMatch(/the CUDA addon is not built .*npm run build:cuda/);
    const b = await createCudaBackend({ addonPaths: [missing] });
    expect(b).toEqual({ unavailable: expect.stringMatching(/not built/) });
  });

  it('a file that is not a loadable addon is a reason, not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'me-cuda-'));
    const bogus = join(dir, 'mamba_edge_cuda.node');
    writeFileSync(bogus, 'not an ELF shared object');
    const r = loadAddon([bogus]);
    expect('unavailable' in r && r.unavailable).toMatch(new RegExp(`the CUDA addon at .*did not load`));
  });

  it('looks in the package for the build output', () => {
    expect(addonCandidates().some((p) => p.endsWith(ADDON_PATH))).toBe(true);
  });

  it.skipIf(cudaUnavailable === null)("'auto' passes over cuda and says why; explicit 'cuda' is E_BACKEND with that reason", async () => {
    const m = await loadModel(mamba1, { threads: 1 });
    expect(m.backend).not.toBe('cuda');
    expect(m.backendInfo.fallbackReason).toContain(`cuda: ${cudaUnavailable}`);
    await m.dispose();
    const err = await loadModel(mamba1, { backend: 'cuda' }).catch((e) => e);
    expect(err).toEqual(expect.objectContaining({ code: 'E_BACKEND', message: `backend "cuda" is unavailable: ${cudaUnavailable}` }));
  });

  it.skipIf(!built || cudaUnavailable === null)('a built addon on a machine without a driver or GPU says so through its own probe', () => {
    const r = loadAddon([built!]);
    if ('unavailable' in r) throw new Error(r.unavailable);
    const probe = r.addon.probe();
    expect(probe.available).toBe(false);
    expect(!probe.available && probe.reason).toMatch(/no usable CUDA driver|no CUDA device|compute capability/);
    expect(() => new r.addon.Device()).toThrow(expect.objectContaining({ code: 'E_BACKEND' }));
  });
});
