// Receipt verification, SPEC §7 (vrs-receipt-v2), written from contracts/draw/SPEC.md alone.
//
//   verifyReceipt(receipt, trust)
//     receipt: the receipt file's bytes (Uint8Array) or text; trust: the pinned trust's bytes or text
//     -> { ok: true, plate, pool, round, checks }
//      | { ok: false, check, reason, checks }     (check: the first failing check; checks: passed before it)
//
// A trust file that §7.2 refuses gives { ok: false, check: 'trust', ... } before any check runs.

import { H, decodeUtf8, equalBytes, toHex, utf8 } from './bytes.js';
import { decodeAs, NONE } from './entry.js';
import { leafHash, verifyInclusion } from './merkle.js';
import { openNote, parseVerifierKey } from './note.js';
import { parseReceipt } from './receipt.js';
import { parseTrust } from './trust.js';
import { SCHEME, verifyBeaconSignature } from './beacon.js';
import {
  applicationCommitment, availableNumbers, bitmapProblem, drawSeed, plateText, poolDigest, Sampler,
} from './draw.js';

const KIND_COMMIT = 0x10;
const KIND_RESULT = 0x11;
const KIND_ROTATION = 0x20;

/** The stable check names of SPEC §7.3, in the order they run. */
export const CHECKS = Object.freeze([
  'format',
  'rotations',
  'checkpoint',
  'commit-inclusion',
  'result-inclusion',
  'commit-entry',
  'result-entry',
  'rules',
  'order',
  'link',
  'commitment',
  'beacon',
  'commit-before-beacon',
  'previous',
  'seed',
  'pool',
  'taken',
  'index',
  'plate',
]);

/** The check names, in order (a copy). */
export function listChecks() {
  return [...CHECKS];
}

class CheckFailed extends Error {}
const fail = (reason) => {
  throw new CheckFailed(reason);
};
const need = (cond, reason) => {
  if (!cond) fail(reason);
};

function decodeOrFail(bytes, kind, what) {
  try {
    return decodeAs(bytes, kind);
  } catch (e) {
    fail(`${what} does not decode: ${e.message}`);
  }
}

function openOrFail(note, key, origin, what) {
  try {
    return openNote(note, key, origin);
  } catch (e) {
    fail(`${what} does not open with ${key.text}: ${e.message}`);
  }
}

/** Leaf hash of a logged entry is included at its index under (size, root). */
function included(logged, size, root) {
  return verifyInclusion(leafHash(logged.entry), logged.index, size, logged.proof, root);
}

