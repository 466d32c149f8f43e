//! No bias: 200,000 draws on fixed seeds (deterministic), chi-square tests
//! over index buckets and over the last digit of the plate number, at
//! p = 0.001. They catch gross bias (a sampler covering part of the range,
//! favouring low indices, or an index-to-number mapping that skews digits);
//! the modulo bias of an unrejected 64-bit word (below 2^-47 here) is far too
//! small for any sample to show, which is why the sampler rejects by
//! construction (SPEC §4) rather than by test.

use sha2::{Digest, Sha256};
use vrs_draw::audit::Ledger;
use vrs_draw::entry::{DrawCommit, Entry, PoolChange, PoolOpen};
use vrs_draw::pool::{PoolState, Status, special_patterns};
use vrs_draw::receipt::RULES_VERSION;
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
fn a_pool_drawn_down_in_batches_stays_unbiased() {
    // 60,000 draws from one pool, committed 1,000 at a time before any of the
    // batch is resolved: each picks from the set its commit named and skips the
    // numbers the batch's earlier draws took (spec §5.2), as in a storm.
    const POOL: &str = "30-car-white-A";
    let mut ledger = Ledger::new();
    let open = Entry::PoolOpen(PoolOpen {
        pool_id: POOL.into(),
        rules_version: RULES_VERSION.into(),
        legal_basis: String::new(),
        at_ms: 0,
    });
    let withhold = Entry::PoolWithhold(PoolChange {
        pool_id: POOL.into(),
        reason: "SPECIAL_PATTERN".into(),
        legal_basis: String::new(),
        numbers: special_patterns(),
        at_ms: 0,
    });
    for e in [open, withhold] {
        assert!(ledger.append(&e.encode()).is_empty());
    }
    let mut digits = [0u64; 10];
    let mut halves = [0u64; 2];
    let mut skipped = 0u32;
    let (batches, batch) = (60u32, 1_000u32);
    for b in 0..batches {
        for i in 0..batch {
            let state = ledger.commit_state(POOL).expect("pool");
            let c = DrawCommit {
                pool_id: POOL.into(),
                rules_version: RULES_VERSION.into(),
                application_commitment: seed(b * batch + i),
                beacon_id: "test".into(),
                round: u64::from(b) + 1,
                previous_commit: state.previous_commit,
                available_count: state.available_count,
                pool_digest: state.pool_digest,
                at_ms: 0,
            };
            assert!(ledger.append(&Entry::DrawCommit(c).encode()).is_empty());
        }
        let results = ledger
            .resolve(
                POOL,
                usize::MAX,
                |c| Some((Vec::new(), seed(DRAWS + c.round as u32))),
                0,
            )
            .expect("draws");
        assert_eq!(results.len(), batch as usize);
        for r in results {
            let r = r.result;
            digits[(r.number % 10) as usize] += 1;
            halves[usize::from(r.number > 50_000)] += 1;
            skipped += r.attempts - 1;
            assert!(ledger.append(&Entry::DrawResult(r).encode()).is_empty());
        }
    }
    let draws = batches * batch;
    assert_eq!(ledger.pool(POOL).expect("pool").available_count(), 99_993 - draws);
    assert!(
        skipped > 0,
        "no draw ever skipped a number an earlier pending draw took"
    );
    let chi = chi_square(&digits, f64::from(draws) / 10.0);
    assert!(chi < 27.88, "last digit chi-square {chi:.1}: {digits:?}");
    let chi_h = chi_square(&halves, f64::from(draws) / 2.0);
    // 1 degree of freedom: 10.83 at p = 0.001.
    assert!(chi_h < 10.83, "low/high halves chi-square {chi_h:.1}: {halves:?}");
}
