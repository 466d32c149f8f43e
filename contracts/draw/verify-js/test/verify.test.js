// Edge cases of SPEC §7 beyond the golden receipts: the strict JSON of §7.1, the trust rules of
// §7.2, and the exported API. Fixtures are copies of golden receipts (a quicknet draw whose first
// candidate was taken, and a receipt across two key rotations checked from the first key).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifyReceipt, listChecks, CHECKS } from '../src/verify.js';
import { MESSAGES_VI, messageVi } from '../src/messages.js';
import { parseJson } from '../src/json.js';

const fx = (name) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const receipt = fx('quicknet-crowded.json');
const trust = fx('quicknet-trust.json');
const rotReceipt = fx('rotation-after-two.json');
const rotTrust = fx('rotation-first-key-trust.json');

const outcome = (r) => (r.ok ? 'OK' : r.check);
const edit = (text, f) => {
  const o = JSON.parse(text);
  f(o);
  return JSON.stringify(o);
};

test('the fixtures verify, as text and as bytes', () => {
  const r = verifyReceipt(receipt, trust);
  assert.equal(r.ok, true, r.reason);
  assert.deepEqual(r.checks, listChecks());
  assert.equal(typeof r.plate, 'string');
  assert.equal(typeof r.round, 'number');
  assert.equal(verifyReceipt(new TextEncoder().encode(receipt), new TextEncoder().encode(trust)).ok, true);
  assert.equal(outcome(verifyReceipt(rotReceipt, rotTrust)), 'OK');
});

test('check names: 19, in SPEC §7.3 order, each with Vietnamese messages', () => {
  assert.equal(CHECKS.length, 19);
  assert.equal(CHECKS[0], 'format');
  assert.equal(CHECKS[1], 'rotations');
  assert.equal(CHECKS[18], 'plate');
  for (const c of [...CHECKS, 'trust']) {
    assert.ok(MESSAGES_VI[c], c);
    assert.match(messageVi(c, true), /\.$/);
    assert.match(messageVi(c, false), /\.$/);
  }
  assert.equal(messageVi('checkpoint', false), 'Chữ ký của điểm kiểm tra không hợp lệ.');
});

test('the checks compare decoded strings: escapes and white space do not matter', () => {
  // Write the whole receipt with every ASCII letter of the salt and version as \u escapes.
  const o = JSON.parse(receipt);
  const esc = (s) => [...s].map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('');
  let text = JSON.stringify(o, null, '\t');
  text = text.replace(`"${o.salt}"`, `"${esc(o.salt)}"`).replace('"vrs-receipt-v2"', `"${esc('vrs-receipt-v2')}"`);
  text = text.replace('"plate"', '"pl\\u0061te"');
  assert.equal(outcome(verifyReceipt('\r\n ' + text + '\n\t', trust)), 'OK');
});

test('format: a duplicate written with an escape is still a duplicate', () => {
  const text = receipt.replace('{', '{"pl\\u0061te": "x",');
  assert.equal(outcome(verifyReceipt(text, trust)), 'format');
});

test('format: JSON outside RFC 8259', () => {
  const bad = [
    receipt.replace(/}\s*$/, ',}'), // trailing comma
    receipt + 'x', // text after the value
    receipt.replace('"index": ', '"index": 0'), // leading zero
    receipt.replace('"taken": [', '"taken": [ /* */'), // comment
    receipt.replace('"version"', "'version'"),
    receipt.replace('"application_id": "', '"application_id": "\t'), // raw control character
    '\ufeff' + receipt, // byte-order mark in text
    '',
    '[]',
  ];
  for (const t of bad) assert.equal(outcome(verifyReceipt(t, trust)), 'format');
  const bytes = new TextEncoder().encode(receipt);
  assert.equal(outcome(verifyReceipt(Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes]), trust)), 'format');
  const notUtf8 = Uint8Array.from(bytes);
  notUtf8[bytes.indexOf(0x33)] = 0xff; // first "3" of some value
  assert.equal(outcome(verifyReceipt(notUtf8, trust)), 'format');
});

test('format: value rules', () => {
  const cases = [
    (o) => (o.application_id = ''),
    (o) => (o.salt = o.salt.slice(2)),
    (o) => (o.commit.proof.push(o.commit.proof[0].slice(4))), // not 32 bytes
    (o) => (o.commit.proof = Array(65).fill(o.commit.proof[0])), // more than 64
    (o) => (o.commit.entry = 'VlJTMg=='), // 4 bytes
    (o) => (o.pool_bitmap = o.pool_bitmap.slice(4)),
    (o) => (o.beacon.signature = o.beacon.signature.toUpperCase()),
    (o) => (o.beacon.randomness = o.beacon.randomness + '00'),
    (o) => (o.beacon.public_key = o.beacon.public_key + '0'),
    (o) => (o.taken = {}),
    (o) => (o.previous = 0),
    (o) => (o.rotations = [{ checkpoint: o.checkpoint }]),
    (o) => (o.version = 'vrs-receipt-v1'),
    (o) => (o.beacon.round = -1),
    (o) => (o.beacon.round = 2 ** 53),
  ];
  for (const f of cases) assert.equal(outcome(verifyReceipt(edit(receipt, f), trust)), 'format', f.toString());
  // 2^53 − 1 is an integer; it then fails `beacon` (not the commit's round), not `format`.
  assert.equal(outcome(verifyReceipt(edit(receipt, (o) => (o.beacon.round = 2 ** 53 - 1)), trust)), 'beacon');
  // An explicit empty rotations list is the same as none.
  assert.equal(outcome(verifyReceipt(edit(receipt, (o) => (o.rotations = [])), trust)), 'OK');
});

