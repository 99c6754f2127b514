/**
 * One stateless instance: mamba-edge's HTTP handler served by node:http. It keeps nothing
 * between requests; a conversation's memory travels in the `state` field (the front stores it
 * in Redis). Every response says which instance answered (`x-served-by`).
 *
 *   node --import tsx examples/state-handoff/server.ts [--name A] [--port 8081] [--model DIR]
 *
 * Prints one JSON line when listening: { "name", "pid", "port" }.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createHandler, loadModel, nodeListener } from '../../src/node.js';

const { values } = parseArgs({ options: { name: { type: 'string', default: 'A' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, model: { type: 'string' } } });
// One thread per instance: several instances share the machine, and greedy/seeded output is the same on any thread count.
const model = await loadModel(values.model, { backend: 'wasm', threads: 1 });
const handler = createHandler(model);
const named = async (request: Request) => {
  const response = await handler(request);
  response.headers.set('x-served-by', values.name!);
  return response;
};
const server = createServer(nodeListener(named));
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address() as { port: number };
  console.log(JSON.stringify({ name: values.name, pid: process.pid, port }));
});
const shutdown = () => {
  server.close(() => { void model.dispose().then(() => process.exit(0)); });
  server.closeAllConnections();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
