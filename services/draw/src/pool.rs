//! Pools and their state (draw spec §5).
//!
//! A pool is (locality code, vehicle class, plate colour, series) and holds the
//! numbers 00001–99999, each available, withheld or issued. The available set
//! is ordered by number; a draw takes the index-th available number. Its
//! digest is a Merkle root over the availability bitmap, so a receipt can carry
//! the bitmap and anyone can check it against the log, and a replay updates the
//! digest with a few hashes per change.

use sha2::{Digest, Sha256};

/// Highest number of a pool; numbers run 1..=MAX_NUMBER.
pub const MAX_NUMBER: u32 = 99_999;
/// Bits in the availability bitmap (number i is bit i; bit 0 and bits above 99,999 stay 0).
pub const BITMAP_BITS: usize = 131_072;
/// Bytes of the bitmap.
pub const BITMAP_BYTES: usize = BITMAP_BITS / 8;
const WORDS: usize = BITMAP_BITS / 64;
/// The bitmap is hashed in 32-byte chunks: 512 leaves of a perfect binary tree.
const CHUNKS: usize = BITMAP_BYTES / 32;

/// Numbers withheld from every draw as special patterns re-listed after failed
/// auctions (DESIGN §3.3): AAAAA with A > 4, and strictly ascending ABCDE with A > 4.
pub fn special_patterns() -> Vec<u32> {
    let mut v: Vec<u32> = (5..=9).map(|a| a * 11_111).collect();
    // Strictly ascending five digits starting above 4: only 56789.
    v.push(56_789);
    v.sort_unstable();
    v
}

/// Vehicle class as it appears in pool ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Car,
    Motorbike,
}

/// Plate colour as it appears in pool ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Colour {
    /// White with black characters: private and company vehicles.
    White,
    /// Yellow: commercial transport.
    Yellow,
    /// Blue: state bodies (series A–M only).
    Blue,
}

/// Identity of a pool, written `<locality>-<class>-<colour>-<series>`, e.g. `30-car-white-A`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolId {
    pub locality: String,
    pub class: Class,
    pub colour: Colour,
    pub series: String,
}

/// Car series letters (never I J O Q R W).
pub const CAR_SERIES: &[&str] = &[
    "A", "B", "C", "D", "E", "F", "G", "H", "K", "L", "M", "N", "P", "S", "T", "U", "V", "X", "Y", "Z",
];

impl PoolId {
    pub fn parse(s: &str) -> Option<PoolId> {
        let mut parts = s.split('-');
        let locality = parts.next()?;
        let class = match parts.next()? {
            "car" => Class::Car,
            "motorbike" => Class::Motorbike,
            _ => return None,
        };
        let colour = match parts.next()? {
            "white" => Colour::White,
            "yellow" => Colour::Yellow,
            "blue" => Colour::Blue,
            _ => return None,
        };
        let series = parts.next()?;
        if parts.next().is_some() || locality.len() != 2 || !locality.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ok_series = match class {
            Class::Car => CAR_SERIES.contains(&series),
            Class::Motorbike => {
                series.len() == 2
                    && series.as_bytes()[0].is_ascii_uppercase()
                    && series.as_bytes()[1].is_ascii_alphanumeric()
                    && !series.as_bytes()[1].is_ascii_lowercase()
            }
        };
        ok_series.then(|| PoolId {
            locality: locality.into(),
            class,
            colour,
            series: series.into(),
        })
    }

    /// The plate text of `number` in this pool: `30A-482.17` (car), `29-AB 123.45` (motorbike).
    pub fn plate(&self, number: u32) -> String {
        let (hi, lo) = (number / 100, number % 100);
        match self.class {
            Class::Car => format!("{}{}-{hi:03}.{lo:02}", self.locality, self.series),
            Class::Motorbike => format!("{}-{} {hi:03}.{lo:02}", self.locality, self.series),
        }
    }
}

impl std::fmt::Display for PoolId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let class = match self.class {
            Class::Car => "car",
            Class::Motorbike => "motorbike",
        };
        let colour = match self.colour {
            Colour::White => "white",
            Colour::Yellow => "yellow",
            Colour::Blue => "blue",
        };
        write!(f, "{}-{class}-{colour}-{}", self.locality, self.series)
    }
}

/// State of one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Available,
    Withheld,
    Issued,
}

