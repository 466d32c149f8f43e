// Pinned trust, SPEC §7.2.

import { parseJson, integerValue, stringValue } from './json.js';
import { fromHex, isLowerHex } from './bytes.js';
import { parseVerifierKey } from './note.js';
import { localBeaconId } from './beacon.js';

/**
 * Parses a trust file (text). Returns { origin, logKey (parsed), logKeyText, beacons: Map(id ->
 * { beaconId, publicKeyHex, publicKey, genesis, period }) } or throws with the reason. Members
 * the verifier does not use are ignored whatever they hold; the ones it uses must appear once.
 */
export function parseTrust(text) {
  let root;
  try {
    root = parseJson(text);
  } catch (e) {
    throw new Error(`the trust file is not JSON (${e.message})`);
  }
  if (root.t !== 'object') throw new Error('the trust file is not a JSON object');
  const origin = stringValue(used(root, 'log_origin'));
  if (origin === null || origin.length === 0) throw new Error('log_origin is not a non-empty string');
  const logKeyText = stringValue(used(root, 'log_key'));
  if (logKeyText === null) throw new Error('log_key is not a string');
  let logKey;
  try {
    logKey = parseVerifierKey(logKeyText);
  } catch (e) {
    throw new Error(`log_key is malformed: ${e.message}`);
  }
  const list = used(root, 'beacons');
  if (list.t !== 'array') throw new Error('beacons is not an array');
  const beacons = new Map();
  for (const b of list.items) {
    if (b.t !== 'object') throw new Error('a beacon is not an object');
    const beaconId = stringValue(used(b, 'beacon_id'));
    if (beaconId === null) throw new Error('a beacon_id is not a string');
    const publicKeyHex = stringValue(used(b, 'public_key'));
    if (publicKeyHex === null || !isLowerHex(publicKeyHex) || publicKeyHex.length !== 192)
      throw new Error(`beacon ${beaconId}: public_key is not 96 bytes of lower-case hex`);
    const genesis = integerValue(used(b, 'genesis_unix_ms'));
    if (genesis === null) throw new Error(`beacon ${beaconId}: genesis_unix_ms is not an integer`);
    const period = integerValue(used(b, 'period_ms'));
    if (period === null) throw new Error(`beacon ${beaconId}: period_ms is not an integer`);
    if (period === 0) throw new Error(`beacon ${beaconId}: period_ms is 0`);
    if (beacons.has(beaconId)) throw new Error(`beacon id ${beaconId} is named twice`);
    const publicKey = fromHex(publicKeyHex);
    if (beaconId.startsWith('vrs-local-') && beaconId !== localBeaconId(publicKey))
      throw new Error(`beacon id ${beaconId} does not match its key (${localBeaconId(publicKey)})`);
    beacons.set(beaconId, { beaconId, publicKeyHex, publicKey, genesis, period });
  }
  return { origin, logKey, logKeyText, beacons };
}

function used(obj, name) {
  const hits = obj.members.filter(([k]) => k === name);
  if (hits.length === 0) throw new Error(`${name} is missing`);
  if (hits.length > 1) throw new Error(`${name} appears more than once`);
  return hits[0][1];
}
