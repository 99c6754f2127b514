// The preload script (bundled to out/preload.cjs by build.mjs: sandboxed preloads are one
// CommonJS file that may require only 'electron'). It gives the window `window.mambaEdge`
// (bridge.ts) and nothing else: no ipcRenderer, no Node.
import { contextBridge, ipcRenderer } from 'electron';
import { createBridge } from './bridge.ts';

contextBridge.exposeInMainWorld('mambaEdge', createBridge(ipcRenderer));
