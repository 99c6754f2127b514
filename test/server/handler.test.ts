/**
 * createHandler against the embedded default model (wasm, one thread): every answer is
 * checked against what the library itself generates for the same prompt and options.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, createHandler, type Generation, type Handler, type Model, type Session } from '../../src/node.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { PLAIN_CHAT } from '../../src/server/chat.js';
import { createTokenizer } from '../../src/tokenizer/index.js';
import { parseSse } from '../helpers/sse.js';
import { watched } from '../helpers/watched-model.js';

let model: Model;
let handler: Handler;
/** Generations the handler started (the model is wrapped, the sessions are the real ones). */
const generations: Generation[] = [];

beforeAll(async () => {
  model = await loadModel(undefined, { backend: 'wasm', threads: 1 });
  handler = createHandler(watched(model, generations));
});
afterAll(async () => {
  await model.dispose();
});

const post = (path: string, body: unknown, init: RequestInit = {}) =>
  handler(new Request(`http://localhost${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), ...init }));

/** What one session of the library generates for these turns, without saving or restoring anything. */
async function uninterrupted(turns: { prompt: string; opts: Parameters<Session['generate']>[1]; after?: (r: { finishReason: string }) => string }[]) {
  const s = model.createSession();
  const out: string[] = [];
  for (const t of turns) {
    const r = await s.generate(t.prompt, t.opts).finished;
    out.push(r.text);
    const close = t.after?.(r) ?? '';
    if (close) await s.prefill(model.tokenizer.encode(close));
  }
  await s.dispose();
  return out;
}

describe('createHandler', { timeout: 60_000 }, () => {
  it('POST /v1/completions returns the library\'s text, finish_reason and usage', async () => {
    const prompt = 'And it came to pass';
    const res = await post('/v1/completions', { prompt, max_tokens: 24, temperature: 0 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const j = await res.json();
    const lib = await model.createSession().generate(prompt, { maxTokens: 24, temperature: 0 }).finished;
    expect(j.object).toBe('text_completion');
    expect(j.model).toBe('mamba-edge-mamba2');
    expect(j.choices).toEqual([{ index: 0, text: lib.text, finish_reason: 'length', logprobs: null }]);
    expect(j.usage).toEqual({ prompt_tokens: prompt.length, completion_tokens: 24, total_tokens: prompt.length + 24 });
    expect(j.state).toBeUndefined();
  });

  it('seeded sampling (temperature, top_p, top_k, seed) and stop match the library', async () => {
    const opts = { maxTokens: 40, temperature: 1.2, topP: 0.9, topK: 20, seed: 7 };
    const lib = await model.createSession().generate('In the beginning', opts).finished;
    const stopAt = lib.text.slice(10, 12);
    const expected = await model.createSession().generate('In the beginning', { ...opts, stop: [stopAt] }).finished;
    const j = await (await post('/v1/completions', { prompt: 'In the beginning', max_tokens: 40, temperature: 1.2, top_p: 0.9, top_k: 20, seed: 7, stop: stopAt })).json();
    expect(j.choices[0].text).toBe(expected.text);
    expect(j.choices[0].text.length).toBeLessThan(lib.text.length);
    expect(j.choices[0].finish_reason).toBe('stop');
  });

  it('stream: true sends server-sent events whose text adds up to the same completion, then [DONE]', async () => {
    const body = { prompt: 'The LORD', max_tokens: 20, temperature: 0 };
    const whole = await (await post('/v1/completions', body)).json();
    const res = await post('/v1/completions', { ...body, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = parseSse(await res.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(whole.choices[0].text);
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
    expect(chunks.at(-1).usage).toEqual(whole.usage);
  });

  it('chat without a template uses the plain format, ends a reply at its newline, and streams the same reply', async () => {
    const messages = [{ role: 'system', content: 'You are a scribe.' }, { role: 'user', content: 'Tell me of the kings' }];
    const prompt = 'System: You are a scribe.\nUser: Tell me of the kings\nAssistant:';
    expect(PLAIN_CHAT.prompt(messages as never, false)).toBe(prompt);
    const lib = await model.createSession().generate(prompt, { maxTokens: 200, temperature: 0, stop: ['\n'] }).finished;
    const j = await (await post('/v1/chat/completions', { messages, max_tokens: 200, temperature: 0 })).json();
    expect(j.object).toBe('chat.completion');
    expect(j.choices[0].message).toEqual({ role: 'assistant', content: lib.text.replace(/^ /, '') });
    expect(j.choices[0].finish_reason).toBe(lib.finishReason === 'length' ? 'length' : 'stop');
    expect(j.usage.prompt_tokens).toBe(prompt.length);

    const events = parseSse(await (await post('/v1/chat/completions', { messages, max_tokens: 200, temperature: 0, stream: true })).text());
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(j.choices[0].message.content);
    expect(chunks.at(-1).choices[0].finish_reason).toBe(j.choices[0].finish_reason);
  });

  it('chat with a Jinja chat template renders it (ChatML) and ends the reply at eos', async () => {
    const chatml = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const h = createHandler(model, { chatTemplate: chatml, modelId: 'chatml-test' });
    const prompt = '<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n';
    const lib = await model.createSession().generate(prompt, { maxTokens: 16, temperature: 0 }).finished;
    const res = await h(new Request('http://h/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }], max_tokens: 16, temperature: 0 }) }));
    const j = await res.json();
    expect(j.model).toBe('chatml-test');
    expect(j.choices[0].message.content).toBe(lib.text);
    expect(j.usage.prompt_tokens).toBe(prompt.length);
    const card = await (await h(new Request('http://h/v1/models'))).json();
    expect(card.data[0].chat_format).toBe('template');
  });

  it("uses the chat_template in the model's tokenizer_config.json", async () => {
    const { readFileSync } = await import('node:fs');
    const { defaultModelDir } = await import('../../src/node.js');
    const files: Record<string, Uint8Array> = {};
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) files[f] = readFileSync(`${defaultModelDir()}/${f}`);
    const cfg = JSON.parse(readFileSync(`${defaultModelDir()}/tokenizer_config.json`, 'utf8'));
    files['tokenizer_config.json'] = new TextEncoder().encode(JSON.stringify({ ...cfg, chat_template: "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}" }));
    const m = await loadModel(files, { backend: 'wasm', threads: 1 });
    try {
      const h = createHandler(m);
      expect((await (await h(new Request('http://h/v1/models'))).json()).data[0].chat_format).toBe('template');
      const j = await (await h(new Request('http://h/v1/chat/completions', { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0 }) }))).json();
      const lib = await m.createSession().generate('<user>Hi<assistant>', { maxTokens: 8, temperature: 0 }).finished;
      expect(j.usage.prompt_tokens).toBe('<user>Hi<assistant>'.length);
      expect(j.choices[0].message.content).toBe(lib.text);
    } finally {
      await m.dispose();
    }
  });

  it("the tokenizer takes chat_template (a string or a named list) and the special tokens from tokenizer_config.json", () => {
    const tokenizerJson = JSON.stringify({
      model: { type: 'BPE', vocab: { a: 0, b: 1, '<|endoftext|>': 2 }, merges: [] },
      added_tokens: [{ id: 2, content: '<|endoftext|>', special: true }],
    });
    const t1 = createTokenizer({ vocabSize: 3, tokenizerJson, tokenizerConfigJson: JSON.stringify({ chat_template: '{{ x }}', eos_token: '<|endoftext|>' }) });
    expect(t1.chatTemplate).toBe('{{ x }}');
    expect(t1.eosToken).toBe('<|endoftext|>');
    const t2 = createTokenizer({ vocabSize: 3, tokenizerJson, tokenizerConfigJson: JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] }) });
    expect(t2.chatTemplate).toBe('D');
    expect(() => createTokenizer({ vocabSize: 3, tokenizerJson, tokenizerConfigJson: JSON.stringify({ chat_template: 5 }) })).toThrow(/chat_template must be a string/);
  });

  it('a completion continues from a returned state with only the new text, exactly as one uninterrupted session', async () => {
    const t1 = { prompt: 'And God said', max_tokens: 12, temperature: 0.9, seed: 3, return_state: true };
    const r1 = await (await post('/v1/completions', t1)).json();
    expect(typeof r1.state).toBe('string');
    expect(r1.state.length).toBeLessThanOrEqual(handler.maxBodyBytes);
    const r2 = await (await post('/v1/completions', { prompt: ', and', max_tokens: 20, temperature: 0.9, seed: 4, state: r1.state })).json();
    expect(r2.usage.prompt_tokens).toBe(5);
    expect(typeof r2.state).toBe('string');
    const [a, b] = await uninterrupted([
      { prompt: 'And God said', opts: { maxTokens: 12, temperature: 0.9, seed: 3 } },
      { prompt: ', and', opts: { maxTokens: 20, temperature: 0.9, seed: 4 } },
    ]);
    expect(r1.choices[0].text).toBe(a);
    expect(r2.choices[0].text).toBe(b);
    // An empty prompt with a state continues generating.
    const r3 = await (await post('/v1/completions', { max_tokens: 5, temperature: 0, state: r2.state })).json();
    expect(r3.choices[0].text.length).toBeGreaterThan(0);
  });

  it('a chat continues from a returned state with only the new messages (stream too), as one uninterrupted session', async () => {
    const opts = { max_tokens: 60, temperature: 0 };
    const r1 = await (await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'Who was king?' }], return_state: true, ...opts })).json();
    const events = parseSse(await (await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'And then?' }], state: r1.state, stream: true, ...opts })).text());
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const reply2 = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(typeof chunks.at(-1).state).toBe('string');
    const close = (r: { finishReason: string }) => (r.finishReason === 'stop' ? '' : '\n');
    const [a, b] = await uninterrupted([
      { prompt: 'User: Who was king?\nAssistant:', opts: { maxTokens: 60, temperature: 0, stop: ['\n'] }, after: close },
      { prompt: 'User: And then?\nAssistant:', opts: { maxTokens: 60, temperature: 0, stop: ['\n'] } },
    ]);
    expect(r1.choices[0].message.content).toBe(a.replace(/^ /, ''));
    expect(reply2).toBe(b.replace(/^ /, ''));
  });

  it('a state from another model is refused with 422 naming both models; a corrupt one too; bad base64 is 400', async () => {
    const other = await loadModel(randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 32, numLayers: 1, stateSize: 8, headDim: 16, seed: 5 }), { backend: 'reference' });
    const s = other.createSession();
    await s.prefill([1, 2, 3]);
    const foreign = Buffer.from(await s.saveState()).toString('base64');
    await other.dispose();
    const res = await post('/v1/completions', { prompt: 'x', state: foreign });
    expect(res.status).toBe(422);
    const j = await res.json();
    expect(j.error.code).toBe('invalid_state');
    expect(j.error.message).toContain(model.fingerprint);
    expect(j.error.message).toMatch(/belongs to model mamba2-/);

    const mine = (await (await post('/v1/completions', { prompt: 'x', max_tokens: 1, return_state: true })).json()).state as string;
    const bytes = Buffer.from(mine, 'base64');
    bytes[bytes.length >> 1] ^= 0xff;
    const corrupt = await post('/v1/completions', { prompt: 'x', state: bytes.toString('base64') });
    expect(corrupt.status).toBe(422);
    expect((await corrupt.json()).error.message).toMatch(/checksum/);
    const notB64 = await post('/v1/completions', { prompt: 'x', state: 'not base64!' });
    expect(notB64.status).toBe(400);
    expect((await notB64.json()).error.param).toBe('state');
  });

  it('answers invalid JSON 400, unknown routes 404, wrong methods 405 with Allow, bad parameters 400 naming them', async () => {
    const bad = await post('/v1/completions', '{"prompt": ');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('invalid_json');
    expect((await post('/v1/completions', '[1,2]')).status).toBe(400);
    const nf = await handler(new Request('http://localhost/v1/embeddings', { method: 'POST', body: '{}' }));
    expect(nf.status).toBe(404);
    expect((await nf.json()).error.message).toMatch(/POST \/v1\/completions/);
    const wrong = await handler(new Request('http://localhost/v1/completions'));
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await handler(new Request('http://localhost/v1/models', { method: 'DELETE' }))).status).toBe(405);
    for (const [body, name] of [
      [{ prompt: 'x', max_tokens: 0 }, 'max_tokens'], [{ prompt: 'x', max_tokens: 1e6 }, 'max_tokens'], [{ prompt: 'x', temperature: -1 }, 'temperature'],
      [{ prompt: 'x', top_p: 0 }, 'top_p'], [{ prompt: 'x', top_k: 1.5 }, 'top_k'], [{ prompt: 'x', seed: -1 }, 'seed'], [{ prompt: 'x', stop: [1] }, 'stop'],
      [{ prompt: 'x', n: 2 }, 'n'], [{ prompt: ['a', 'b'] }, 'prompt'], [{ prompt: '' }, 'prompt'], [{ prompt: [999] }, 'prompt'], [{ prompt: 'x', stream: 'yes' }, 'stream'],
    ] as const) {
      const r = await post('/v1/completions', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((await r.json()).error.param, JSON.stringify(body)).toBe(name);
    }
    const chat = await post('/v1/chat/completions', { messages: [{ role: 'wizard', content: 'x' }] });
    expect(chat.status).toBe(400);
    expect((await chat.json()).error.param).toBe('messages[0].role');
    expect((await post('/v1/chat/completions', { messages: [] })).status).toBe(400);
  });

  it('refuses a body over the limit (one state in base64 + the prompt allowance) with 413, by Content-Length or while streaming', async () => {
    // The limit is sized from the model: its state (1.38 MB for the default model) in base64, plus 1 MiB.
    expect(handler.maxBodyBytes).toBeGreaterThan(Math.ceil(model.info.stateBytes / 3) * 4 + (1 << 20));
    expect(handler.maxBodyBytes).toBeLessThan(Math.ceil(model.info.stateBytes / 3) * 4 + (1 << 20) + 2 * (4 * model.config.vocabSize + 8192));
    const big = JSON.stringify({ prompt: 'x'.repeat(handler.maxBodyBytes) });
    const r1 = await post('/v1/completions', big);
    expect(r1.status).toBe(413);
    expect((await r1.json()).error.message).toMatch(/limit of \d+ bytes/);
    // No Content-Length: a streamed body is cut off as soon as it passes the limit.
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent > 4 * handler.maxBodyBytes) { c.close(); return; }
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const r2 = await handler(new Request('http://localhost/v1/completions', { method: 'POST', body, duplex: 'half' } as RequestInit));
    expect(r2.status).toBe(413);
    expect(sent).toBeLessThan(handler.maxBodyBytes + 3 * chunk.length);
    // A custom allowance moves the limit.
    expect(createHandler(model, { promptAllowanceBytes: 10 }).maxBodyBytes).toBe(handler.maxBodyBytes - (1 << 20) + 10);
  });

  it('a client that goes away stops generation: a cancelled stream, or an aborted request', async () => {
    generations.length = 0;
    const res = await post('/v1/completions', { prompt: 'And', max_tokens: 4000, temperature: 0, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    const r = await generations[0].finished;
    expect(r.finishReason).toBe('abort');
    expect(r.completionTokens).toBeLessThan(100);

    generations.length = 0;
    const ctrl = new AbortController();
    const pending = post('/v1/completions', { prompt: 'And', max_tokens: 4000, temperature: 0 }, { signal: ctrl.signal });
    while (generations.length === 0) await new Promise((r) => setTimeout(r, 5));
    setTimeout(() => ctrl.abort(), 30);
    const answered = await pending;
    expect(answered.status).toBe(499);
    const g = await generations[0].finished;
    expect(g.finishReason).toBe('abort');
    expect(g.completionTokens).toBeLessThan(4000);
  });

  it('GET /v1/models describes the model; basePath and CORS work', async () => {
    const j = await (await handler(new Request('http://localhost/v1/models'))).json();
    expect(j.object).toBe('list');
    expect(j.data[0]).toMatchObject({ id: 'mamba-edge-mamba2', object: 'model', fingerprint: model.fingerprint, state_bytes: model.info.stateBytes, max_body_bytes: handler.maxBodyBytes, chat_format: 'plain' });
    const h = createHandler(model, { basePath: '/api/', cors: true });
    const ok = await h(new Request('http://localhost/api/v1/models'));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect((await h(new Request('http://localhost/v1/models'))).status).toBe(404);
    const pre = await h(new Request('http://localhost/api/v1/completions', { method: 'OPTIONS' }));
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
  });
});
