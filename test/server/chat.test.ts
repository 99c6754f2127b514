/** Chat formats: a conversation continued from a state reads exactly the text of the whole conversation. */
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { PLAIN_CHAT, parseMessages, templateChat } from '../../src/server/chat.js';
import type { ChatMessage } from '../../src/node.js';

const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
// Llama-2 style: BOS once at the start, the reply closed by the eos token.
const LLAMA = "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}{{ '[INST] ' + m.content + ' [/INST]' }}{% else %}{{ ' ' + m.content + ' ' + eos_token }}{% endif %}{% endfor %}";

const u1: ChatMessage = { role: 'user', content: 'Hi there' };
const u2: ChatMessage = { role: 'user', content: 'And then?' };
const reply = 'Hello.';

describe('chat formats', () => {
  it('ChatML (prefix-stable): turn 1 + reply + closing + turn 2 as a continuation = the whole conversation rendered', () => {
    const fmt = templateChat(CHATML, { bosToken: '<s>', eosToken: '</s>' });
    const whole = new Template(CHATML).render({ messages: [u1, { role: 'assistant', content: reply }, u2], add_generation_prompt: true });
    // Cut by max_tokens: the handler feeds "<|im_end|>\n".
    expect(fmt.closing([u1], reply, false, 'length')).toBe('<|im_end|>\n');
    expect(fmt.prompt([u1], false) + reply + fmt.closing([u1], reply, false, 'length') + fmt.prompt([u2], true)).toBe(whole);
  });

  it('Llama-2 (text between prompt and content, eos closes a turn, BOS once): the closing follows the template', () => {
    const fmt = templateChat(LLAMA, { bosToken: '<s>', eosToken: '</s>' });
    expect(fmt.prompt([u1], false)).toBe('<s>[INST] Hi there [/INST]');
    expect(fmt.prompt([u2], true)).toBe('[INST] And then? [/INST]'); // no second BOS
    // The model writes " Hello." then eos: nothing more to feed before the next [INST].
    expect(fmt.closing([u1], ' Hello.', false, 'eos')).toBe('');
    // Cut by max_tokens: feed what the template closes a reply with.
    expect(fmt.closing([u1], ' Hello.', false, 'length')).toBe(' </s>');
    expect(fmt.prompt([u1], false) + ' Hello.' + '</s>' + fmt.closing([u1], ' Hello.', false, 'eos') + fmt.prompt([u2], true))
      .toBe('<s>[INST] Hi there [/INST] Hello.</s>[INST] And then? [/INST]');
  });

  it('plain format: the same identity, with the reply ending at its newline or cut by max_tokens', () => {
    const whole = 'User: Hi there\nAssistant: Hello.\nUser: And then?\nAssistant:';
    // Ended at the stop string "\n": the newline was read (the stop's token is fed first next time).
    expect(PLAIN_CHAT.prompt([u1], false) + ` ${reply}` + '\n' + PLAIN_CHAT.closing([u1], reply, false, 'stop') + PLAIN_CHAT.prompt([u2], true)).toBe(whole);
    expect(PLAIN_CHAT.prompt([u1], false) + ` ${reply}` + PLAIN_CHAT.closing([u1], reply, false, 'length') + PLAIN_CHAT.prompt([u2], true)).toBe(whole);
    expect(PLAIN_CHAT.reply(` ${reply}`)).toBe(reply);
  });

  it('a template that raises refuses the messages with E_ARGUMENT; one that does not parse is E_FORMAT', () => {
    const strict = templateChat("{% if messages[0].role == 'system' %}{{ raise_exception('no system messages') }}{% endif %}x", {});
    expect(() => strict.prompt([{ role: 'system', content: 's' }], false)).toThrow(/no system messages/);
    expect(() => templateChat('{% for %}', {})).toThrow(/does not parse/);
  });

  it('parseMessages accepts text parts and refuses other content, naming the message', () => {
    expect(parseMessages([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }])).toEqual([{ role: 'user', content: 'ab' }]);
    expect(() => parseMessages([{ role: 'user', content: 'ok' }, { role: 'user', content: [{ type: 'image_url' }] }])).toThrow(/messages\[1\]\.content/);
    expect(() => parseMessages('hi')).toThrow(/non-empty array/);
  });
});
