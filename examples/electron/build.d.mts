import type { Metafile } from 'esbuild';
/** Builds the app into `out` (default examples/electron/out). */
export function buildApp(out?: string): Promise<{ out: string; main: Metafile; preload: Metafile; renderer: Metafile }>;
