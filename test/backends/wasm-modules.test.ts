/** loadModel's wasmModules: precompiled kernels, instantiated only (edge runtimes). */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, MambaEdgeError } from '../../src/node.js';

const root = resolve(import.meta.dirname, '../..');
const compile = (f: string) => new WebAssembly.Module(readFileSync(join(root, 'wasm/dist', f)));
const st = { as: compile('kernels-as-st.wasm'), c: compile('kernels-c-st.wasm') };
const shared = { as: compile('kernels-as.wasm'), c: compile('kernels-c.wasm') };

async function greedy(opts: Parameters<typeof loadModel>[1]) {
  const model = await loadModel(undefined, { backend: 'wasm', ...opts });
  try {
    const r = await model.createSession().generate('And it came to pass', { maxTokens: 16, temperature: 0 }).finished;
    return { text: r.text, info: model.backendInfo };
  } finally {
    await model.dispose();
  }
}

async function code(p: Promise<unknown>): Promise<{ code: string; field?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    const err = e as MambaEdgeError;
    return { code: err.code, field: err.field, message: err.message };
  }
  throw new Error('expected a rejection');
}

describe('loadModel wasmModules', { timeout: 60_000 }, () => {
  it('the single-thread build runs on one thread (and says why) with the same text as compiled-here kernels', async () => {
    const base = await greedy({ threads: 1 });
    const given = await greedy({ threads: 2, wasmModules: st });
    expect(given.text).toBe(base.text);
    expect(given.info.threads).toBe(1);
    expect(given.info.note).toMatch(/single-thread build/);
  });

  it('the threaded build runs threaded where SharedArrayBuffer exists', async () => {
    const r = await greedy({ threads: 2, wasmModules: shared });
    expect(r.info.threads).toBe(2);
    expect(r.text).toBe((await greedy({ threads: 1 })).text);
  });

  it('refuses what is not two modules, modules of two builds, and the threaded build without SharedArrayBuffer', async () => {
    expect(await code(loadModel(undefined, { wasmModules: { as: st.as } as never }))).toMatchObject({ code: 'E_ARGUMENT', field: 'wasmModules' });
    expect(await code(loadModel(undefined, { wasmModules: { as: new Uint8Array(8), c: st.c } as never }))).toMatchObject({ code: 'E_ARGUMENT' });
    const mixed = await code(loadModel(undefined, { backend: 'wasm', threads: 1, wasmModules: { as: st.as, c: shared.c } }));
    expect(mixed).toMatchObject({ code: 'E_BACKEND', field: 'wasmModules' });
    expect(mixed.message).toMatch(/same build/);
    const g = globalThis as { SharedArrayBuffer?: unknown };
    const sab = g.SharedArrayBuffer;
    delete g.SharedArrayBuffer;
    try {
      const noSab = await code(loadModel(undefined, { backend: 'wasm', wasmModules: shared }));
      expect(noSab).toMatchObject({ code: 'E_BACKEND', field: 'wasmModules' });
      expect(noSab.message).toMatch(/kernels-as-st\.wasm/);
    } finally {
      g.SharedArrayBuffer = sab;
    }
  });
});
