/**
 * The `mamba-edge` command line: flags and help (commander), then one job per command,
 * run by host.ts (on the main thread for small models, in a worker thread for large ones).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UsageError, collect, nonNegativeInt, nonNegativeNumber, positiveInt, probability } from './args.js';
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, execute, printError, type HostIO } from './host.js';
import type { LoadSpec } from './protocol.js';
import type { BackendChoice, LoadDType } from '../api/types.js';

export const BACKENDS: readonly BackendChoice[] = ['auto', 'reference', 'wasm', 'webgpu', 'cuda'];
export const DTYPES: readonly LoadDType[] = ['f32', 'f16', 'q8_0'];

/** The version in mamba-edge's package.json (found from this file in src/cli/ or dist/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mamba-edge' && pkg.version) return pkg.version;
    } catch {
      // not here; go up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

interface ModelFlags {
  model?: string;
  revision?: string;
  endpoint?: string;
  cacheDir?: string;
  cache?: boolean;
  backend: BackendChoice;
  dtype?: LoadDType;
  threads?: number;
}

type Commander = typeof import('commander');

function modelOptions(cmd: Command, { Option }: Commander): Command {
  return cmd
    .addOption(new Option('-m, --model <dir|file.gguf|url|hf:owner/name>', 'model: a directory in Hugging Face layout (config.json + model.safetensors, optional tokenizer.json), a llama.cpp .gguf file (mamba / mamba2), an http(s) URL of such a folder, or a Hub repo hf:owner/name[@revision] (downloaded once, then cached); default: the embedded default model'))
    .addOption(new Option('--revision <rev>', 'hf: models: branch, tag or commit (default main)'))
    .addOption(new Option('--endpoint <url>', 'hf: models: the Hub to download from').env('HF_ENDPOINT'))
    .addOption(new Option('--cache-dir <dir>', 'where downloaded models are kept (default $MAMBA_EDGE_CACHE or ~/.cache/mamba-edge)'))
    .addOption(new Option('--no-cache', 'download without keeping (or reading) a cached copy'))
    .addOption(new Option('-b, --backend <name>', 'compute backend; auto picks the fastest one available here and says why').choices(BACKENDS).default('auto'))
    .addOption(new Option('--dtype <dtype>', 'weight storage precision after loading (compute is always f32); default: f32, for a .gguf file its own type (q8_0 and q4_0 files: q8_0)').choices(DTYPES))
    .addOption(new Option('--threads <n>', 'worker threads for CPU backends (the reference backend uses one)').argParser(positiveInt('--threads')));
}

function loadSpec(o: ModelFlags): LoadSpec {
  return {
    ...(o.model !== undefined ? { model: o.model } : {}), backend: o.backend, ...(o.dtype !== undefined ? { dtype: o.dtype } : {}), ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.revision !== undefined ? { revision: o.revision } : {}),
    ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
    ...(o.cache === false ? { cache: false as const } : o.cacheDir !== undefined ? { cache: o.cacheDir } : {}),
  };
}

async function readStdin(stream: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The prompt argument, or stdin when it is absent (or "-") and stdin is not a terminal. One trailing newline from stdin is dropped. */
async function resolvePrompt(arg: string | undefined, stdin: NodeJS.ReadStream): Promise<string> {
  let prompt = arg;
  if (prompt === undefined || prompt === '-') {
    if (stdin.isTTY) throw new UsageError('no prompt: pass it as an argument (mamba-edge generate "Once upon a time") or pipe it on stdin');
    prompt = (await readStdin(stdin)).replace(/\r?\n$/, '');
    if (prompt === '') throw new UsageError('the prompt is empty: nothing was given on stdin');
  }
  if (prompt === '') throw new UsageError('the prompt is empty: give some text to continue');
  return prompt;
}

export interface CliContext extends HostIO {
  stdin: NodeJS.ReadStream;
}

/** The text of `--file` for eval: a path, or "-" for stdin. Unreadable → E_FILE (exit 1). */
async function readEvalFile(file: string, stdin: NodeJS.ReadStream): Promise<{ text: string; bytes: number } | { error: string }> {
  let bytes: Buffer;
  if (file === '-') {
    if (stdin.isTTY) return { error: 'no text on stdin: pipe the text in (mamba-edge eval --file - < text.txt) or pass --file PATH' };
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    bytes = Buffer.concat(chunks);
  } else {
    try {
      bytes = readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a directory, expected a text file' : `could not be read: ${(e as Error).message}`;
      return { error: `${file} ${why}` };
    }
  }
  return { text: bytes.toString('utf8'), bytes: bytes.length };
}

