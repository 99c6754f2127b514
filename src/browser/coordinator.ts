/**
 * The coordinator: the real runtime (loadModel, the model, its sessions), hosted in a
 * dedicated worker for a page (src/browser/coordinator-worker.ts). Browsers forbid
 * Atomics.wait on a page's main thread, and the pool's barrier waits; here it may. The page
 * talks to this object through comlink (src/browser/remote.ts); the verbs are in wire.ts.
 * One coordinator holds one model.
 */
import { loadModel } from '../api/load.js';
import type { ModelImpl } from '../api/model.js';
import type { EvaluationResult, ForwardHidden, ForwardLogits, ForwardOptions, Generation, LoadProgress, ModelSource, Session } from '../api/types.js';
import { fail } from '../errors.js';
import {
  reply, replySync, toWireError,
  type CallOptions, type CoordinatorApi, type GenerationControl, type GenerationEvent, type ModelSnapshot, type Positioned, type Reply,
  type WireGenerateOptions, type WireLoadOptions,
} from './wire.js';

export function createCoordinator(): CoordinatorApi {
  let model: ModelImpl | null = null;
  let disposed = false;
  const sessions = new Map<number, Session>();
  const controllers = new Map<number, AbortController>();

  const theModel = (): ModelImpl => {
    if (disposed) throw fail('E_ARGUMENT', 'the model has been disposed');
    if (!model) throw fail('E_ARGUMENT', 'no model is loaded in this worker');
    return model;
  };
  const theSession = (id: number): Session => {
    theModel();
    const s = sessions.get(id);
    if (!s) throw fail('E_ARGUMENT', 'the session has been disposed');
    return s;
  };

  /** Runs `fn` with the call's signal and progress port; the port gets `null` when the call is over. */
  async function withCall<T>(call: CallOptions, fn: (signal: AbortSignal | undefined, progress: ((p: unknown) => void) | undefined) => Promise<T>): Promise<T> {
    let ctrl: AbortController | undefined;
    if (call.callId !== undefined) {
      ctrl = new AbortController();
      controllers.set(call.callId, ctrl);
      if (call.aborted) ctrl.abort(new Error('aborted before the call began'));
    }
    const port = call.progress;
    try {
      return await fn(ctrl?.signal, port ? (p) => port.postMessage(p) : undefined);
    } finally {
      if (call.callId !== undefined) controllers.delete(call.callId);
      if (port) { port.postMessage(null); port.close(); }
    }
  }

  const positioned = (s: Session, value: Float32Array): Positioned<Float32Array> => ({ value, position: s.position });
  const moveValue = (p: Positioned<Float32Array>) => [p.value.buffer as ArrayBuffer];

  return {
    load(source: ModelSource | undefined, opts: WireLoadOptions, call: CallOptions): Promise<Reply<ModelSnapshot>> {
      return reply(() => withCall(call, async (signal, progress) => {
        if (model || disposed) throw fail('E_ARGUMENT', 'this worker already holds a model');
        const m = await loadModel(source, {
          ...opts,
          ...(signal ? { signal } : {}),
          ...(progress ? { onProgress: (p: LoadProgress) => progress(p) } : {}),
        });
        model = m;
        return {
          config: m.config, backend: m.backend, backendInfo: m.backendInfo, fingerprint: m.fingerprint, info: m.info,
          stateShapes: m.stateShapes(1),
        };
      }));
    },

    abort(callId: number, reason: string): void {
      controllers.get(callId)?.abort(new Error(reason));
    },

    forward(ids: number[][], output: 'logits' | 'hidden', call: CallOptions): Promise<Reply<ForwardLogits | ForwardHidden>> {
      return reply(
        // `output` goes through as given: the model rejects values other than 'logits' and 'hidden'.
        () => withCall(call, (signal) => (theModel().forward as (ids: number[][], o: ForwardOptions) => Promise<ForwardLogits | ForwardHidden>)(ids, { output, ...(signal ? { signal } : {}) })),
        (r) => ['logits' in r ? r.logits.buffer as ArrayBuffer : r.hidden.buffer as ArrayBuffer],
      );
    },

    evaluate(text: string, chunkTokens: number | undefined, call: CallOptions): Promise<Reply<EvaluationResult>> {
      return reply(() => withCall(call, (signal, progress) => theModel().evaluate(text, {
        ...(chunkTokens !== undefined ? { chunkTokens } : {}),
        ...(signal ? { signal } : {}),
        ...(progress ? { onProgress: progress } : {}),
      })));
    },

    createSession(id: number, state: Uint8Array | undefined, maxMemoryBytes?: number): Reply<null> {
      return replySync(() => {
        sessions.set(id, theModel().createSession({ ...(state === undefined ? {} : { state }), ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes }) }));
        return null;
      });
    },

    prefill(id: number, ids: number[], call: CallOptions): Promise<Reply<Positioned<Float32Array>>> {
      return reply(() => withCall(call, async (signal, progress) => {
        const s = theSession(id);
        return positioned(s, await s.prefill(ids, { ...(signal ? { signal } : {}), ...(progress ? { onProgress: progress } : {}) }));
      }), moveValue);
    },

    sessionForward(id: number, ids: number[], call: CallOptions): Promise<Reply<Positioned<Float32Array>>> {
      return reply(() => withCall(call, async (signal) => {
        const s = theSession(id);
        return positioned(s, await s.forward(ids, signal ? { signal } : {}));
      }), moveValue);
    },

    step(id: number, token: number): Promise<Reply<Positioned<Float32Array>>> {
      return reply(async () => {
        const s = theSession(id);
        return positioned(s, await s.step(token));
      }, moveValue);
    },

    saveState(id: number): Promise<Reply<Uint8Array>> {
      return reply(() => theSession(id).saveState(), (b) => [b.buffer as ArrayBuffer]);
    },

    generate(id: number, prompt: string | number[], opts: WireGenerateOptions, port: MessagePort, aborted: boolean): void {
      const send = (e: GenerationEvent) => port.postMessage(e);
      const ctrl = new AbortController();
      if (aborted) ctrl.abort(new Error('aborted before generation began'));
      port.onmessage = (e: MessageEvent<GenerationControl>) => {
        if (e.data?.t === 'abort') ctrl.abort(new Error(e.data.reason));
      };
      let session: Session | undefined;
      let gen: Generation;
      try {
        session = theSession(id);
        gen = session.generate(prompt, { ...opts, signal: ctrl.signal });
      } catch (e) {
        send({ t: 'end', error: toWireError(e), position: session?.position ?? 0 });
        port.close();
        return;
      }
      const s = session;
      void (async () => {
        try {
          for await (const token of gen) send({ t: 'token', token, position: s.position });
        } catch (e) {
          send({ t: 'error', error: toWireError(e) });
        }
        try {
          send({ t: 'end', result: await gen.finished, position: s.position });
        } catch (e) {
          send({ t: 'end', error: toWireError(e), position: s.position });
        }
        port.close();
      })();
    },

    disposeSession(id: number): Promise<Reply<null>> {
      return reply(async () => {
        const s = sessions.get(id);
        sessions.delete(id);
        await s?.dispose();
        return null;
      });
    },

    dispose(): Promise<Reply<null>> {
      return reply(async () => {
        if (disposed) return null;
        disposed = true;
        sessions.clear();
        for (const c of controllers.values()) c.abort(new Error('the model is being disposed'));
        await model?.dispose();
        model = null;
        return null;
      });
    },
  };
}
