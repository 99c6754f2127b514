import { describe, expect, it } from 'vitest';
import { decodeUtf8Json, MAX_JSON_DEPTH, parsePythonJson } from '../../src/formats/pyjson.js';
import { caught } from '../helpers/errors.js';

describe('parsePythonJson', () => {
  it('parses plain JSON like JSON.parse', () => {
    const text = '{"a": [1, 2.5, -3e2, true, false, null], "b": {"c": "d\\n\\u00e9"}}';
    expect(parsePythonJson(text, 'c.json')).toEqual(JSON.parse(text));
  });

  it('accepts Python NaN, Infinity and -Infinity literals', () => {
    const v = parsePythonJson('{"a": NaN, "b": Infinity, "c": -Infinity, "d": [NaN, 1, -Infinity]}', 'config.json') as any;
    expect(v.a).toBeNaN();
    expect(v.b).toBe(Infinity);
    expect(v.c).toBe(-Infinity);
    expect(v.d[0]).toBeNaN();
    expect(v.d.slice(1)).toEqual([1, -Infinity]);
    expect(parsePythonJson('NaN', 'x.json')).toBeNaN();
    expect(parsePythonJson(' -Infinity ', 'x.json')).toBe(-Infinity);
  });

  it('leaves the literals alone inside strings, keys and escapes', () => {
    const v = parsePythonJson('{"NaN": "NaN", "x": "Infinity and -Infinity", "q": "say \\"NaN\\"", "e": "\\\\", "n": NaN}', 'c.json') as any;
    expect(v.NaN).toBe('NaN');
    expect(v.x).toBe('Infinity and -Infinity');
    expect(v.q).toBe('say "NaN"');
    expect(v.e).toBe('\\');
    expect(v.n).toBeNaN();
  });

  it('cannot be fooled by a string that looks like the internal NaN marker', () => {
    const v = parsePythonJson('["\\u0000NaN", NaN]', 'c.json') as any[];
    expect(v[0]).toBe('\u0000NaN');
    expect(v[1]).toBeNaN();
  });

  it('converts transformers {"__float__": ...} objects', () => {
    const v = parsePythonJson(
      '{"a": {"__float__": "Infinity"}, "b": {"__float__": "-Infinity"}, "c": [{"__float__": "NaN"}], "d": {"__float__": "x"}, "e": {"__float__": "NaN", "y": 1}}',
      'c.json',
    ) as any;
    expect(v.a).toBe(Infinity);
    expect(v.b).toBe(-Infinity);
    expect(v.c[0]).toBeNaN();
    expect(v.d).toEqual({ __float__: 'x' }); // not a known float name: left as is
    expect(v.e).toEqual({ __float__: 'NaN', y: 1 }); // extra keys: not the transformers form
  });

  it('rejects literals glued to other tokens', () => {
    for (const bad of ['[1Infinity]', '[Infinity1]', '[0.Infinity]', '[NaNx]', '[--Infinity]', '[-NaN]', '[nan]', '[inf]']) {
      expect(caught(() => parsePythonJson(bad, 'c.json')).code, bad).toBe('E_FORMAT');
    }
  });

  it('reports malformed JSON with file, line and column', () => {
    const e = caught(() => parsePythonJson('{\n  "a": 1,\n  "b": x\n}', 'config.json'));
    expect(e.code).toBe('E_FORMAT');
    expect(e.file).toBe('config.json');
    expect(e.message).toContain('config.json');
    expect(e.message).toContain('line 3, column 8');
    expect(e.message).toContain('expected a value');
  });

  it.each([
    ['{"a":1,}', 'line 1, column 8', 'property name'],
    ['[1,2', 'line 1, column 5', "',' or ']'"],
    ['', 'line 1, column 1', 'a value'],
    ['{"a" 1}', 'line 1, column 6', "':'"],
    ['[1] x', 'line 1, column 5', 'end of the text'],
    ['"abc', 'line 1, column 5', 'closing quote'],
    ['["\\q"]', 'line 1, column 3', 'valid escape'],
    ['["a\nb"]', 'line 1, column 4', 'control characters'],
    ['{"a": {"b": [1, 2}}', 'line 1, column 18', "',' or ']'"],
  ])('locates the error in %j', (text, where, expected) => {
    const e = caught(() => parsePythonJson(text, 'f.json'));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toContain(where);
    expect(e.message).toContain(expected);
  });

  it('rejects text over maxBytes, counting UTF-8 bytes', () => {
    expect(caught(() => parsePythonJson('[1, 2, 3]', 'c.json', 4)).message).toMatch(/c\.json.*9 bytes.*4-byte limit/);
    // 4 chars but 12 UTF-8 bytes
    expect(caught(() => parsePythonJson('"€€"', 'c.json', 6)).code).toBe('E_FORMAT');
    expect(parsePythonJson('"€€"', 'c.json', 8)).toBe('€€');
  });

  it('handles deep nesting without crashing, with typed errors', () => {
    const depth = 200_000;
    // Refused by the nesting limit (what consumes a parsed value recurses: error messages, the
    // tokenizer library), naming where the limit was crossed, whether or not the text is complete.
    for (const text of ['['.repeat(depth) + ']'.repeat(depth), '['.repeat(depth), '['.repeat(depth) + 'NaN' + ']'.repeat(depth)]) {
      const e = caught(() => parsePythonJson(text, 'deep.json'));
      expect(e.code).toBe('E_FORMAT');
      expect(e.message).toContain(`more than ${MAX_JSON_DEPTH} levels deep (at line 1, column ${MAX_JSON_DEPTH + 1})`);
    }
    // At the limit, with a reviver walking it (NaN present): parses.
    const ok = parsePythonJson('['.repeat(MAX_JSON_DEPTH) + 'NaN' + ']'.repeat(MAX_JSON_DEPTH), 'deep.json');
    expect(Array.isArray(ok)).toBe(true);
  });

  it('does not let a __proto__ key change prototypes', () => {
    const v = parsePythonJson('{"__proto__": {"polluted": 1}, "n": NaN}', 'c.json') as any;
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });
});

describe('decodeUtf8Json', () => {
  const enc = (s: string) => new TextEncoder().encode(s);

  it('decodes UTF-8 (BOM tolerated) and parses', () => {
    expect(decodeUtf8Json(enc('{"a": "é", "b": Infinity}'), 'c.json')).toEqual({ a: 'é', b: Infinity });
    expect(decodeUtf8Json(new Uint8Array([0xef, 0xbb, 0xbf, ...enc('[1]')]), 'c.json')).toEqual([1]);
  });

  it('rejects invalid UTF-8 with E_FORMAT', () => {
    const e = caught(() => decodeUtf8Json(new Uint8Array([0x22, 0xff, 0xfe, 0x22]), 'tokenizer.json'));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toContain('tokenizer.json');
    expect(e.message).toContain('UTF-8');
  });

  it('checks the size limit before decoding', () => {
    const e = caught(() => decodeUtf8Json(new Uint8Array(100), 'c.json', 99));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toContain('100 bytes');
  });
});
