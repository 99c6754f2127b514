/**
 * The front: carries one conversation across stateless instances. Each turn goes to the next
 * instance in turn (A, B, A, …); the conversation's session state (a few MB, whatever its
 * length) lives in Redis between turns, under `conv:<id>`:
 *
 *   turn 1:  POST A /v1/chat/completions { messages: [turn 1], return_state: true }  → SET conv:<id> state
 *   turn 2:  GET conv:<id> → POST B { messages: [turn 2 only], state }               → SET conv:<id> state
 *   …
 *
 * Because the state holds everything the model has read, B continues exactly where A stopped:
 * the replies equal one uninterrupted session (examples/state-handoff/README.md).
 *
 *   node --import tsx examples/state-handoff/front.ts --redis redis://127.0.0.1:6379 \
 *        --instance http://127.0.0.1:8081 --instance http://127.0.0.1:8082 "Who was king?" "And then?"
 */
import { parseArgs } from 'node:util';
import { createClient } from 'redis';

export interface Turn {
  user: string;
  reply: string;
  finishReason: string;
  /** `x-served-by` of the instance that answered. */
  servedBy: string | null;
  /** Bytes of base64 state stored in Redis after this turn. */
  stateBytes: number;
}

export interface ConverseOptions {
  redisUrl: string;
  instances: string[];
  conversationId: string;
  messages: string[];
  /** Sampling per request (OpenAI fields). Default: greedy, 200 tokens. */
  params?: Record<string, unknown>;
  /** Seconds a stored state lives in Redis. Default 3600. */
  ttl?: number;
}

export async function converse(o: ConverseOptions): Promise<Turn[]> {
  const redis = createClient({ url: o.redisUrl });
  redis.on('error', () => undefined); // a lost connection surfaces as the next command's rejection
  await redis.connect();
  const key = `conv:${o.conversationId}`;
  const turns: Turn[] = [];
  try {
    for (const [i, user] of o.messages.entries()) {
      const instance = o.instances[i % o.instances.length];
      const state = await redis.get(key);
      const res = await fetch(`${instance}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          max_tokens: 200, temperature: 0, ...o.params,
          messages: [{ role: 'user', content: user }], // only the new message: the state holds the rest
          ...(state ? { state } : { return_state: true }),
        }),
      });
      const body = await res.json() as { choices?: { message: { content: string }; finish_reason: string }[]; state?: string; error?: { message: string } };
      if (!res.ok || !body.choices || !body.state) throw new Error(`${instance}: HTTP ${res.status}: ${body.error?.message ?? 'no state in the response'}`);
      await redis.set(key, body.state, { EX: o.ttl ?? 3600 });
      turns.push({ user, reply: body.choices[0].message.content, finishReason: body.choices[0].finish_reason, servedBy: res.headers.get('x-served-by'), stateBytes: body.state.length });
    }
  } finally {
    await redis.quit();
  }
  return turns;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { redis: { type: 'string', default: 'redis://127.0.0.1:6379' }, instance: { type: 'string', multiple: true }, id: { type: 'string' } },
  });
  const turns = await converse({
    redisUrl: values.redis!,
    instances: values.instance ?? ['http://127.0.0.1:8081', 'http://127.0.0.1:8082'],
    conversationId: values.id ?? crypto.randomUUID(),
    messages: positionals.length ? positionals : ['Who was king?', 'And then?'],
  });
  for (const t of turns) console.log(`[${t.servedBy}] User: ${t.user}\n[${t.servedBy}] Assistant: ${t.reply}   (${t.finishReason}; ${t.stateBytes} bytes of state in Redis)`);
}