/// A state change that the rules do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("number {number}: {from:?} cannot become {to:?}")]
pub struct IllegalChange {
    pub number: u32,
    pub from: Status,
    pub to: Status,
}

/// The numbers of one pool.
#[derive(Clone)]
pub struct PoolState {
    /// Availability bitmap, little-endian words: number i is bit i % 64 of word i / 64.
    available: Vec<u64>,
    /// Issued numbers (bitmap of the same shape); withheld = neither.
    issued: Vec<u64>,
    count: u32,
    /// Heap-ordered tree over the bitmap chunks: node 1 is the root, leaves are 512..1024.
    nodes: Vec<[u8; 32]>,
    dirty: Vec<bool>,
}

impl std::fmt::Debug for PoolState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolState")
            .field("available", &self.count)
            .finish_non_exhaustive()
    }
}

impl PoolState {
    /// A freshly opened pool: every number available.
    pub fn open() -> PoolState {
        let mut p = PoolState {
            available: vec![0; WORDS],
            issued: vec![0; WORDS],
            count: 0,
            nodes: vec![[0; 32]; 2 * CHUNKS],
            dirty: vec![true; CHUNKS],
        };
        for n in 1..=MAX_NUMBER {
            p.set_bit(n, true);
        }
        p.count = MAX_NUMBER;
        p
    }

    /// Rebuilds a state from an availability bitmap (e.g. a receipt's), everything else withheld.
    pub fn from_bitmap(bitmap: &[u8]) -> Option<PoolState> {
        if bitmap.len() != BITMAP_BYTES {
            return None;
        }
        let available: Vec<u64> = bitmap
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let p = PoolState {
            count: available.iter().map(|w| w.count_ones()).sum(),
            available,
            issued: vec![0; WORDS],
            nodes: vec![[0; 32]; 2 * CHUNKS],
            dirty: vec![true; CHUNKS],
        };
        // Bit 0 and bits above MAX_NUMBER must be clear.
        let clean = !p.bit(0) && (MAX_NUMBER as usize + 1..BITMAP_BITS).all(|i| !p.bit(i as u32));
        clean.then_some(p)
    }

    fn bit(&self, n: u32) -> bool {
        self.available[n as usize / 64] >> (n % 64) & 1 == 1
    }

    fn set_bit(&mut self, n: u32, on: bool) {
        let (w, b) = (n as usize / 64, n % 64);
        if on {
            self.available[w] |= 1 << b;
        } else {
            self.available[w] &= !(1 << b);
        }
        self.dirty[w / 4] = true;
    }

    fn set_issued(&mut self, n: u32, on: bool) {
        let (w, b) = (n as usize / 64, n % 64);
        if on {
            self.issued[w] |= 1 << b;
        } else {
            self.issued[w] &= !(1 << b);
        }
    }

    pub fn status(&self, n: u32) -> Option<Status> {
        if n == 0 || n > MAX_NUMBER {
            return None;
        }
        Some(if self.bit(n) {
            Status::Available
        } else if self.issued[n as usize / 64] >> (n % 64) & 1 == 1 {
            Status::Issued
        } else {
            Status::Withheld
        })
    }

    /// Moves `n` from `from` to `to`, refusing anything else.
    pub fn change(&mut self, n: u32, from: Status, to: Status) -> Result<(), IllegalChange> {
        let current = self.status(n).ok_or(IllegalChange { number: n, from, to })?;
        if current != from {
            return Err(IllegalChange {
                number: n,
                from: current,
                to,
            });
        }
        match (from, to) {
            (Status::Available, Status::Withheld) => {
                self.set_bit(n, false);
                self.count -= 1;
            }
            (Status::Withheld, Status::Available) => {
                self.set_bit(n, true);
                self.count += 1;
            }
            (Status::Available, Status::Issued) => {
                self.set_bit(n, false);
                self.set_issued(n, true);
                self.count -= 1;
            }
            (Status::Withheld, Status::Issued) => self.set_issued(n, true),
            (Status::Issued, Status::Withheld) => self.set_issued(n, false),
            _ => return Err(IllegalChange { number: n, from, to }),
        }
        Ok(())
    }

    /// Number of available numbers.
    pub fn available_count(&self) -> u32 {
        self.count
    }

