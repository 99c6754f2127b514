/**
 * Entry of the coordinator worker's bundle (workers/browser/bundle.mjs builds it; the browser
 * entry starts it from a Blob URL when a page calls loadModel). The kernels' bytes are not in
 * this bundle: the page prepends them (see remote.ts), so they ship once.
 */
import * as Comlink from 'comlink';
import { installBrowserPool } from './install.js';
import { createCoordinator } from './coordinator.js';

installBrowserPool();
Comlink.expose(createCoordinator());