/** Builds the program; commander is imported here, on first use, so a worker thread never loads it. */
export async function buildProgram(ctx: CliContext, setExit: (code: number) => void): Promise<Command> {
  const commander = await import('commander');
  const { Command, Option } = commander;
  const program = new Command('mamba-edge');
  program
    .description('Run Mamba-1 / Mamba-2 state-space language models: constant memory per token, a few-megabyte resumable state.')
    .version(packageVersion(), '-V, --version', 'print the mamba-edge version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText('after', [
      '',
      'Examples:',
      '  mamba-edge generate "Once upon a time" --max-tokens 200 --seed 1     (the embedded default model)',
      '  mamba-edge generate "Once upon a time" --model ./mamba-130m-hf --max-tokens 64 --seed 1',
      '  echo "The capital of France is" | mamba-edge generate -m ./mamba-130m-hf -t 0',
      '  mamba-edge info -m ./mamba-130m-hf --json',
      '  mamba-edge eval --file heldout.txt --json',
      '  mamba-edge bench -m ./mamba-130m-hf --prompt-tokens 128 --gen-tokens 32',
      '',
      'Exit status: 0 ok, 1 runtime error (printed as "mamba-edge: E_CODE: message"), 2 usage error, 130 interrupted.',
      'Set MAMBA_EDGE_DEBUG=1 for stack traces.',
    ].join('\n'));

  modelOptions(
    program
      .command('generate')
      .description('continue a prompt, streaming the text to stdout as it is produced')
      .argument('[prompt]', 'text to continue; read from stdin when omitted or "-" (one trailing newline is dropped)'),
    commander,
  )
    .addOption(new Option('-n, --max-tokens <n>', 'most tokens to generate').argParser(positiveInt('--max-tokens')).default(256))
    .addOption(new Option('-t, --temperature <t>', 'sampling temperature; 0 = greedy (always the most likely token)').argParser(nonNegativeNumber('--temperature')).default(0.8))
    .addOption(new Option('--top-k <k>', 'sample among the k most likely tokens; 0 = no limit').argParser(nonNegativeInt('--top-k', 'an integer ≥ 0')).default(40))
    .addOption(new Option('--top-p <p>', 'sample among the most likely tokens whose probabilities add up to p; 1 = no limit').argParser(probability('--top-p')).default(0.95))
    .addOption(new Option('-s, --seed <n>', 'seed of the sampler: the same seed and flags give the same text (default: random)').argParser(nonNegativeInt('--seed')))
    .addOption(new Option('--stop <text>', 'end before this text (not printed); repeatable').argParser(collect('--stop')))
    .option('--no-eos', "keep generating past the model's end-of-sequence token")
    .option('-v, --verbose', 'print token counts, speed and finish reason on stderr at the end')
    .addHelpText('after', '\nPress Ctrl-C to stop: the text so far is kept, and the exit status is 130.')
    .action(async (promptArg: string | undefined, o: ModelFlags & {
      maxTokens: number; temperature: number; topK: number; topP: number; seed?: number; stop?: string[]; eos: boolean; verbose?: boolean;
    }) => {
      const prompt = await resolvePrompt(promptArg, ctx.stdin);
      setExit(await execute({
        command: 'generate',
        load: loadSpec(o),
        prompt,
        maxTokens: o.maxTokens,
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        stop: o.stop ?? [],
        ignoreEos: !o.eos,
      }, ctx, { verbose: o.verbose === true }));
    });

  modelOptions(
    program
      .command('info')
      .description('load a model and describe it: architecture, sizes, state bytes, backend, fingerprint, tokenizer'),
    commander,
  )
    .option('--json', 'print the description as JSON')
    .addOption(new Option('--context <tokens>', 'show each layer\'s state bytes at this context length (KV caches grow, SSM state does not)').argParser(nonNegativeInt('--context')).default(4096))
    .action(async (o: ModelFlags & { json?: boolean; context: number }) => {
      setExit(await execute({ command: 'info', load: loadSpec(o), context: o.context }, ctx, { json: o.json === true }));
    });

  modelOptions(
    program
      .command('bench')
      .description('measure prefill and decode speed (tokens/s) on random prompt tokens with greedy decoding'),
    commander,
  )
    .addOption(new Option('--prompt-tokens <n>', 'prompt length for the prefill measurement').argParser(positiveInt('--prompt-tokens')).default(64))
    .addOption(new Option('--gen-tokens <n>', 'tokens to decode one at a time').argParser(positiveInt('--gen-tokens')).default(16))
    .addOption(new Option('-s, --seed <n>', 'seed of the random prompt tokens').argParser(nonNegativeInt('--seed')).default(1))
    .option('--json', 'print the measurements as JSON')
    .action(async (o: ModelFlags & { promptTokens: number; genTokens: number; seed: number; json?: boolean }) => {
      setExit(await execute({ command: 'bench', load: loadSpec(o), promptTokens: o.promptTokens, genTokens: o.genTokens, seed: o.seed }, ctx, { json: o.json === true }));
    });

  modelOptions(
    program
      .command('eval')
      .description('score a text: bits per byte and perplexity of the model on it (the first token only gives context)'),
    commander,
  )
    .addOption(new Option('-f, --file <path>', 'the text to score (UTF-8); "-" reads stdin').makeOptionMandatory())
    .option('--json', 'print the measurements as JSON')
    .addHelpText('after', '\nbits per byte = total -log2 p(token | text before it) / UTF-8 bytes of the scored tokens (uniform bytes: 8).')
    .action(async (o: ModelFlags & { file: string; json?: boolean }) => {
      const read = await readEvalFile(o.file, ctx.stdin);
      if ('error' in read) {
        setExit(printError(ctx, { kind: 'library', code: 'E_FILE', message: read.error }));
        return;
      }
      setExit(await execute({ command: 'eval', load: loadSpec(o), file: o.file, fileBytes: read.bytes, text: read.text }, ctx, { json: o.json === true }));
    });

  return program;
}

/** Parses argv (node + script + args), runs the command, returns the exit status. */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  let code = EXIT_OK;
  const { CommanderError } = await import('commander');
  const program = await buildProgram(ctx, (c) => { code = c; });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE; // commander printed the message
    if (e instanceof UsageError) return printError(ctx, { kind: 'usage', message: e.message });
    const err = e instanceof Error ? e : new Error(String(e));
    printError(ctx, { kind: 'other', message: err.message, stack: err.stack });
    return EXIT_ERROR;
  }
}
