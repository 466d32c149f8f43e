//! RFC 6962 / RFC 9162 Merkle tree: leaf and node hashing, tree heads,
//! inclusion proofs (PATH) and consistency proofs (PROOF), with the
//! verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! [`Tree`] keeps every perfect subtree's hash, so appends, tree heads and
//! proofs cost O(log n) hashes.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// An append-only tree of leaf hashes.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[k][i]` = hash of the perfect subtree over leaves `[i·2^k, (i+1)·2^k)`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            levels: vec![Vec::new()],
        }
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first().and_then(|l| l.get(index as usize)).copied()
    }

    /// Appends a leaf hash (not the entry: see [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut k = 0;
        while self.levels[k].len().is_multiple_of(2) {
            let n = self.levels[k].len();
            let parent = node_hash(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(parent);
            k += 1;
        }
    }

    /// MTH(D[lo:hi]) for the ranges the RFC recursion produces.
    fn mth(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let k = n.trailing_zeros() as usize;
            return self.levels[k][(lo >> k) as usize];
        }
        let k = split(n);
        node_hash(&self.mth(lo, lo + k), &self.mth(lo + k, hi))
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Option<Hash> {
        (size <= self.size()).then(|| self.mth(0, size))
    }

    /// The root the tree would have with `leaf` appended, without appending
    /// it: a handover checkpoint (spec §6.4) is signed before its rotation is
    /// committed.
    pub fn root_with(&self, leaf: Hash) -> Hash {
        self.mth_with(0, self.size() + 1, &leaf)
    }

    /// [`Tree::mth`] over the leaves and one more, `leaf`, at index `size()`.
    fn mth_with(&self, lo: u64, hi: u64, leaf: &Hash) -> Hash {
        if hi <= self.size() {
            return self.mth(lo, hi);
        }
        if hi - lo == 1 {
            return *leaf;
        }
        let k = split(hi - lo);
        node_hash(&self.mth(lo, lo + k), &self.mth_with(lo + k, hi, leaf))
    }

    /// PATH(index, D[0:size]).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Some(out)
    }

    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, lo, lo + k, out);
            out.push(self.mth(lo + k, hi));
        } else {
            self.path(m - k, lo + k, hi, out);
            out.push(self.mth(lo, lo + k));
        }
    }

    /// PROOF(first, D[0:second]).
    pub fn consistency_proof(&self, first: u64, second: u64) -> Option<Vec<Hash>> {
        if first == 0 || first > second || second > self.size() {
            return None;
        }
        let mut out = Vec::new();
        self.subproof(first, 0, second, true, &mut out);
        Some(out)
    }

    fn subproof(&self, m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.mth(lo, hi));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out);
            out.push(self.mth(lo + k, hi));
        } else {
            self.subproof(m - k, lo + k, hi, false, out);
            out.push(self.mth(lo, lo + k));
        }
    }
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` with `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of size `first` with
/// `first_root` is a prefix of the tree of size `second` with `second_root`?
pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, proof: &[Hash]) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((seed, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *first_root && sr == *second_root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 definition, literally.
    fn naive(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&naive(&leaves[..k]), &naive(&leaves[k..]))
            }
        }
    }

    fn tree(n: usize) -> (Tree, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&(i as u32).to_be_bytes())).collect();
        let mut t = Tree::new();
        for l in &leaves {
            t.push(*l);
        }
        (t, leaves)
    }

    #[test]
    fn root_with_is_the_root_after_a_push() {
        for n in 0..40 {
            let (mut t, _) = tree(n);
            let leaf = leaf_hash(b"next");
            let predicted = t.root_with(leaf);
            t.push(leaf);
            assert_eq!(Some(predicted), t.root(n as u64 + 1), "size {n}");
        }
    }

    /// Certificate Transparency's reference vectors: eight leaves and the root of each prefix.
    #[test]
    fn ct_reference_roots() {
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut t = Tree::new();
        for (i, input) in inputs.iter().enumerate() {
            t.push(leaf_hash(input));
            assert_eq!(
                t.root(i as u64 + 1).map(hex::encode).as_deref(),
                Some(roots[i]),
                "size {}",
                i + 1
            );
        }
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn roots_match_the_definition() {
        let (t, leaves) = tree(70);
        for n in 0..=70 {
            assert_eq!(t.root(n as u64), Some(naive(&leaves[..n])), "size {n}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        let (t, leaves) = tree(33);
        for size in 1..=33u64 {
            let root = t.root(size).expect("root");
            for i in 0..size {
                let proof = t.inclusion_proof(i, size).expect("proof");
                assert!(
                    verify_inclusion(i, size, &leaves[i as usize], &proof, &root),
                    "{i}/{size}"
                );
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(i, size, &leaves[i as usize], &bad, &root));
                }
                assert!(!verify_inclusion(i, size, &leaf_hash(b"other"), &proof, &root));
                if size > 1 {
                    assert!(
                        !verify_inclusion((i + 1) % size, size, &leaves[i as usize], &proof, &root)
                            || leaves[((i + 1) % size) as usize] == leaves[i as usize]
                    );
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        let (t, _) = tree(33);
        for second in 1..=33u64 {
            let r2 = t.root(second).expect("root");
            for first in 1..=second {
                let r1 = t.root(first).expect("root");
                let proof = t.consistency_proof(first, second).expect("proof");
                assert!(verify_consistency(first, second, &r1, &r2, &proof), "{first}->{second}");
                if first < second {
                    assert!(!verify_consistency(first, second, &leaf_hash(b"x"), &r2, &proof));
                    assert!(!verify_consistency(first, second, &r1, &leaf_hash(b"x"), &proof));
                }
            }
        }
    }
}
