/**
 * createHandler(model): an OpenAI-compatible HTTP API as one web-standard function,
 * `(request: Request) => Promise<Response>`, for edge functions, Deno, Bun, service workers
 * and Node (behind any fetch adapter). Routes, fields and limits: docs/http.md.
 *
 *   POST /v1/completions        prompt → text      (stream: true → server-sent events)
 *   POST /v1/chat/completions   messages → message (chat template, or the plain format)
 *   GET  /v1/models             the one model served
 *
 * Session state: a request may carry `state` (base64 of a `session.saveState()` blob, as a
 * previous response returned it) and then holds only the NEW text (prompt) or the NEW
 * messages; the response carries the next `state` (also when `return_state: true`). Any
 * stateless instance serving the same model continues the conversation exactly.
 *
 * Each request gets its own session (disposed when it ends); requests run concurrently.
 * A client that disconnects (request.signal, or the response stream cancelled) stops its
 * generation within one token.
 */
import type { ChatMessage, FinishReason, Generation, GenerateOptions, Handler, HandlerOptions, Model } from '../api/types.js';
import { anySignal } from '../api/async-queue.js';
import { chatFormatFor, parseMessages, type ChatFormat } from './chat.js';
import {
  HttpError, SSE_HEADERS, errorBody, fromBase64, json, parseJsonObject, readBody, sseEvent, toBase64, toHttpError,
} from './http.js';

const DEFAULT_PROMPT_ALLOWANCE = 1 << 20;
/** Header of a state blob (magic, version, JSON header with shapes and up to 64 pending ids, padding, CRC): generous. */
const STATE_HEADER_ALLOWANCE = 8192;

/** Bytes of one saved state of `model` in base64: its tensors, the last logits, and the header. */
export function stateBase64Bytes(model: Model): number {
  const blob = model.info.stateBytes + 4 * model.config.vocabSize + STATE_HEADER_ALLOWANCE;
  return 4 * Math.ceil(blob / 3);
}

interface Sampling {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop: string[];
}

interface Common extends Sampling {
  stream: boolean;
  state?: Uint8Array;
  returnState: boolean;
}

type Kind = 'completion' | 'chat';

function param(name: string, message: string): HttpError {
  return new HttpError(400, `${name} ${message}`, 'invalid_parameter', name);
}

function optionalNumber(body: Record<string, unknown>, name: string, check: (v: number) => boolean, expected: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) throw param(name, `must be ${expected}, got ${JSON.stringify(v)}`);
  return v;
}

function parseCommon(body: Record<string, unknown>, opts: Required<Pick<HandlerOptions, 'defaultMaxTokens' | 'maxTokensLimit'>>): Common {
  const limit = opts.maxTokensLimit;
  const maxTokens = optionalNumber(body, 'max_tokens', (v) => Number.isInteger(v) && v >= 1 && v <= limit, `an integer in [1, ${limit}]`)
    ?? optionalNumber(body, 'max_completion_tokens', (v) => Number.isInteger(v) && v >= 1 && v <= limit, `an integer in [1, ${limit}]`)
    ?? opts.defaultMaxTokens;
  const temperature = optionalNumber(body, 'temperature', (v) => v >= 0, 'a number ≥ 0 (0 = greedy)');
  const topP = optionalNumber(body, 'top_p', (v) => v > 0 && v <= 1, 'in (0, 1]');
  const topK = optionalNumber(body, 'top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0 (0 = no limit)');
  const seed = optionalNumber(body, 'seed', (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, 'an integer in [0, 2^32)');
  const n = optionalNumber(body, 'n', () => true, '1');
  if (n !== undefined && n !== 1) throw param('n', `must be 1: one completion per request, got ${n}`);
  if (body.echo === true) throw param('echo', 'is not supported');
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false) throw param('logprobs', 'is not supported');
  if (body.best_of !== undefined && body.best_of !== null && body.best_of !== 1) throw param('best_of', 'must be 1');

  let stop: string[] = [];
  const s = body.stop;
  if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s) && s.every((x) => typeof x === 'string')) stop = s as string[];
  else if (s !== undefined && s !== null) throw param('stop', 'must be a string or an array of strings');
  if (stop.some((x) => x === '')) throw param('stop', 'must not contain an empty string');

  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw param('stream', 'must be a boolean');
  if (body.return_state !== undefined && typeof body.return_state !== 'boolean') throw param('return_state', 'must be a boolean');
  let state: Uint8Array | undefined;
  if (body.state !== undefined && body.state !== null) {
    if (typeof body.state !== 'string') throw param('state', 'must be a base64 string (the state field of an earlier response)');
    state = fromBase64(body.state, 'state');
  }
  return {
    maxTokens, temperature, topP, topK, seed, stop,
    stream: body.stream === true,
    state,
    returnState: body.return_state === true || (state !== undefined && body.return_state !== false),
  };
}

