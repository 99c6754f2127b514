/**
 * A model whose sessions record the generations they start, so a test can see how a
 * generation the handler ran really ended (the model and sessions are the real ones).
 */
import type { Generation, Model, Session } from '../../src/node.js';

export function watched(m: Model, generations: Generation[]): Model {
  return Object.assign(Object.create(m) as Model, {
    createSession(opts?: { state?: Uint8Array }): Session {
      const s = m.createSession(opts);
      const generate = s.generate.bind(s);
      return Object.assign(Object.create(s) as Session, {
        generate: (...args: Parameters<Session['generate']>) => {
          const g = generate(...args);
          generations.push(g);
          return g;
        },
        prefill: s.prefill.bind(s), saveState: s.saveState.bind(s), dispose: s.dispose.bind(s),
      });
    },
  });
}