test('a surrogate pair escape is Unicode text; a lone one is not', () => {
  const ok = receipt.replace('"application_id": "', '"application_id": "\\ud83d\\ude97');
  assert.equal(outcome(verifyReceipt(ok, trust)), 'commitment');
  const lone = receipt.replace('"application_id": "', '"application_id": "\\ude97\\ud83d');
  assert.equal(outcome(verifyReceipt(lone, trust)), 'format');
});

test('trust (§7.2): refusals', () => {
  const bad = [
    (o) => (o.beacons = [o.beacons[0], o.beacons[0]]), // beacon id twice
    (o) => (o.beacons[0].period_ms = 0),
    (o) => (o.beacons[0].public_key = o.beacons[0].public_key.toUpperCase()),
    (o) => (o.beacons[0].public_key = o.beacons[0].public_key.slice(2)),
    (o) => (o.beacons[0].genesis_unix_ms = -1),
    (o) => (o.beacons[0].genesis_unix_ms = '1'),
    (o) => (o.log_key = o.log_key.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), // wrong key id
    (o) => (o.log_key = o.log_key.replace('+', ' +')), // white space in the name... and a wrong id
    (o) => (o.log_origin = ''),
    (o) => delete o.beacons,
    (o) => (o.beacons = [1]),
    (o) => (o.beacons = [{ ...o.beacons[0], beacon_id: 'vrs-local-00000000', public_key: '8' + '0'.repeat(191) }]),
  ];
  for (const f of bad) assert.equal(outcome(verifyReceipt(receipt, edit(trust, f))), 'trust', f.toString());
  // A used member twice refuses the file; an ignored member holds anything.
  assert.equal(outcome(verifyReceipt(receipt, trust.replace('{', '{"log_origin": "x",'))), 'trust');
  const junk = trust.replace('{', '{"comment": {"a": 1, "a": "\\ud800"}, "x": [-0.5e3],');
  assert.equal(outcome(verifyReceipt(receipt, junk)), 'OK');
  const beaconJunk = edit(trust, (o) => (o.beacons[0].chain_hash = 'anything'));
  assert.equal(outcome(verifyReceipt(receipt, beaconJunk)), 'OK');
  // A beacon id that is not pinned fails check `beacon`.
  const other = edit(trust, (o) => (o.beacons[0].beacon_id = 'other'));
  assert.equal(outcome(verifyReceipt(receipt, other)), 'beacon');
});

test('checkpoint: pinned origin and pinned key', () => {
  assert.equal(outcome(verifyReceipt(receipt, edit(trust, (o) => (o.log_origin += 'x')))), 'checkpoint');
  assert.equal(outcome(verifyReceipt(receipt, rotTrust)), 'checkpoint');
  // The rotation receipt without its rotations: the first key does not open its checkpoint.
  assert.equal(outcome(verifyReceipt(edit(rotReceipt, (o) => delete o.rotations), rotTrust)), 'checkpoint');
  // Rotations out of order: the first one followed, the second skipped is not allowed.
  assert.equal(outcome(verifyReceipt(edit(rotReceipt, (o) => o.rotations.reverse()), rotTrust)), 'checkpoint');
});

test('pool: a bitmap with bit 0 or a bit above 99999 set', () => {
  const flip = (byte, mask) => (o) => {
    const b = Buffer.from(o.pool_bitmap, 'base64');
    b[byte] |= mask;
    o.pool_bitmap = b.toString('base64');
  };
  assert.equal(outcome(verifyReceipt(edit(receipt, flip(0, 1)), trust)), 'pool');
  assert.equal(outcome(verifyReceipt(edit(receipt, flip(12500, 1)), trust)), 'pool');
});

test('the JSON parser keeps duplicates, order and raw numbers', () => {
  const v = parseJson('{"a": 1, "a": 2.50, "b": [true, false, null]}');
  assert.equal(v.dup, true);
  assert.deepEqual(v.members.map(([k]) => k), ['a', 'a', 'b']);
  assert.equal(v.members[1][1].raw, '2.50');
  assert.throws(() => parseJson('{"a" 1}'));
  assert.throws(() => parseJson('01'));
  assert.throws(() => parseJson('1.'));
  assert.throws(() => parseJson('"\\x"'));
  assert.throws(() => parseJson('[1,]'));
  assert.throws(() => parseJson('\u00a0{}')); // only RFC 8259 white space
});
