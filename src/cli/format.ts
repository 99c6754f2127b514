/** Human-readable numbers and plain-text tables for the CLI and the benchmark script. */

/** 2899968 → "2.77 MiB" (binary units, 3 significant digits). */
export function humanBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** 129135360 → "129.1M". */
export function humanCount(n: number): string {
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [scale, suffix] of units) if (Math.abs(n) >= scale) return `${(n / scale).toFixed(1)}${suffix}`;
  return String(n);
}

/** Seconds with a sensible precision: 0.0123 → "12.3 ms", 3.21 → "3.21 s". */
export function humanSeconds(s: number): string {
  if (s < 1) return `${(s * 1000).toPrecision(3)} ms`;
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

/** Tokens per second with 3 significant digits, at least one decimal below 100. */
export function rate(perSec: number): string {
  if (!Number.isFinite(perSec)) return '-';
  return perSec >= 100 ? perSec.toFixed(0) : perSec >= 10 ? perSec.toFixed(1) : perSec.toFixed(2);
}

export type Align = 'left' | 'right';

/** A plain-text table: columns padded to their widest cell, numbers right-aligned by default. */
export function table(headers: string[], rows: (string | number)[][], align?: Align[]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const alignOf = (c: number): Align => align?.[c] ?? (rows.every((r) => typeof r[c] === 'number' || /^[\d.,]+( \S+)?$/.test(String(r[c]))) && c > 0 ? 'right' : 'left');
  const line = (r: string[]) => r.map((v, c) => (alignOf(c) === 'right' ? (v ?? '').padStart(widths[c]) : (v ?? '').padEnd(widths[c]))).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** The same rows as a GitHub-flavoured Markdown table. */
export function markdownTable(headers: string[], rows: (string | number)[][], align?: Align[]): string {
  const sep = headers.map((_, c) => ((align?.[c] ?? (c === 0 ? 'left' : 'right')) === 'right' ? '---:' : '---'));
  const line = (r: (string | number)[]) => `| ${r.map((v) => String(v).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(headers), line(sep), ...rows.map(line)].join('\n');
}
