//! No bias: 200,000 draws on fixed seeds (deterministic), chi-square tests
//! over index buckets and over the last digit of the plate number, at
//! p = 0.001. They catch gross bias (a sampler covering part of the range,
//! favouring low indices, or an index-to-number mapping that skews digits);
//! the modulo bias of an unrejected 64-bit word (below 2^-47 here) is far too
//! small for any sample to show, which is why the sampler rejects by
//! construction (SPEC §4) rather than by test.

use sha2::{Digest, Sha256};
use vrs_draw::entry::DrawCommit;
use vrs_draw::pool::{PoolState, Status, special_patterns};
use vrs_draw::receipt::{RULES_VERSION, resolve};
use vrs_draw::sampler::draw_index;

const DRAWS: u32 = 200_000;

fn seed(i: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"vrs-statistics-test");
    h.update(i.to_be_bytes());
    h.finalize().into()
}

fn chi_square(observed: &[u64], expected: f64) -> f64 {
    observed.iter().map(|&o| (o as f64 - expected).powi(2) / expected).sum()
}

fn pool() -> PoolState {
    let mut p = PoolState::open();
    for n in special_patterns() {
        p.change(n, Status::Available, Status::Withheld).expect("withhold");
    }
    p
}

#[test]
fn indices_and_last_digits_are_uniform() {
    let p = pool();
    let n = p.available_count();
    let mut buckets = vec![0u64; 100];
    let mut digits = vec![0u64; 10];
    for i in 0..DRAWS {
        let index = draw_index(seed(i), n);
        assert!(index < n);
        buckets[(u64::from(index) * 100 / u64::from(n)) as usize] += 1;
        let number = p.nth_available(index).expect("number");
        digits[(number % 10) as usize] += 1;
    }
    // 99 degrees of freedom: 148.23 at p = 0.001.
    let chi_buckets = chi_square(&buckets, f64::from(DRAWS) / 100.0);
    assert!(
        chi_buckets < 148.23,
        "index buckets chi-square {chi_buckets:.1}: {buckets:?}"
    );
    // The available set is not exactly uniform over last digits (special patterns
    // end in 5–9), so compare with the expected count per digit from the set itself.
    let mut per_digit = [0u64; 10];
    for k in 0..n {
        per_digit[(p.nth_available(k).expect("number") % 10) as usize] += 1;
    }
    let chi_digits: f64 = (0..10)
        .map(|d| {
            let e = f64::from(DRAWS) * per_digit[d] as f64 / f64::from(n);
            (digits[d] as f64 - e).powi(2) / e
        })
        .sum();
    // 9 degrees of freedom: 27.88 at p = 0.001.
    assert!(chi_digits < 27.88, "last digit chi-square {chi_digits:.1}: {digits:?}");
}

#[test]
fn a_pool_drawn_down_stays_unbiased() {
    // 60,000 successive draws from one pool, each against the pool as the previous ones left it.
    let mut p = pool();
    let commit = DrawCommit {
        pool_id: "30-car-white-A".into(),
        rules_version: RULES_VERSION.into(),
        application_commitment: [0; 32],
        beacon_id: "test".into(),
        round: 1,
        at_ms: 0,
    };
    let mut digits = [0u64; 10];
    let mut halves = [0u64; 2];
    let draws = 60_000u32;
    for i in 0..draws {
        let mut c = commit.clone();
        c.application_commitment = seed(i);
        let bytes = vrs_draw::entry::Entry::DrawCommit(c.clone()).encode();
        let r = resolve(u64::from(i), &bytes, &c, &[], seed(i + DRAWS), &mut p, 0).expect("draw");
        digits[(r.number % 10) as usize] += 1;
        halves[usize::from(r.number > 50_000)] += 1;
    }
    assert_eq!(p.available_count(), 99_993 - draws);
    let chi = chi_square(&digits, f64::from(draws) / 10.0);
    assert!(chi < 27.88, "last digit chi-square {chi:.1}: {digits:?}");
    let chi_h = chi_square(&halves, f64::from(draws) / 2.0);
    // 1 degree of freedom: 10.83 at p = 0.001.
    assert!(chi_h < 10.83, "low/high halves chi-square {chi_h:.1}: {halves:?}");
}
