#!/usr/bin/env node
/**
 * The installed packages (paths under node_modules, from package-lock.json) that the given roots need at run
 * time: their dependencies, optional and peer dependencies, resolved the way Node does (nested first), kept only
 * where installed (platform packages of other machines are not). tools/device-kit/build.sh packs them.
 *
 *   node tools/device-kit/closure.mjs vitest tsx webgpu … [--exclude lightningcss,@types/node]
 */
import { existsSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const ex = args.indexOf('--exclude');
const exclude = new Set(ex >= 0 ? args[ex + 1].split(',') : []);
const roots = args.filter((a, i) => a !== '--exclude' && i !== ex + 1);
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')).packages;

/** Where `name` resolves from the package at `from` (a lock path such as node_modules/a/node_modules/b). */
function resolve(name, from) {
  for (let dir = from; ; ) {
    const at = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock[at]) return at;
    if (!dir) return null;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

const seen = new Set();
const queue = roots.map((r) => {
  const at = resolve(r, '');
  if (!at) throw new Error(`${r} is not in package-lock.json`);
  return at;
});
while (queue.length) {
  const at = queue.pop();
  const name = at.slice(at.lastIndexOf('node_modules/') + 'node_modules/'.length);
  if (seen.has(at) || exclude.has(name) || !existsSync(at)) continue;
  seen.add(at);
  const p = lock[at];
  for (const deps of [p.dependencies, p.optionalDependencies, p.peerDependencies]) {
    for (const dep of Object.keys(deps ?? {})) {
      const to = resolve(dep, at);
      if (to) queue.push(to);
    }
  }
}
console.log([...seen].sort().join('\n'));
