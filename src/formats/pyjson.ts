/**
 * JSON as Python writes it. `json.dumps` emits bare NaN / Infinity / -Infinity
 * for non-finite floats, and transformers writes {"__float__": "Infinity"} in
 * some configs; JSON.parse accepts neither.
 *
 * Approach: JSON.parse does the real work (fast, native, no recursion limit
 * for plain parsing). A small scanner first rewrites the bare literals found
 * outside strings; ±Infinity become 1e999 / -1e999, which JSON.parse itself
 * reads as ±Infinity, and NaN becomes a string with a random per-call marker
 * that a reviver turns back into NaN. Only on failure do we run our own
 * (iterative) syntax checker over the original text, to report line/column.
 */
import { fail } from '../errors.js';

export const DEFAULT_MAX_JSON_BYTES = 16 * 1024 * 1024;

/**
 * Deepest nesting of arrays/objects accepted in any JSON we parse: serde_json's default recursion
 * limit (the safetensors reference implementation parses its headers with it), far above any real
 * config.json, tokenizer.json or header (≤ 10 levels). JSON.parse itself copes with any depth, but
 * what consumes the value recurses (JSON.stringify in error messages, the tokenizer library, revivers,
 * structuredClone) and a 200,000-deep array overflows the stack there.
 */
export const MAX_JSON_DEPTH = 128;

/** Index of the quote closing the JSON string that opens at text[i], honouring escapes (≥ text.length when unterminated). */
function stringEnd(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const d = text.charCodeAt(i);
    if (d === 0x5c /* \ */) i++;
    else if (d === 0x22 /* " */) break;
  }
  return i;
}

/** Index of the first bracket that opens level maxDepth + 1 (outside strings), or -1. Linear, no recursion. */
export function excessiveNesting(text: string, maxDepth = MAX_JSON_DEPTH): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = stringEnd(text, i);
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return -1;
}

/** E_FORMAT naming the line and column where `text` nests deeper than MAX_JSON_DEPTH. */
export function checkNesting(text: string, file: string, what = 'JSON'): void {
  const at = excessiveNesting(text);
  if (at >= 0) {
    throw fail('E_FORMAT', `${file}: ${what} nests arrays/objects more than ${MAX_JSON_DEPTH} levels deep (at ${lineColumn(text, at)})`, { file });
  }
}

/**
 * JSON.parse that also accepts Python's NaN, Infinity, -Infinity literals (outside strings) and turns
 * transformers' {"__float__": "Infinity"|"-Infinity"|"NaN"} objects into numbers. E_FORMAT with file and
 * line/column on malformed input. Rejects text over maxBytes (default 16 MiB, counted as UTF-8) with E_FORMAT.
 * `what` names the text in messages (default 'JSON', e.g. 'safetensors header').
 */
export function parsePythonJson(text: string, file: string, maxBytes = DEFAULT_MAX_JSON_BYTES, what = 'JSON'): unknown {
  if (typeof text !== 'string') throw fail('E_ARGUMENT', `${file}: expected JSON text, got ${typeof text}`, { file });
  // text.length ≤ UTF-8 length ≤ 3 × text.length: only count exactly when it could matter.
  const size = text.length > maxBytes ? text.length : text.length * 3 > maxBytes ? utf8Length(text) : 0;
  if (size > maxBytes) {
    throw fail('E_FORMAT', `${file}: ${what} is ${size} bytes, more than the ${maxBytes}-byte limit`, { file });
  }

  checkNesting(text, file, what);
  const { rewritten, nanMarker } = rewriteLiterals(text);
  const hasFloatObjects = text.includes('"__float__"');
  const reviver =
    nanMarker !== undefined || hasFloatObjects
      ? (_key: string, value: unknown): unknown => {
          if (value === nanMarker) return NaN;
          if (hasFloatObjects && value !== null && typeof value === 'object' && !Array.isArray(value)) {
            const keys = Object.keys(value);
            const f = (value as Record<string, unknown>).__float__;
            if (keys.length === 1 && keys[0] === '__float__' && typeof f === 'string' && f in FLOAT_NAMES) return FLOAT_NAMES[f];
          }
          return value;
        }
      : undefined;

  try {
    return JSON.parse(rewritten, reviver);
  } catch (e) {
    if (e instanceof RangeError) {
      // The reviver walk recurses; absurd nesting overflows the stack.
      throw fail('E_FORMAT', `${file}: ${what} is nested too deeply to process`, { file, cause: e });
    }
    const err = findSyntaxError(text);
    const where = err ? ` at ${lineColumn(text, err.pos)}: expected ${err.expected}` : `: ${(e as Error).message.slice(0, 200)}`;
    throw fail('E_FORMAT', `${file}: invalid ${what}${where}`, { file, cause: e });
  }
}

