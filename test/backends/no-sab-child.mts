// Runs in a child process: the runtime without SharedArrayBuffer, as in an edge function or
// a page without COOP/COEP. Prints the backend info and a greedy continuation as JSON.
if (process.argv.includes('--no-sab')) delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
const { loadModel } = await import('../../src/node.js');
const model = await loadModel(undefined, { backend: 'wasm', threads: 2 });
const r = await model.createSession().generate('Once upon a time', { maxTokens: 40, temperature: 0, ignoreEos: true }).finished;
console.log(JSON.stringify({ info: model.backendInfo, text: r.text }));
await model.dispose();
