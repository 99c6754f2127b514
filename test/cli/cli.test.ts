/**
 * The `mamba-edge` CLI, run from source (`node --import tsx src/cli/main.ts`) against small
 * random models written to a temp directory.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { goldenCases } from '../helpers/goldens.js';
import { goldenGguf } from '../gguf/helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/node.js';
import { randomModelFiles, type RandomModelOptions } from '../../tools/random-model.js';

const root = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function cli(args: string[], opts: { input?: string; env?: Record<string, string>; onStdout?: (chunk: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, MAMBA_EDGE_DEBUG: '', ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; opts.onStdout?.(s, child); });
    child.stdout!.on('error', () => undefined);
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

let dir: string;
const models: Record<string, string> = {};
// Untied heads: a random tied head mostly repeats the last input byte, whatever the seed.
const shapes: Record<string, RandomModelOptions> = {
  mamba: { modelType: 'mamba', vocabSize: 300, hiddenSize: 32, numLayers: 2, stateSize: 8, seed: 11, tieWordEmbeddings: false },
  mamba2: { modelType: 'mamba2', vocabSize: 300, hiddenSize: 32, numLayers: 2, stateSize: 8, headDim: 16, chunkSize: 8, seed: 12, tieWordEmbeddings: false },
};
/** Options of the eos test's generation, and the id of its third token (made the eos token of the 'eos' model). */
const EOS_RUN = { prompt: 'xyz', maxTokens: 40, seed: 2, temperature: 1, topK: 0 };