const CHECK_FUNCTIONS = {
  rotations(x) {
    let T = x.trust.logKeyText;
    let Hsize = 0n;
    let followed = false;
    x.receipt.rotations.forEach((el, i) => {
      const what = `rotations[${i}]`;
      const rot = decodeOrFail(el.rotation.entry, KIND_ROTATION, `${what}.rotation`);
      if (rot.old_key !== T) {
        if (!followed) return; // skipped: hands over to or before the pinned key
        fail(`${what} hands over from ${rot.old_key}, not from the key followed so far (${T})`);
      }
      let newKey;
      try {
        newKey = parseVerifierKey(rot.new_key);
      } catch (e) {
        fail(`${what}: new_key is malformed: ${e.message}`);
      }
      need(rot.new_key !== T, `${what}: new_key is the old key`);
      const oldKey = parseVerifierKey(T);
      const note = openOrFail(el.checkpoint, oldKey, x.trust.origin, `${what}'s handover checkpoint`);
      openOrFail(el.checkpoint, newKey, x.trust.origin, `${what}'s handover checkpoint`);
      need(note.size === BigInt(el.rotation.index) + 1n,
        `${what}'s handover checkpoint has size ${note.size}, not the rotation's index + 1 (${el.rotation.index + 1})`);
      need(note.size > Hsize, `${what}'s handover checkpoint (size ${note.size}) is not above the previous handover (${Hsize})`);
      need(included(el.rotation, note.size, note.root),
        `${what}: the rotation entry is not included at index ${el.rotation.index} in its handover checkpoint's tree`);
      T = rot.new_key;
      Hsize = note.size;
      followed = true;
    });
    x.keyText = T;
    x.handoverSize = Hsize;
  },

  checkpoint(x) {
    const key = parseVerifierKey(x.keyText);
    const note = openOrFail(x.receipt.checkpoint, key, x.trust.origin, 'the checkpoint');
    need(note.size >= x.handoverSize,
      `the checkpoint's size ${note.size} is below the last handover followed (${x.handoverSize})`);
    x.N = note.size;
    x.root = note.root;
  },

  'commit-inclusion'(x) {
    const c = x.receipt.commit;
    need(included(c, x.N, x.root), `the commit entry is not included at index ${c.index} in the checkpoint's tree of size ${x.N}`);
  },

  'result-inclusion'(x) {
    const r = x.receipt.result;
    need(included(r, x.N, x.root), `the result entry is not included at index ${r.index} in the checkpoint's tree of size ${x.N}`);
  },

  'commit-entry'(x) {
    x.C = decodeOrFail(x.receipt.commit.entry, KIND_COMMIT, 'the commit entry');
  },

  'result-entry'(x) {
    x.D = decodeOrFail(x.receipt.result.entry, KIND_RESULT, 'the result entry');
  },

  rules(x) {
    need(x.C.rules_version === 'vrs-draw-rules-v2', `the commit's rules_version is "${x.C.rules_version}", not "vrs-draw-rules-v2"`);
  },

  order(x) {
    need(x.receipt.commit.index < x.receipt.result.index,
      `the commit's index ${x.receipt.commit.index} is not below the result's ${x.receipt.result.index}`);
  },

  link(x) {
    const { C, D } = x;
    need(D.commit_index === BigInt(x.receipt.commit.index), `the result answers commit ${D.commit_index}, not ${x.receipt.commit.index}`);
    need(equalBytes(D.commit_hash, leafHash(x.receipt.commit.entry)), "the result's commit_hash is not the commit's leaf hash");
    need(D.pool_id === C.pool_id, `the result's pool ${D.pool_id} is not the commit's ${C.pool_id}`);
    need(D.beacon_id === C.beacon_id, `the result's beacon ${D.beacon_id} is not the commit's ${C.beacon_id}`);
    need(D.round === C.round, `the result's round ${D.round} is not the commit's ${C.round}`);
  },

  commitment(x) {
    const h = applicationCommitment(x.receipt.salt, x.receipt.applicationId);
    need(equalBytes(h, x.C.application_commitment), "salt and application_id do not open the commit's application_commitment");
  },

  beacon(x) {
    const { C, D } = x;
    const pinned = x.trust.beacons.get(C.beacon_id);
    need(pinned, `the beacon ${C.beacon_id} is not pinned`);
    try {
      verifyBeaconSignature(pinned.publicKey, C.round, D.signature);
    } catch (e) {
      fail(e.message);
    }
    need(equalBytes(D.randomness, H(D.signature)), "the result's randomness is not H(signature)");
    const b = x.receipt.beacon;
    need(b.beaconId === C.beacon_id, `the receipt's beacon object names ${b.beaconId}, not the commit's ${C.beacon_id}`);
    need(BigInt(b.round) === C.round, `the receipt's beacon object names round ${b.round}, not the commit's ${C.round}`);
    need(b.scheme === SCHEME, `the receipt's beacon object names the scheme ${b.scheme}, not ${SCHEME}`);
    need(b.publicKey === pinned.publicKeyHex, "the receipt's beacon object has another public key than the pinned one");
    need(b.genesis === pinned.genesis, "the receipt's beacon object has another genesis than the pinned one");
    need(b.period === pinned.period, "the receipt's beacon object has another period than the pinned one");
    need(b.signature === toHex(D.signature), "the receipt's beacon object has another signature than the result's");
    need(b.randomness === toHex(D.randomness), "the receipt's beacon object has another randomness than the result's");
  },

  'commit-before-beacon'(x) {
    const { C } = x;
    const pinned = x.trust.beacons.get(C.beacon_id);
    const G = BigInt(pinned.genesis);
    const p = BigInt(pinned.period);
    const R = C.round;
    need(R >= 1n, 'the round is 0');
    const T = G + (R - 1n) * p;
    need(C.at_ms + p <= T,
      `the commit (at ${C.at_ms} ms) is not at least one period (${p} ms) before round ${R} is published (${T} ms)`);
  },

  previous(x) {
    const { C } = x;
    const prev = x.receipt.previous;
    if (C.previous_commit === NONE) {
      need(prev === null, 'the commit is the first of its pool, yet the receipt gives a previous result');
      return;
    }
    need(prev !== null, `the commit names the previous commit ${C.previous_commit}, yet the receipt gives no previous result`);
    need(included(prev, x.N, x.root), `the previous result is not included at index ${prev.index} in the checkpoint's tree`);
    const P = decodeOrFail(prev.entry, KIND_RESULT, 'the previous result');
    need(P.pool_id === C.pool_id, `the previous result is of pool ${P.pool_id}, not ${C.pool_id}`);
    need(P.commit_index === C.previous_commit, `the previous result answers commit ${P.commit_index}, not ${C.previous_commit}`);
    need(prev.index < x.receipt.result.index, `the previous result (index ${prev.index}) is not logged before this result (${x.receipt.result.index})`);
  },

  seed(x) {
    const s = drawSeed(leafHash(x.receipt.commit.entry), x.C.round, x.D.randomness);
    need(equalBytes(s, x.D.seed), "the result's seed is not the seed of the commit, round and randomness");
  },

  pool(x) {
    const bm = x.receipt.poolBitmap;
    const problem = bitmapProblem(bm);
    need(problem === null, `the pool bitmap is malformed: ${problem}`);
    need(equalBytes(poolDigest(bm), x.C.pool_digest), "the pool bitmap's digest is not the commit's pool_digest");
    x.available = availableNumbers(bm);
    need(x.available.length === x.C.available_count,
      `the pool bitmap has ${x.available.length} numbers, the commit says ${x.C.available_count}`);
    need(x.available.length >= 1, 'the pool bitmap is empty');
  },

  taken(x) {
    const { C, D } = x;
    const taken = x.receipt.taken;
    need(D.attempts >= 1, 'attempts is 0');
    need(taken.length === D.attempts - 1, `taken has ${taken.length} elements, attempts − 1 is ${D.attempts - 1}`);
    const sampler = new Sampler(D.seed, x.available.length);
    const takenNumbers = new Set();
    for (let j = 1; j < D.attempts; j++) {
      const t = taken[j - 1];
      const candidate = x.available[Number(sampler.next())];
      const what = `taken[${j - 1}]`;
      need(included(t, x.N, x.root), `${what} is not included at index ${t.index} in the checkpoint's tree`);
      const T = decodeOrFail(t.entry, KIND_RESULT, what);
      need(T.pool_id === C.pool_id, `${what} is of pool ${T.pool_id}, not ${C.pool_id}`);
      need(T.number === candidate, `${what} drew ${T.number}, but candidate ${j} is ${candidate}`);
      need(T.commit_index < BigInt(x.receipt.commit.index), `${what} answers commit ${T.commit_index}, not one before this commit (${x.receipt.commit.index})`);
      need(x.receipt.commit.index < t.index && t.index < x.receipt.result.index,
        `${what} (index ${t.index}) is not logged between the commit (${x.receipt.commit.index}) and the result (${x.receipt.result.index})`);
      takenNumbers.add(T.number);
    }
    x.finalIndex = Number(sampler.next());
    const drawn = x.available[x.finalIndex];
    need(!takenNumbers.has(drawn), `candidate ${D.attempts} (${drawn}) was already taken by an earlier draw`);
  },

  index(x) {
    need(x.finalIndex === x.D.index, `candidate ${x.D.attempts} is at index ${x.finalIndex}, the result says ${x.D.index}`);
  },

  plate(x) {
    const { C, D } = x;
    const number = x.available[D.index];
    need(number === D.number, `the number at index ${D.index} is ${number}, the result says ${D.number}`);
    const text = plateText(C.pool_id, number);
    need(text !== null, `the pool id ${C.pool_id} is not a pool id of §2`);
    need(D.plate === text, `the result's plate is "${D.plate}", the plate text of ${number} is "${text}"`);
    need(x.receipt.plate === text, `the receipt's plate is "${x.receipt.plate}", the plate text of ${number} is "${text}"`);
  },
};

