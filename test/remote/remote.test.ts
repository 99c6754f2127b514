/**
 * Remote sources against a local stand-in for the Hub (hub-server.ts, 127.0.0.1): the embedded
 * default model served in the Hub's layout loads to the same logits as the local folder;
 * downloads survive drops, lying Content-Lengths and 5xx/429 by retrying, give up on
 * 404/403 with typed errors naming the URL, never leave a partial file in the cache, abort
 * on a signal; the cache is reused, revalidated by ETag, and re-fetched when corrupted.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir, loadModel, type LoadOptions, type LoadProgress, type Model } from '../../src/node.js';
import { remoteSource } from '../../src/formats/remote/source.js';
import { directoryCache } from '../../src/formats/remote/cache-node.js';
import { fileUrl, parseRemoteSource } from '../../src/formats/remote/url.js';
import { parseSafetensors, toFloat32 } from '../../src/formats/safetensors.js';
import { writeSafetensors } from '../helpers/safetensors-writer.js';
import { startHubServer, type HubServer } from './hub-server.js';
import { caught, rejected } from '../helpers/errors.js';

const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const REPO = 'test/default';
const IDS = [[1, 2, 3, 200, 17, 5]];

/** Per file: loaded never goes back, never passes total, and the last event is loaded === total === the file's size. */
function expectGoodProgress(events: LoadProgress[], sizes: Record<string, number>, from: 'network' | 'cache') {
  const byFile = new Map<string, LoadProgress[]>();
  for (const p of events) byFile.set(p.file, [...(byFile.get(p.file) ?? []), p]);
  for (const [file, size] of Object.entries(sizes)) {
    const list = byFile.get(file) ?? [];
    expect(list.length, file).toBeGreaterThan(0);
    let last = -1;
    for (const p of list) {
      expect(p.from).toBe(from);
      expect(p.loaded).toBeGreaterThanOrEqual(last);
      expect(p.loaded).toBeLessThanOrEqual(p.total);
      last = p.loaded;
    }
    expect(list.at(-1)).toMatchObject({ loaded: size, total: size });
  }
}

const cacheFile = (dir: string, url: string) => join(dir, 'files', createHash('sha256').update(url).digest('hex'));
const cacheEntries = (dir: string) => { try { return readdirSync(join(dir, 'files')); } catch { return []; } };

