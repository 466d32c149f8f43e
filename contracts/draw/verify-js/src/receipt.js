// The receipt grammar, SPEC §7.1. Every failure here is check `format`.

import { parseJson, integerValue } from './json.js';
import { decodeUtf8, fromBase64Canonical, fromHex, isLowerHex } from './bytes.js';

class FormatError extends Error {}

const fail = (msg) => {
  throw new FormatError(msg);
};

/** An object value with exactly the `required` members (plus `optional` ones), each once. */
function members(v, where, required, optional = []) {
  if (!v || v.t !== 'object') fail(`${where} is not an object`);
  if (v.badName) fail(`${where} has a member name that is not Unicode text`);
  if (v.dup) {
    const seen = new Set();
    for (const [k] of v.members) {
      if (seen.has(k)) fail(`${where} has the member "${k}" twice`);
      seen.add(k);
    }
  }
  for (const [k] of v.members) {
    if (!required.includes(k) && !optional.includes(k)) fail(`${where} has an unknown member "${k}"`);
  }
  for (const k of required) if (!v.names.has(k)) fail(`${where} lacks the member "${k}"`);
  return v.names;
}

function str(v, where) {
  if (!v || v.t !== 'string') fail(`${where} is not a string`);
  if (v.lone) fail(`${where} is not Unicode text (an unpaired surrogate)`);
  return v.s;
}

function int(v, where) {
  const x = integerValue(v);
  if (x === null) fail(`${where} is not an integer (digits only, no sign, fraction, exponent or leading zero, at most 2^53 − 1)`);
  return x;
}

function hex(v, where, digits) {
  const s = str(v, where);
  if (!isLowerHex(s)) fail(`${where} is not lower-case hex of even length`);
  if (digits !== undefined && s.length !== digits) fail(`${where} is not ${digits} hex digits`);
  return s;
}

function b64(v, where, { length, min } = {}) {
  const s = str(v, where);
  const bytes = fromBase64Canonical(s);
  if (!bytes) fail(`${where} is not canonical base64`);
  if (length !== undefined && bytes.length !== length) fail(`${where} is not ${length} bytes`);
  if (min !== undefined && bytes.length < min) fail(`${where} is shorter than ${min} bytes`);
  return bytes;
}

function array(v, where) {
  if (!v || v.t !== 'array') fail(`${where} is not an array`);
  return v.items;
}

function logged(v, where) {
  const m = members(v, where, ['index', 'entry', 'proof']);
  const proofItems = array(m.get('proof'), `${where}.proof`);
  if (proofItems.length > 64) fail(`${where}.proof has more than 64 elements`);
  return {
    index: int(m.get('index'), `${where}.index`),
    entry: b64(m.get('entry'), `${where}.entry`, { min: 5 }),
    proof: proofItems.map((p, i) => b64(p, `${where}.proof[${i}]`, { length: 32 })),
  };
}

const TOP = ['version', 'plate', 'application_id', 'salt', 'checkpoint', 'commit', 'result', 'previous', 'taken', 'beacon', 'pool_bitmap'];
const BEACON = ['beacon_id', 'scheme', 'public_key', 'genesis_unix_ms', 'period_ms', 'round', 'signature', 'randomness'];

/**
 * Parses a receipt: `input` is its bytes (Uint8Array) or its text. Returns the typed receipt or
 * throws a FormatError.
 */
export function parseReceipt(input) {
  let text = input;
  if (input instanceof Uint8Array) {
    try {
      text = decodeUtf8(input);
    } catch {
      fail('the receipt is not valid UTF-8');
    }
  }
  if (typeof text !== 'string') fail('the receipt is neither bytes nor text');
  if (text.charCodeAt(0) === 0xfeff) fail('the receipt starts with a byte-order mark');
  let root;
  try {
    root = parseJson(text);
  } catch (e) {
    fail(`the receipt is not JSON (${e.message})`);
  }
  const m = members(root, 'the receipt', TOP, ['rotations']);
  if (str(m.get('version'), 'version') !== 'vrs-receipt-v2') fail('version is not "vrs-receipt-v2"');
  const applicationId = str(m.get('application_id'), 'application_id');
  if (applicationId.length === 0) fail('application_id is empty');
  const bm = members(m.get('beacon'), 'beacon', BEACON);
  const previous = m.get('previous');
  const receipt = {
    plate: str(m.get('plate'), 'plate'),
    applicationId,
    salt: fromHex(hex(m.get('salt'), 'salt', 64)),
    checkpoint: str(m.get('checkpoint'), 'checkpoint'),
    commit: logged(m.get('commit'), 'commit'),
    result: logged(m.get('result'), 'result'),
    previous: previous.t === 'null' ? null : logged(previous, 'previous'),
    taken: array(m.get('taken'), 'taken').map((t, i) => logged(t, `taken[${i}]`)),
    beacon: {
      beaconId: str(bm.get('beacon_id'), 'beacon.beacon_id'),
      scheme: str(bm.get('scheme'), 'beacon.scheme'),
      publicKey: hex(bm.get('public_key'), 'beacon.public_key'),
      genesis: int(bm.get('genesis_unix_ms'), 'beacon.genesis_unix_ms'),
      period: int(bm.get('period_ms'), 'beacon.period_ms'),
      round: int(bm.get('round'), 'beacon.round'),
      signature: hex(bm.get('signature'), 'beacon.signature'),
      randomness: hex(bm.get('randomness'), 'beacon.randomness', 64),
    },
    poolBitmap: b64(m.get('pool_bitmap'), 'pool_bitmap', { length: 16384 }),
    rotations: [],
  };
  if (m.has('rotations')) {
    receipt.rotations = array(m.get('rotations'), 'rotations').map((r, i) => {
      const rm = members(r, `rotations[${i}]`, ['checkpoint', 'rotation']);
      return {
        checkpoint: str(rm.get('checkpoint'), `rotations[${i}].checkpoint`),
        rotation: logged(rm.get('rotation'), `rotations[${i}].rotation`),
      };
    });
  }
  return receipt;
}

export { FormatError };