function asText(input, what) {
  if (input instanceof Uint8Array) {
    try {
      return decodeUtf8(input);
    } catch {
      throw new Error(`the ${what} is not valid UTF-8`);
    }
  }
  if (typeof input !== 'string') throw new Error(`the ${what} is neither bytes nor text`);
  return input;
}

/** Verifies a receipt against pinned trust (SPEC §7). Never throws. */
export function verifyReceipt(receiptInput, trustInput) {
  const checks = [];
  let trust;
  try {
    trust = parseTrust(asText(trustInput, 'trust file'));
  } catch (e) {
    return { ok: false, check: 'trust', reason: `the pinned trust is refused: ${e.message}`, checks };
  }
  const x = { trust };
  try {
    x.receipt = parseReceipt(receiptInput);
  } catch (e) {
    return { ok: false, check: 'format', reason: e.message, checks };
  }
  checks.push('format');
  for (const name of CHECKS.slice(1)) {
    try {
      CHECK_FUNCTIONS[name](x);
    } catch (e) {
      const reason = e instanceof CheckFailed ? e.message : `unexpected error: ${e && e.message ? e.message : e}`;
      return { ok: false, check: name, reason, checks };
    }
    checks.push(name);
  }
  return { ok: true, plate: x.receipt.plate, pool: x.C.pool_id, round: Number(x.C.round), checks };
}

export { utf8 };