describe('remote sources (a local Hub on 127.0.0.1)', { timeout: 60_000 }, () => {
  let hub: HubServer;
  let local: Model;
  let localLogits: Float32Array;
  const dirs: string[] = [];
  const bytes: Record<string, Uint8Array> = {};
  const tmp = (tag: string) => { const d = mkdtempSync(join(tmpdir(), `mamba-edge-${tag}-`)); dirs.push(d); return d; };
  const opts = (cache: string | false, extra: LoadOptions = {}): LoadOptions => ({ backend: 'reference', endpoint: hub.endpoint, cache, ...extra });
  const logitsOf = async (m: Model) => { try { return (await m.forward(IDS)).logits; } finally { await m.dispose(); } };

  beforeAll(async () => {
    hub = await startHubServer();
    for (const f of MODEL_FILES) {
      bytes[f] = new Uint8Array(readFileSync(join(defaultModelDir(), f)));
      hub.put(REPO, f, bytes[f]!);
    }
    local = await loadModel(defaultModelDir(), { backend: 'reference' });
    localLogits = (await local.forward(IDS)).logits;
  });

  afterAll(async () => {
    await local?.dispose();
    await hub?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('hf:owner/name loads through redirects to the same logits, fingerprint and tokenizer as the local folder; a second load comes from the cache', async () => {
    const cache = tmp('cache');
    const progress: LoadProgress[] = [];
    const m = await loadModel(`hf:${REPO}`, opts(cache, { onProgress: (p) => progress.push({ ...p }) }));
    expect(m.fingerprint).toBe(local.fingerprint);
    expect(m.tokenizer.kind).toBe('tokenizer.json');
    expect(m.tokenizer.encode('The package provides')).toEqual(local.tokenizer.encode('The package provides'));
    expect(await logitsOf(m)).toEqual(localLogits);
    // The weights went through the Hub's 302 to its CDN path.
    expect(hub.requests.some((r) => r.method === 'GET' && r.path === `/${REPO}/resolve/main/model.safetensors`)).toBe(true);
    expect(hub.gets('model.safetensors')).toBe(1);
    const sizes = Object.fromEntries(MODEL_FILES.map((f) => [f, bytes[f]!.byteLength]));
    expectGoodProgress(progress, { 'model.safetensors': sizes['model.safetensors']! }, 'network');
    expect(progress.filter((p) => p.file === 'model.safetensors').length).toBeGreaterThan(5); // streamed, not one event at the end
    // Every file is in the cache, no temp files left.
    expect(cacheEntries(cache).sort()).toHaveLength(MODEL_FILES.length * 2);
    expect(cacheEntries(cache).some((n) => n.endsWith('.part'))).toBe(false);

    const before = hub.requests.length;
    const again: LoadProgress[] = [];
    const m2 = await loadModel(`hf:${REPO}@main`, opts(cache, { onProgress: (p) => again.push({ ...p }) }));
    expect(await logitsOf(m2)).toEqual(localLogits);
    const later = hub.requests.slice(before);
    expect(later.filter((r) => r.method === 'GET')).toEqual([]); // revalidated with HEADs only
    expect(later.filter((r) => r.method === 'HEAD').length).toBeGreaterThan(0);
    expectGoodProgress(again, { 'model.safetensors': sizes['model.safetensors']! }, 'cache');
  });

  it('an https:// folder URL loads the same model, with or without the trailing slash', async () => {
    const base = `${hub.endpoint}/${REPO}/resolve/main`;
    expect(await logitsOf(await loadModel(`${base}/`, { backend: 'reference', cache: false }))).toEqual(localLogits);
    expect(await logitsOf(await loadModel(base, { backend: 'reference', cache: false }))).toEqual(localLogits);
  });

  it('sharded weights (index + shards) load to the same logits', async () => {
    const st = parseSafetensors(bytes['model.safetensors']!, 'model.safetensors');
    const all = [...st.tensors].map(([n, t]) => [n, { dtype: t.dtype as 'F32', shape: t.shape, data: toFloat32(t) }] as const);
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const half = Math.ceil(all.length / 2);
    const shards = [all.slice(0, half), all.slice(half)];
    const repo = 'test/sharded';
    for (const f of ['config.json', 'tokenizer.json']) hub.put(repo, f, bytes[f]!);
    hub.put(repo, 'model.safetensors.index.json', new TextEncoder().encode(JSON.stringify({
      metadata: {}, weight_map: Object.fromEntries(shards.flatMap((s, i) => s.map(([n]) => [n, names[i]]))),
    })));
    shards.forEach((s, i) => hub.put(repo, names[i]!, writeSafetensors(Object.fromEntries(s))));
    const m = await loadModel(`hf:${repo}`, opts(tmp('sharded')));
    expect(m.fingerprint).toBe(local.fingerprint);
    expect(await logitsOf(m)).toEqual(localLogits);
  });

  it('an ETag change re-fetches that file only; a cache file corrupted or cut short on disk is detected and re-fetched', async () => {
    const repo = 'test/etag';
    for (const f of MODEL_FILES) hub.put(repo, f, bytes[f]!);
    const cache = tmp('etag');
    await (await loadModel(`hf:${repo}`, opts(cache))).dispose();
    expect(hub.gets('tokenizer.json')).toBeGreaterThan(0);
    const [tokGets, weightGets] = [hub.gets('tokenizer.json'), hub.gets('model.safetensors')];

    // New content upstream (valid JSON, different bytes → a different ETag).
    hub.put(repo, 'tokenizer.json', new TextEncoder().encode(`${new TextDecoder().decode(bytes['tokenizer.json'])}\n`));
    expect(await logitsOf(await loadModel(`hf:${repo}`, opts(cache)))).toEqual(localLogits);
    expect(hub.gets('tokenizer.json')).toBe(tokGets + 1);
    expect(hub.gets('model.safetensors')).toBe(weightGets);

    // One byte flipped in the cached weights (same size: only the checksum can tell).
    const weightsUrl = `${hub.endpoint}/${repo}/resolve/main/model.safetensors`;
    const path = cacheFile(cache, weightsUrl);
    const onDisk = readFileSync(path);
    onDisk[onDisk.length - 5] ^= 0x40;
    writeFileSync(path, onDisk);
    expect(await logitsOf(await loadModel(`hf:${repo}`, opts(cache)))).toEqual(localLogits);
    expect(hub.gets('model.safetensors')).toBe(weightGets + 1);
    expect(readFileSync(path).equals(Buffer.from(bytes['model.safetensors']!))).toBe(true);

    // Cut short on disk.
    writeFileSync(path, readFileSync(path).subarray(0, 1000));
    expect(await logitsOf(await loadModel(`hf:${repo}`, opts(cache)))).toEqual(localLogits);
    expect(hub.gets('model.safetensors')).toBe(weightGets + 2);
    expect(statSync(path).size).toBe(bytes['model.safetensors']!.byteLength);
  });

  it('missing optional files are fine; a missing required file is E_FILE naming the URL; the repo must exist', async () => {
    const repo = 'test/partial';
    hub.put(repo, 'config.json', bytes['config.json']!);
    hub.put(repo, 'model.safetensors', bytes['model.safetensors']!);
    const m = await loadModel(`hf:${repo}`, opts(false)); // no tokenizer files: the byte tokenizer
    expect(m.tokenizer.kind).toBe('byte');
    expect(await logitsOf(m)).toEqual(localLogits);

    hub.put('test/noweights', 'config.json', bytes['config.json']!);
    const noWeights = await rejected(loadModel('hf:test/noweights', opts(false)));
    expect(noWeights.code).toBe('E_FILE');
    expect(noWeights.message).toContain(`${hub.endpoint}/test/noweights/resolve/main`);
    expect(noWeights.message).toMatch(/model\.safetensors/);

    // The Hub's answers for a repo (401 RepoNotFound) or revision (404 RevisionNotFound) that does not exist.
    const noRepo = await rejected(loadModel('hf:test/nothing-here', opts(false)));
    expect(noRepo.code).toBe('E_FILE');
    expect(noRepo.message).toContain(`${hub.endpoint}/test/nothing-here/resolve/main/config.json: repository not found`);
    expect(noRepo.message).toContain('HTTP 401: Repository not found');
    const noRev = await rejected(loadModel(`hf:${REPO}@v9`, opts(false)));
    expect(noRev.code).toBe('E_FILE');
    expect(noRev.message).toContain(`/resolve/v9/config.json: revision not found`);
    // A plain folder URL without the file: 404.
    const plain = await rejected(loadModel(`${hub.endpoint}/test/partial/resolve/main/sub/`, { cache: false }));
    expect(plain.code).toBe('E_FILE');
    expect(plain.message).toContain(`${hub.endpoint}/test/partial/resolve/main/sub/config.json not found (HTTP 404)`);
  });

  it('abort mid-download: AbortError (E_ABORTED), nothing cached, no temp file left', async () => {
    const repo = 'test/abort';
    for (const f of MODEL_FILES) hub.put(repo, f, bytes[f]!);
    hub.fault('model.safetensors', ['stall']);
    const cache = tmp('abort');
    const ctrl = new AbortController();
    let seen = 0;
    const e = await rejected(loadModel(`hf:${repo}`, opts(cache, {
      signal: ctrl.signal,
      onProgress: (p) => { if (p.file === 'model.safetensors' && p.loaded > 0 && ++seen === 1) ctrl.abort(); },
    })));
    expect(e.code).toBe('E_ABORTED');
    expect(e.name).toBe('AbortError');
    expect(seen).toBeGreaterThan(0);
    const url = `${hub.endpoint}/${repo}/resolve/main/model.safetensors`;
    const names = cacheEntries(cache);
    expect(names.some((n) => n.endsWith('.part'))).toBe(false);
    expect(names).not.toContain(createHash('sha256').update(url).digest('hex'));
    hub.fault('model.safetensors', []);
  });

  it('the env MAMBA_EDGE_CACHE is the default cache directory; cache: false writes nothing', async () => {
    const envDir = tmp('env');
    const saved = process.env.MAMBA_EDGE_CACHE;
    process.env.MAMBA_EDGE_CACHE = envDir;
    try {
      await (await loadModel(`hf:${REPO}`, { backend: 'reference', endpoint: hub.endpoint, cache: false })).dispose();
      expect(cacheEntries(envDir)).toEqual([]);
      await (await loadModel(`hf:${REPO}`, { backend: 'reference', endpoint: hub.endpoint })).dispose();
      expect(cacheEntries(envDir)).toHaveLength(MODEL_FILES.length * 2);
    } finally {
      if (saved === undefined) delete process.env.MAMBA_EDGE_CACHE;
      else process.env.MAMBA_EDGE_CACHE = saved;
    }
  });

  it('offline: with the server gone, a cached model still loads (one HEAD try, no backoff)', async () => {
    const hub2 = await startHubServer();
    for (const f of MODEL_FILES) hub2.put(REPO, f, bytes[f]!);
    const cache = tmp('offline');
    const o = { backend: 'reference' as const, endpoint: hub2.endpoint, cache };
    await (await loadModel(`hf:${REPO}`, o)).dispose();
    await hub2.close();
    const t0 = performance.now();
    expect(await logitsOf(await loadModel(`hf:${REPO}`, o))).toEqual(localLogits);
    expect(performance.now() - t0).toBeLessThan(5000);
    // Not cached and offline: E_NETWORK after the retries.
    const e = await rejected(loadModel(`hf:${REPO}`, { ...o, cache: false, retries: 1 }));
    expect(e.code).toBe('E_NETWORK');
    expect(e.message).toContain(`${hub2.endpoint}/${REPO}/resolve/main/config.json`);
  });
});

describe('the download layer: retries, lying lengths, refusals (FileSource level, short backoff)', { timeout: 30_000 }, () => {
  let hub: HubServer;
  const dirs: string[] = [];
  const weights = new Uint8Array(readFileSync(join(defaultModelDir(), 'model.safetensors')));
  const REPO2 = 'test/faults';
  const W = 'model.safetensors';

  beforeAll(async () => {
    hub = await startHubServer();
    hub.put(REPO2, W, weights);
    hub.put(REPO2, 'config.json', new TextEncoder().encode('{"model_type":"mamba"}'));
  });
  afterAll(async () => {
    await hub?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function source(retries = 3) {
    const dir = mkdtempSync(join(tmpdir(), 'mamba-edge-faults-'));
    dirs.push(dir);
    const src = remoteSource(`hf:${REPO2}`, { endpoint: hub.endpoint, cache: directoryCache(dir), retries, retryBaseMs: 10 });
    const url = fileUrl(src.location, W);
    return { src, dir, url, cached: () => cacheEntries(dir).filter((n) => !n.endsWith('.json')) };
  }

  const cases: [string, Parameters<HubServer['fault']>[1]][] = [
    ['a connection dropped mid-file', ['drop']],
    ['a Content-Length longer than the body', ['long-length']],
    ['a Content-Length shorter than the body (and than HEAD said)', ['short-length']],
    ['HTTP 500, then 429 (Retry-After 0)', [500, 429]],
  ];
  for (const [what, faults] of cases) {
    it(`${what}: retried, then the whole file; monotone progress`, async () => {
      const { src, cached } = source();
      hub.fault(W, faults);
      const before = hub.gets(W);
      const progress: { loaded: number; total: number }[] = [];
      const got = await src.read(W, { onProgress: (p) => progress.push(p) });
      expect(Buffer.from(got).equals(Buffer.from(weights))).toBe(true);
      expect(hub.gets(W) - before).toBe(faults.length + 1);
      for (let i = 1; i < progress.length; i++) expect(progress[i]!.loaded).toBeGreaterThanOrEqual(progress[i - 1]!.loaded);
      expect(progress.at(-1)).toEqual({ file: W, loaded: weights.byteLength, total: weights.byteLength, from: 'network' });
      expect(cached()).toHaveLength(1);
    });

    it(`${what}, every time: E_NETWORK naming the URL and the attempts, nothing cached`, async () => {
      const { src, url, cached, dir } = source(2);
      hub.fault(W, faults.slice(-1), { always: true });
      const before = hub.gets(W);
      const e = await rejected(src.read(W));
      hub.fault(W, []);
      expect(e.code).toBe('E_NETWORK');
      expect(e.message).toContain(url);
      expect(e.message).toMatch(/after 3 attempts/);
      expect(hub.gets(W) - before).toBe(3);
      expect(cached()).toEqual([]);
      expect(cacheEntries(dir).some((n) => n.endsWith('.part'))).toBe(false);
    });
  }

  it('a dropped download resumes with Range + If-Range from the bytes it has; without ranges it starts over', async () => {
    for (const ranges of [true, false]) {
      hub.setRanges(ranges);
      const { src } = source();
      hub.fault(W, ['drop', 'drop']);
      const before = hub.requests.length;
      const progress: number[] = [];
      const got = await src.read(W, { onProgress: (p) => progress.push(p.loaded) });
      expect(Buffer.from(got).equals(Buffer.from(weights))).toBe(true);
      const gets = hub.requests.slice(before).filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
      expect(gets).toHaveLength(3);
      if (ranges) {
        // The first drop leaves half the file: the retries ask for the rest only.
        expect(gets[0]!.range).toBeUndefined();
        expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
        expect(Number(/\d+/.exec(gets[1]!.range!)![0])).toBeGreaterThan(0);
      } else {
        expect(gets.every((g) => g.range === undefined || g.range.startsWith('bytes='))).toBe(true);
      }
      for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!);
      expect(progress.at(-1)).toBe(weights.byteLength);
    }
    hub.setRanges(true);
  });

  it('a HEAD without Content-Length: size() fetches the file once and the read that follows gets those bytes', async () => {
    hub.setHeadLengths(false);
    try {
      const { src } = source();
      const before = hub.gets('config.json');
      expect(await src.size('config.json')).toBe(22);
      expect(new TextDecoder().decode(await src.read('config.json'))).toBe('{"model_type":"mamba"}');
      expect(hub.gets('config.json') - before).toBe(1);
    } finally {
      hub.setHeadLengths(true);
    }
  });

  it('temp files a killed download left behind are swept once a day old', async () => {
    const { src, dir } = source();
    await src.read('config.json');
    const old = join(dir, 'files', 'deadbeef.123.abc.part');
    const fresh = join(dir, 'files', 'deadbeef.456.def.part');
    writeFileSync(old, 'partial');
    writeFileSync(fresh, 'partial');
    utimesSync(old, new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000));
    const again = remoteSource(`hf:${REPO2}`, { endpoint: hub.endpoint, cache: directoryCache(dir), retryBaseMs: 10 });
    await again.read(W);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });

  it('a CDN that refuses HEAD after the redirect (403, as S3 on a URL signed for GET): the GET decides', async () => {
    hub.setCdnHeadStatus(403);
    try {
      const { src } = source();
      expect(await src.has(W)).toBe(true);
      expect(Buffer.from(await src.read(W)).equals(Buffer.from(weights))).toBe(true);
    } finally {
      hub.setCdnHeadStatus(200);
    }
  });

  it('a gzip-encoded body (Content-Length counts the encoded bytes) is decoded and accepted', async () => {
    const { src } = source();
    hub.fault(W, ['gzip']);
    const before = hub.gets(W);
    expect(Buffer.from(await src.read(W)).equals(Buffer.from(weights))).toBe(true);
    expect(hub.gets(W) - before).toBe(1);
  });

  it('two loads of the same file into one cache at once: both get the bytes, one valid entry remains', async () => {
    const { dir, url } = source();
    const a = remoteSource(`hf:${REPO2}`, { endpoint: hub.endpoint, cache: directoryCache(dir), retryBaseMs: 10 });
    const b = remoteSource(`hf:${REPO2}`, { endpoint: hub.endpoint, cache: directoryCache(dir), retryBaseMs: 10 });
    const [x, y] = await Promise.all([a.read(W), b.read(W)]);
    expect(Buffer.from(x).equals(Buffer.from(weights)) && Buffer.from(y).equals(Buffer.from(weights))).toBe(true);
    expect(cacheEntries(dir).sort()).toEqual([createHash('sha256').update(url).digest('hex'), `${createHash('sha256').update(url).digest('hex')}.json`].sort());
    const gets = hub.gets(W);
    const c = remoteSource(`hf:${REPO2}`, { endpoint: hub.endpoint, cache: directoryCache(dir) });
    expect(Buffer.from(await c.read(W)).equals(Buffer.from(weights))).toBe(true);
    expect(hub.gets(W)).toBe(gets); // served from the cache
  });

  it('403 is not retried: E_NETWORK that says a token may be needed', async () => {
    const { src, cached } = source();
    hub.fault(W, [403]);
    const before = hub.gets(W);
    const e = await rejected(src.read(W));
    expect(e.code).toBe('E_NETWORK');
    expect(e.message).toMatch(/HTTP 403.*Authorization/);
    expect(hub.gets(W) - before).toBe(1);
    expect(cached()).toEqual([]);
  });

  it('404: has() is false, read() is E_FILE naming the URL, no GET retried', async () => {
    const { src } = source();
    expect(await src.has('tokenizer.json')).toBe(false);
    const e = await rejected(src.read('tokenizer.json'));
    expect(e.code).toBe('E_FILE');
    expect(e.message).toContain(`${hub.endpoint}/${REPO2}/resolve/main/tokenizer.json not found (HTTP 404)`);
  });

  it('source strings: only hf: and http(s): go to the network; revisions, endpoints and file names are checked', async () => {
    // A bare owner/name is a local path: E_FILE about a directory, no request made.
    const before = hub.requests.length;
    const local = await rejected(loadModel('test/faults', { backend: 'reference' }));
    expect(local.code).toBe('E_FILE');
    expect(local.message).toMatch(/directory test\/faults does not exist/);
    expect(hub.requests.length).toBe(before);

    expect(parseRemoteSource('hf:state-spaces/mamba-130m-hf').base).toBe('https://huggingface.co/state-spaces/mamba-130m-hf/resolve/main/');
    expect(parseRemoteSource('hf:gpt2').base).toBe('https://huggingface.co/gpt2/resolve/main/');
    expect(parseRemoteSource('hf:a/b@refs/pr/1').base).toBe('https://huggingface.co/a/b/resolve/refs%2Fpr%2F1/');
    expect(parseRemoteSource('hf:a/b', { revision: 'v1.0', endpoint: 'https://mirror.example/hub/' }).base).toBe('https://mirror.example/hub/a/b/resolve/v1.0/');
    expect(parseRemoteSource('https://x.example/m').base).toBe('https://x.example/m/');
    for (const [s, o, field] of [
      ['hf:', {}, undefined], ['hf:a/b/c', {}, undefined], ['hf:../x', {}, undefined], ['hf:a/b@', {}, 'revision'],
      ['hf:a/b@v1', { revision: 'v2' }, 'revision'], ['hf:a/b', { endpoint: 'ftp://x' }, 'endpoint'],
      ['https://x.example/m', { revision: 'v1' }, 'revision'], ['https://x.example/m', { endpoint: 'https://y.example' }, 'endpoint'], ['https://u:p@x.example/m', {}, undefined], ['https://x.example/m?a=1', {}, undefined],
    ] as const) {
      const e = caught(() => parseRemoteSource(s, o));
      expect(e.code, s).toBe('E_ARGUMENT');
      if (field) expect(e.field, s).toBe(field);
    }
    const loc = parseRemoteSource('hf:a/b');
    expect(fileUrl(loc, 'sub dir/model-1.safetensors')).toBe('https://huggingface.co/a/b/resolve/main/sub%20dir/model-1.safetensors');
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', 'x?y', 'C:x', 'a//b', '']) {
      expect(caught(() => fileUrl(loc, bad)).code, bad).toBe('E_ARGUMENT');
    }
    expect((await rejected(loadModel(`hf:${REPO2}`, { endpoint: hub.endpoint, cache: '' as string }))).field).toBe('cache');
    expect((await rejected(loadModel(defaultModelDir(), { revision: 'v1' }))).field).toBe('revision');
    expect((await rejected(loadModel(`${hub.endpoint}/x/`, { endpoint: hub.endpoint }))).field).toBe('endpoint');
    expect((await rejected(loadModel(`hf:${REPO2}`, { endpoint: hub.endpoint, retries: -1 }))).field).toBe('retries');
  });
});
