// A strict RFC 8259 JSON parser that keeps what JSON.parse throws away: member order and
// duplicates, the raw text of numbers, and whether a string decodes to Unicode text.
//
// It rejects anything outside RFC 8259's grammar (a byte-order mark, trailing commas, comments,
// leading zeros, control characters in strings, text after the value, ...). It does NOT reject
// duplicate member names or unpaired surrogate escapes: it records them, because SPEC §7.2 lets a
// trust file hold anything in members a verifier ignores, while §7.1 makes both a `format`
// failure anywhere in a receipt. The callers decide.
//
// Values:
//   { t: 'object', members: [[name, value], ...], names: Map(name -> value), dup: bool, badName: bool }
//   { t: 'array', items: [...] }
//   { t: 'string', s, lone: bool }        lone: has an unpaired surrogate (not Unicode text)
//   { t: 'number', raw }                  the number's exact text
//   { t: 'true' } | { t: 'false' } | { t: 'null' }

import { hasLoneSurrogate } from './bytes.js';

const MAX_DEPTH = 256;

export class JsonError extends Error {}

export function parseJson(text) {
  let i = 0;
  const n = text.length;

  const fail = (msg) => {
    throw new JsonError(`${msg} at offset ${i}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };

  const parseString = () => {
    // text[i] === '"'
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        i++;
        if (i >= n) fail('unterminated escape');
        const e = text[i];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const h = text.slice(i + 1, i + 5);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
            out += String.fromCharCode(parseInt(h, 16));
            i += 4;
            break;
          }
          default:
            fail('bad escape');
        }
        i++;
        start = i;
        continue;
      }
      i++;
    }
  };

  const parseNumber = () => {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0].length === 0 || m[0] === '-') fail('bad number');
    if (m[0].length >= 400) fail('number too long');
    i += m[0].length;
    return { t: 'number', raw: m[0] };
  };

  const parseValue = (depth) => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    if (i >= n) fail('unexpected end');
    const c = text[i];
    if (c === '{') {
      i++;
      const members = [];
      const names = new Map();
      let dup = false;
      let badName = false;
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'object', members, names, dup, badName };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected member name');
        const name = parseString();
        if (hasLoneSurrogate(name)) badName = true;
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        const value = parseValue(depth + 1);
        if (names.has(name)) dup = true;
        else names.set(name, value);
        members.push([name, value]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { t: 'object', members, names, dup, badName };
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'array', items };
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { t: 'array', items };
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') {
      const s = parseString();
      return { t: 'string', s, lone: hasLoneSurrogate(s) };
    }
    if (c === '-' || (c >= '0' && c <= '9')) return parseNumber();
    if (text.startsWith('true', i)) {
      i += 4;
      return { t: 'true' };
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return { t: 'false' };
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return { t: 'null' };
    }
    fail('unexpected character');
  };

  if (n > 0 && text.charCodeAt(0) === 0xfeff) throw new JsonError('byte-order mark');
  const v = parseValue(0);
  ws();
  if (i !== n) fail('text after the JSON value');
  return v;
}

/** SPEC §7.1 "integer": 0 or a non-zero digit then digits, at most 2^53 − 1. Returns a Number or null. */
export function integerValue(v) {
  if (!v || v.t !== 'number') return null;
  if (!/^(?:0|[1-9][0-9]*)$/.test(v.raw)) return null;
  if (v.raw.length > 16) return null;
  const x = Number(v.raw);
  return Number.isSafeInteger(x) ? x : null;
}

/** A Unicode string value, or null (wrong type or unpaired surrogate). */
export function stringValue(v) {
  if (!v || v.t !== 'string' || v.lone) return null;
  return v.s;
}
