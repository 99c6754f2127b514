import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { describe, memorySource, type FileSource } from '../../src/formats/source.js';
import { directorySource } from '../../src/formats/source-node.js';
import { caught, rejected } from '../helpers/errors.js';

type Progress = { file: string; loaded: number; total: number };

/** Progress must be monotone, for the right file, and end exactly at the total. */
function expectGoodProgress(events: Progress[], file: string, total: number) {
  expect(events.length).toBeGreaterThan(0);
  let last = -1;
  for (const p of events) {
    expect(p.file).toBe(file);
    expect(p.total).toBe(total);
    expect(p.loaded).toBeGreaterThanOrEqual(last);
    expect(p.loaded).toBeLessThanOrEqual(total);
    last = p.loaded;
  }
  expect(last).toBe(total);
}

suite('memorySource', () => {
  const bytes = new Uint8Array([1, 2, 3]);

  it('serves a record: has, size, read (no copy), label, describe', async () => {
    const src = memorySource({ 'config.json': bytes, 'b.bin': new Uint8Array([9, 9]).buffer });
    expect(src.label).toBe('<memory>');
    expect(describe(src, 'config.json')).toBe('<memory>/config.json');
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('nope')).toBe(false);
    expect(await src.has('toString')).toBe(false); // no prototype lookups
    expect(await src.size('config.json')).toBe(3);
    expect(await src.read('config.json')).toBe(bytes);
    expect([...(await src.read('b.bin'))]).toEqual([9, 9]);
  });

  it('serves a Map, with a custom label', async () => {
    const src = memorySource(new Map([['x', bytes]]), 'upload');
    expect(await src.size('x')).toBe(3);
    const e = await rejected(src.read('y'));
    expect(e.code).toBe('E_FILE');
    expect(e.file).toBe('y');
    expect(e.message).toBe('upload/y not found');
  });

  it('snapshots the entries at creation', async () => {
    const files: Record<string, Uint8Array> = { a: bytes };
    const src = memorySource(files);
    files.b = bytes;
    delete files.a;
    expect(await src.has('a')).toBe(true);
    expect(await src.has('b')).toBe(false);
  });

  it('E_FILE from size() for a missing file', async () => {
    expect((await rejected(memorySource({}).size('config.json'))).message).toContain('<memory>/config.json not found');
  });

  it('E_ARGUMENT naming the key for bad values', () => {
    for (const [value, got] of [
      ['text', 'string'],
      [[1, 2], 'Array'],
      [new Float32Array(2), 'Float32Array'],
      [null, 'null'],
      [undefined, 'undefined'],
      [{}, 'Object'],
    ] as const) {
      const e = caught(() => memorySource({ 'config.json': bytes, 'model.safetensors': value as any }));
      expect(e.code).toBe('E_ARGUMENT');
      expect(e.field).toBe('model.safetensors');
      expect(e.message).toContain('"model.safetensors"');
      expect(e.message).toContain(got);
    }
    expect(caught(() => memorySource(null as any)).code).toBe('E_ARGUMENT');
    expect(caught(() => memorySource('dir' as any)).code).toBe('E_ARGUMENT');
    expect(caught(() => memorySource(new Map([[1 as any, bytes]]))).code).toBe('E_ARGUMENT');
  });

  it('accepts Node Buffers (a Uint8Array subclass)', async () => {
    const src = memorySource({ a: Buffer.from('hi') });
    expect(await src.size('a')).toBe(2);
  });

  it('reports progress once, at the total', async () => {
    const events: Progress[] = [];
    await memorySource({ a: bytes }).read('a', { onProgress: (p) => events.push(p) });
    expect(events).toEqual([{ file: 'a', loaded: 3, total: 3 }]);
  });

  it('E_ABORTED when the signal has fired', async () => {
    const ac = new AbortController();
    ac.abort(new Error('user'));
    const e = await rejected(memorySource({ a: bytes }).read('a', { signal: ac.signal }));
    expect(e.code).toBe('E_ABORTED');
    expect(e.name).toBe('AbortError');
  });
});

