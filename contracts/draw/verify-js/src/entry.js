// Log entries, SPEC §3: "VRS2" ‖ kind ‖ fields, decoded strictly.

import { decodeUtf8 } from './bytes.js';

export const KINDS = {
  0x01: 'pool-open',
  0x02: 'pool-withhold',
  0x03: 'pool-release',
  0x04: 'plate-assign',
  0x05: 'plate-revoke',
  0x10: 'draw-commit',
  0x11: 'draw-result',
  0x20: 'key-rotation',
};

// Field lists, in order, per kind (SPEC §3 table).
const FIELDS = {
  0x01: [['pool_id', 'str'], ['rules_version', 'str'], ['legal_basis', 'str'], ['at_ms', 'u64']],
  0x02: [['pool_id', 'str'], ['reason', 'str'], ['legal_basis', 'str'], ['numbers', 'numbers'], ['at_ms', 'u64']],
  0x03: [['pool_id', 'str'], ['reason', 'str'], ['legal_basis', 'str'], ['numbers', 'numbers'], ['at_ms', 'u64']],
  0x04: [
    ['pool_id', 'str'], ['number', 'u32'], ['plate', 'str'], ['reason', 'str'], ['legal_basis', 'str'],
    ['application_commitment', 'hash'], ['at_ms', 'u64'],
  ],
  0x05: [
    ['pool_id', 'str'], ['number', 'u32'], ['plate', 'str'], ['reason', 'str'], ['legal_basis', 'str'],
    ['owner_commitment', 'hash'], ['retained_until_ms', 'u64'], ['at_ms', 'u64'],
  ],
  0x10: [
    ['pool_id', 'str'], ['rules_version', 'str'], ['application_commitment', 'hash'], ['beacon_id', 'str'],
    ['round', 'u64'], ['previous_commit', 'u64'], ['available_count', 'u32'], ['pool_digest', 'hash'],
    ['at_ms', 'u64'],
  ],
  0x11: [
    ['commit_index', 'u64'], ['commit_hash', 'hash'], ['pool_id', 'str'], ['beacon_id', 'str'], ['round', 'u64'],
    ['signature', 'bytes'], ['randomness', 'hash'], ['seed', 'hash'], ['attempts', 'u32'], ['index', 'u32'],
    ['number', 'u32'], ['plate', 'str'], ['at_ms', 'u64'],
  ],
  0x20: [['old_key', 'str'], ['new_key', 'str'], ['reason', 'str'], ['at_ms', 'u64']],
};

export const NONE = (1n << 64n) - 1n;

/**
 * Decodes an entry. Returns { kind, name, ...fields } where u64 fields are BigInt, u32 fields
 * Numbers, hash/bytes fields Uint8Array, str fields strings, numbers arrays of Numbers.
 * Throws an Error saying why the entry is invalid.
 */
export function decodeEntry(bytes) {
  let p = 0;
  const need = (k) => {
    if (p + k > bytes.length) throw new Error('entry too short');
  };
  const u16 = () => {
    need(2);
    const v = (bytes[p] << 8) | bytes[p + 1];
    p += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = ((bytes[p] << 24) >>> 0) + (bytes[p + 1] << 16) + (bytes[p + 2] << 8) + bytes[p + 3];
    p += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    let v = 0n;
    for (let k = 0; k < 8; k++) v = (v << 8n) | BigInt(bytes[p + k]);
    p += 8;
    return v;
  };
  const raw = (k) => {
    need(k);
    const v = bytes.slice(p, p + k);
    p += k;
    return v;
  };

  if (bytes.length < 5) throw new Error('entry too short');
  if (bytes[0] !== 0x56 || bytes[1] !== 0x52 || bytes[2] !== 0x53 || bytes[3] !== 0x32)
    throw new Error('magic is not "VRS2"');
  const kind = bytes[4];
  const fields = FIELDS[kind];
  if (!fields) throw new Error(`unknown kind 0x${kind.toString(16).padStart(2, '0')}`);
  p = 5;
  const out = { kind, name: KINDS[kind] };
  for (const [name, type] of fields) {
    switch (type) {
      case 'u32':
        out[name] = u32();
        break;
      case 'u64':
        out[name] = u64();
        break;
      case 'hash':
        out[name] = raw(32);
        break;
      case 'bytes':
        out[name] = raw(u16());
        break;
      case 'str': {
        const b = raw(u16());
        try {
          out[name] = decodeUtf8(b);
        } catch {
          throw new Error(`${name} is not valid UTF-8`);
        }
        break;
      }
      case 'numbers': {
        const count = u32();
        need(count * 4);
        const list = [];
        for (let k = 0; k < count; k++) list.push(u32());
        out[name] = list;
        break;
      }
      default:
        throw new Error('internal: unknown field type');
    }
  }
  if (p !== bytes.length) throw new Error(`${bytes.length - p} bytes left over`);
  return out;
}

/** Decodes and requires a kind; throws otherwise. */
export function decodeAs(bytes, kind) {
  const e = decodeEntry(bytes);
  if (e.kind !== kind) throw new Error(`entry is a ${e.name}, not a ${KINDS[kind]}`);
  return e;
}
