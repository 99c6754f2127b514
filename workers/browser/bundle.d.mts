import type { Plugin } from 'esbuild';
/** The coordinator worker's script (iife, minified), without the kernels' bytes. */
export function bundleCoordinator(): Promise<string>;
/** esbuild plugin: src/browser/coordinator-source.ts becomes `source` as a string. */
export function coordinatorSourcePlugin(source: string): Plugin;
/** bundleCoordinator + coordinatorSourcePlugin. */
export function browserRuntimePlugin(): Promise<Plugin>;
