//! The draw rule (spec §5.2): which number a committed draw gets.
//!
//! The candidates of a draw are the numbers at the positions its seed's stream
//! picks in the available set its commit named; the first candidate not taken
//! by a draw committed earlier in the same pool is drawn. Nothing else enters:
//! the set is fixed in the commit, before the randomness exists, and earlier
//! draws are fixed the same way, so no entry appended later moves the plate.

use crate::pool::PoolState;
use crate::sampler::{Stream, uniform_index};

/// Candidates read before the exhaustion check runs: under that many the
/// pool cannot be exhausted in practice, and counting the taken numbers for
/// every draw would cost more than drawing.
const CHEAP_ATTEMPTS: u32 = 64;

/// What the rule picks for one draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// Candidates read (1 when the first was free).
    pub attempts: u32,
    /// Position of the drawn number in the commit's available set.
    pub index: u32,
    pub number: u32,
}

/// The candidates of a draw, in order: `(index, number)` for the j-th index the
/// sampler returns for `n = |set|` from the seed's stream. Empty for an empty set.
pub fn candidates(seed: [u8; 32], set: &PoolState) -> impl Iterator<Item = (u32, u32)> + '_ {
    let n = set.available_count();
    let mut stream = Stream::new(seed);
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        // `n` fits in u32, so the index does.
        let index = uniform_index(&mut stream, u64::from(n)) as u32;
        set.nth_available(index).map(|number| (index, number))
    })
}

/// Applies the rule: the first candidate for which `taken` is false.
/// `taken_in_set` counts the taken numbers that are in `set`; it is asked only
/// after many rejections, to tell a long run from an exhausted pool (`None`).
pub fn pick(
    seed: [u8; 32],
    set: &PoolState,
    taken: impl Fn(u32) -> bool,
    taken_in_set: impl FnOnce() -> usize,
) -> Option<Drawn> {
    let n = set.available_count();
    let mut count = Some(taken_in_set);
    for (attempt, (index, number)) in (1u32..).zip(candidates(seed, set)) {
        if !taken(number) {
            return Some(Drawn {
                attempts: attempt,
                index,
                number,
            });
        }
        if attempt == CHEAP_ATTEMPTS
            && let Some(count) = count.take()
            && count() >= n as usize
        {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Status;
    use std::collections::HashSet;

    #[test]
    fn the_first_free_candidate_is_drawn() {
        let set = PoolState::open();
        let seed = [7; 32];
        let first: Vec<(u32, u32)> = candidates(seed, &set).take(3).collect();
        let free = pick(seed, &set, |_| false, || 0).expect("drawn");
        assert_eq!((free.attempts, free.index, free.number), (1, first[0].0, first[0].1));
        let taken: HashSet<u32> = [first[0].1, first[1].1].into();
        let third = pick(seed, &set, |m| taken.contains(&m), || 2).expect("drawn");
        assert_eq!((third.attempts, third.index, third.number), (3, first[2].0, first[2].1));
    }

    #[test]
    fn an_exhausted_set_draws_nothing() {
        let mut set = PoolState::open();
        for n in 3..=99_999 {
            set.change(n, Status::Available, Status::Withheld).expect("withhold");
        }
        assert_eq!(set.available_count(), 2);
        assert_eq!(pick([1; 32], &set, |_| true, || 2), None);
        // One of the two free: found however long the run of rejections.
        let got = pick([1; 32], &set, |m| m == 1, || 1).expect("drawn");
        assert_eq!(got.number, 2);
        assert_eq!(
            pick(
                [1; 32],
                &PoolState::from_bitmap(&[0; 16_384]).expect("empty"),
                |_| false,
                || 0
            ),
            None
        );
    }
}
