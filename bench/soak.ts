/**
 * `npm run soak` (issue 12 item 3): generate 1,000,000 tokens in one session of the default model,
 * then prefill a 1,000,000-token prompt in another, sampling memory at fixed token intervals, on
 * the wasm backend or a GPU one; writes a CSV per phase and a JSON of everything, prints a summary
 * and exits 1 when memory grew after warm-up beyond the margins (see bench/soak-run.ts for what is
 * checked). Progress goes to stderr.
 *
 *   npm run soak                                           (wasm, both phases, 1M tokens each, 2 threads)
 *   npm run soak -- --phases prefill --tokens 1000000
 *   nice -n 10 npm run soak -- --phases generate --duration 900 --out /tmp/soak
 *   npm run soak -- --backend webgpu --tokens 1000000 --every 10000 --json webgpu.json
 *   npm run soak -- --backend cuda --tokens 1000000 --every 10000 --json cuda.json
 *
 * Options: --backend wasm|webgpu|cuda (wasm)  --model DIR|HUB-ID (the embedded default model)
 *   --phases generate,prefill  --tokens N (both phases)  --gen-tokens N  --prefill-tokens N
 *   --every N (sample every N tokens; default N/200, at least 256)
 *   --duration S (per phase: the call is aborted after S seconds and the summary says how far it got)
 *   --warmup F (the baseline is the first sample at or past this fraction of the tokens run; 0.05)
 *   --threads T (wasm; 2)  --seed S (12003)
 *   --rss-margin-mib M (32)  --heap-margin-mib M (8 with GC forced, else 32)
 *   --out DIR (./soak-out: soak-<phase>.csv and soak.json)  --json FILE (the JSON elsewhere too)
 * On a GPU backend the device bytes / buffers / bind groups must not grow at all after warm-up.
 * Exit status: 0 every check passed, 1 a check failed, 2 the backend or the model did not load.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { runSoak, summarize, toCsv, type SoakBackend, type SoakPhase, type SoakResult } from './soak-run.js';

const a = process.argv.slice(2);
const get = (k: string) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : undefined; };
const num = (k: string) => (get(k) === undefined ? undefined : Number(get(k)));
const tokens = num('--tokens') ?? 1_000_000;
const phases = (get('--phases') ?? 'generate,prefill').split(',') as SoakPhase[];
const out = get('--out') ?? 'soak-out';
const backend = (get('--backend') ?? 'wasm') as SoakBackend;
if (!['wasm', 'webgpu', 'cuda'].includes(backend)) throw new Error(`--backend: wasm, webgpu or cuda, not ${backend}`);
const jsonFile = get('--json');
mkdirSync(out, { recursive: true });

const MiB = 1024 * 1024;
const results: SoakResult[] = [];
const started = new Date().toISOString();
const load0 = os.loadavg();
for (const phase of phases) {
  if (phase !== 'generate' && phase !== 'prefill') throw new Error(`--phases: unknown phase ${phase}`);
  const n = (phase === 'generate' ? num('--gen-tokens') : num('--prefill-tokens')) ?? tokens;
  const r = await runSoak({
    phase, backend, modelPath: get('--model'), tokens: n, durationS: num('--duration'), threads: num('--threads') ?? 2, seed: num('--seed'),
    every: num('--every'), warmupFraction: num('--warmup'),
    rssMarginBytes: num('--rss-margin-mib') !== undefined ? num('--rss-margin-mib')! * MiB : undefined,
    heapMarginBytes: num('--heap-margin-mib') !== undefined ? num('--heap-margin-mib')! * MiB : undefined,
    log: (l) => process.stderr.write(l + '\n'),
  }).catch((e: Error & { code?: string }) => {
    // A backend that is not here (no adapter, no CUDA addon) or a model that does not load: say so plainly.
    console.error(`soak: ${e.code ? `${e.code}: ` : ''}${e.message}`);
    process.exit(2);
  });
  results.push(r);
  writeFileSync(join(out, `soak-${backend === 'wasm' ? '' : `${backend}-`}${phase}.csv`), toCsv(r.samples));
  console.log(summarize(r));
  const json = JSON.stringify({
    started, command: `npm run soak -- ${a.join(' ')}`.trim(), node: process.version,
    machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    loadAtStart: load0, loadAtEnd: os.loadavg(), results,
  }, null, 1);
  writeFileSync(join(out, 'soak.json'), json);
  if (jsonFile) writeFileSync(jsonFile, json);
}
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