/** UTF-8 decode (fatal: invalid bytes are E_FORMAT) then parsePythonJson. The size limit is checked before decoding. */
export function decodeUtf8Json(bytes: Uint8Array, file: string, maxBytes = DEFAULT_MAX_JSON_BYTES, what = 'JSON'): unknown {
  if (bytes.byteLength > maxBytes) {
    throw fail('E_FORMAT', `${file}: ${what} is ${bytes.byteLength} bytes, more than the ${maxBytes}-byte limit`, { file });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (e) {
    throw fail('E_FORMAT', `${file}: ${what} is not valid UTF-8`, { file, cause: e });
  }
  return parsePythonJson(text, file, maxBytes, what);
}

const FLOAT_NAMES: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, {
  Infinity: Infinity,
  '-Infinity': -Infinity,
  NaN: NaN,
});

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // surrogate pair
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Replaces NaN / Infinity / -Infinity outside strings. Returns the text
 * unchanged (and no marker) when none occur, which is the common case.
 */
function rewriteLiterals(text: string): { rewritten: string; nanMarker?: string } {
  if (!text.includes('NaN') && !text.includes('Infinity')) return { rewritten: text };
  // A random marker: hostile text cannot hold a string equal to it except by guessing 64 random bits.
  const rnd = new Uint32Array(2);
  globalThis.crypto.getRandomValues(rnd);
  const nanMarker = `\u0000NaN${rnd[0].toString(16)}${rnd[1].toString(16)}`;
  const nanJson = JSON.stringify(nanMarker);

  const parts: string[] = [];
  let last = 0;
  let usedNaN = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string; an unterminated string ends the scan (JSON.parse will report it).
      i = stringEnd(text, i);
      continue;
    }
    let len = 0;
    let repl = '';
    if (c === 0x4e /* N */ && text.startsWith('NaN', i)) [len, repl] = [3, nanJson];
    else if (c === 0x49 /* I */ && text.startsWith('Infinity', i)) [len, repl] = [8, '1e999'];
    else if (c === 0x2d /* - */ && text.startsWith('-Infinity', i)) [len, repl] = [9, '-1e999'];
    // Only whole tokens: "1Infinity" must not become the valid number "11e999".
    if (len && !isWordChar(text.charCodeAt(i - 1)) && !isWordChar(text.charCodeAt(i + len))) {
      parts.push(text.slice(last, i), repl);
      if (repl === nanJson) usedNaN = true;
      last = i + len;
      i += len - 1;
    }
  }
  if (parts.length === 0) return { rewritten: text };
  parts.push(text.slice(last));
  return { rewritten: parts.join(''), nanMarker: usedNaN ? nanMarker : undefined };
}

/** Characters that may not directly precede or follow a bare literal. NaN (charCodeAt out of range) is fine. */
function isWordChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2e || c === 0x2b || c === 0x2d;
}

function lineColumn(text: string, pos: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < pos; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${pos - lineStart + 1}`;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const LITERALS = ['true', 'false', 'null', 'NaN', 'Infinity', '-Infinity'];

/**
 * Iterative JSON (+ Python literals) syntax check: the position of the first
 * error and what was expected there, or null if the text is well-formed.
 * Used only to explain a failure, so clarity beats speed. No recursion: an
 * explicit stack of open containers.
 */
function findSyntaxError(s: string): { pos: number; expected: string } | null {
  let i = 0;
  const stack: ('[' | '{')[] = [];
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const string = (): string | null => {
    // On entry s[i] === '"'. Returns an error description or null.
    for (i++; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return null;
      }
      if (c < 0x20) return 'no raw control characters in a string (escape them)';
      if (c === 0x5c) {
        const e = s[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) return '4 hex digits after \\u';
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else return 'a valid escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)';
      }
    }
    return 'a closing quote';
  };
  // After '{' or ',' in an object: a key string then ':'.
  const key = (): string | null => {
    ws();
    if (s[i] !== '"') return 'a double-quoted property name';
    const err = string();
    if (err) return err;
    ws();
    if (s[i] !== ':') return "':' after the property name";
    i++;
    return null;
  };

  for (;;) {
    // Expect a value.
    ws();
    if (i >= s.length) return { pos: i, expected: 'a value, found the end of the text' };
    const c = s[i];
    if (c === '{' || c === '[') {
      i++;
      ws();
      if (s[i] === (c === '{' ? '}' : ']')) {
        i++;
      } else {
        stack.push(c);
        if (c === '{') {
          const err = key();
          if (err) return { pos: i, expected: err };
        }
        continue;
      }
    } else if (c === '"') {
      const err = string();
      if (err) return { pos: i, expected: err };
    } else {
      NUMBER.lastIndex = i;
      const lit = LITERALS.find((l) => s.startsWith(l, i));
      if (lit) i += lit.length;
      else if (NUMBER.test(s)) i = NUMBER.lastIndex;
      else return { pos: i, expected: 'a value (object, array, string, number, true, false, null)' };
    }
    // After a value: ',' or the closer of the open container, possibly several closers.
    for (;;) {
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) return i < s.length ? { pos: i, expected: 'the end of the text after the value' } : null;
      const closer = top === '{' ? '}' : ']';
      if (s[i] === closer) {
        i++;
        stack.pop();
        continue;
      }
      if (s[i] === ',') {
        i++;
        if (top === '{') {
          const err = key();
          if (err) return { pos: i, expected: err };
        }
        break;
      }
      return { pos: i, expected: `',' or '${closer}'` };
    }
  }
}
