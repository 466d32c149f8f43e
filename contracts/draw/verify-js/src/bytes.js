// Byte helpers: hex, canonical base64, strict UTF-8, big-endian integers.
// Everything here follows SPEC §0 notation and §7.1's value rules.

import { sha256 } from '@noble/hashes/sha2.js';

/** H(x) = SHA-256. */
export function H(...parts) {
  return sha256(concat(...parts));
}

export function concat(...parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

const HEX = '0123456789abcdef';

export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += HEX[b >> 4] + HEX[b & 15];
  return s;
}

/** Lower-case hex of even length (SPEC §7.1 "hex"); anything else is null. */
export function isLowerHex(s) {
  return typeof s === 'string' && s.length % 2 === 0 && /^[0-9a-f]*$/.test(s);
}

/** Decodes lower-case hex; throws on anything else. */
export function fromHex(s) {
  if (!isLowerHex(s)) throw new Error('not lower-case hex of even length');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

export function toBase64(bytes) {
  let s = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + '==';
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + '=';
  }
  return s;
}

/**
 * Canonical base64 (SPEC §7.1): standard alphabet, `=` padding, no white space, zero padding
 * bits — the string must equal the encoding of the bytes it decodes to. Returns the bytes, or
 * null when the string is not canonical base64.
 */
export function fromBase64Canonical(s) {
  if (typeof s !== 'string' || s.length % 4 !== 0) return null;
  let pad = 0;
  if (s.endsWith('==')) pad = 2;
  else if (s.endsWith('=')) pad = 1;
  const body = s.length - pad;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < body; i++) {
    const v = B64_INDEX.get(s[i]);
    if (v === undefined) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o < out.length) out[o++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  if (o !== out.length) return null;
  // Re-encoding is the definition of canonical: it rejects non-zero padding bits as well.
  return toBase64(out) === s ? out : null;
}

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();

/** Strict UTF-8 decoding (no replacement characters; a leading U+FEFF is kept). */
export function decodeUtf8(bytes) {
  return UTF8_STRICT.decode(bytes);
}

export function utf8(s) {
  return UTF8_ENCODER.encode(s);
}

export function u64be(n) {
  const v = BigInt(n);
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((v >> BigInt(56 - 8 * i)) & 0xffn);
  return out;
}

export const ASCII = (s) => utf8(s);

/** True when s has an unpaired UTF-16 surrogate, i.e. is not Unicode text. */
export function hasLoneSurrogate(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
      return true;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}