function completionPrompt(body: Record<string, unknown>, model: Model, continuing: boolean): string | number[] {
  let p = body.prompt;
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') p = p[0];
  if (p === undefined || p === null) p = '';
  if (typeof p === 'string') {
    if (p === '' && !continuing) throw param('prompt', 'is empty: give some text to continue (an empty prompt is only for continuing from a state)');
    return p;
  }
  if (Array.isArray(p) && p.every((x) => typeof x === 'number')) {
    if (p.length === 0 && !continuing) throw param('prompt', 'is empty');
    const V = model.config.vocabSize;
    const bad = (p as number[]).find((id) => !Number.isInteger(id) || id < 0 || id >= V);
    if (bad !== undefined) throw param('prompt', `holds token id ${bad}, outside the vocabulary [0, ${V})`);
    return p as number[];
  }
  if (Array.isArray(p)) throw param('prompt', 'must be one string or one array of token ids: batches are not supported, send one prompt per request');
  throw param('prompt', 'must be a string or an array of token ids');
}

const FINISH: Record<Exclude<FinishReason, 'abort'>, 'stop' | 'length'> = { eos: 'stop', stop: 'stop', length: 'length' };

/**
 * Create the handler for `model`.
 * @example
 * import { loadModel, createHandler } from 'mamba-edge';
 * const handler = createHandler(await loadModel());
 * Deno.serve(handler);                                    // or: export default { fetch: handler }
 * // curl -d '{"prompt":"Once upon a time","max_tokens":32}' localhost:8000/v1/completions
 */
