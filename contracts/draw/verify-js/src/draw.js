// The draw's arithmetic: commitment (§3), seed, stream and sampler (§4), bitmap and pool
// digest (§5), plate text (§2).

import { H, concat, utf8, u64be } from './bytes.js';

const TWO64 = 1n << 64n;

/** §3: H("vrs-application-commitment-v1" ‖ 0x00 ‖ salt ‖ application_id). */
export function applicationCommitment(salt, applicationId) {
  return H(utf8('vrs-application-commitment-v1'), Uint8Array.of(0), salt, utf8(applicationId));
}

/** §4: H("vrs-draw-seed-v1" ‖ 0x00 ‖ leaf_hash(C) ‖ u64be(R) ‖ ρ). */
export function drawSeed(commitLeafHash, round, randomness) {
  return H(utf8('vrs-draw-seed-v1'), Uint8Array.of(0), commitLeafHash, u64be(round), randomness);
}

// ChaCha20 block function, RFC 8439 §2.3.
function rotl(x, n) {
  return (x << n) | (x >>> (32 - n));
}
function quarter(s, a, b, c, d) {
  s[a] = (s[a] + s[b]) | 0; s[d] = rotl(s[d] ^ s[a], 16);
  s[c] = (s[c] + s[d]) | 0; s[b] = rotl(s[b] ^ s[c], 12);
  s[a] = (s[a] + s[b]) | 0; s[d] = rotl(s[d] ^ s[a], 8);
  s[c] = (s[c] + s[d]) | 0; s[b] = rotl(s[b] ^ s[c], 7);
}
function le32(b, o) {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** One 64-byte ChaCha20 block: key 32 bytes, nonce 12 bytes, counter a u32. */
export function chacha20Block(key, counter, nonce = new Uint8Array(12)) {
  const init = new Uint32Array(16);
  init[0] = 0x61707865; init[1] = 0x3320646e; init[2] = 0x79622d32; init[3] = 0x6b206574;
  for (let i = 0; i < 8; i++) init[4 + i] = le32(key, 4 * i);
  init[12] = counter >>> 0;
  for (let i = 0; i < 3; i++) init[13 + i] = le32(nonce, 4 * i);
  const s = Int32Array.from(init);
  for (let r = 0; r < 10; r++) {
    quarter(s, 0, 4, 8, 12); quarter(s, 1, 5, 9, 13); quarter(s, 2, 6, 10, 14); quarter(s, 3, 7, 11, 15);
    quarter(s, 0, 5, 10, 15); quarter(s, 1, 6, 11, 12); quarter(s, 2, 7, 8, 13); quarter(s, 3, 4, 9, 14);
  }
  const out = new Uint8Array(64);
  for (let i = 0; i < 16; i++) {
    const v = (s[i] + init[i]) >>> 0;
    out[4 * i] = v & 0xff; out[4 * i + 1] = (v >>> 8) & 0xff;
    out[4 * i + 2] = (v >>> 16) & 0xff; out[4 * i + 3] = v >>> 24;
  }
  return out;
}

/** §4's stream: consecutive little-endian u64 words (BigInt) of the ChaCha20 keystream. */
export class WordStream {
  constructor(seed) {
    this.seed = seed;
    this.counter = 0;
    this.block = null;
    this.pos = 64;
  }
  next() {
    if (this.pos >= 64) {
      if (this.counter > 0xffffffff) throw new Error('ChaCha20 block counter would wrap');
      this.block = chacha20Block(this.seed, this.counter++);
      this.pos = 0;
    }
    let w = 0n;
    for (let i = 7; i >= 0; i--) w = (w << 8n) | BigInt(this.block[this.pos + i]);
    this.pos += 8;
    return w;
  }
}

/** §4's sampler: uniform indices in [0, n), 1 ≤ n ≤ 2^64 − 1, continuing one stream. */
export class Sampler {
  constructor(seed, n) {
    n = BigInt(n);
    if (n < 1n || n >= TWO64) throw new Error('sampler range out of bounds');
    this.n = n;
    this.limit = TWO64 - (TWO64 % n); // accept w < 2^64 − r
    this.stream = new WordStream(seed);
  }
  next() {
    for (;;) {
      const w = this.stream.next();
      if (w < this.limit) return w % this.n;
    }
  }
}

export const BITMAP_BYTES = 16384;
export const MAX_NUMBER = 99999;

/** §5 digest: 512 chunks of 32 bytes, leaves H(0x00 ‖ chunk), 9 levels of H(0x01 ‖ l ‖ r). */
export function poolDigest(bitmap) {
  if (bitmap.length !== BITMAP_BYTES) throw new Error('bitmap is not 16384 bytes');
  let level = [];
  for (let c = 0; c < 512; c++) level.push(H(Uint8Array.of(0), bitmap.subarray(32 * c, 32 * c + 32)));
  while (level.length > 1) {
    const up = [];
    for (let i = 0; i < level.length; i += 2) up.push(H(Uint8Array.of(1), level[i], level[i + 1]));
    level = up;
  }
  return level[0];
}

/** The bitmap's problems (bit 0 or bits above 99999 set), or null when well formed. */
export function bitmapProblem(bitmap) {
  if (bitmap.length !== BITMAP_BYTES) return 'the bitmap is not 16384 bytes';
  if (bitmap[0] & 1) return 'bit 0 is set';
  // 99999 is bit 7 of byte 12499, so every byte from 12500 on holds only bits above 99999.
  for (let b = (MAX_NUMBER + 1) >> 3; b < BITMAP_BYTES; b++) {
    if (bitmap[b] !== 0) {
      const bit = 31 - Math.clz32(bitmap[b] & -bitmap[b]);
      return `bit ${8 * b + bit} (above 99999) is set`;
    }
  }
  return null;
}

/** The available set, ascending, from a bitmap. */
export function availableNumbers(bitmap) {
  const out = [];
  for (let i = 1; i <= MAX_NUMBER; i++) if (bitmap[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

/** A bitmap of an available set. */
export function bitmapOf(numbers) {
  const b = new Uint8Array(BITMAP_BYTES);
  for (const i of numbers) b[i >> 3] |= 1 << (i & 7);
  return b;
}

const CAR_SERIES = new Set('A B C D E F G H K L M N P S T U V X Y Z'.split(' '));

/** §2: parses a pool id; returns { locality, cls, colour, series } or null. */
export function parsePoolId(poolId) {
  const m = /^([0-9]{2})-(car|motorbike)-(white|yellow|blue)-([A-Z0-9]+)$/.exec(poolId);
  if (!m) return null;
  const [, locality, cls, colour, series] = m;
  if (cls === 'car' && !CAR_SERIES.has(series)) return null;
  if (cls === 'motorbike' && !/^[A-Z][A-Z0-9]$/.test(series)) return null;
  return { locality, cls, colour, series };
}

/** §2: the plate text of number n (1–99999) in a pool, or null when the pool id is outside §2. */
export function plateText(poolId, n) {
  const p = parsePoolId(poolId);
  if (!p || !Number.isInteger(n) || n < 1 || n > MAX_NUMBER) return null;
  const ddd = String(Math.floor(n / 100)).padStart(3, '0');
  const dd = String(n % 100).padStart(2, '0');
  return p.cls === 'car' ? `${p.locality}${p.series}-${ddd}.${dd}` : `${p.locality}-${p.series} ${ddd}.${dd}`;
}

export { concat };
