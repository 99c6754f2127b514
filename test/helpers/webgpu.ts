/**
 * The WebGPU test files' adapter policy: without an adapter a suite is skipped with a warning,
 * except under CI=true (which installs lavapipe), where a missing adapter fails the file so that
 * the GPU tests cannot silently stop running.
 */

/** `unavailable`'s reason (and a warning naming `suite`), or null when there is an adapter; throws under CI=true. */
export function adapterMissing(suite: string, created: object): string | null {
  const reason = 'unavailable' in created ? String(created.unavailable) : null;
  if (reason && process.env.CI === 'true') throw new Error(`CI=true but no WebGPU adapter: ${reason}`);
  if (reason) console.warn(`${suite} skipped: ${reason}`);
  return reason;
}
