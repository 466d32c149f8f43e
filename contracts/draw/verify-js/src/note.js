// Verifier keys and C2SP signed-note checkpoints, SPEC §6.3; Ed25519 per RFC 8032 with the
// SPEC's strictness: cofactorless equation [S]B = R + [k]A, S < L, canonical encodings.

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { H, concat, equalBytes, fromBase64Canonical, utf8 } from './bytes.js';

const Point = ed25519.Point;
// L, the order of the Ed25519 base point.
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

const WHITE_SPACE = /\p{White_Space}/u;

function bytesToNumberLE(b) {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}

/**
 * Ed25519 verification, RFC 8032 §5.1.7 with the cofactorless equation. A and R must be
 * canonical encodings (y < p; x = 0 with the sign bit set is refused) of curve points, S < L.
 */
export function ed25519VerifyStrict(publicKey, message, signature) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const rBytes = signature.subarray(0, 32);
  const s = bytesToNumberLE(signature.subarray(32, 64));
  if (s >= L) return false;
  let A, R;
  try {
    // zip215 = false: RFC 8032 decoding, which refuses non-canonical y (>= p) and "-0".
    A = Point.fromBytes(publicKey, false);
    R = Point.fromBytes(rBytes, false);
  } catch {
    return false;
  }
  const k = bytesToNumberLE(sha512(concat(rBytes, publicKey, message))) % L;
  const left = s === 0n ? Point.ZERO : Point.BASE.multiplyUnsafe(s);
  const kA = k === 0n ? Point.ZERO : A.multiplyUnsafe(k);
  return left.equals(R.add(kA));
}

/**
 * Parses a verifier key `<name>+<hex key id>+<base64(0x01 ‖ public key)>` (SPEC §6.3).
 * Returns { text, name, id (4 bytes), publicKey (32 bytes) }; throws with the reason otherwise.
 */
export function parseVerifierKey(text) {
  if (typeof text !== 'string') throw new Error('the key is not a string');
  const a = text.indexOf('+');
  const b = a < 0 ? -1 : text.indexOf('+', a + 1);
  if (a < 0 || b < 0) throw new Error('the key is not <name>+<id>+<base64>');
  const name = text.slice(0, a);
  const idHex = text.slice(a + 1, b);
  const b64 = text.slice(b + 1);
  if (name.length === 0) throw new Error('the key name is empty');
  if (WHITE_SPACE.test(name)) throw new Error('the key name contains white space');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error('the key id is not 8 lower-case hex digits');
  const raw = fromBase64Canonical(b64);
  if (!raw) throw new Error('the key is not canonical base64');
  if (raw.length !== 33 || raw[0] !== 0x01) throw new Error('the key is not 33 bytes starting with 0x01 (Ed25519)');
  const publicKey = raw.slice(1);
  const id = Uint8Array.from(idHex.match(/../g).map((h) => parseInt(h, 16)));
  const expected = H(utf8(name), Uint8Array.of(0x0a, 0x01), publicKey).slice(0, 4);
  if (!equalBytes(id, expected)) throw new Error('the key id does not match the key name and public key');
  return { text, name, id, publicKey };
}

const MAX_SIGNATURES = 16;

/**
 * Opens a signed note (SPEC §6.3 steps 1–6) with `key` (from parseVerifierKey) and `origin`.
 * Returns { size (BigInt), root (32 bytes), text } or throws with the reason.
 */
export function openNote(note, key, origin) {
  // 1. Valid UTF-8 (a JS string here; receipts and trust refuse unpaired surrogates), no control
  //    character other than newline, ends with a newline.
  if (typeof note !== 'string') throw new Error('the note is not text');
  for (let i = 0; i < note.length; i++) {
    const c = note.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) throw new Error('the note contains a control character');
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = note.charCodeAt(i + 1);
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) i++;
      else throw new Error('the note is not valid UTF-8');
    }
  }
  if (!note.endsWith('\n')) throw new Error('the note does not end with a newline');
  // 2. Split at the last blank line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('the note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0) throw new Error('the note has no signature line');
  const lines = block.slice(0, -1).split('\n'); // block ends with '\n' (the note does)
  // 3. Every signature line has the exact form; at most 16.
  if (lines.length > MAX_SIGNATURES) throw new Error(`the note has ${lines.length} signature lines (at most ${MAX_SIGNATURES})`);
  const sigs = [];
  for (const line of lines) {
    if (!line.startsWith('\u2014 ')) throw new Error('a signature line does not start with an em dash and a space');
    const rest = line.slice(2);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw new Error('a signature line has no signature');
    const name = rest.slice(0, sp);
    const b64 = rest.slice(sp + 1);
    if (name.length === 0 || WHITE_SPACE.test(name) || name.includes('+'))
      throw new Error('a signature line has a malformed key name');
    const raw = fromBase64Canonical(b64);
    if (!raw || raw.length < 5) throw new Error('a signature line is not canonical base64 of at least 5 bytes');
    sigs.push({ name, raw });
  }
  // 4–5. Lines by the pinned key (name and id both match) must all verify; at least one must.
  const message = utf8(text);
  let verified = 0;
  for (const { name, raw } of sigs) {
    if (name !== key.name || !equalBytes(raw.subarray(0, 4), key.id)) continue;
    const sig = raw.subarray(4);
    if (sig.length !== 64) throw new Error("a signature line by the key does not hold a 64-byte signature");
    if (!ed25519VerifyStrict(key.publicKey, message, sig)) throw new Error('a signature by the key does not verify');
    verified++;
  }
  if (verified === 0) throw new Error(`no signature line by the key ${key.name}+${hexId(key.id)}`);
  // 6. Exactly three lines: origin, size, root.
  const parts = text.split('\n');
  if (parts.length !== 4) throw new Error(`the note's text has ${parts.length - 1} lines, not 3`);
  const [o, sizeText, rootText] = parts;
  if (o.length === 0) throw new Error('the origin is empty');
  if (o !== origin) throw new Error(`the origin "${o}" is not the pinned origin`);
  if (!/^(?:0|[1-9][0-9]*)$/.test(sizeText)) throw new Error('the tree size is not a decimal number');
  const size = BigInt(sizeText);
  if (size > (1n << 64n) - 1n) throw new Error('the tree size is above 2^64 − 1');
  const root = fromBase64Canonical(rootText);
  if (!root || root.length !== 32) throw new Error('the root hash is not canonical base64 of 32 bytes');
  return { size, root, text };
}

function hexId(id) {
  return [...id].map((b) => b.toString(16).padStart(2, '0')).join('');
}