suite('directorySource', () => {
  let dir: string;
  const big = 40 * 1024 * 1024 + 123; // three 16 MiB chunks, the last partial
  let bigBytes: Uint8Array;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mamba-edge-src-'));
    await writeFile(join(dir, 'config.json'), '{"a": 1}');
    await writeFile(join(dir, 'empty.bin'), new Uint8Array(0));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'x.bin'), new Uint8Array([7]));
    bigBytes = new Uint8Array(big);
    for (let i = 0; i < big; i += 4099) bigBytes[i] = (i / 4099) & 0xff;
    await writeFile(join(dir, 'big.bin'), bigBytes);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has, size, read; label and describe', async () => {
    const src = directorySource(dir + '/');
    expect(src.label).toBe(dir);
    expect(describe(src, 'config.json')).toBe(`${dir}/config.json`);
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('missing.json')).toBe(false);
    expect(await src.has('sub')).toBe(false); // a directory is not a file
    expect(await src.has('sub/x.bin')).toBe(true);
    expect(await src.size('config.json')).toBe(8);
    expect(new TextDecoder().decode(await src.read('config.json'))).toBe('{"a": 1}');
    expect([...(await src.read('sub/x.bin'))]).toEqual([7]);
  });

  it('reads a multi-chunk file exactly, with monotone progress ending at the total', async () => {
    const events: Progress[] = [];
    const got = await directorySource(dir).read('big.bin', { onProgress: (p) => events.push({ ...p }) });
    expect(got.length).toBe(big);
    expect(Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.length), Buffer.from(bigBytes))).toBe(0);
    expect(events.length).toBe(3);
    expectGoodProgress(events, 'big.bin', big);
  });

  it('reports progress for an empty file', async () => {
    const events: Progress[] = [];
    expect((await directorySource(dir).read('empty.bin', { onProgress: (p) => events.push(p) })).length).toBe(0);
    expect(events).toEqual([{ file: 'empty.bin', loaded: 0, total: 0 }]);
  });

  it('aborts mid-read between chunks', async () => {
    const ac = new AbortController();
    const events: Progress[] = [];
    const e = await rejected(
      directorySource(dir).read('big.bin', {
        signal: ac.signal,
        onProgress: (p) => {
          events.push(p);
          ac.abort();
        },
      }),
    );
    expect(e.code).toBe('E_ABORTED');
    expect(e.name).toBe('AbortError');
    expect(e.message).toContain('big.bin');
    expect(events.length).toBe(1); // stopped after the first chunk
  });

  it('aborts before opening when already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await rejected(directorySource(dir).read('config.json', { signal: ac.signal }))).code).toBe('E_ABORTED');
  });

  it('E_FILE for a missing file or directory', async () => {
    let e = await rejected(directorySource(dir).read('model.safetensors'));
    expect(e.code).toBe('E_FILE');
    expect(e.file).toBe('model.safetensors');
    expect(e.message).toBe(`${dir}/model.safetensors not found`);
    e = await rejected(directorySource(dir).size('nope.json'));
    expect(e.code).toBe('E_FILE');

    const gone = join(dir, 'no-such-dir');
    e = await rejected(directorySource(gone).read('config.json'));
    expect(e.code).toBe('E_FILE');
    expect(e.message).toContain(`${gone}/config.json not found`);
    expect(e.message).toContain('does not exist');
    expect(await directorySource(gone).has('config.json')).toBe(false);
  });

  it('E_FILE for a directory where a file is expected', async () => {
    for (const op of [(s: FileSource) => s.read('sub'), (s: FileSource) => s.size('sub')]) {
      const e = await rejected(op(directorySource(dir)));
      expect(e.code).toBe('E_FILE');
      expect(e.message).toContain('is a directory');
    }
  });

  it('E_FILE (not a hang) for a FIFO', async () => {
    if (process.platform === 'win32') return;
    const fifo = join(dir, 'fifo');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      return; // no mkfifo here
    }
    const e = await rejected(directorySource(dir).read('fifo'));
    expect(e.code).toBe('E_FILE');
    expect(e.message).toContain('not a regular file');
  });

  it.skipIf(process.platform === 'win32')('E_FILE with the OS reason for other OS errors (symlink loop)', async () => {
    await symlink('loop.bin', join(dir, 'loop.bin'));
    const e = await rejected(directorySource(dir).read('loop.bin'));
    expect(e.code).toBe('E_FILE');
    expect(e.message).toContain(`${dir}/loop.bin could not be read`);
    expect(e.message).toContain('ELOOP');
  });

  // Root ignores file modes, so this one only runs as a normal user.
  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)('E_FILE with the OS reason for permission errors', async () => {
    const p = join(dir, 'locked.bin');
    await writeFile(p, 'x');
    await chmod(p, 0o000);
    const e = await rejected(directorySource(dir).read('locked.bin'));
    expect(e.code).toBe('E_FILE');
    expect(e.message).toContain('EACCES');
  });

  it('E_ARGUMENT for names that would leave the directory', async () => {
    const src = directorySource(dir);
    for (const name of ['..', '../x', 'a/../../x', 'sub/../../config.json', '/etc/passwd', '..\\x', 'C:\\x', 'C:x', '\\\\srv\\share', '', 'a\0b']) {
      for (const op of [() => src.read(name), () => src.size(name), () => src.has(name)]) {
        const e = await rejected(op());
        expect(e.code, JSON.stringify(name)).toBe('E_ARGUMENT');
      }
    }
    // '..' inside a name is fine.
    expect(await src.has('model..safetensors')).toBe(false);
  });

  it('E_ARGUMENT for a bad directory argument', () => {
    expect(caught(() => directorySource('')).code).toBe('E_ARGUMENT');
    expect(caught(() => directorySource(3 as any)).code).toBe('E_ARGUMENT');
  });
});
