/**
 * $MAMBA_EDGE_DAWN_FLAGS (src/node.ts → dawn.node's create()): Dawn toggles for A/B runs of the host
 * cost per dispatch (bench/dawn-dispatch.ts). A malformed flag is a typed error naming the variable,
 * never passed on to Dawn (which ignores unknown toggles silently).
 */
import { describe, expect, it } from 'vitest';
import { dawnFlagsFromEnv } from '../../src/backends/webgpu/device.js';
import { MambaEdgeError } from '../../src/errors.js';

describe('dawnFlagsFromEnv', () => {
  it('splits space-separated dawn.node flags and takes none when unset or blank', () => {
    expect(dawnFlagsFromEnv(undefined)).toEqual([]);
    expect(dawnFlagsFromEnv('  ')).toEqual([]);
    expect(dawnFlagsFromEnv('enable-dawn-features=skip_validation,disable_robustness  disable-dawn-features=lazy_clear_resource_on_first_use'))
      .toEqual(['enable-dawn-features=skip_validation,disable_robustness', 'disable-dawn-features=lazy_clear_resource_on_first_use']);
    expect(dawnFlagsFromEnv('backend=vulkan')).toEqual(['backend=vulkan']);
  });

  it('rejects what is not a dawn.node flag, naming the variable', () => {
    for (const bad of ['skip_validation', 'enable-dawn-features=', 'enable-features=skip_validation', 'enable-dawn-features=a;rm']) {
      let err: unknown;
      try { dawnFlagsFromEnv(bad); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(MambaEdgeError);
      expect((err as MambaEdgeError).code).toBe('E_ARGUMENT');
      expect((err as MambaEdgeError).field).toBe('MAMBA_EDGE_DAWN_FLAGS');
      expect((err as Error).message).toContain(bad.split('=')[0]);
    }
  });
});
