#!/usr/bin/env node
/**
 * `npm run build`: the three bundles and the type declarations.
 *
 *   dist/node/index.js     src/node.ts     platform node, npm packages left external
 *   dist/browser/index.js  src/index.ts    platform browser, self-contained (dependencies bundled);
 *                                          the build FAILS if any Node built-in is reachable from it;
 *                                          embeds the coordinator worker's script (the runtime a page
 *                                          runs in a dedicated worker: workers/browser/bundle.mjs)
 *   dist/cli.js            src/cli/main.ts platform node, `#!/usr/bin/env node`, executable; imports
 *                                          the library at run time from ./node/index.js (not a copy)
 *   dist/types/**.d.ts     tsc -p tsconfig.build.json (declarations only)
 *
 * Flags: --no-types skips the declarations (faster, for tests that only need bundles).
 *        --check-browser FILE  bundles FILE for the browser in memory and runs only the
 *        Node-built-in check (used by tests to prove the check fires).
 *        --browser-only --out DIR  writes only DIR/browser/index.js (+ map), checked the same way; DIR
 *        is not emptied (test/bundling installs it into a temporary app without touching dist/).
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserRuntimePlugin } from '../workers/browser/bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const withTypes = !process.argv.includes('--no-types');
const browserOnly = process.argv.includes('--browser-only');
const outArg = process.argv.indexOf('--out');
const outDir = outArg === -1 ? null : resolve(process.argv[outArg + 1]);
const started = Date.now();

/** Node-only module specifiers: node:*, every built-in by bare name (fs, path, url, ...), and their subpaths. */
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
function isNodeOnly(spec) {
  if (spec.startsWith('node:')) return true;
  return NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(spec.split('/')[0]);
}

/**
 * Browser build: let Node built-ins resolve as external (esbuild's own error names only the
 * importing file), then reject them below with the whole import chain from the entry.
 */
const flagNodeBuiltins = {
  name: 'flag-node-builtins',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (isNodeOnly(args.path) ? { path: args.path, external: true } : undefined));
  },
};

/** The CLI imports the library through src/node.ts; at run time that is the built ./node/index.js next to cli.js. */
const nodeEntryExternal = {
  name: 'node-entry-external',
  setup(b) {
    const nodeEntry = join(root, 'src', 'node.ts');
    b.onResolve({ filter: /(^|\/)node\.js$/ }, (args) => {
      if (!args.importer) return undefined;
      const target = resolve(dirname(args.importer), args.path.replace(/\.js$/, '.ts'));
      return target === nodeEntry ? { path: './node/index.js', external: true } : undefined;
    });
  },
};

/** The chain of imports from an entry to `target` in an esbuild metafile, for error messages. */
function importChain(metafile, entry, target) {
  const prev = new Map([[entry, null]]);
  const queue = [entry];
  while (queue.length) {
    const file = queue.shift();
    for (const imp of metafile.inputs[file]?.imports ?? []) {
      if (imp.path === target && imp.external) {
        const chain = [`${imp.original ?? imp.path}`];
        for (let f = file; f; f = prev.get(f)) chain.unshift(f);
        return chain;
      }
      if (!imp.external && !prev.has(imp.path)) {
        prev.set(imp.path, file);
        queue.push(imp.path);
      }
    }
  }
  return [entry, '…', target];
}

function checkBrowserBundle(metafile, entry) {
  const offenders = [];
  for (const [file, input] of Object.entries(metafile.inputs)) {
    for (const imp of input.imports) {
      if (imp.external && isNodeOnly(imp.path)) offenders.push({ file, spec: imp.original ?? imp.path, path: imp.path });
    }
  }
  // Belt and braces: nothing external may be Node-only in the output either.
  for (const out of Object.values(metafile.outputs)) {
    for (const imp of out.imports ?? []) {
      if (isNodeOnly(imp.path) && !offenders.some((o) => o.path === imp.path)) offenders.push({ file: '(output)', spec: imp.path, path: imp.path });
    }
  }
  if (offenders.length === 0) return;
  const lines = offenders.map((o) => `  "${o.spec}" imported by ${o.file}\n    via ${importChain(metafile, entry, o.path).join(' -> ')}`);
  throw new Error(
    `dist/browser/index.js must not contain Node-only modules, but the browser entry reaches:\n${lines.join('\n')}\n` +
      'Move the Node-only code behind src/node.ts (the Node entry) or inject it from there.',
  );
}

const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  absWorkingDir: root,
  legalComments: 'linked',
};

/** The self-contained browser bundle of src/index.ts, checked for Node built-ins. */
async function buildBrowser(outfile) {
  const browserEntry = 'src/index.ts';
  const browser = await build({
    ...common,
    entryPoints: [browserEntry],
    outfile,
    platform: 'browser',
    // Bundled so the file works as is from a <script type="module">, a worker or an edge function.
    plugins: [flagNodeBuiltins, await browserRuntimePlugin()],
  });
  checkBrowserBundle(browser.metafile, browserEntry);
}

/** `--check-browser FILE`: the browser check alone, nothing written. */
async function checkOnly(entry) {
  const r = await build({ ...common, entryPoints: [entry], outfile: 'check/index.js', write: false, platform: 'browser', plugins: [flagNodeBuiltins] });
  checkBrowserBundle(r.metafile, relative(root, resolve(entry)));
  console.log(`${entry}: browser-safe`);
}

async function main() {
  const check = process.argv.indexOf('--check-browser');
  if (check !== -1) return checkOnly(process.argv[check + 1]);
  if (browserOnly) {
    const outfile = join(outDir ?? dist, 'browser', 'index.js');
    await buildBrowser(outfile);
    console.log(`built ${outfile} ${(readFileSync(outfile).length / 1024).toFixed(1)} kB in ${Date.now() - started} ms`);
    return;
  }
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });

  await Promise.all([
    buildBrowser('dist/browser/index.js'),
    build({
      ...common,
      entryPoints: ['src/node.ts'],
      outfile: 'dist/node/index.js',
      platform: 'node',
      packages: 'external',
    }),
    build({
      ...common,
      entryPoints: ['src/cli/main.ts'],
      outfile: 'dist/cli.js',
      platform: 'node',
      packages: 'external',
      banner: { js: '#!/usr/bin/env node' },
      plugins: [nodeEntryExternal],
    }),
  ]);
  chmodSync(join(dist, 'cli.js'), 0o755);

  // The CLI must load the library from ./node/index.js, never carry its own copy.
  const cliSource = readFileSync(join(dist, 'cli.js'), 'utf8');
  if (!cliSource.includes('"./node/index.js"')) throw new Error('dist/cli.js does not import ./node/index.js; the node-entry-external plugin did not apply');

  if (withTypes) {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${r.status ?? r.signal})`);
  }

  const sizes = ['dist/node/index.js', 'dist/browser/index.js', 'dist/cli.js']
    .map((f) => `${f} ${(readFileSync(join(root, f)).length / 1024).toFixed(1)} kB`);
  console.log(`built ${sizes.join(', ')}${withTypes ? ', dist/types' : ''} in ${Date.now() - started} ms`);
}

main().catch((e) => {
  console.error(`build failed: ${e instanceof Error ? e.message : e}`);
  if (e?.errors === undefined && process.env.MAMBA_EDGE_DEBUG === '1') console.error(e);
  process.exitCode = 1;
});

