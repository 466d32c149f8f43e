// Known-answer tests from contracts/draw/vectors.json (SPEC §10): every kind of vector it holds.
// Returns a list of { name, ok, detail }.

import { H, equalBytes, fromBase64Canonical, fromHex, toBase64, toHex, utf8 } from './bytes.js';
import { decodeEntry, NONE } from './entry.js';
import { leafHash, treeHead, verifyConsistency, verifyInclusion } from './merkle.js';
import { ed25519VerifyStrict, openNote, parseVerifierKey } from './note.js';
import { localBeaconId, verifyBeaconSignature } from './beacon.js';
import {
  applicationCommitment, availableNumbers, bitmapOf, chacha20Block, drawSeed, plateText, poolDigest,
  Sampler, WordStream,
} from './draw.js';
import { ed25519 } from '@noble/curves/ed25519.js';

const KNOWN = new Set([
  'chacha20_zero_key_words_le_u64', 'commitment', 'draw', 'draw_with_taken', 'key_rotation',
  'local_beacon_id', 'log', 'more_entries', 'plates', 'pool', 'sampler', 'seed', 'spec', 'timing', 'tree',
]);

export function selfTest(vectors, { quicknet } = {}) {
  const results = [];
  const t = (name, fn) => {
    try {
      const detail = fn();
      results.push({ name, ok: true, detail: detail || '' });
    } catch (e) {
      results.push({ name, ok: false, detail: e && e.message ? e.message : String(e) });
    }
  };
  const eq = (a, b, what) => {
    if (a !== b) throw new Error(`${what}: got ${a}, expected ${b}`);
  };

  t('vector kinds are all known', () => {
    const unknown = Object.keys(vectors).filter((k) => !KNOWN.has(k));
    if (unknown.length) throw new Error(`vector kinds this self-test does not check: ${unknown.join(', ')}`);
  });

  t('spec', () => eq(vectors.spec, 'vrs-draw-rules-v2', 'spec'));

  t('chacha20_zero_key_words_le_u64', () => {
    const s = new WordStream(new Uint8Array(32));
    vectors.chacha20_zero_key_words_le_u64.forEach((w, i) => eq(s.next().toString(16).padStart(16, '0'), w, `word ${i}`));
    // RFC 8439 §2.3.2 block test vector as a cross-check of the block function itself.
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const nonce = fromHex('000000090000004a00000000');
    eq(toHex(chacha20Block(key, 1, nonce)).slice(0, 32), '10f1e7e4d13b5915500fdd1fa32071c4', 'RFC 8439 §2.3.2');
    return `${vectors.chacha20_zero_key_words_le_u64.length} words`;
  });

  t('sampler', () => {
    for (const v of vectors.sampler) {
      const s = new Sampler(fromHex(v.seed), BigInt(v.n));
      v.indices.forEach((ix, i) => eq(s.next().toString(), ix, `n=${v.n} index ${i}`));
    }
    return `${vectors.sampler.length} streams`;
  });

  t('commitment', () => {
    const v = vectors.commitment;
    eq(toHex(applicationCommitment(fromHex(v.salt), v.application_id)), v.commitment, 'commitment');
  });

  t('seed', () => {
    const v = vectors.seed;
    eq(toHex(drawSeed(fromHex(v.commit_hash), BigInt(v.round), fromHex(v.randomness))), v.seed, 'seed');
  });

  const entries = [...vectors.log, ...vectors.more_entries];
  t('log and more_entries: decoding, kinds, leaf hashes', () => {
    for (const v of entries) {
      const bytes = fromHex(v.hex);
      const e = decodeEntry(bytes);
      eq(e.name, v.kind, 'kind');
      eq(toHex(leafHash(bytes)), v.leaf_hash, `${v.kind} leaf hash`);
      // Strictness: a byte more, a byte less, another magic must all be refused.
      for (const bad of [new Uint8Array([...bytes, 0]), bytes.slice(0, -1), Uint8Array.from(bytes, (b, i) => (i === 3 ? 0x31 : b))]) {
        let refused = false;
        try {
          decodeEntry(bad);
        } catch {
          refused = true;
        }
        if (!refused) throw new Error(`${v.kind}: a corrupted encoding decoded`);
      }
    }
    return `${entries.length} entries`;
  });

  t('tree', () => {
    const v = vectors.tree;
    const leaves = vectors.log.map((e) => leafHash(fromHex(e.hex)));
    eq(leaves.length, v.size, 'size');
    eq(toHex(treeHead(leaves)), v.root, 'root');
    eq(toHex(treeHead(leaves.slice(0, 3))), v.root_of_3, 'root of 3');
    const proof = v.inclusion_of_2_in_4.map(fromHex);
    if (!verifyInclusion(leaves[2], 2n, 4n, proof, fromHex(v.root))) throw new Error('inclusion of 2 in 4 does not verify');
    if (verifyInclusion(leaves[1], 2n, 4n, proof, fromHex(v.root))) throw new Error('inclusion of a wrong leaf verifies');
    if (verifyInclusion(leaves[2], 2n, 5n, proof, fromHex(v.root))) throw new Error('inclusion under a wrong size verifies');
    const cons = v.consistency_3_to_4.map(fromHex);
    if (!verifyConsistency(3n, 4n, cons, fromHex(v.root_of_3), fromHex(v.root))) throw new Error('consistency 3 → 4 does not verify');
    if (verifyConsistency(3n, 4n, cons, fromHex(v.root), fromHex(v.root))) throw new Error('consistency with a wrong root verifies');
    eq(toHex(treeHead([])), toHex(H(new Uint8Array(0))), 'empty tree');
  });

  t('pool', () => {
    const v = vectors.pool;
    const all = Array.from({ length: 99999 }, (_, i) => i + 1);
    eq(toHex(poolDigest(bitmapOf(all))), v.fresh_digest, 'fresh digest');
    const special = new Set(v.special_patterns);
    const bm = bitmapOf(all.filter((n) => !special.has(n)));
    eq(toHex(poolDigest(bm)), v.digest_after_special_patterns, 'digest after special patterns');
    const avail = availableNumbers(bm);
    for (const { k, number } of v.nth_available_after_special_patterns) eq(avail[k], number, `available #${k}`);
  });

  t('draw', () => {
    const v = vectors.draw;
    const bytes = fromHex(v.commit_hex);
    const C = decodeEntry(bytes);
    eq(C.name, 'draw-commit', 'kind');
    eq(C.pool_id, v.pool_id, 'pool_id');
    eq(C.round, BigInt(v.round), 'round');
    eq(C.available_count, v.available_count, 'available_count');
    eq(toHex(C.pool_digest), v.pool_digest, 'pool_digest');
    eq(C.previous_commit, BigInt(v.previous_commit), 'previous_commit');
    eq(C.previous_commit, NONE, 'previous_commit is NONE');
    eq(toHex(H(fromHex(v.signature))), v.randomness, 'randomness = H(signature)');
    eq(toHex(drawSeed(leafHash(bytes), C.round, fromHex(v.randomness))), v.seed, 'seed');
    const special = new Set(vectors.pool.special_patterns);
    const avail = Array.from({ length: 99999 }, (_, i) => i + 1).filter((n) => !special.has(n));
    eq(toHex(poolDigest(bitmapOf(avail))), v.pool_digest, 'the set the commit names');
    const s = new Sampler(fromHex(v.seed), BigInt(v.available_count));
    const ix = Number(s.next());
    eq(v.attempts, 1, 'attempts');
    eq(ix, v.index, 'index');
    eq(avail[ix], v.number, 'number');
    eq(plateText(v.pool_id, avail[ix]), v.plate, 'plate');
    // The draw-result in "log" agrees with this draw.
    const D = decodeEntry(fromHex(vectors.log[3].hex));
    eq(toHex(D.signature), v.signature, 'result signature');
    eq(D.index, v.index, 'result index');
    eq(D.number, v.number, 'result number');
    eq(D.plate, v.plate, 'result plate');
    eq(D.commit_index, BigInt(v.commit_index), 'result commit_index');
    if (quicknet) {
      verifyBeaconSignature(fromHex(quicknet.public_key), BigInt(v.round), fromHex(v.signature));
      return 'beacon signature verified against the pinned quicknet key';
    }
    return 'beacon signature not checked (no quicknet key given)';
  });

  t('draw_with_taken', () => {
    const v = vectors.draw_with_taken;
    const special = new Set(vectors.pool.special_patterns);
    const avail = Array.from({ length: 99999 }, (_, i) => i + 1).filter((n) => !special.has(n));
    eq(avail.length, v.n, 'n');
    const s = new Sampler(fromHex(v.seed), BigInt(v.n));
    const taken = new Set(v.taken);
    let attempts = 0;
    let ix;
    v.candidates.forEach((c, j) => {
      const i = Number(s.next());
      eq(i, c.index, `candidate ${j + 1} index`);
      eq(avail[i], c.number, `candidate ${j + 1} number`);
    });
    const s2 = new Sampler(fromHex(v.seed), BigInt(v.n));
    for (;;) {
      attempts++;
      ix = Number(s2.next());
      if (!taken.has(avail[ix])) break;
    }
    eq(attempts, v.attempts, 'attempts');
    eq(ix, v.index, 'index');
    eq(avail[ix], v.number, 'number');
    eq(plateText(vectors.draw.pool_id, avail[ix]), v.plate, 'plate');
  });

  t('timing', () => {
    const v = vectors.timing;
    const T = BigInt(v.genesis_unix_ms) + (BigInt(v.round) - 1n) * BigInt(v.period_ms);
    eq(T, BigInt(v.published_ms), 'published');
    const rule = (at) => BigInt(at) + BigInt(v.period_ms) <= T;
    for (const at of v.commit_at_ms_valid) if (!rule(at)) throw new Error(`${at} should be valid`);
    for (const at of v.commit_at_ms_invalid) if (rule(at)) throw new Error(`${at} should be invalid`);
  });

  t('local_beacon_id', () => {
    const v = vectors.local_beacon_id;
    eq(localBeaconId(fromHex(v.public_key)), v.beacon_id, 'beacon id');
  });

  t('plates', () => {
    for (const v of vectors.plates) eq(plateText(v.pool_id, v.number), v.plate, `${v.pool_id} ${v.number}`);
    eq(plateText('30-car-white-I', 1), null, 'a car series outside §2');
    eq(plateText('30-motorbike-white-A', 1), null, 'a one-letter motorbike series');
    eq(plateText('3-car-white-A', 1), null, 'a one-digit locality');
  });

  t('key_rotation', () => {
    const v = vectors.key_rotation;
    const keyText = (seed) => {
      const pub = ed25519.getPublicKey(fromHex(seed));
      const name = 'vrs-plate-log';
      const id = H(utf8(name), Uint8Array.of(0x0a, 0x01), pub).slice(0, 4);
      return `${name}+${toHex(id)}+${toBase64(Uint8Array.of(1, ...pub))}`;
    };
    eq(keyText(v.old_key_seed), v.old_key, 'old key from its seed');
    eq(keyText(v.new_key_seed), v.new_key, 'new key from its seed');
    const oldKey = parseVerifierKey(v.old_key);
    const newKey = parseVerifierKey(v.new_key);
    const rotHex = vectors.more_entries.find((e) => e.kind === 'key-rotation').hex;
    const rot = decodeEntry(fromHex(rotHex));
    eq(rot.old_key, v.old_key, 'rotation old_key');
    eq(rot.new_key, v.new_key, 'rotation new_key');
    const leaves = [...vectors.log, ...vectors.more_entries].map((e) => leafHash(fromHex(e.hex)));
    eq(leaves.length, 8, 'entries');
    // "logged at index 4, after the four entries of log": the tree of 5 is log ‖ rotation.
    const five = [...vectors.log.map((e) => leafHash(fromHex(e.hex))), leafHash(fromHex(rotHex))];
    eq(toHex(treeHead(five)), v.root_of_5, 'root of 5');
    if (!verifyInclusion(five[4], BigInt(v.index), 5n, v.inclusion_of_4_in_5.map(fromHex), fromHex(v.root_of_5)))
      throw new Error('inclusion of 4 in 5 does not verify');
    const origin = v.handover_note.split('\n')[0];
    for (const k of [oldKey, newKey]) {
      const n = openNote(v.handover_note, k, origin);
      eq(n.size, 5n, 'handover size');
      eq(toHex(n.root), v.root_of_5, 'handover root');
    }
    // A note with one byte of the text changed must not open with either key.
    const bad = v.handover_note.replace('\n5\n', '\n6\n');
    for (const k of [oldKey, newKey]) {
      let refused = false;
      try {
        openNote(bad, k, origin);
      } catch {
        refused = true;
      }
      if (!refused) throw new Error('an altered handover note opens');
    }
  });

  t('Ed25519 strictness (S ≥ L, non-canonical R)', () => {
    const v = vectors.key_rotation;
    const key = parseVerifierKey(v.old_key);
    const note = v.handover_note;
    const text = note.slice(0, note.lastIndexOf('\n\n') + 1);
    const line = note.split('\n').find((l) => l.includes(' ') && l.startsWith('\u2014') && equalBytes(fromBase64Canonical(l.split(' ')[2]).slice(0, 4), key.id));
    const sig = fromBase64Canonical(line.split(' ')[2]).slice(4);
    if (!ed25519VerifyStrict(key.publicKey, utf8(text), sig)) throw new Error('the genuine signature does not verify');
    // S + L: the same signature in a non-reduced form must be refused.
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
    const s2 = s + L;
    const big = sig.slice();
    let w = s2;
    for (let i = 32; i < 64; i++) {
      big[i] = Number(w & 0xffn);
      w >>= 8n;
    }
    if (w === 0n && ed25519VerifyStrict(key.publicKey, utf8(text), big)) throw new Error('S + L verifies');
  });

  if (quicknet) {
    t('recorded quicknet rounds (contracts/beacons)', () => {
      for (const r of quicknet.rounds) {
        verifyBeaconSignature(fromHex(quicknet.public_key), BigInt(r.round), fromHex(r.signature));
        eq(toHex(H(fromHex(r.signature))), r.randomness, `round ${r.round} randomness`);
      }
      let refused = false;
      try {
        const r = quicknet.rounds[0];
        verifyBeaconSignature(fromHex(quicknet.public_key), BigInt(r.round) + 1n, fromHex(r.signature));
      } catch {
        refused = true;
      }
      if (!refused) throw new Error("a round's signature verifies for the next round");
      return `${quicknet.rounds.length} rounds`;
    });
  }

  return results;
}
