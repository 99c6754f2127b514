/**
 * The window's script. It has no Node and no model: it talks to the main process only through
 * `window.mambaEdge` (bridge.ts, exposed by the preload). Each Generate continues this window's
 * conversation (the model's state stays in the main process between turns); New forgets it.
 * `body[data-state]` is 'loading' | 'idle' | 'running' (tests wait on it).
 */
import type { MambaEdgeBridge } from './bridge.js';
import type { GenerateReply } from './protocol.js';

declare global {
  interface Window { mambaEdge: MambaEdgeBridge }
}

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const host = el('host');
const transcript = el('transcript');
const stats = el('stats');
const form = el<HTMLFormElement>('form');
const promptBox = el<HTMLTextAreaElement>('prompt');
const seedBox = el<HTMLInputElement>('seed');
const sendButton = el<HTMLButtonElement>('send');
const stopButton = el<HTMLButtonElement>('stop');
const resetButton = el<HTMLButtonElement>('reset');
const bridge = window.mambaEdge;

function setState(state: 'loading' | 'idle' | 'running'): void {
  document.body.dataset.state = state;
  sendButton.disabled = state !== 'idle';
  resetButton.disabled = state !== 'idle';
  stopButton.disabled = state !== 'running';
}

/** One turn: the prompt, then the model's text appended token by token. */
async function send(prompt: string, opts: { maxTokens?: number; seed?: number; temperature?: number } = {}): Promise<GenerateReply> {
  setState('running');
  stats.textContent = '';
  transcript.append(Object.assign(document.createElement('span'), { className: 'you', textContent: prompt }));
  const sink = document.createTextNode('');
  transcript.append(sink);
  try {
    const reply = await bridge.generate({ prompt, maxTokens: opts.maxTokens ?? 200, seed: opts.seed, temperature: opts.temperature }, (text) => {
      sink.data += text;
      transcript.scrollTop = transcript.scrollHeight;
    });
    // The reply carries the whole text: if any token message were still in flight, the page shows it anyway.
    if (sink.data !== reply.text) sink.data = reply.text;
    stats.textContent = `${reply.completionTokens} tokens in ${(reply.ms / 1000).toFixed(2)} s · ${reply.finishReason} · conversation at token ${reply.position}`;
    return reply;
  } catch (e) {
    stats.textContent = `error: ${(e as Error).message}`;
    throw e;
  } finally {
    setState('idle');
  }
}

let lastRun: Promise<GenerateReply> | undefined;
form.addEventListener('submit', (e) => {
  e.preventDefault();
  lastRun = send(promptBox.value, { maxTokens: 200, seed: Number(seedBox.value) || 0 });
  lastRun.catch(() => undefined);
  promptBox.value = '';
});
stopButton.addEventListener('click', () => void bridge.stop());
resetButton.addEventListener('click', () => {
  void bridge.reset().then(() => { transcript.replaceChildren(); stats.textContent = 'new conversation'; });
});

const ready = bridge.info().then((info) => {
  const threads = `${info.backend.threads} thread${info.backend.threads === 1 ? '' : 's'}`;
  host.textContent = `${info.runtime} main process · ${info.backend.name} (${info.backend.device ?? threads})` +
    ` · ${info.architecture}, ${(info.parameters / 1e6).toFixed(2)}M parameters, ${info.dtype}`;
  setState('idle');
  return info;
});
ready.catch((e: Error) => { host.textContent = `the main process did not answer: ${e.message}`; });

/** For tests: `await mambaEdgeApp.ready`, `mambaEdgeApp.send(prompt, opts)`, `mambaEdgeApp.lastRun` after a click. */
Object.assign(globalThis, { mambaEdgeApp: { ready, send, get lastRun() { return lastRun; } } });