    /// The `k`-th (0-based) available number in ascending order.
    pub fn nth_available(&self, k: u32) -> Option<u32> {
        let mut k = k;
        for (w, word) in self.available.iter().enumerate() {
            let ones = word.count_ones();
            if k < ones {
                let mut x = *word;
                for _ in 0..k {
                    x &= x - 1; // clear the lowest set bit
                }
                return Some(w as u32 * 64 + x.trailing_zeros());
            }
            k -= ones;
        }
        None
    }

    /// The availability bitmap (spec §5): 16,384 bytes, number i is bit i % 8 of byte i / 8.
    pub fn bitmap(&self) -> Vec<u8> {
        self.available.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Digest of the available set: the root of a perfect binary tree whose 512
    /// leaves are `SHA-256(0x00 ‖ chunk)` of the bitmap's 32-byte chunks and whose
    /// nodes are `SHA-256(0x01 ‖ left ‖ right)`.
    pub fn digest(&mut self) -> [u8; 32] {
        for c in 0..CHUNKS {
            if !self.dirty[c] {
                continue;
            }
            let mut h = Sha256::new();
            h.update([0u8]);
            for w in &self.available[4 * c..4 * c + 4] {
                h.update(w.to_le_bytes());
            }
            let mut i = CHUNKS + c;
            self.nodes[i] = h.finalize().into();
            while i > 1 {
                i /= 2;
                let mut h = Sha256::new();
                h.update([1u8]);
                h.update(self.nodes[2 * i]);
                h.update(self.nodes[2 * i + 1]);
                self.nodes[i] = h.finalize().into();
            }
            self.dirty[c] = false;
        }
        self.nodes[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ids_and_plates() {
        let car = PoolId::parse("30-car-white-A").expect("valid");
        assert_eq!(car.plate(48_217), "30A-482.17");
        assert_eq!(car.plate(1), "30A-000.01");
        assert_eq!(car.to_string(), "30-car-white-A");
        let bike = PoolId::parse("29-motorbike-white-AB").expect("valid");
        assert_eq!(bike.plate(12_345), "29-AB 123.45");
        for bad in [
            "30-car-white-I",
            "3-car-white-A",
            "30-truck-white-A",
            "30-car-red-A",
            "30-car-white-A-x",
            "29-motorbike-white-a1",
        ] {
            assert!(PoolId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn special_patterns_are_the_six_of_design() {
        assert_eq!(special_patterns(), [55_555, 56_789, 66_666, 77_777, 88_888, 99_999]);
    }

    #[test]
    fn nth_available_follows_withholding_and_draws() {
        let mut p = PoolState::open();
        assert_eq!(p.available_count(), 99_999);
        assert_eq!(p.nth_available(0), Some(1));
        assert_eq!(p.nth_available(99_998), Some(99_999));
        assert_eq!(p.nth_available(99_999), None);
        p.change(1, Status::Available, Status::Withheld).expect("withhold");
        p.change(3, Status::Available, Status::Issued).expect("draw");
        assert_eq!(p.nth_available(0), Some(2));
        assert_eq!(p.nth_available(1), Some(4));
        assert_eq!(p.available_count(), 99_997);
        assert!(
            p.change(3, Status::Available, Status::Issued).is_err(),
            "no double issue"
        );
        assert!(p.change(3, Status::Withheld, Status::Available).is_err());
        p.change(3, Status::Issued, Status::Withheld)
            .expect("revoke into retention");
        p.change(3, Status::Withheld, Status::Issued).expect("reissue");
        assert_eq!(p.status(3), Some(Status::Issued));
        assert_eq!(p.status(0), None);
    }

    #[test]
    fn digest_tracks_changes_and_matches_a_rebuild() {
        let mut p = PoolState::open();
        let fresh = p.digest();
        p.change(500, Status::Available, Status::Issued).expect("draw");
        let after = p.digest();
        assert_ne!(fresh, after);
        let mut rebuilt = PoolState::from_bitmap(&p.bitmap()).expect("clean bitmap");
        assert_eq!(rebuilt.digest(), after);
        assert_eq!(rebuilt.available_count(), p.available_count());
        let mut bad = p.bitmap();
        bad[0] |= 1; // number 0 is not a number
        assert!(PoolState::from_bitmap(&bad).is_none());
    }
}
