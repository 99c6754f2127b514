// comlink 4.4.2 has no exports map and no declaration for its Node adapter (DESIGN.md).
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  interface NodeEndpoint {
    postMessage(message: any, transfer?: any): void;
    on(type: string, listener: (value: any) => void): any;
    off(type: string, listener: (value: any) => void): any;
    start?: () => void;
  }
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
