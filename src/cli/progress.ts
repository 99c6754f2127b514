/**
 * Progress bars on stderr (cli-progress), only when stderr is a terminal and the work is
 * big enough to be worth one: weight files over 32 MiB (downloads over 1 MiB), prompts longer than one prefill
 * chunk, and every `eval`. Bars are cleared when done so they never mix with the generated
 * text. cli-progress is loaded on the first bar drawn, not at startup (it takes ~30 ms to
 * import, a tenth of the time-to-first-token budget).
 */
import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';
import { humanBytes } from './format.js';

type CliProgress = typeof import('cli-progress');
let cliProgress: CliProgress | undefined;
function loadCliProgress(): CliProgress {
  cliProgress ??= createRequire(import.meta.url)('cli-progress') as CliProgress;
  return cliProgress;
}

export const LOAD_BAR_MIN_BYTES = 32 * 1024 * 1024;
export const DOWNLOAD_BAR_MIN_BYTES = 1024 * 1024;
export const PREFILL_BAR_MIN_TOKENS = 256;

export class ProgressBars {
  private bar: SingleBar | undefined;
  private key: string | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly enabled: boolean = stream.isTTY === true && process.env.CI !== 'true',
  ) {}

  /** A weight file being read, or downloaded (`from: 'network'`: a bar from DOWNLOAD_BAR_MIN_BYTES on, downloads are slow). */
  load(file: string, loaded: number, total: number, from?: 'network' | 'cache'): void {
    const download = from === 'network';
    if (!this.enabled || total <= (download ? DOWNLOAD_BAR_MIN_BYTES : LOAD_BAR_MIN_BYTES)) return;
    this.show(`load:${file}`, `${download ? 'downloading' : 'loading'} ${file} {bar} {percentage}% | {done} / {all} | ETA {eta_formatted}`, loaded, total, {
      done: humanBytes(loaded), all: humanBytes(total),
    });
  }

  /** Prompt tokens processed. */
  prefill(done: number, total: number): void {
    if (!this.enabled || total < PREFILL_BAR_MIN_TOKENS) return;
    this.show('prefill', 'prefill {bar} {percentage}% | {value} / {total} tokens | ETA {eta_formatted}', done, total, {});
  }

  /** Tokens of a text scored by `eval`. */
  evaluate(done: number, total: number): void {
    if (!this.enabled) return;
    this.show('eval', 'eval {bar} {percentage}% | {value} / {total} tokens | ETA {eta_formatted}', done, total, {});
  }

  private show(key: string, format: string, value: number, total: number, payload: Record<string, string>): void {
    if (this.key !== key) {
      this.stop();
      const { SingleBar, Presets } = loadCliProgress();
      this.bar = new SingleBar({ format, stream: this.stream, clearOnComplete: true, barsize: 28, etaBuffer: 4 }, Presets.shades_classic);
      this.key = key;
      this.bar.start(total, value, payload);
    } else {
      this.bar!.update(value, payload);
    }
    if (value >= total) this.stop();
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.key = undefined;
  }
}
