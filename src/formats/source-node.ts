/**
 * FileSource over a local directory (Node only; imported by the Node entry).
 *
 * File names may come from untrusted index files (shard names), so they are
 * confined to the directory: no absolute paths, no '..' segments.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { fail, throwIfAborted, MambaEdgeError } from '../errors.js';
import { describe, type FileSource, type ReadOptions } from './source.js';

/** Read size per fs call: large enough to be fast, small enough for timely progress and abort. */
const CHUNK_BYTES = 16 * 1024 * 1024;

// O_NONBLOCK makes open() of a FIFO return at once instead of waiting for a writer
// (we then reject it as "not a regular file"). It is a no-op for regular files; absent on Windows.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

export function directorySource(dir: string): FileSource {
  if (typeof dir !== 'string' || dir === '') {
    throw fail('E_ARGUMENT', `directory source: expected a directory path, got ${dir === '' ? 'an empty string' : typeof dir}`);
  }
  const label = dir.length > 1 ? dir.replace(/[\\/]+$/, '') || dir : dir; // "models/x/" -> "models/x" for messages

  const source: FileSource = {
    label,
    async has(name) {
      const p = resolve(name);
      try {
        return (await stat(p)).isFile();
      } catch {
        return false;
      }
    },
    async size(name) {
      const p = resolve(name);
      let st;
      try {
        st = await stat(p);
      } catch (e) {
        throw await osError(e, name);
      }
      if (!st.isFile()) throw notAFile(name, st.isDirectory());
      return st.size;
    },
    async read(name, opts: ReadOptions = {}) {
      const p = resolve(name);
      const what = `reading ${describe(source, name)}`;
      throwIfAborted(opts.signal, what);
      let fh;
      try {
        fh = await open(p, OPEN_FLAGS);
      } catch (e) {
        throw await osError(e, name);
      }
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw notAFile(name, st.isDirectory());
        const total = st.size;
        let buf: Uint8Array;
        try {
          buf = new Uint8Array(total); // one allocation, sized by fstat
        } catch (e) {
          throw fail('E_FILE', `${describe(source, name)} is ${total} bytes, too large to hold in memory in one piece`, { file: name, cause: e });
        }
        let loaded = 0;
        while (loaded < total) {
          throwIfAborted(opts.signal, what);
          const { bytesRead } = await fh.read(buf, loaded, Math.min(CHUNK_BYTES, total - loaded), loaded);
          if (bytesRead === 0) {
            throw fail('E_FILE', `${describe(source, name)} shrank while being read (${loaded} of ${total} bytes)`, { file: name });
          }
          loaded += bytesRead;
          opts.onProgress?.({ file: name, loaded, total });
        }
        if (total === 0) opts.onProgress?.({ file: name, loaded: 0, total: 0 });
        return buf;
      } catch (e) {
        if (e instanceof MambaEdgeError) throw e;
        throw await osError(e, name);
      } finally {
        await fh.close().catch(() => undefined);
      }
    },
  };

  // readRangeSync keeps each file open while a loader reads tensor after tensor (system calls are
  // not free: a 130M model has ~200 tensors) and closes them all once the current task is over.
  const openFiles = new Map<string, number>();
  let closing: ReturnType<typeof setTimeout> | undefined;
  const closeAll = () => {
    closing = undefined;
    for (const fd of openFiles.values()) {
      try { closeSync(fd); } catch { /* already gone */ }
    }
    openFiles.clear();
  };
  const fdFor = (name: string): number => {
    let fd = openFiles.get(name);
    if (fd !== undefined) return fd;
    const p = resolve(name);
    try {
      fd = openSync(p, OPEN_FLAGS);
    } catch (e) {
      throw syncOsError(e, name);
    }
    try {
      if (!fstatSync(fd).isFile()) throw notAFile(name, false);
    } catch (e) {
      closeSync(fd);
      throw e instanceof MambaEdgeError ? e : syncOsError(e, name);
    }
    openFiles.set(name, fd);
    if (!closing) {
      closing = setTimeout(closeAll, 0);
      (closing as { unref?: () => void }).unref?.(); // never keeps the process alive; exit closes the files anyway
    }
    return fd;
  };

  source.readRangeSync = (name, offset, length, into) => {
    const fd = fdFor(name);
    try {
      const buf = into && into.byteLength >= length ? into.subarray(0, length) : new Uint8Array(length);
      let loaded = 0;
      while (loaded < length) {
        const n = readSync(fd, buf, loaded, Math.min(CHUNK_BYTES, length - loaded), offset + loaded);
        if (n === 0) {
          throw fail('E_FILE', `${describe(source, name)} shrank while being read (wanted bytes ${offset}..${offset + length}, the file ends at ${offset + loaded})`, { file: name });
        }
        loaded += n;
      }
      return buf;
    } catch (e) {
      if (e instanceof MambaEdgeError) throw e;
      throw syncOsError(e, name);
    }
  };

  function syncOsError(e: unknown, name: string): MambaEdgeError {
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return fail('E_FILE', `${describe(source, name)} not found`, { file: name, cause: e });
    if (code === 'EISDIR') return notAFile(name, true);
    const reason = e instanceof Error ? e.message : String(e);
    return fail('E_FILE', `${describe(source, name)} could not be read: ${reason}`, { file: name, cause: e });
  }

  /** Joins a file name onto the directory, refusing anything that could leave it. */
  function resolve(name: string): string {
    if (typeof name !== 'string' || name === '' || name.includes('\0')) {
      throw fail('E_ARGUMENT', `${label}: invalid file name ${JSON.stringify(name)}`, { file: String(name) });
    }
    const escapes =
      path.isAbsolute(name) || path.win32.isAbsolute(name) || /^[a-zA-Z]:/.test(name) || name.split(/[\\/]/).includes('..');
    if (escapes) {
      throw fail('E_ARGUMENT', `${label}: file name ${JSON.stringify(name)} is not a relative path inside the model directory`, { file: name });
    }
    return path.join(dir, name);
  }

  function notAFile(name: string, isDir: boolean): MambaEdgeError {
    return fail('E_FILE', `${describe(source, name)} is ${isDir ? 'a directory' : 'not a regular file'}, expected a file`, { file: name });
  }

  /** Maps an fs error to E_FILE, keeping the OS reason (code and message). */
  async function osError(e: unknown, name: string): Promise<MambaEdgeError> {
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const dirMissing = !(await stat(dir).then((s) => s.isDirectory(), () => false));
      const why = dirMissing ? ` (directory ${label} does not exist)` : '';
      return fail('E_FILE', `${describe(source, name)} not found${why}`, { file: name, cause: e });
    }
    if (code === 'EISDIR') return notAFile(name, true);
    const reason = e instanceof Error ? e.message : String(e);
    return fail('E_FILE', `${describe(source, name)} could not be read: ${reason}`, { file: name, cause: e });
  }

  return source;
}
