/**
 * `npm run build`, run here for real (about a second): bundles, declarations, the
 * browser bundle's freedom from Node built-ins, the package.json "exports" map and the CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomModelFiles } from '../../tools/random-model.js';

const root = resolve(import.meta.dirname, '../..');
const dist = (p: string) => join(root, 'dist', p);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

function node(args: string[], opts: { cwd?: string } = {}) {
  const r = spawnSync(process.execPath, args, { cwd: opts.cwd ?? root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, MAMBA_EDGE_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Module specifiers a bundle imports (static `from`, bare `import "x"`, dynamic `import("x")`, `require("x")`). */
function importedSpecifiers(code: string): string[] {
  const specs = new Set<string>();
  for (const re of [/\bfrom\s*["']([^"']+)["']/g, /\bimport\s*["']([^"']+)["']/g, /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g]) {
    for (const m of code.matchAll(re)) specs.add(m[1]);
  }
  return [...specs];
}

describe('npm run build', { timeout: 60_000 }, () => {
  beforeAll(() => {
    const r = node(['tools/build.mjs']);
    if (r.code !== 0) throw new Error(`build failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }, 90_000);

  it('writes every bundle, source map and declaration the package points at', () => {
    for (const f of ['node/index.js', 'node/index.js.map', 'browser/index.js', 'browser/index.js.map', 'cli.js', 'cli.js.map', 'types/src/index.d.ts', 'types/src/node.d.ts', 'types/src/api/types.d.ts']) {
      expect(existsSync(dist(f)), `dist/${f}`).toBe(true);
    }
    expect(readFileSync(dist('types/src/index.d.ts'), 'utf8')).toContain('loadModel');
    expect(readFileSync(dist('types/src/node.d.ts'), 'utf8')).toContain('defaultModelDir');
  });

  it('keeps Node built-ins out of the browser bundle', () => {
    const specs = importedSpecifiers(readFileSync(dist('browser/index.js'), 'utf8'));
    expect(specs.filter((s) => s.startsWith('node:') || ['fs', 'path', 'url', 'os', 'crypto', 'worker_threads', 'child_process'].includes(s.split('/')[0]))).toEqual([]);
  });

  it('the browser bundle imports cleanly in Node and runs a model from memory', async () => {
    const lib = (await import(pathToFileURL(dist('browser/index.js')).href)) as typeof import('../../src/index.js');
    expect(typeof lib.loadModel).toBe('function');
    expect(typeof lib.MambaEdgeError).toBe('function');
    const model = await lib.loadModel(randomModelFiles({ modelType: 'mamba', vocabSize: 260, hiddenSize: 16, numLayers: 1, stateSize: 4 }), { backend: 'reference' });
    const { completionTokens } = await model.createSession().generate('hi', { maxTokens: 3, seed: 1 }).finished;
    expect(completionTokens).toBeGreaterThan(0);
    await model.dispose();
    // Paths need the Node entry; the browser bundle says so with a typed error.
    await expect(lib.loadModel('./some-dir')).rejects.toMatchObject({ code: 'E_ARGUMENT' });
  });

  it('the Node bundle exports the library plus directory loading', async () => {
    const lib = (await import(pathToFileURL(dist('node/index.js')).href)) as typeof import('../../src/node.js');
    expect(typeof lib.loadModel).toBe('function');
    expect(typeof lib.defaultModelDir).toBe('function');
    await expect(lib.loadModel(join(tmpdir(), 'mamba-edge-no-such-dir'))).rejects.toMatchObject({ code: 'E_FILE' });
  });

  it('package.json "exports" resolves to the built files for each condition', () => {
    const resolveAs = (conditions: string[]) => {
      const r = node([...conditions.map((c) => `--conditions=${c}`), '--input-type=module', '-e', "process.stdout.write(import.meta.resolve('mamba-edge'))"]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(resolveAs([])).toBe(pathToFileURL(dist('node/index.js')).href);
    expect(resolveAs(['browser'])).toBe(pathToFileURL(dist('browser/index.js')).href);
    expect(resolveAs(['worker'])).toBe(pathToFileURL(dist('browser/index.js')).href);
    const exp = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).exports['.'];
    for (const target of [exp.types.node, exp.types.default, exp.browser, exp.worker, exp.node, exp.default]) {
      expect(existsSync(join(root, target)), target).toBe(true);
    }
    expect(exp.browser).not.toMatch(/node/);
  });

  it('fails the build, naming the import chain, when the browser entry reaches a Node built-in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mamba-edge-build-'));
    try {
      writeFileSync(join(dir, 'entry.ts'), "import { helper } from './helper.js';\nexport const x = helper;\n");
      writeFileSync(join(dir, 'helper.ts'), "import { readFileSync } from 'node:fs';\nexport const helper = readFileSync;\n");
      const r = node(['tools/build.mjs', '--check-browser', join(dir, 'entry.ts')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('"node:fs" imported by');
      expect(r.stderr).toMatch(/entry\.ts -> .*helper\.ts -> node:fs/);
      expect(node(['tools/build.mjs', '--check-browser', 'src/index.ts']).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dist/cli.js is an executable that loads the library from dist/node', () => {
    const cli = readFileSync(dist('cli.js'), 'utf8');
    expect(cli.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(dist('cli.js')).mode & 0o111).not.toBe(0);
    expect(importedSpecifiers(cli)).toContain('./node/index.js');
    expect(cli).not.toContain('class MambaEdgeError'); // no second copy of the library
    const r = node([dist('cli.js'), '--version']);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('dist/cli.js generates from a model directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mamba-edge-build-model-'));
    try {
      const files = randomModelFiles({ modelType: 'mamba2', vocabSize: 260, hiddenSize: 16, numLayers: 1, stateSize: 4, headDim: 8, seed: 5 });
      for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
      const r = node([dist('cli.js'), 'generate', 'abc', '--model', dir, '--max-tokens', '5', '--seed', '1'], { cwd: tmpdir() });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
