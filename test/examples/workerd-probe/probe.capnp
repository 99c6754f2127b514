# A worker that reports what workerd allows: compiling WebAssembly from bytes, SharedArrayBuffer, Worker.
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "probe", worker = (modules = [(name = "probe.js", esModule = embed "probe.js")], compatibilityDate = "2026-11-01"))],
  sockets = [(name = "http", address = "127.0.0.1:8788", http = (), service = "probe")],
);
