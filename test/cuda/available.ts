/**
 * Whether this machine can run the cuda suites: the addon is built AND a usable GPU answers. Where it
 * cannot (CI, every machine without an NVIDIA GPU), the suites skip and print why.
 */
import { createCudaBackend } from '../../src/backends/cuda/factory.js';
import type { Backend } from '../../src/backends/backend.js';

const probe = await createCudaBackend();
/** null when the cuda suites can run here, else the reason they skip. */
export const cudaUnavailable: string | null = 'unavailable' in probe ? probe.unavailable : null;
if (!('unavailable' in probe)) await probe.dispose();

export function skipNote(suite: string): void {
  if (cudaUnavailable) console.log(`cuda ${suite}: skipped — ${cudaUnavailable}`);
}

export async function cudaBackend(): Promise<Backend> {
  const b = await createCudaBackend();
  if ('unavailable' in b) throw new Error(b.unavailable);
  return b;
}
