/**
 * Random-weight models of any registered architecture in Hugging Face layout, made from the
 * architecture's own tensor list (graph.tensors(config)), so Llama, Bamba, NemotronH and Jamba
 * benchmark models need no per-architecture writer. Weights are scaled like a trained model's:
 * matrices N(0, 1/fan_in), norms 1, A_log = log(1..N), D = 1, Δ bias inverse-softplus of [0.001, 0.1].
 */
import { writeSafetensors, type WriterTensor } from '../test/helpers/safetensors-writer.js';
import { seededRandom } from '../src/cli/measure.js';
import { architectureFor } from '../src/models/registry.js';
import { ConfigReader } from '../src/formats/hf-config.js';

export function randomArchitectureFiles(config: Record<string, unknown>, seed = 1): Record<string, Uint8Array> {
  const graph = architectureFor(config.model_type, 'config.json');
  const cfg = graph.parseConfig(new ConfigReader(config, 'config.json'));
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const tensors: Record<string, WriterTensor> = {};
  for (const spec of graph.tensors(cfg)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const last = spec.name.split('.').slice(-2).join('.');
    const leaf = spec.name.split('.').pop()!;
    const fanIn = spec.shape[spec.shape.length - 1];
    for (let i = 0; i < n; i++) {
      if (leaf === 'A_log') data[i] = Math.log(1 + (i % fanIn));
      else if (leaf === 'D') data[i] = 1;
      else if (leaf === 'dt_bias' || last === 'dt_proj.bias') {
        const dt = Math.exp(Math.log(0.001) + rand() * (Math.log(0.1) - Math.log(0.001)));
        data[i] = dt + Math.log(-Math.expm1(-dt));
      } else if (last === 'conv1d.weight') data[i] = gauss() / Math.sqrt(fanIn);
      else if (spec.shape.length === 1) data[i] = spec.name.includes('norm') ? 1 : 0;
      else if (spec.name.includes('embed')) data[i] = 0.2 * gauss();
      else data[i] = gauss() / Math.sqrt(fanIn);
    }
    tensors[spec.name] = { dtype: 'F32', shape: spec.shape, data };
  }
  return {
    'config.json': new TextEncoder().encode(JSON.stringify(config)),
    'model.safetensors': writeSafetensors(tensors),
  };
}
