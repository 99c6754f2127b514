/**
 * The WebGPU test files' adapter policy: without an adapter a suite is skipped with a warning,
 * except under CI=true (which installs lavapipe), where a missing adapter fails the file so that
 * the GPU tests cannot silently stop running.
 */
import { acquireDevice } from '../../src/backends/webgpu/device.js';

/** `unavailable`'s reason (and a warning naming `suite`), or null when there is an adapter; throws under CI=true. */
export function adapterMissing(suite: string, created: object): string | null {
  const reason = 'unavailable' in created ? String(created.unavailable) : null;
  if (reason && process.env.CI === 'true') throw new Error(`CI=true but no WebGPU adapter: ${reason}`);
  if (reason) console.warn(`${suite} skipped: ${reason}`);
  return reason;
}

/**
 * For suites that read GPU timestamps: turns Dawn's timestamp quantization off (MAMBA_EDGE_DAWN_FLAGS, read when the
 * process's first device is made: src/node.ts; a quantized short dispatch could read 0, as the benches set it), then
 * probes the adapter and gives its device back: adapterMissing's reason, and whether it offers 'timestamp-query'.
 */
export async function probeTimestampAdapter(suite: string): Promise<{ reason: string | null; timestamps: boolean }> {
  process.env.MAMBA_EDGE_DAWN_FLAGS = 'disable-dawn-features=timestamp_quantization';
  const probe = await acquireDevice({ allowFallback: true });
  const reason = adapterMissing(suite, probe);
  const timestamps = !('unavailable' in probe) && probe.adapter.features.has('timestamp-query');
  if (!('unavailable' in probe)) probe.device.destroy();
  return { reason, timestamps };
}
