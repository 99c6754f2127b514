/**
 * Length-based routing between two models, as deployed systems pair an attention (or hybrid) model
 * for short prompts with a Mamba model for long ones: a request whose prompt has at most
 * `maxShortTokens` tokens goes to `short`, a longer one to `long`. Every request reports which
 * model served it. Works with any two loaded models (in-place or in a page's worker).
 */
import type {
  GenerateOptions, Generation, Model, PrefillOptions, RouteName, RoutedGeneration, Router, RouterOptions, RouterSession,
} from './types.js';
import { fail } from '../errors.js';

const isModel = (m: unknown): m is Model => typeof m === 'object' && m !== null && typeof (m as Model).createSession === 'function' && typeof (m as Model).tokenizer?.encode === 'function';

/**
 * @example
 * const router = createRouter({ short: llama, long: mamba2, maxShortTokens: 2048 });
 * const g = router.generate(prompt, { maxTokens: 64 });
 * console.log(g.servedBy, (await g.finished).text); // 'short' or 'long'
 */
export function createRouter(opts: RouterOptions): Router {
  if (opts === null || typeof opts !== 'object') throw fail('E_ARGUMENT', 'createRouter needs { short, long, maxShortTokens }', { field: 'opts' });
  const { short, long, maxShortTokens } = opts;
  if (!isModel(short)) throw fail('E_ARGUMENT', 'createRouter: "short" must be a loaded model', { field: 'short' });
  if (!isModel(long)) throw fail('E_ARGUMENT', 'createRouter: "long" must be a loaded model', { field: 'long' });
  if (!Number.isInteger(maxShortTokens) || maxShortTokens < 1) {
    throw fail('E_ARGUMENT', `createRouter: maxShortTokens must be a positive integer, got ${maxShortTokens}`, { field: 'maxShortTokens' });
  }
  const models: Record<RouteName, Model> = { short, long };
  const served = { short: 0, long: 0 };

  /** Tokens the prompt has for the model that would serve it if short (each model counts with its own tokenizer). */
  const route = (prompt: string | number[], already = 0): RouteName => {
    const n = typeof prompt === 'string' ? short.tokenizer.encode(prompt).length : prompt.length;
    return already + n <= maxShortTokens ? 'short' : 'long';
  };

  const routed = (name: RouteName, g: Generation): RoutedGeneration => {
    served[name]++;
    opts.onRoute?.({ servedBy: name, model: models[name] });
    return Object.assign(g, { servedBy: name, model: models[name] });
  };

  /** A session bound to one model at its first request (the prompt decides), kept for its later calls. */
  const createSession = (): RouterSession => {
    let bound: { name: RouteName; session: ReturnType<Model['createSession']> } | null = null;
    const bind = (prompt: string | number[]) => {
      if (!bound) {
        const name = route(prompt);
        bound = { name, session: models[name].createSession() };
      }
      return bound;
    };
    const need = () => {
      if (!bound) throw fail('E_ARGUMENT', 'this routed session has served no request yet: generate or prefill first', { field: 'session' });
      return bound;
    };
    return {
      get servedBy() { return bound?.name ?? null; },
      get position() { return bound?.session.position ?? 0; },
      generate(prompt, o) {
        const b = bind(prompt);
        return routed(b.name, b.session.generate(prompt, o));
      },
      generateStream(prompt, o) {
        const b = bind(prompt);
        served[b.name]++;
        opts.onRoute?.({ servedBy: b.name, model: models[b.name] });
        return b.session.generateStream(prompt, o);
      },
      prefill(ids: number[], o?: PrefillOptions) {
        const b = bind(ids);
        served[b.name]++;
        return b.session.prefill(ids, o);
      },
      forward(ids: number[], o?: { signal?: AbortSignal }) {
        const b = bind(ids);
        served[b.name]++;
        return b.session.forward(ids, o);
      },
      step: async (id: number) => need().session.step(id),
      saveState: async () => need().session.saveState(),
      dispose: async () => { await bound?.session.dispose(); },
    };
  };

  return {
    route: (prompt) => route(prompt),
    get served() { return { ...served }; },
    /** One request on a fresh session of the model the prompt's length picks; the session ends with it. */
    generate(prompt: string | number[], o: GenerateOptions = {}): RoutedGeneration {
      const name = route(prompt);
      const session = models[name].createSession();
      const g = session.generate(prompt, o);
      g.finished.then(() => session.dispose(), () => session.dispose()).catch(() => undefined);
      return routed(name, g);
    },
    createSession,
  };
}
