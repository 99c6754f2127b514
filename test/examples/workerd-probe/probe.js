// workerd probe (test/examples/edge-function.test.ts): what the runtime refuses.
const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
export default {
  async fetch() {
    const r = {};
    try { new WebAssembly.Module(empty); r.moduleFromBytes = 'allowed'; } catch (e) { r.moduleFromBytes = String(e.message); }
    try { await WebAssembly.compile(empty); r.compile = 'allowed'; } catch (e) { r.compile = String(e.message); }
    try { await WebAssembly.instantiate(empty); r.instantiateBytes = 'allowed'; } catch (e) { r.instantiateBytes = String(e.message); }
    r.sharedArrayBuffer = typeof SharedArrayBuffer !== 'undefined';
    r.worker = typeof Worker !== 'undefined';
    return new Response(JSON.stringify(r));
  },
};
