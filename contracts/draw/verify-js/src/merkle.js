// The log's Merkle tree, SPEC §6.1–§6.2 (RFC 6962 / RFC 9162). Sizes and indices are BigInt.

import { H, concat, equalBytes } from './bytes.js';

const ZERO = Uint8Array.of(0);
const ONE = Uint8Array.of(1);

export const leafHash = (entry) => H(ZERO, entry);
export const nodeHash = (l, r) => H(ONE, l, r);

/** RFC 6962 MTH over leaf hashes. */
export function treeHead(leafHashes) {
  const n = leafHashes.length;
  if (n === 0) return H(new Uint8Array(0));
  if (n === 1) return leafHashes[0];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return nodeHash(treeHead(leafHashes.slice(0, k)), treeHead(leafHashes.slice(k)));
}

/** RFC 9162 §2.1.3.2: is `leaf` (a leaf hash) at `index` of the tree of `size` with `root`? */
export function verifyInclusion(leaf, index, size, proof, root) {
  index = BigInt(index);
  size = BigInt(size);
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

/** RFC 9162 §2.1.4.2: consistency of (size1, root1) with (size2, root2). */
export function verifyConsistency(size1, size2, proof, root1, root2) {
  size1 = BigInt(size1);
  size2 = BigInt(size2);
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && equalBytes(root1, root2);
  if (size1 === 0n) return proof.length === 0; // RFC 9162: an empty tree is consistent with any
  if (proof.length === 0) return false;
  let path = proof;
  // If size1 is an exact power of two, prepend root1 to the path.
  if ((size1 & (size1 - 1n)) === 0n) path = [root1, ...proof];
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return equalBytes(fr, root1) && equalBytes(sr, root2) && sn === 0n;
}

export { concat };
