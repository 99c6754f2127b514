/** Running a command from the repository root as a user would, collecting its output. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

export interface Run { code: number | null; stdout: string; stderr: string }

/** cmd args in the repo root, with MAMBA_EDGE_DEBUG cleared and `env` on top of this process's environment. */
export function runCommand(cmd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((done, reject) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, MAMBA_EDGE_DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
