/**
 * Chat prompts: messages → the text the model reads.
 *
 * A model whose tokenizer_config.json has a `chat_template` gets it rendered through
 * @huggingface/jinja, with the variables transformers' `apply_chat_template` passes
 * (messages, add_generation_prompt, bos_token, eos_token; raise_exception is built in). The reply ends
 * at the model's end-of-sequence token, which such templates close a turn with.
 *
 * A model without one (the embedded default model, base models) gets the plain format:
 *
 *     System: {content}\n        (for each system message)
 *     User: {content}\n          (for each user message)
 *     Assistant: {content}\n     (for each assistant message)
 *     Assistant:                 (the generation prompt)
 *
 * and the reply ends at the first newline (a stop string), so one reply is one line. The
 * reply text returned is what the model wrote after "Assistant:", less one leading space.
 */
import { Template } from '@huggingface/jinja';
import type { ChatMessage, Tokenizer } from '../api/types.js';
import { fail } from '../errors.js';

export interface ChatFormat {
  /** 'template' (the model's chat_template) or 'plain' (the documented format above). */
  readonly kind: 'template' | 'plain';
  /**
   * The prompt for `messages` followed by the assistant's turn. `continuation`: the messages
   * follow a conversation already in a saved state (no BOS, no default system prompt again).
   */
  prompt(messages: ChatMessage[], continuation: boolean): string;
  /** Stop strings the reply ends at (besides the model's eos). */
  readonly stop: string[];
  /** The reply as returned to the client, from the generated text. */
  reply(generated: string): string;
  /**
   * Text that closes the assistant's turn after `reply` (to feed into a state so the next
   * turn starts at a turn boundary), given what ended generation.
   */
  closing(messages: ChatMessage[], reply: string, continuation: boolean, ended: 'eos' | 'stop' | 'length'): string;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);

/** Checks the request's messages: a non-empty array of { role, content: string | text parts }. Throws E_ARGUMENT naming the index. */
export function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw fail('E_ARGUMENT', 'messages must be a non-empty array of { role, content }', { field: 'messages' });
  return v.map((m, i) => {
    if (m === null || typeof m !== 'object') throw fail('E_ARGUMENT', `messages[${i}] must be an object { role, content }`, { field: `messages[${i}]` });
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw fail('E_ARGUMENT', `messages[${i}].role must be one of ${[...ROLES].join(', ')}, got ${JSON.stringify(role)}`, { field: `messages[${i}].role` });
    }
    let text: string;
    if (typeof content === 'string') text = content;
    else if (content === null && role === 'assistant') text = '';
    else if (Array.isArray(content) && content.every((p) => p && typeof p === 'object' && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string')) {
      text = content.map((p) => (p as { text: string }).text).join('');
    } else {
      throw fail('E_ARGUMENT', `messages[${i}].content must be a string or a list of { type: "text", text } parts (this model reads text only)`, { field: `messages[${i}].content` });
    }
    return { role: role as ChatMessage['role'], content: text };
  });
}

const PLAIN_NAMES: Record<ChatMessage['role'], string> = { system: 'System', user: 'User', assistant: 'Assistant', tool: 'Tool', developer: 'System' };

/** The plain format (see the file comment). */
export const PLAIN_CHAT: ChatFormat = {
  kind: 'plain',
  prompt: (messages) => messages.map((m) => `${PLAIN_NAMES[m.role]}: ${m.content.replace(/\r?\n/g, ' ')}\n`).join('') + 'Assistant:',
  stop: ['\n'],
  reply: (generated) => generated.replace(/^ /, ''),
  // A reply that ended at its newline has read it already (the stop's token is fed first next time).
  closing: (_messages, _reply, _continuation, ended) => (ended === 'stop' ? '' : '\n'),
};

/** The model's chat_template through @huggingface/jinja. Throws E_FORMAT when the template does not parse. */
export function templateChat(source: string, tokenizer: Pick<Tokenizer, 'bosToken' | 'eosToken'>): ChatFormat {
  let template: Template;
  try {
    template = new Template(source);
  } catch (e) {
    throw fail('E_FORMAT', `tokenizer_config.json: chat_template does not parse as Jinja: ${(e as Error).message}`, { file: 'tokenizer_config.json', field: 'chat_template' });
  }
  const eos = tokenizer.eosToken ?? '';
  const render = (messages: ChatMessage[], addGenerationPrompt: boolean, continuation: boolean): string => {
    try {
      return template.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: continuation ? '' : (tokenizer.bosToken ?? ''),
        eos_token: eos,
        // raise_exception is built into @huggingface/jinja.
      });
    } catch (e) {
      throw fail('E_ARGUMENT', `the model's chat template refused these messages: ${(e as Error).message}`, { field: 'messages' });
    }
  };
  return {
    kind: 'template',
    prompt: (messages, continuation) => render(messages, true, continuation),
    stop: [],
    reply: (generated) => generated,
    closing(messages, reply, continuation, ended) {
      // What the template writes after the reply when the reply is part of the conversation. Some
      // templates put text between the generation prompt and the content (Llama-2: a space), so
      // the reply is looked for after the prompt rather than right at its end.
      const before = render(messages, true, continuation);
      const after = render([...messages, { role: 'assistant', content: reply }], false, continuation);
      if (!after.startsWith(before)) return '';
      const at = after.indexOf(reply, before.length);
      if (at === -1) return '';
      const close = after.slice(at + reply.length);
      // Generation that ended at eos has read the eos token already (it is fed first next time):
      // feed what the template writes after it.
      if (ended === 'eos' && eos !== '') {
        const e = close.indexOf(eos);
        return e === -1 ? close : close.slice(e + eos.length);
      }
      return close;
    },
  };
}

/** The format for a model: its chat template when it has one (or `override`), else plain. */
export function chatFormatFor(tokenizer: Tokenizer, override?: string): ChatFormat {
  const source = override ?? tokenizer.chatTemplate;
  return source === undefined ? PLAIN_CHAT : templateChat(source, tokenizer);
}
