// The Electron main process (bundled to out/main.mjs by build.mjs). It loads the model once
// with model-host.ts — the wasm kernels on the main thread plus worker_threads — and opens a
// window whose renderer reaches the model only through the preload's bridge.
//
//   MAMBA_EDGE_MODEL=/path/to/hf-folder  another model (default: the embedded default model)
//   MAMBA_EDGE_THREADS=2                 kernel threads (default: hardware threads, at most 8)
import { app, BrowserWindow, ipcMain } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startModelHost } from './model-host.ts';

const here = dirname(fileURLToPath(import.meta.url)); // out/

const hostReady = startModelHost(ipcMain, {
  modelDir: process.env.MAMBA_EDGE_MODEL || undefined,
  threads: process.env.MAMBA_EDGE_THREADS ? Number(process.env.MAMBA_EDGE_THREADS) : undefined,
});
hostReady.catch(() => undefined); // reported below, once the app is ready

async function openWindow() {
  const win = new BrowserWindow({
    width: 900, height: 640,
    webPreferences: { preload: join(here, 'preload.cjs'), contextIsolation: true, sandbox: true, nodeIntegration: false },
  });
  await win.loadFile(join(here, 'index.html'));
  // `MAMBA_EDGE_SCREENSHOT=file.png`: generate once, save the window, quit (a smoke test under Xvfb).
  if (process.env.MAMBA_EDGE_SCREENSHOT) {
    await win.webContents.executeJavaScript("mambaEdgeApp.ready.then(() => mambaEdgeApp.send('Once upon a time', { maxTokens: 80, seed: 1 }))");
    const { writeFile } = await import('node:fs/promises');
    await writeFile(process.env.MAMBA_EDGE_SCREENSHOT, (await win.webContents.capturePage()).toPNG());
    app.quit();
  }
}

app.whenReady().then(async () => {
  await hostReady; // handlers are registered before the first window can ask
  await openWindow();
  app.on('activate', () => { if (BrowserWindow.getAllWindows().length === 0) void openWindow(); });
}).catch((e) => {
  console.error(`mamba-edge: ${e.message}`);
  app.exit(1);
});
app.on('window-all-closed', () => { if (process.platform !== 'darwin') app.quit(); });
app.on('will-quit', (event) => {
  event.preventDefault();
  hostReady.then((host) => host.dispose()).finally(() => app.exit(0));
});
