/** Without SharedArrayBuffer the same kernels run single-threaded on a plain memory, with identical results. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./no-sab-child.mts', import.meta.url));
const run = (...flags: string[]) =>
  JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', child, ...flags], { encoding: 'utf8', timeout: 60_000 }));

describe('wasm backend without SharedArrayBuffer', () => {
  it('runs single-threaded, says so, and generates the same text', () => {
    const withSab = run();
    const noSab = run('--no-sab');
    expect(withSab.info.threads).toBe(2);
    expect(noSab.info.threads).toBe(1);
    expect(noSab.info.note).toMatch(/SharedArrayBuffer/);
    expect(noSab.text).toBe(withSab.text);
    expect(noSab.text.length).toBeGreaterThan(10);
  }, 120_000);
});
