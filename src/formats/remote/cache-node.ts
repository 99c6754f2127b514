/**
 * The Node cache of remote files: a directory (default ~/.cache/mamba-edge, or
 * $MAMBA_EDGE_CACHE, or $XDG_CACHE_HOME/mamba-edge). Each file is two entries under files/,
 * named by the SHA-256 of its URL: `<key>` (the bytes) and `<key>.json` (url, size, etag,
 * sha256). A download streams into a temp file next to them and is renamed into place only
 * once complete, then its metadata is written the same way; a crash at any point leaves
 * either no entry or one whose bytes fail the check on the next read and are fetched again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fail } from '../../errors.js';
import type { CacheMeta, EntryWriter, RemoteCache } from './cache.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MAMBA_EDGE_CACHE) return env.MAMBA_EDGE_CACHE;
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'mamba-edge');
}

const READ_CHUNK = 16 * 1024 * 1024;

/** The file's bytes if it is exactly `size` long (and their SHA-256 if asked); undefined if not. */
async function readWhole(path: string, size: number, withHash: boolean): Promise<{ bytes: Uint8Array; sha256?: string } | undefined> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== size) return undefined;
    const bytes = new Uint8Array(size);
    const hash = withHash ? createHash('sha256') : undefined;
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(bytes, at, Math.min(READ_CHUNK, size - at), at);
      if (bytesRead === 0) return undefined;
      hash?.update(bytes.subarray(at, at + bytesRead));
      at += bytesRead;
    }
    return hash ? { bytes, sha256: hash.digest('hex') } : { bytes };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

export function directoryCache(dir: string): RemoteCache {
  const files = join(dir, 'files');
  const key = (url: string) => join(files, createHash('sha256').update(url).digest('hex'));
  const cacheError = (what: string, e: unknown) =>
    fail('E_FILE', `cache ${dir}: could not ${what}: ${e instanceof Error ? e.message : String(e)} (choose another directory with the cache option or MAMBA_EDGE_CACHE, or pass cache: false)`, { file: dir, cause: e });

  // Temp files of downloads that a killed process left behind: removed once a day old.
  let swept = false;
  async function sweep(): Promise<void> {
    if (swept) return;
    swept = true;
    const names = await readdir(files).catch(() => [] as string[]);
    const dayAgo = Date.now() - 24 * 3600 * 1000;
    for (const n of names.filter((n) => n.endsWith('.part') || n.endsWith('.part.json'))) {
      const p = join(files, n);
      const st = await stat(p).catch(() => undefined);
      if (st && st.mtimeMs < dayAgo) await rm(p, { force: true }).catch(() => undefined);
    }
  }

  async function drop(path: string): Promise<void> {
    await rm(path, { force: true }).catch(() => undefined);
    await rm(`${path}.json`, { force: true }).catch(() => undefined);
  }

  return {
    where: dir,

    async meta(url) {
      let m: Partial<CacheMeta>;
      try {
        m = JSON.parse(await readFile(`${key(url)}.json`, 'utf8')) as Partial<CacheMeta>;
      } catch {
        return undefined; // absent, or unreadable: treated as absent and replaced by the next download
      }
      if (m === null || typeof m !== 'object' || m.url !== url || !Number.isSafeInteger(m.size) || m.size! < 0 || typeof m.sha256 !== 'string') return undefined;
      return { url, size: m.size!, sha256: m.sha256, ...(typeof m.etag === 'string' ? { etag: m.etag } : {}) };
    },

    async read(url, meta) {
      const path = key(url);
      let got: { bytes: Uint8Array; sha256?: string } | undefined;
      try {
        got = await readWhole(path, meta.size, true);
      } catch {
        got = undefined;
      }
      if (got && got.sha256 === meta.sha256) return got.bytes;
      await drop(path); // missing, cut short, grown or altered: fetch it again
      return undefined;
    },

    async writer(url): Promise<EntryWriter> {
      const path = key(url);
      const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.part`;
      let fh: FileHandle;
      try {
        await mkdir(files, { recursive: true });
        await sweep();
        fh = await open(tmp, 'w');
      } catch (e) {
        throw cacheError(`create ${tmp}`, e);
      }
      let hash = createHash('sha256');
      let size = 0;
      let closed = false;
      const close = async () => { if (!closed) { closed = true; await fh.close(); } };
      return {
        async begin(_expected, offset) {
          if (offset > 0) {
            // A resumed download: the hash has seen exactly the bytes written so far.
            if (offset !== size) throw new Error(`resume at ${offset}, but ${size} bytes are written`);
            return;
          }
          if (size > 0) await fh.truncate(0); // a retry that starts the file over
          hash = createHash('sha256');
          size = 0;
        },
        async write(chunk) {
          try {
            let done = 0;
            while (done < chunk.byteLength) {
              const { bytesWritten } = await fh.write(chunk, done, chunk.byteLength - done, size + done);
              done += bytesWritten;
            }
          } catch (e) {
            throw cacheError(`write ${tmp}`, e);
          }
          hash.update(chunk);
          size += chunk.byteLength;
        },
        async commit(info) {
          const meta: CacheMeta = { url, size, sha256: hash.digest('hex'), ...(info.etag !== undefined ? { etag: info.etag } : {}) };
          const metaTmp = `${tmp}.json`;
          try {
            await fh.sync();
            await close();
            await rename(tmp, path);
            await writeFile(metaTmp, JSON.stringify(meta));
            await rename(metaTmp, `${path}.json`);
          } catch (e) {
            await rm(tmp, { force: true }).catch(() => undefined);
            await rm(metaTmp, { force: true }).catch(() => undefined);
            throw cacheError(`store ${path}`, e);
          }
          try {
            const got = await readWhole(path, size, false);
            if (got) return got.bytes;
          } catch { /* fall through */ }
          throw fail('E_FILE', `cache ${dir}: ${path} changed while being stored (another process?); load again`, { file: path });
        },
        async discard() {
          await close().catch(() => undefined);
          await rm(tmp, { force: true }).catch(() => undefined);
        },
      };
    },

    async delete(url) {
      await drop(key(url));
    },
  };
}
