// Beacons, SPEC §9: drand's bls-unchained-g1-rfc9380 — signature in G1 (48 bytes compressed),
// public key in G2 (96 bytes compressed), message H(u64be(R)), hash-to-curve RFC 9380
// BLS12381G1_XMD:SHA-256_SSWU_RO_ with the DST below; valid iff
// e(signature, g2) = e(hash_to_G1(message), public_key), both points valid, in their prime-order
// subgroups and not the point at infinity.

import { bls12_381 } from '@noble/curves/bls12-381.js';
import { H, toHex, u64be } from './bytes.js';

export const SCHEME = 'bls-unchained-g1-rfc9380';
export const DST = 'BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_';

const { G1, G2, fields } = bls12_381;

/** Decodes a compressed point (ZCash serialisation) and requires a non-infinity subgroup point. */
function decodePoint(group, bytes, length, what) {
  if (bytes.length !== length) throw new Error(`the ${what} is not ${length} bytes`);
  if ((bytes[0] & 0x80) === 0) throw new Error(`the ${what} is not a compressed point`);
  let p;
  try {
    p = group.Point.fromBytes(bytes);
  } catch (e) {
    throw new Error(`the ${what} is not a valid point (${e.message})`);
  }
  if (p.is0()) throw new Error(`the ${what} is the point at infinity`);
  try {
    p.assertValidity(); // on the curve and in the prime-order subgroup
  } catch (e) {
    throw new Error(`the ${what} is not in its prime-order subgroup (${e.message})`);
  }
  return p;
}

export function roundMessage(round) {
  return H(u64be(round));
}

/** Throws with the reason unless `signature` is the valid value of `round` under `publicKey`. */
export function verifyBeaconSignature(publicKey, round, signature) {
  const sig = decodePoint(G1, signature, 48, 'signature');
  const pk = decodePoint(G2, publicKey, 96, 'beacon public key');
  const hm = G1.hashToCurve(roundMessage(round), { DST });
  // e(signature, g2) · e(H(m), −pk) = 1
  const gt = bls12_381.pairingBatch([
    { g1: sig, g2: G2.Point.BASE },
    { g1: hm, g2: pk.negate() },
  ]);
  if (!fields.Fp12.eql(gt, fields.Fp12.ONE)) throw new Error('the beacon signature does not verify for the round');
}

/** §9: a local beacon's id, "vrs-local-" ‖ hex of the first 4 bytes of H(raw 96-byte key). */
export function localBeaconId(publicKey) {
  return 'vrs-local-' + toHex(H(publicKey).slice(0, 4));
}
