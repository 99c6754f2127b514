/**
 * Helpers shared by the context-sweep benchmarks (bench/context.ts, bench/lineage.ts): the prompt
 * tokens, a quiet-machine wait, the timed greedy decode and small formatting for their charts.
 */
import * as os from 'node:os';
import type { Session } from '../src/node.js';

/** n pseudo-random token ids below 256, the same for a given offset (a deterministic "prompt"). */
export function tokens(n: number, offset: number): number[] {
  return Array.from({ length: n }, (_, i) => ((offset + i) * 2654435761 >>> 24) % 256);
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** 1024 → "1k", 512 → "512". */
export function fmtCtx(n: number): string {
  return n >= 1024 ? `${n / 1024}k` : String(n);
}

/** Escapes text for an SVG/HTML chart. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Waits (at most `seconds`) until the 1-minute load average drops below 1, so timings are not shared. */
export async function waitQuiet(seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (os.loadavg()[0] >= 1 && Date.now() < until) {
    process.stderr.write(`waiting for a quiet machine (load ${os.loadavg()[0].toFixed(2)})\r`);
    await new Promise((r) => setTimeout(r, 5000));
  }
}

/**
 * Greedy decode from `first` (the argmax of the last logits): `warmup` untimed steps, then `steps`
 * timed ones. Returns the median ms per step and the last token chosen.
 */
export async function timeDecode(s: Session, first: number, warmup: number, steps: number): Promise<{ ms: number; last: number }> {
  let last = first;
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t = performance.now();
    const next = await s.step(last);
    if (i >= warmup) times.push(performance.now() - t);
    last = next.indexOf(Math.max(...next));
  }
  return { ms: median(times), last };
}
