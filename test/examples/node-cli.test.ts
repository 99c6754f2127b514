/**
 * examples/node-cli: the CLI in shell pipelines (pipeline.sh, run by bash against the CLI
 * from source), every printed value checked against the library in this process.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/node.js';

const root = resolve(import.meta.dirname, '../..');

describe('examples/node-cli', () => {
  it('pipeline.sh: stdin prompts, wc, per-line continuations, JSON read by node, eval from a pipe, an early-closing reader', async () => {
    const { stdout, stderr } = await promisify(execFile)('bash', [join(root, 'examples/node-cli/pipeline.sh')], {
      cwd: root,
      env: { ...process.env, MAMBA_EDGE: `${process.execPath} --import tsx ${join(root, 'src/cli/main.ts')}`, MAMBA_EDGE_DEBUG: '' },
      timeout: 120_000,
    });
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n');
    const value = (label: string) => lines.filter((l) => l.startsWith(`${label} `)).map((l) => l.slice(label.length + 1));

    const model = await loadModel();
    try {
      const greedy = async (prompt: string, maxTokens: number) => (await model.createSession().generate(prompt, { maxTokens, temperature: 0 }).finished).text;
      expect(value('chars')).toEqual([String(Buffer.byteLength(await greedy('And it came to pass', 40)) + 1)]);
      // $(...) drops trailing newlines.
      expect(value('continue')).toEqual([
        `In the beginning|${(await greedy('In the beginning', 16)).replace(/\n+$/, '')}`,
        `And God said|${(await greedy('And God said', 16)).replace(/\n+$/, '')}`,
      ]);
      expect(value('model')).toEqual([`${model.config.architecture} ${model.info.stateBytes}`]);
      const text = readFileSync(join(root, 'models/default/heldout-sample.txt')).subarray(0, 2000).toString('utf8');
      expect(value('bpb')).toEqual([(await model.evaluate(text)).bitsPerByte.toFixed(4)]);
      expect(value('head')).toEqual(['30']);
    } finally {
      await model.dispose();
    }
  }, 150_000);
});