export function createHandler(model: Model, options: HandlerOptions = {}): Handler {
  const modelId = options.modelId ?? `mamba-edge-${model.config.architecture}`;
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const limits = {
    defaultMaxTokens: options.defaultMaxTokens ?? 256,
    maxTokensLimit: options.maxTokensLimit ?? 4096,
  };
  const maxBodyBytes = stateBase64Bytes(model) + (options.promptAllowanceBytes ?? DEFAULT_PROMPT_ALLOWANCE);
  const chat: ChatFormat = chatFormatFor(model.tokenizer, options.chatTemplate);
  const cors: Record<string, string> = options.cors ? { 'access-control-allow-origin': '*' } : {};
  const created = Math.floor(Date.now() / 1000);

  const routes: Record<string, { method: 'GET' | 'POST'; run: (request: Request) => Promise<Response> }> = {
    '/v1/models': { method: 'GET', run: async () => json({ object: 'list', data: [modelCard()] }, 200, cors) },
    '/v1/completions': { method: 'POST', run: (r) => generate(r, 'completion') },
    '/v1/chat/completions': { method: 'POST', run: (r) => generate(r, 'chat') },
  };

  function modelCard() {
    return {
      id: modelId, object: 'model', created, owned_by: 'mamba-edge',
      architecture: model.config.architecture, backend: model.backend, fingerprint: model.fingerprint,
      state_bytes: model.info.stateBytes, max_body_bytes: maxBodyBytes, chat_format: chat.kind,
    };
  }

  async function generate(request: Request, kind: Kind): Promise<Response> {
    const body = parseJsonObject(await readBody(request, maxBodyBytes));
    const p = parseCommon(body, limits);
    const continuing = p.state !== undefined;
    let messages: ChatMessage[] | undefined;
    let prompt: string | number[];
    if (kind === 'chat') {
      messages = parseMessages(body.messages);
      prompt = chat.prompt(messages, continuing);
    } else {
      prompt = completionPrompt(body, model, continuing);
    }
    const stop = kind === 'chat' ? [...chat.stop, ...p.stop] : p.stop;

    const session = model.createSession(p.state ? { state: p.state } : {}); // E_STATE → 422
    const internal = new AbortController();
    const signal = anySignal(request.signal, internal.signal);
    const genOpts: GenerateOptions = {
      maxTokens: p.maxTokens, stop, signal,
      ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
      ...(p.topP !== undefined ? { topP: p.topP } : {}),
      ...(p.topK !== undefined ? { topK: p.topK } : {}),
      ...(p.seed !== undefined ? { seed: p.seed } : {}),
    };
    let generation: Generation;
    try {
      generation = session.generate(prompt, genOpts);
    } catch (e) {
      await session.dispose();
      throw e;
    }
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${crypto.randomUUID()}`;
    const head = { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created: Math.floor(Date.now() / 1000), model: modelId };

    /** After generation: close the chat turn in the state, then save it (when asked). */
    const finish = async (text: string, ended: FinishReason): Promise<string | undefined> => {
      if (!p.returnState || ended === 'abort') return undefined;
      if (kind === 'chat') {
        const closing = chat.closing(messages!, chat.reply(text), continuing, ended);
        if (closing !== '') await session.prefill(model.tokenizer.encode(closing));
      }
      return toBase64(await session.saveState());
    };

    if (!p.stream) {
      try {
        const r = await generation.finished;
        if (r.finishReason === 'abort') throw new HttpError(499, 'the client closed the request', 'client_closed');
        const state = await finish(r.text, r.finishReason);
        const usage = { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens };
        const finish_reason = FINISH[r.finishReason];
        const choice = kind === 'chat'
          ? { index: 0, message: { role: 'assistant', content: chat.reply(r.text) }, finish_reason, logprobs: null }
          : { index: 0, text: r.text, finish_reason, logprobs: null };
        return json({ ...head, choices: [choice], usage, ...(state !== undefined ? { state } : {}) }, 200, cors);
      } finally {
        await session.dispose();
      }
    }

    // Streaming: the status and headers go out now; errors after this point arrive as an
    // `error` event. Argument errors the session raises at its first step surface here too.
    const iterator = generation[Symbol.asyncIterator]();
    const chunkHead = { ...head, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion' };
    const piece = (text: string) => (kind === 'chat'
      ? { ...chunkHead, choices: [{ index: 0, delta: { content: text }, finish_reason: null, logprobs: null }] }
      : { ...chunkHead, choices: [{ index: 0, text, finish_reason: null, logprobs: null }] });
    let started = false; // chat: the first content piece loses the plain format's leading space
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await generation.finished.catch(() => undefined);
      await session.dispose();
    };
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        if (kind === 'chat') c.enqueue(sseEvent({ ...chunkHead, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }] }));
      },
      async pull(c) {
        try {
          for (;;) {
            const r = await iterator.next();
            if (!r.done) {
              let text = r.value.text;
              if (kind === 'chat' && !started && text !== '') { text = chat.reply(text); started = true; }
              if (text === '') continue;
              c.enqueue(sseEvent(piece(text)));
              return;
            }
            const res = await generation.finished;
            const state = await finish(res.text, res.finishReason);
            const finish_reason = res.finishReason === 'abort' ? null : FINISH[res.finishReason];
            const usage = { prompt_tokens: res.promptTokens, completion_tokens: res.completionTokens, total_tokens: res.promptTokens + res.completionTokens };
            const last = kind === 'chat'
              ? { ...chunkHead, choices: [{ index: 0, delta: {}, finish_reason, logprobs: null }], usage }
              : { ...chunkHead, choices: [{ index: 0, text: '', finish_reason, logprobs: null }], usage };
            c.enqueue(sseEvent(state !== undefined ? { ...last, state } : last));
            c.enqueue(sseEvent('[DONE]'));
            c.close();
            await close();
            return;
          }
        } catch (e) {
          try {
            if (!signal.aborted) {
              c.enqueue(sseEvent(errorBody(toHttpError(e))));
              c.enqueue(sseEvent('[DONE]'));
            }
            c.close();
          } catch {
            // the stream was cancelled meanwhile (the client left): nothing to tell anyone
          }
          await close();
        }
      },
      async cancel(reason) {
        internal.abort(reason ?? new Error('the client disconnected'));
        await close();
      },
    });
    return new Response(stream, { status: 200, headers: { ...SSE_HEADERS, ...cors } });
  }

  const handler = async (request: Request): Promise<Response> => {
    try {
      const url = new URL(request.url);
      let path = url.pathname.replace(/\/+$/, '');
      if (basePath !== '') {
        if (path !== basePath && !path.startsWith(`${basePath}/`)) throw new HttpError(404, `no route ${url.pathname}: routes are under ${basePath}/v1/`, 'not_found');
        path = path.slice(basePath.length);
      }
      const route = routes[path];
      if (!route) {
        throw new HttpError(404, `no route ${url.pathname}; this server has ${Object.keys(routes).map((r) => `${routes[r].method} ${basePath}${r}`).join(', ')}`, 'not_found');
      }
      if (request.method === 'OPTIONS' && options.cors) {
        return new Response(null, {
          status: 204,
          headers: { ...cors, 'access-control-allow-methods': `${route.method}, OPTIONS`, 'access-control-allow-headers': 'content-type, authorization', 'access-control-max-age': '86400' },
        });
      }
      if (request.method !== route.method && !(route.method === 'GET' && request.method === 'HEAD')) {
        throw new HttpError(405, `${url.pathname} takes ${route.method}, not ${request.method}`, 'method_not_allowed', null, { allow: route.method });
      }
      return await route.run(request);
    } catch (e) {
      const err = toHttpError(e);
      return json(errorBody(err), err.status, { ...cors, ...err.headers });
    }
  };
  return Object.assign(handler, { maxBodyBytes });
}
