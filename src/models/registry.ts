/** model_type → architecture descriptor. Adding an architecture is one line here. */
import { fail } from '../errors.js';
import type { ArchitectureSpec, StackConfig } from './architecture.js';
import { mamba } from './mamba.js';
import { mamba2 } from './mamba2.js';

const ARCHITECTURES: Record<string, ArchitectureSpec<any, any>> = { mamba, mamba2 };

export const SUPPORTED_MODEL_TYPES = Object.keys(ARCHITECTURES);

export function architectureFor(modelType: unknown, file: string): ArchitectureSpec<StackConfig, unknown> {
  if (typeof modelType !== 'string') {
    throw fail('E_CONFIG', `${file}: field "model_type" must be a string such as "mamba" or "mamba2"`, { file, field: 'model_type' });
  }
  const arch = ARCHITECTURES[modelType];
  if (!arch) {
    throw fail('E_ARCH', `${file}: model_type "${modelType}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`, { file, field: 'model_type' });
  }
  return arch;
}