function writeModel(name: string, shape: RandomModelOptions): void {
  models[name] = join(dir, name);
  mkdirSync(models[name]);
  for (const [file, bytes] of Object.entries(randomModelFiles(shape))) writeFileSync(join(models[name], file), bytes);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mamba-edge-cli-'));
  for (const [name, shape] of Object.entries(shapes)) writeModel(name, shape);
  // Same weights as 'mamba', with eos_token_id set to the third token that model samples in EOS_RUN.
  const m = await loadModel(models.mamba, { backend: 'reference' });
  const ids: number[] = [];
  const { prompt, ...opts } = EOS_RUN;
  for await (const t of m.createSession().generate(prompt, opts)) ids.push(t.id);
  await m.dispose();
  writeModel('eos', { ...shapes.mamba, eosTokenId: ids[2] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the library itself generates for the same model and options (the CLI adds a final newline). */
async function libraryText(model: string, prompt: string, opts: Parameters<ReturnType<Awaited<ReturnType<typeof loadModel>>['createSession']>['generate']>[1]) {
  const m = await loadModel(model, { backend: 'reference' });
  try {
    return (await m.createSession().generate(prompt, opts).finished).text;
  } finally {
    await m.dispose();
  }
}

const withNewline = (s: string) => (s === '' || s.endsWith('\n') ? s : `${s}\n`);

describe.concurrent('mamba-edge CLI', { timeout: 60_000 }, () => {
  it('generate with --seed is reproducible and prints what the library generates', async () => {
    const withSeed = (seed: string) => ['generate', 'Once upon a time', '--model', models.mamba, '--max-tokens', '24', '--seed', seed, '--temperature', '1.5', '--top-k', '0'];
    const args = withSeed('42');
    const other = cli(withSeed('43'));
    const [a, b] = await Promise.all([cli(args), cli(args)]);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout.length).toBeGreaterThan(1);
    expect(b.stdout).toBe(a.stdout);
    const expected = await libraryText(models.mamba, 'Once upon a time', { maxTokens: 24, seed: 42, temperature: 1.5, topK: 0 });
    expect(a.stdout).toBe(withNewline(expected));
    expect((await other).stdout).not.toBe(a.stdout); // another seed, other text
  });

  it('generate --temperature 0 is deterministic without a seed (mamba2)', async () => {
    const args = ['generate', 'The', '-m', models.mamba2, '-n', '16', '-t', '0'];
    const [a, b] = await Promise.all([cli(args), cli(args)]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toBe(withNewline(await libraryText(models.mamba2, 'The', { maxTokens: 16, temperature: 0 })));
  });

  it('reads the prompt from stdin (one trailing newline dropped), also with "-"', async () => {
    const args = ['-m', models.mamba, '-n', '12', '-s', '3'];
    const [fromArg, fromStdin, dash] = await Promise.all([
      cli(['generate', 'Hello there', ...args]),
      cli(['generate', ...args], { input: 'Hello there\n' }),
      cli(['generate', '-', ...args], { input: 'Hello there' }),
    ]);
    expect(fromArg.code).toBe(0);
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).toBe(fromArg.stdout);
    expect(dash.stdout).toBe(fromArg.stdout);
  });

  it('--stop ends before the stop text; --verbose reports on stderr', async () => {
    const opts = { maxTokens: 30, seed: 9, temperature: 1, topK: 0 };
    const full = await libraryText(models.mamba, 'abc', opts);
    const stopText = [...full].slice(4).find((c) => /[ -~]/.test(c))!; // a printable ASCII character past the start
    expect(stopText).toBeDefined();
    const expected = await libraryText(models.mamba, 'abc', { ...opts, stop: [stopText] });
    expect(expected.length).toBeLessThan(full.length);
    const stopped = await cli(['generate', 'abc', '-m', models.mamba, '-n', '30', '-s', '9', '-t', '1', '--top-k', '0', '--stop', stopText, '--stop', 'zq-never-zq', '-v']);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toBe(withNewline(expected));
    expect(stopped.stdout).not.toContain(stopText);
    expect(stopped.stderr).toMatch(/finish: stop/);
    expect(stopped.stderr).toMatch(/tokens\/s/);
  });

  it('stops at the eos token, and --no-eos keeps going past it', async () => {
    const args = ['generate', EOS_RUN.prompt, '-m', models.eos, '-n', '40', '-s', '2', '-t', '1', '--top-k', '0', '-v'];
    const [atEos, noEos] = await Promise.all([cli(args), cli([...args, '--no-eos'])]);
    expect(atEos.code).toBe(0);
    expect(atEos.stderr).toMatch(/generated 3 .*finish: eos/);
    expect(noEos.code).toBe(0);
    expect(noEos.stderr).toMatch(/generated 40 .*finish: length/);
    const { prompt, ...opts } = EOS_RUN;
    expect(noEos.stdout).toBe(withNewline(await libraryText(models.eos, prompt, { ...opts, ignoreEos: true })));
    expect(atEos.stdout).toBe(withNewline(await libraryText(models.eos, prompt, opts)));
  });

  it('info prints the model description, and --json parses', async () => {
    const [text, json] = await Promise.all([cli(['info', '--model', models.mamba2]), cli(['info', '--model', models.mamba2, '--json'])]);
    expect(text.code).toBe(0);
    for (const field of ['architecture  mamba2', 'parameters', 'dtype', 'fallback', 'state', 'weights', 'layers', 'hidden size', 'state size', 'heads', 'vocab', 'fingerprint   mamba2-', 'tokenizer     byte']) {
      expect(text.stdout).toContain(field);
    }
    expect(text.stdout).toMatch(/^backend {7}(reference|wasm|webgpu|cuda) \(\d+ threads?/m); // whichever auto picked here
    expect(text.stdout).toMatch(/state\s+\d[\d.]* (B|KiB|MiB) \(\d+ bytes\)/);
    const info = JSON.parse(json.stdout);
    expect(['reference', 'wasm', 'webgpu', 'cuda']).toContain(info.backend);
    expect(info).toMatchObject({ architecture: 'mamba2', dtype: 'f32', numLayers: 2, hiddenSize: 32, stateSize: 8, vocabSize: 300, tokenizer: 'byte', headDim: 16 });
    expect(info.stateBytes).toBeGreaterThan(0);
    expect(info.weightBytes).toBeGreaterThan(0);
    expect(info.parameters).toBeGreaterThan(0);
    expect(info.fingerprint).toMatch(/^mamba2-[0-9a-f]+$/);
    expect(typeof info.fallbackReason).toBe('string');
  });

  it('info on a .gguf file: its tensor types, and the file\'s own dtype unless --dtype says otherwise', async () => {
    const c = goldenCases().find((x) => x.name === 'm2-g2-noconvbias')!;
    const file = join(dir, 'm.gguf');
    writeFileSync(file, goldenGguf(c.dir, 'q8_0'));
    const [text, json, f32] = await Promise.all([cli(['info', '-m', file, '--backend', 'wasm']), cli(['info', '-m', file, '--backend', 'wasm', '--json']), cli(['info', '-m', file, '--backend', 'wasm', '--json', '--dtype', 'f32'])]);
    expect(text.stdout).toMatch(/^file tensors +10 Q8_0, 25 F32$/m);
    expect(JSON.parse(json.stdout)).toMatchObject({ architecture: 'mamba2', dtype: 'q8_0', fileTensorTypes: { Q8_0: 10, F32: 25 }, nGroups: 2 });
    expect(JSON.parse(f32.stdout)).toMatchObject({ dtype: 'f32', fileTensorTypes: { Q8_0: 10, F32: 25 } });
  });

  it('info --dtype f16 halves the matrix bytes', async () => {
    const [f32, f16] = await Promise.all([cli(['info', '-m', models.mamba, '--json']), cli(['info', '-m', models.mamba, '--json', '--dtype', 'f16'])]);
    const a = JSON.parse(f32.stdout);
    const b = JSON.parse(f16.stdout);
    expect(b.dtype).toBe('f16');
    expect(b.weightBytes).toBeLessThan(a.weightBytes);
    expect(b.fingerprint).toBe(a.fingerprint);
  });

  it('bench prints prefill and decode tokens/s', async () => {
    const [text, json] = await Promise.all([
      cli(['bench', '-m', models.mamba, '--prompt-tokens', '20', '--gen-tokens', '5']),
      cli(['bench', '-m', models.mamba2, '--prompt-tokens', '20', '--gen-tokens', '5', '--json']),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/prefill\s+20\s+\S+ m?s\s+\d+(\.\d+)?/);
    expect(text.stdout).toMatch(/decode\s+5\s+\S+ m?s\s+\d+(\.\d+)?/);
    expect(text.stdout).toContain('peak RSS');
    const r = JSON.parse(json.stdout);
    expect(r).toMatchObject({ architecture: 'mamba2', promptTokens: 20, genTokens: 5 });
    expect(r.prefillTokensPerSec).toBeGreaterThan(0);
    expect(r.decodeTokensPerSec).toBeGreaterThan(0);
    expect(r.peakRssBytes).toBeGreaterThan(1e6);
  });

  it('eval prints bits per byte and perplexity equal to model.evaluate, as text and as --json', async () => {
    const text = 'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.\n';
    const file = join(dir, 'eval.txt');
    writeFileSync(file, text);
    const [plain, json] = await Promise.all([cli(['eval', '--file', file, '-m', models.mamba2]), cli(['eval', '-f', file, '-m', models.mamba2, '--json'])]);
    expect(plain.stderr).toBe('');
    expect(plain.code).toBe(0);
    for (const row of [/^model +\S+mamba2$/m, /^file +\S+eval\.txt \(\d+ bytes\)$/m, /^tokens +\d+ \(\d+ scored/m, /^bytes +\d+ scored/m, /^bits per byte +\d+\.\d{4}$/m, /^perplexity +\d+\.\d{4} \(per token\)$/m, /^time +\S+ m?s \([\d.]+ tokens\/s\); load /m]) {
      expect(plain.stdout).toMatch(row);
    }
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout);
    const m = await loadModel(models.mamba2, { backend: r.backend });
    try {
      const expected = await m.evaluate(text);
      expect(r).toMatchObject({ tokens: expected.tokens, predictedTokens: expected.predictedTokens, predictedBytes: expected.predictedBytes, fileBytes: Buffer.byteLength(text), fingerprint: m.fingerprint });
      expect(r.bitsPerByte).toBeCloseTo(expected.bitsPerByte, 10);
      expect(r.perplexity).toBeCloseTo(expected.perplexity, 8);
      expect(plain.stdout).toContain(`bits per byte  ${expected.bitsPerByte.toFixed(4)}`);
    } finally {
      await m.dispose();
    }
    expect(r.bitsPerByte).toBeGreaterThan(0);
    expect(r.evalMs).toBeGreaterThan(0);
    // stdin with "-", and the same numbers when the model runs in a worker thread
    const [stdin, worker] = await Promise.all([
      cli(['eval', '--file', '-', '-m', models.mamba2, '--json'], { input: text }),
      cli(['eval', '--file', file, '-m', models.mamba2, '--json'], { env: { MAMBA_EDGE_CLI_WORKER: '1' } }),
    ]);
    expect(JSON.parse(stdin.stdout).bitsPerByte).toBe(r.bitsPerByte);
    expect(JSON.parse(worker.stdout).bitsPerByte).toBe(r.bitsPerByte);
  });

  it('eval errors: missing or unreadable file → E_FILE exit 1; no --file or bad flags → exit 2; one-token text → E_ARGUMENT', async () => {
    const oneByte = join(dir, 'one-byte.txt');
    writeFileSync(oneByte, 'x');
    const [missing, directory, noFile, badBackend, badThreads, tooShort] = await Promise.all([
      cli(['eval', '--file', join(dir, 'no-such.txt'), '-m', models.mamba]),
      cli(['eval', '--file', dir, '-m', models.mamba]),
      cli(['eval', '-m', models.mamba]),
      cli(['eval', '--file', oneByte, '-m', models.mamba, '--backend', 'tpu']),
      cli(['eval', '--file', oneByte, '-m', models.mamba, '--threads', 'x']),
      cli(['eval', '--file', oneByte, '-m', models.mamba]),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^mamba-edge: E_FILE: \S*no-such\.txt not found\n$/);
    expect(missing.stdout).toBe('');
    expect(directory.code).toBe(1);
    expect(directory.stderr).toMatch(/^mamba-edge: E_FILE: .* is a directory/);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/required option '-f, --file <path>' not specified/);
    expect(badBackend.code).toBe(2);
    expect(badBackend.stderr).toMatch(/Allowed choices are auto, reference, wasm, webgpu, cuda/);
    expect(badThreads.code).toBe(2);
    expect(badThreads.stderr).toMatch(/--threads must be a positive integer/);
    expect(tooShort.code).toBe(1);
    expect(tooShort.stderr).toMatch(/^mamba-edge: E_ARGUMENT: evaluate: the text must hold at least two tokens/);
  });

  it('a model run in a worker thread (MAMBA_EDGE_CLI_WORKER=1) prints the same text as one run on the main thread', async () => {
    const args = ['generate', 'Once upon a time', '-m', models.mamba2, '-n', '20', '-s', '5'];
    const [inline, worker] = await Promise.all([cli(args, { env: { MAMBA_EDGE_CLI_WORKER: '0' } }), cli(args, { env: { MAMBA_EDGE_CLI_WORKER: '1' } })]);
    expect(inline.code).toBe(0);
    expect(worker.code).toBe(0);
    expect(worker.stdout).toBe(inline.stdout);
    expect(inline.stdout).toBe(withNewline(await libraryText(models.mamba2, 'Once upon a time', { maxTokens: 20, seed: 5 })));
  });

  const usageErrors: [string[], RegExp][] = [
    [['--max-tokens', 'abc'], /^error: --max-tokens must be a positive integer \(got "abc"\)/],
    [['--max-tokens', '0'], /--max-tokens must be a positive integer/],
    [['--max-tokens', '1.5'], /--max-tokens must be a positive integer/],
    [['--temperature', '-1'], /--temperature must be a number ≥ 0/],
    [['--temperature', 'hot'], /--temperature must be a number ≥ 0/],
    [['--top-k', '-3'], /--top-k must be an integer ≥ 0/],
    [['--top-p', '0'], /--top-p must be a number in \(0, 1\]/],
    [['--top-p', '1.01'], /--top-p must be a number in \(0, 1\]/],
    [['--seed', 'x'], /--seed must be a non-negative integer/],
    [['--stop', ''], /--stop must not be empty/],
    [['--threads', '0'], /--threads must be a positive integer/],
    [['--backend', 'tpu'], /Allowed choices are auto, reference, wasm, webgpu, cuda/],
    [['--dtype', 'f64'], /Allowed choices are f32, f16/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
  ];
  for (const [flags, message] of usageErrors) {
    it(`generate ${flags.join(' ')} → exit 2`, async () => {
      const r = await cli(['generate', 'hi', '-m', models.mamba, ...flags]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    });
  }

  it('usage errors: empty prompt, no prompt on a closed stdin, bench flags, unknown command', async () => {
    const [empty, noStdin, bench, unknown, none] = await Promise.all([
      cli(['generate', '', '-m', models.mamba]),
      cli(['generate', '-m', models.mamba]),
      cli(['bench', '-m', models.mamba, '--gen-tokens', '-1']),
      cli(['frobnicate']),
      cli([]),
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/prompt is empty/);
    expect(noStdin.code).toBe(2);
    expect(noStdin.stderr).toMatch(/prompt is empty/);
    expect(bench.code).toBe(2);
    expect(bench.stderr).toMatch(/--gen-tokens/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: mamba-edge/);
  });

  it('runtime errors exit 1 as "mamba-edge: CODE: message" without a stack (unless MAMBA_EDGE_DEBUG=1)', async () => {
    const missing = join(dir, 'no-such-model');
    const [plain, debug, backend, noDefault] = await Promise.all([
      cli(['generate', 'hi', '--model', missing]),
      cli(['info', '--model', missing], { env: { MAMBA_EDGE_DEBUG: '1' } }),
      cli(['info', '--model', models.mamba, '--backend', 'cuda']), // no CUDA on the machines these tests run on
      cli(['info']),
    ]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^mamba-edge: E_FILE: .*no-such-model.*config\.json not found/);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    expect(plain.stdout).toBe('');
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^mamba-edge: E_FILE: /);
    expect(debug.stderr).toMatch(/\n\s+at /);
    expect(backend.code).toBe(1);
    expect(backend.stderr).toMatch(/^mamba-edge: E_BACKEND: backend "cuda" is unavailable/);
    if (existsSync(join(root, 'models/default/config.json'))) {
      expect(noDefault.code, noDefault.stderr).toBe(0); // the embedded default model
      expect(noDefault.stdout).toContain('architecture');
    } else {
      // No embedded default model in this checkout yet: a clear error that says what to do.
      expect(noDefault.code).toBe(1);
      expect(noDefault.stderr).toMatch(/^mamba-edge: E_FILE: .*pass --model DIR/);
    }
  });

  it('--help works on the program and every command; --version prints the package version', async () => {
    const runs = await Promise.all([[], ['generate'], ['info'], ['bench'], ['eval']].map((c) => cli([...c, '--help'])));
    for (const r of runs) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: mamba-edge/);
    }
    expect(runs[0].stdout).toMatch(/generate .*\n[\s\S]*info[\s\S]*bench[\s\S]*eval/);
    expect(runs[1].stdout).toContain('--max-tokens');
    expect(runs[1].stdout).toContain('--no-eos');
    expect(runs[3].stdout).toContain('--prompt-tokens');
    expect(runs[4].stdout).toContain('--file <path>');
    expect(runs[4].stdout).toContain('bits per byte');
    const helpCmd = await cli(['help', 'info']);
    expect(helpCmd.stdout).toContain('--json');
    const v = await cli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(pkg.version);
  });

  for (const [mode, env] of [['main thread', { MAMBA_EDGE_CLI_WORKER: '0' }], ['worker thread', { MAMBA_EDGE_CLI_WORKER: '1' }]] as const) {
    it(`SIGINT stops a generation (${mode}): text so far kept, newline, exit 130`, async () => {
      let sent = false;
      const r = await cli(['generate', 'hi', '-m', models.mamba, '-n', '10000000', '--no-eos'], {
        env,
        onStdout: (_s, child) => {
          if (!sent) { sent = true; setTimeout(() => child.kill('SIGINT'), 200); }
        },
      });
      expect(r.code).toBe(130);
      expect(r.stdout.length).toBeGreaterThan(0);
      expect(r.stdout.endsWith('\n')).toBe(true);
    });

    it(`exits quietly when stdout is closed early (${mode}; EPIPE, as with \`| head\`)`, async () => {
      const r = await cli(['generate', 'hi', '-m', models.mamba, '-n', '10000000', '--no-eos'], {
        env,
        onStdout: (_s, child) => child.stdout!.destroy(),
      });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
    });
  }
});
