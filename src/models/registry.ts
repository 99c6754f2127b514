/** model_type → graph descriptor. Adding an architecture is one line here. */
import { fail } from '../errors.js';
import type { ModelGraph } from './graph.js';
import { residualStack } from './architecture.js';
import { mamba } from './mamba.js';
import { mamba2 } from './mamba2.js';
import { mamba3 } from './mamba3.js';
import { recurrentGraph } from './rnn.js';
import { s4dGraph } from './s4d.js';
import { llamaGraph } from './llama.js';
import { bambaGraph } from './bamba.js';
import { nemotronHGraph } from './nemotron-h.js';
import { jambaGraph } from './jamba.js';

const GRAPHS: Record<string, ModelGraph<any, any>> = {
  mamba: residualStack(mamba),
  mamba2: residualStack(mamba2),
  mamba3: residualStack(mamba3),
  rnn: recurrentGraph('rnn'),
  lstm: recurrentGraph('lstm'),
  gru: recurrentGraph('gru'),
  s4d: s4dGraph,
  llama: llamaGraph,
  bamba: bambaGraph,
  nemotron_h: nemotronHGraph,
  jamba: jambaGraph,
};

export const SUPPORTED_MODEL_TYPES = Object.keys(GRAPHS);

export function architectureFor(modelType: unknown, file: string): ModelGraph {
  if (typeof modelType !== 'string') {
    throw fail('E_CONFIG', `${file}: field "model_type" must be a string such as "mamba" or "mamba2"`, { file, field: 'model_type' });
  }
  const graph = GRAPHS[modelType];
  if (!graph) {
    throw fail('E_ARCH', `${file}: model_type "${modelType}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`, { file, field: 'model_type' });
  }
  return graph;
}
