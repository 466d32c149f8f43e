//! Property tests of every decoder of untrusted bytes in `vrs-draw` (issue 12,
//! item 8): log entries, checkpoint notes and verifier keys, receipts and the
//! trust they are checked against, beacon values and keys, pool ids and
//! bitmaps, Merkle proofs, canonical base64, and the replay of a log export.
//!
//! For each decoder: round trips where an encoder exists; "never panics,
//! always a typed error" for arbitrary input and, above all, for mutations of
//! valid encodings (flip, set, truncate, append, insert, delete, splice);
//! rejection wherever a mutation must invalidate; and inputs declaring huge
//! lengths or counts, run again in a child process whose address space is
//! capped at 1 GiB, so that allocating in proportion to a declared size fails
//! the test instead of passing unnoticed on a machine with memory to spare.
//!
//! Cases per property are bounded for a debug build on a loaded machine;
//! `PROPTEST_CASES` overrides them all, `PROPTEST_RNG_SEED` the fixed seed.
//! Nothing is written to the source tree (no failure persistence). The last
//! test to finish prints how many inputs the file tried in total.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::io::Write as _;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::Value;
use vrs_draw::audit::{Ledger, replay};
use vrs_draw::beacon::{self, BeaconError, SecretKey};
use vrs_draw::draw::candidates;
use vrs_draw::encoding::{DecodeError, Reader};
use vrs_draw::entry::{
    DrawCommit, DrawResult, Entry, KIND_DRAW_COMMIT, KIND_DRAW_RESULT, KIND_KEY_ROTATION, KIND_PLATE_ASSIGN,
    KIND_PLATE_REVOKE, KIND_POOL_OPEN, KIND_POOL_RELEASE, KIND_POOL_WITHHOLD, KeyRotation, MAGIC, PlateAssign,
    PlateRevoke, PoolChange, PoolOpen,
};
use vrs_draw::merkle::{Hash, Tree, leaf_hash, node_hash, verify_consistency, verify_inclusion};
use vrs_draw::note::{Checkpoint, NoteError, NoteSigner, NoteVerifier, canonical_b64};
use vrs_draw::pool::{BITMAP_BITS, BITMAP_BYTES, MAX_NUMBER, PoolId, PoolState, Status};
use vrs_draw::receipt::{
    BeaconEvidence, LoggedEntry, RULES_VERSION, Receipt, ReceiptParts, Rotation, Trust, TrustedBeacon, Verified,
    verify, verify_json,
};
use vrs_draw::sampler::application_commitment;

// ---------------------------------------------------------------------------
// Harness: bounded cases, a fixed seed, no files, and a count of inputs.
// ---------------------------------------------------------------------------

/// The seed of every property unless `PROPTEST_RNG_SEED` is set: CI runs are reproducible.
const SEED: u64 = 0x5652_5332_5052_4f50; // "VRS2PROP"

/// Tests of this file that call [`finish`]; the last one to finish prints the total.
const TESTS: usize = 32;

static TRIED: AtomicUsize = AtomicUsize::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// `cases` unless `PROPTEST_CASES` says otherwise; no failure persistence.
fn config(cases: u32) -> Config {
    let base = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            base.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            base.rng_seed
        } else {
            RngSeed::Fixed(SEED)
        },
        failure_persistence: None,
        ..base
    }
}

/// Records that test `name` tried `n` inputs; the last test prints the file's total
/// (straight to stderr, past the test harness's capture).
fn finish(name: &str, n: usize) {
    let total = TRIED.fetch_add(n, Ordering::SeqCst) + n;
    eprintln!("{name}: {n} inputs");
    if FINISHED.fetch_add(1, Ordering::SeqCst) + 1 == TESTS {
        let _ = writeln!(
            std::io::stderr(),
            "vrs-draw props: {total} inputs tried by {TESTS} tests"
        );
    }
}

/// Runs a property over `cases` inputs of `strategy` and records how many it tried.
fn check<S>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let tried = AtomicUsize::new(0);
    let result = TestRunner::new(config(cases)).run(&strategy, |v| {
        tried.fetch_add(1, Ordering::Relaxed);
        test(v)
    });
    finish(name, tried.into_inner());
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

// ---------------------------------------------------------------------------
// Mutations of valid encodings.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a non-zero mask into one byte.
    Flip(Index, u8),
    Set(Index, u8),
    /// Keep a proper prefix.
    Truncate(Index),
    /// Non-empty.
    Append(Vec<u8>),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    /// Copy a run of the input to another place (a splice of the input with itself).
    Splice(Index, Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), any::<Index>(), 1..24usize).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(mutation(), 1..=3)
}

impl Mutation {
    fn apply(&self, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        let len = v.len();
        match self {
            Mutation::Append(b) => v.extend_from_slice(b),
            Mutation::Insert(i, b) => {
                let at = i.index(len + 1);
                v.splice(at..at, b.iter().copied());
            }
            _ if len == 0 => {}
            Mutation::Flip(i, m) => v[i.index(len)] ^= m,
            Mutation::Set(i, b) => v[i.index(len)] = *b,
            Mutation::Truncate(i) => v.truncate(i.index(len)),
            Mutation::Delete(i, n) => {
                let at = i.index(len);
                v.drain(at..(at + n).min(len));
            }
            Mutation::Splice(from, to, n) => {
                let a = from.index(len);
                let run = input[a..(a + n).min(len)].to_vec();
                let at = to.index(len + 1);
                v.splice(at..at, run);
            }
        }
        v
    }
}

fn mutate(input: &[u8], ms: &[Mutation]) -> Vec<u8> {
    ms.iter().fold(input.to_vec(), |acc, m| m.apply(&acc))
}

/// Mutated text: the mutated bytes as UTF-8, invalid sequences replaced.
fn mutate_text(input: &str, ms: &[Mutation]) -> String {
    String::from_utf8_lossy(&mutate(input.as_bytes(), ms)).into_owned()
}

// ---------------------------------------------------------------------------
// Strategies for valid values.
// ---------------------------------------------------------------------------

/// Strings as entries carry them: mostly plain, sometimes any Unicode, sometimes empty.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9 ./_-]{0,24}",
        1 => any::<String>(),
        1 => Just(String::new()),
    ]
}

fn number() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0..=100_000u32, 1 => any::<u32>()]
}

fn hash() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (text(), text(), text(), any::<u64>()).prop_map(|(pool_id, rules_version, legal_basis, at_ms)| {
            Entry::PoolOpen(PoolOpen {
                pool_id,
                rules_version,
                legal_basis,
                at_ms,
            })
        }),
        (
            any::<bool>(),
            text(),
            text(),
            text(),
            vec(number(), 0..48),
            any::<u64>()
        )
            .prop_map(|(withhold, pool_id, reason, legal_basis, numbers, at_ms)| {
                let c = PoolChange {
                    pool_id,
                    reason,
                    legal_basis,
                    numbers,
                    at_ms,
                };
                if withhold {
                    Entry::PoolWithhold(c)
                } else {
                    Entry::PoolRelease(c)
                }
            }),
        (text(), number(), text(), text(), text(), hash(), any::<u64>()).prop_map(
            |(pool_id, number, plate, reason, legal_basis, application_commitment, at_ms)| {
                Entry::PlateAssign(PlateAssign {
                    pool_id,
                    number,
                    plate,
                    reason,
                    legal_basis,
                    application_commitment,
                    at_ms,
                })
            }
        ),
        (
            text(),
            number(),
            text(),
            text(),
            text(),
            hash(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(
                |(pool_id, number, plate, reason, legal_basis, owner_commitment, retained_until_ms, at_ms)| {
                    Entry::PlateRevoke(PlateRevoke {
                        pool_id,
                        number,
                        plate,
                        reason,
                        legal_basis,
                        owner_commitment,
                        retained_until_ms,
                        at_ms,
                    })
                }
            ),
        (
            text(),
            text(),
            hash(),
            text(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            hash(),
            any::<u64>()
        )
            .prop_map(
                |(
                    pool_id,
                    rules_version,
                    application_commitment,
                    beacon_id,
                    round,
                    previous_commit,
                    available_count,
                    pool_digest,
                    at_ms,
                )| {
                    Entry::DrawCommit(DrawCommit {
                        pool_id,
                        rules_version,
                        application_commitment,
                        beacon_id,
                        round,
                        previous_commit,
                        available_count,
                        pool_digest,
                        at_ms,
                    })
                }
            ),
        (
            (
                any::<u64>(),
                hash(),
                text(),
                text(),
                any::<u64>(),
                vec(any::<u8>(), 0..100)
            ),
            (
                hash(),
                hash(),
                any::<u32>(),
                any::<u32>(),
                number(),
                text(),
                any::<u64>()
            )
        )
            .prop_map(
                |(
                    (commit_index, commit_hash, pool_id, beacon_id, round, signature),
                    (randomness, seed, attempts, index, number, plate, at_ms),
                )| {
                    Entry::DrawResult(DrawResult {
                        commit_index,
                        commit_hash,
                        pool_id,
                        beacon_id,
                        round,
                        signature,
                        randomness,
                        seed,
                        attempts,
                        index,
                        number,
                        plate,
                        at_ms,
                    })
                }
            ),
        (text(), text(), text(), any::<u64>()).prop_map(|(old_key, new_key, reason, at_ms)| {
            Entry::KeyRotation(KeyRotation {
                old_key,
                new_key,
                reason,
                at_ms,
            })
        }),
    ]
}

// ---------------------------------------------------------------------------
// Log entries (encoding.rs, entry.rs).
// ---------------------------------------------------------------------------

#[test]
fn entries_round_trip() {
    check("entries_round_trip", 512, entry(), |e| {
        let bytes = e.encode();
        prop_assert_eq!(Entry::decode(&bytes), Ok(e.clone()));
        Ok(())
    });
}

/// Whatever decodes is the canonical encoding of what it decodes to: two
/// byte strings never name one entry (the log hashes bytes, the rules read values).
fn canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(e) = Entry::decode(bytes) {
        prop_assert_eq!(
            e.encode(),
            bytes.to_vec(),
            "accepted a non-canonical encoding of {:?}",
            e
        );
    }
    Ok(())
}

#[test]
fn entries_from_arbitrary_bytes_are_errors_or_canonical() {
    let kinds = prop::sample::select(vec![
        KIND_POOL_OPEN,
        KIND_POOL_WITHHOLD,
        KIND_POOL_RELEASE,
        KIND_PLATE_ASSIGN,
        KIND_PLATE_REVOKE,
        KIND_DRAW_COMMIT,
        KIND_DRAW_RESULT,
        KIND_KEY_ROTATION,
        0x00,
        0x7f,
        0xff,
    ]);
    let inputs = prop_oneof![
        vec(any::<u8>(), 0..256),
        // The magic and a kind, then anything: reaches every field reader.
        (kinds, vec(any::<u8>(), 0..300)).prop_map(|(k, tail)| {
            let mut v = MAGIC.to_vec();
            v.push(k);
            v.extend(tail);
            v
        }),
    ];
    check("entries_from_arbitrary_bytes", 1024, inputs, |bytes| canonical(&bytes));
}

#[test]
fn mutated_entries_are_errors_or_canonical_and_cuts_and_tails_are_refused() {
    check("mutated_entries", 1024, (entry(), mutations()), |(e, ms)| {
        let bytes = e.encode();
        let m = mutate(&bytes, &ms);
        canonical(&m)?;
        if let [single] = ms.as_slice() {
            match single {
                // Strict decoding: no proper prefix and no extension of an entry is one.
                Mutation::Truncate(_) => prop_assert!(Entry::decode(&m).is_err()),
                Mutation::Append(tail) => {
                    prop_assert_eq!(Entry::decode(&m), Err(DecodeError::Trailing(tail.len())));
                }
                _ => {}
            }
        }
        Ok(())
    });
}

/// The longest string an entry carries (65,535 bytes, multi-byte characters
/// included) round-trips; the encoder cuts longer ones (its documented
/// contract: entries never carry such), so they are outside the round trip.
#[test]
fn strings_of_the_longest_length_round_trip() {
    let longest = "\u{e9}".repeat(32_767) + "a";
    assert_eq!(longest.len(), usize::from(u16::MAX));
    let e = Entry::PoolOpen(PoolOpen {
        pool_id: longest.clone(),
        rules_version: String::new(),
        legal_basis: longest,
        at_ms: u64::MAX,
    });
    assert_eq!(Entry::decode(&e.encode()), Ok(e));
    finish("strings_of_the_longest_length", 1);
}

#[test]
fn declared_counts_beyond_the_input_are_refused_before_allocating() {
    // A withholding declaring u32::MAX numbers (16 GiB were it allocated) and holding three.
    let mut w = vrs_draw::encoding::Writer::new();
    w.raw(MAGIC)
        .u8(KIND_POOL_WITHHOLD)
        .str("30-car-white-A")
        .str("SPECIAL_PATTERN")
        .str("basis")
        .u32(u32::MAX)
        .u32(1)
        .u32(2)
        .u32(3)
        .u64(7);
    let bytes = w.finish();
    assert!(matches!(Entry::decode(&bytes), Err(DecodeError::Truncated(_))));
    // The reader alone, and a string declaring 65,535 bytes over an input of 3.
    let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
    assert!(matches!(r.numbers(), Err(DecodeError::Truncated(4))));
    let mut r = Reader::new(&[0xff, 0xff, b'a']);
    assert!(matches!(r.bytes(), Err(DecodeError::Truncated(2))));
    finish("declared_counts_beyond_the_input", 3);
}

// ---------------------------------------------------------------------------
// Canonical base64 (receipts §7.1, notes §6).
// ---------------------------------------------------------------------------

#[test]
fn canonical_base64_round_trips_and_accepts_only_canonical_text() {
    let inputs = (
        vec(any::<u8>(), 0..64),
        prop_oneof!["[A-Za-z0-9+/=]{0,16}", any::<String>()],
    );
    check("canonical_base64", 512, inputs, |(bytes, s)| {
        prop_assert_eq!(canonical_b64(&B64.encode(&bytes)), Some(bytes));
        if let Some(b) = canonical_b64(&s) {
            prop_assert_eq!(B64.encode(b), s);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Checkpoint notes and verifier keys (note.rs).
// ---------------------------------------------------------------------------

fn key_name() -> impl Strategy<Value = String> {
    "[a-z0-9./_-]{1,24}"
}

fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    let origin = prop_oneof![3 => "[ -~]{1,40}", 1 => "\\PC{1,20}"];
    (origin, any::<u64>(), hash()).prop_map(|(origin, size, root)| Checkpoint { origin, size, root })
}

/// The signature line(s) of a note (after its last blank line).
fn signature_lines(note: &str) -> &str {
    note.rsplit_once("\n\n").map_or("", |(_, lines)| lines)
}

/// A note signed by `ours` with up to 15 cosignatures around its line.
fn cosigned(ours: &NoteSigner, cp: &Checkpoint, others: &[(String, [u8; 32])], at: usize) -> String {
    let mut lines: Vec<String> = others
        .iter()
        .filter_map(|(name, seed)| NoteSigner::from_seed(name, seed).ok())
        .map(|s| signature_lines(&s.sign(cp)).to_owned())
        .collect();
    lines.insert(at.min(lines.len()), signature_lines(&ours.sign(cp)).to_owned());
    format!("{}\n{}", cp.body(), lines.concat())
}

#[test]
fn notes_round_trip_with_cosignatures() {
    let inputs = (
        key_name(),
        any::<[u8; 32]>(),
        checkpoint(),
        vec((key_name(), any::<[u8; 32]>()), 0..=15),
        any::<usize>(),
    );
    check("notes_round_trip", 128, inputs, |(name, seed, cp, others, at)| {
        let signer = NoteSigner::from_seed(&name, &seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let verifier = NoteVerifier::parse(&signer.verifier_key()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verifier.name(), name.as_str());
        prop_assert_eq!(verifier.open(&signer.sign(&cp)), Ok(cp.clone()));
        prop_assert_eq!(verifier.open(&cosigned(&signer, &cp, &others, at)), Ok(cp.clone()));
        Ok(())
    });
}

/// The log signs whatever origin it is given; the checkpoint parser then reads
/// a signed text of any shape: only a well-formed one is a checkpoint.
#[test]
fn signed_texts_of_any_shape_open_only_as_well_formed_checkpoints() {
    let signer = NoteSigner::from_seed("vrs-props-log", &[0x22; 32]).expect("log key");
    let verifier = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
    let origin = prop_oneof![
        any::<String>(),
        "[a-z\\n\\r\\t \\x00\\u{2014}+-]{0,12}",
        "[0-9a-zA-Z/+=\\n]{0,60}"
    ];
    check(
        "signed_texts_of_any_shape",
        512,
        (origin, any::<u64>(), hash()),
        |(origin, size, root)| {
            let cp = Checkpoint { origin, size, root };
            let well_formed = !cp.origin.is_empty() && !cp.origin.chars().any(|c| c < ' ');
            match verifier.open(&signer.sign(&cp)) {
                Ok(got) => {
                    prop_assert!(well_formed, "accepted origin {:?}", cp.origin);
                    prop_assert_eq!(got, cp);
                }
                Err(e) => {
                    prop_assert!(!well_formed, "refused origin {:?}: {}", cp.origin, e);
                    prop_assert!(matches!(e, NoteError::Malformed(_)), "{:?}", e);
                }
            }
            Ok(())
        },
    );
}

#[test]
fn arbitrary_notes_are_refused_with_a_note_error() {
    let signer = NoteSigner::from_seed("vrs-props-log", &[0x22; 32]).expect("log key");
    let verifier = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
    let line = prop_oneof![
        "[ -~]{0,30}",
        "\u{2014} vrs-props-log [A-Za-z0-9+/=]{0,96}",
        "\u{2014} [a-z]{1,8} [A-Za-z0-9+/=]{0,96}",
        Just(String::new()),
    ];
    let noteish = vec(line, 0..8).prop_map(|lines| lines.join("\n") + "\n");
    let inputs = prop_oneof![any::<String>(), noteish];
    check("arbitrary_notes", 1024, inputs, |note| {
        let r = verifier.open(&note);
        prop_assert!(r.is_err(), "no signature, yet opened: {:?}", r);
        Ok(())
    });
}

#[test]
fn mutated_notes_open_to_the_signed_checkpoint_or_not_at_all() {
    let signer = NoteSigner::from_seed("vrs-props-log", &[0x22; 32]).expect("log key");
    let verifier = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
    let others = vec![("witness.example/w".to_owned(), [3u8; 32])];
    let inputs = (checkpoint(), 0..=1usize, mutations());
    check("mutated_notes", 1024, inputs, |(cp, at, ms)| {
        let note = cosigned(&signer, &cp, &others, at);
        let m = mutate_text(&note, &ms);
        if let Ok(got) = verifier.open(&m) {
            prop_assert_eq!(&got, &cp);
            // The signed text is exactly the original's: only lines of other keys may differ.
            let text = |n: &str| n.rfind("\n\n").map(|i| n[..=i].to_owned());
            prop_assert_eq!(text(&m), text(&note));
        }
        Ok(())
    });
}

#[test]
fn verifier_keys_parse_only_as_themselves() {
    let inputs = (key_name(), any::<[u8; 32]>(), mutations(), any::<String>());
    check("verifier_keys", 1024, inputs, |(name, seed, ms, junk)| {
        let signer = NoteSigner::from_seed(&name, &seed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let vkey = signer.verifier_key();
        let original = NoteVerifier::parse(&vkey).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let m = mutate_text(&vkey, &ms);
        if let Ok(v) = NoteVerifier::parse(&m) {
            // Only white space around it may change (it is trimmed).
            prop_assert_eq!(m.trim(), vkey.as_str());
            prop_assert_eq!(v, original);
        }
        prop_assert!(NoteVerifier::parse(&junk).is_err() || junk.trim().contains('+'));
        Ok(())
    });
}

/// 100,000 signature lines: refused (more than 16), quickly and without a
/// structure per declared line beyond the input's own size.
fn many_signature_lines(n: usize) -> String {
    let signer = NoteSigner::from_seed("vrs-props-log", &[0x22; 32]).expect("log key");
    let note = signer.sign(&Checkpoint {
        origin: "o".into(),
        size: 1,
        root: [0; 32],
    });
    let line = signature_lines(&note).to_owned();
    let mut many = note;
    for _ in 1..n {
        many.push_str(&line);
    }
    many
}

#[test]
fn a_note_with_100k_signature_lines_is_refused() {
    let signer = NoteSigner::from_seed("vrs-props-log", &[0x22; 32]).expect("log key");
    let verifier = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
    assert!(matches!(
        verifier.open(&many_signature_lines(100_000)),
        Err(NoteError::Malformed(_))
    ));
    finish("a_note_with_100k_signature_lines", 1);
}

// ---------------------------------------------------------------------------
// Beacon values and keys (beacon.rs).
// ---------------------------------------------------------------------------

fn beacon_key() -> SecretKey {
    SecretKey::from_bytes(&[0x11; 32]).expect("beacon key")
}

#[test]
fn beacon_rounds_round_trip_and_a_flipped_bit_fails() {
    let key = beacon_key();
    let pk = key.public_key();
    // BLS signing and pairing are the expensive part of this file: few cases.
    check("beacon_rounds", 24, (any::<u64>(), 0..384usize), |(round, bit)| {
        let sig = key.sign_round(round);
        prop_assert_eq!(beacon::verify_round(&pk, round, &sig), Ok(beacon::randomness(&sig)));
        let mut bad = sig;
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(beacon::verify_round(&pk, round, &bad).is_err());
        Ok(())
    });
}

#[test]
fn beacon_values_and_keys_from_arbitrary_bytes_are_typed_errors() {
    let pk = beacon_key().public_key().to_vec();
    let key_bytes = prop_oneof![vec(any::<u8>(), 96), vec(any::<u8>(), 0..200), Just(pk)];
    let sig_bytes = prop_oneof![vec(any::<u8>(), 48), vec(any::<u8>(), 0..100)];
    let inputs = (key_bytes, sig_bytes, any::<u64>(), vec(any::<u8>(), 0..40));
    check("beacon_arbitrary_bytes", 256, inputs, |(pk, sig, round, sk)| {
        match beacon::verify_round(&pk, round, &sig) {
            Ok(_) => prop_assert!(false, "an arbitrary signature verified"),
            Err(BeaconError::PublicKeyLength(n)) => prop_assert!(n == pk.len() && n != 96),
            Err(BeaconError::SignatureLength(n)) => prop_assert!(n == sig.len() && n != 48),
            Err(_) => {}
        }
        let _ = beacon::check_public_key(&pk);
        // Secret keys (key files): canonical big-endian scalars only.
        if let Ok(k) = SecretKey::from_bytes(&sk) {
            prop_assert_eq!(k.to_bytes().to_vec(), sk);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Pools: ids and availability bitmaps (pool.rs).
// ---------------------------------------------------------------------------

#[test]
fn pool_ids_parse_only_canonically() {
    let shaped = "[0-9]{1,3}-(car|motorbike|truck|Car)-(white|yellow|blue|red)-[A-Za-z0-9]{0,3}(-x)?";
    let inputs = prop_oneof![any::<String>(), shaped];
    check("pool_ids", 1024, inputs, |s| {
        if let Some(id) = PoolId::parse(&s) {
            prop_assert_eq!(id.to_string(), s);
            let plate = id.plate(MAX_NUMBER);
            prop_assert!(plate.starts_with(&id.locality));
        }
        Ok(())
    });
}

#[test]
fn bitmaps_decode_exactly_the_clean_ones_and_round_trip() {
    let sparse = vec(0..BITMAP_BITS, 0..64).prop_map(|bits| {
        let mut b = vec![0u8; BITMAP_BYTES];
        for i in bits {
            b[i / 8] |= 1 << (i % 8);
        }
        b
    });
    let inputs = prop_oneof![
        4 => sparse,
        1 => vec(any::<u8>(), BITMAP_BYTES),
        1 => vec(any::<u8>(), 0..64),
        1 => (0..BITMAP_BYTES + 2).prop_map(|n| vec![0u8; n]),
    ];
    check("bitmaps", 256, inputs, |bitmap| {
        // The set bits, ascending.
        let set: Vec<usize> = bitmap
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != 0)
            .flat_map(|(i, b)| (0..8).filter(move |k| b >> k & 1 == 1).map(move |k| i * 8 + k))
            .collect();
        let clean = bitmap.len() == BITMAP_BYTES && set.iter().all(|i| (1..=MAX_NUMBER as usize).contains(i));
        match PoolState::from_bitmap(&bitmap) {
            None => prop_assert!(!clean),
            Some(p) => {
                prop_assert!(clean);
                prop_assert_eq!(p.bitmap(), bitmap);
                prop_assert_eq!(p.available_count() as usize, set.len());
                if set.len() <= 64 {
                    let listed: Vec<usize> = (0..p.available_count())
                        .filter_map(|k| p.nth_available(k))
                        .map(|n| n as usize)
                        .collect();
                    prop_assert_eq!(&listed, &set);
                    for &n in &set {
                        prop_assert_eq!(p.status(n as u32), Some(Status::Available));
                    }
                }
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Merkle proofs (merkle.rs): what receipts carry and auditors check.
// ---------------------------------------------------------------------------

fn tree(n: u64) -> Tree {
    let mut t = Tree::new();
    for i in 0..n {
        t.push(leaf_hash(&i.to_be_bytes()));
    }
    t
}

#[test]
fn inclusion_proofs_round_trip_and_any_changed_hash_fails() {
    let inputs = (1..120u64)
        .prop_flat_map(|n| (Just(n), 1..=n))
        .prop_flat_map(|(n, size)| (Just(n), Just(size), 0..size, any::<Index>(), any::<Index>(), 1..=255u8));
    check("inclusion_proofs", 256, inputs, |(n, size, i, which, byte, mask)| {
        let t = tree(n);
        let root = t.root(size).ok_or_else(|| TestCaseError::fail("root"))?;
        let leaf = leaf_hash(&i.to_be_bytes());
        let proof = t.inclusion_proof(i, size).ok_or_else(|| TestCaseError::fail("proof"))?;
        prop_assert!(verify_inclusion(i, size, &leaf, &proof, &root));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            bad[which.index(proof.len())][byte.index(32)] ^= mask;
            prop_assert!(!verify_inclusion(i, size, &leaf, &bad, &root));
            prop_assert!(!verify_inclusion(i, size, &leaf, &proof[..proof.len() - 1], &root));
        }
        let mut longer = proof.clone();
        longer.push(leaf);
        prop_assert!(!verify_inclusion(i, size, &leaf, &longer, &root));
        prop_assert!(!verify_inclusion(i, size, &leaf_hash(b"other"), &proof, &root));
        Ok(())
    });
}

#[test]
fn consistency_proofs_round_trip_and_any_changed_hash_fails() {
    let inputs = (1..120u64)
        .prop_flat_map(|second| (Just(second), 1..=second))
        .prop_flat_map(|(second, first)| (Just(second), Just(first), any::<Index>(), any::<Index>(), 1..=255u8));
    check(
        "consistency_proofs",
        256,
        inputs,
        |(second, first, which, byte, mask)| {
            let t = tree(second);
            let (r1, r2) = (t.root(first), t.root(second));
            let (Some(r1), Some(r2)) = (r1, r2) else {
                return Err(TestCaseError::fail("roots"));
            };
            let proof = t
                .consistency_proof(first, second)
                .ok_or_else(|| TestCaseError::fail("proof"))?;
            prop_assert!(verify_consistency(first, second, &r1, &r2, &proof));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                bad[which.index(proof.len())][byte.index(32)] ^= mask;
                prop_assert!(!verify_consistency(first, second, &r1, &r2, &bad));
            }
            if first < second {
                prop_assert!(!verify_consistency(first, second, &node_hash(&r1, &r1), &r2, &proof));
            }
            Ok(())
        },
    );
}

#[test]
fn arbitrary_proofs_never_verify_and_never_panic() {
    let inputs = (
        any::<u64>(),
        any::<u64>(),
        hash(),
        vec(hash(), 0..80),
        hash(),
        any::<u64>(),
    );
    check(
        "arbitrary_proofs",
        512,
        inputs,
        |(index, size, leaf, proof, root, first)| {
            prop_assert!(!verify_inclusion(index, size, &leaf, &proof, &root) || (proof.is_empty() && leaf == root));
            let small = (index % 70, size % 70);
            let _ = verify_inclusion(small.0, small.1, &leaf, &proof, &root);
            prop_assert!(!verify_consistency(first, size, &leaf, &root, &proof) || (first == size && leaf == root));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// Receipts (receipt.rs): a valid receipt, built once, and its mutations.
// ---------------------------------------------------------------------------

const POOL: &str = "30-car-white-B";
/// A pool of six free numbers: earlier draws take our first candidate.
const FREE: [u32; 6] = [10_001, 20_002, 30_003, 40_004, 50_005, 60_006];
const ORIGIN: &str = "vn.gov.vrs/plate-draw-log/props";
const APP: &str = "3f2b8c1e-0d4a-4b6e-9f7a-1c2d3e4f5a6b";
const GENESIS_MS: i64 = 1_780_000_000_000;
const PERIOD_MS: u64 = 1_000;
const ROUND: u64 = 150;
const PUBLISH_MS: u64 = GENESIS_MS as u64 + (ROUND - 1) * PERIOD_MS;

/// A valid receipt with a previous result and a taken candidate, its trust,
/// and the log it comes from (with its signed checkpoint).
struct Fixture {
    trust: Trust,
    receipt: Receipt,
    text: String,
    verified: Verified,
    entries: Vec<Vec<u8>>,
    note: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(build_fixture);

struct Log {
    ledger: Ledger,
    entries: Vec<Vec<u8>>,
}

impl Log {
    fn push(&mut self, e: &Entry) -> u64 {
        let bytes = e.encode();
        let findings = self.ledger.append(&bytes);
        assert!(findings.is_empty(), "the fixture's log breaks a rule: {findings:?}");
        self.entries.push(bytes);
        self.entries.len() as u64 - 1
    }
}

fn build_fixture() -> Fixture {
    let key = beacon_key();
    let public = key.public_key();
    let beacon_id = beacon::beacon_id(&public);
    let signature = key.sign_round(ROUND).to_vec();
    let randomness = beacon::randomness(&signature);
    let signer = NoteSigner::from_seed("vrs-props-log", &[0x22; 32]).expect("log key");
    let trust = Trust {
        log_origin: ORIGIN.into(),
        log_key: signer.verifier_key(),
        beacons: vec![TrustedBeacon {
            beacon_id: beacon_id.clone(),
            public_key: hex::encode(public),
            genesis_unix_ms: GENESIS_MS,
            period_ms: PERIOD_MS,
        }],
    };
    for s in 0..=255u8 {
        let mut log = Log {
            ledger: Ledger::new(),
            entries: Vec::new(),
        };
        log.push(&Entry::PoolOpen(PoolOpen {
            pool_id: POOL.into(),
            rules_version: RULES_VERSION.into(),
            legal_basis: "Circular 79/2024/TT-BCA".into(),
            at_ms: 1,
        }));
        log.push(&Entry::PoolWithhold(PoolChange {
            pool_id: POOL.into(),
            reason: "SPECIAL_PATTERN".into(),
            legal_basis: "Decree 156/2024/ND-CP".into(),
            numbers: (1..=MAX_NUMBER).filter(|n| !FREE.contains(n)).collect(),
            at_ms: 2,
        }));
        let salt = [s; 32];
        let mut commits = Vec::new();
        for i in 0..4u8 {
            let (app, salt) = if i < 3 {
                (format!("earlier-{i}"), [0x40 + i; 32])
            } else {
                (APP.to_owned(), salt)
            };
            let state = log.ledger.commit_state(POOL).expect("opened");
            commits.push(log.push(&Entry::DrawCommit(DrawCommit {
                pool_id: POOL.into(),
                rules_version: RULES_VERSION.into(),
                application_commitment: application_commitment(&salt, &app),
                beacon_id: beacon_id.clone(),
                round: ROUND,
                previous_commit: state.previous_commit,
                available_count: state.available_count,
                pool_digest: state.pool_digest,
                at_ms: PUBLISH_MS - 2 * PERIOD_MS,
            })));
        }
        let resolved = log
            .ledger
            .resolve(
                POOL,
                usize::MAX,
                |_| Some((signature.clone(), randomness)),
                PUBLISH_MS + 1,
            )
            .expect("resolvable");
        let results: Vec<u64> = resolved
            .iter()
            .map(|r| log.push(&Entry::DrawResult(r.result.clone())))
            .collect();
        let ours = &resolved[3];
        if ours.result.attempts < 2 {
            continue;
        }
        let mut tree = Tree::new();
        for e in &log.entries {
            tree.push(leaf_hash(e));
        }
        let size = tree.size();
        let note = signer.sign(&Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: tree.root(size).expect("root"),
        });
        let number_at = |i: u64| match Entry::decode(&log.entries[i as usize]) {
            Ok(Entry::DrawResult(r)) => r.number,
            other => panic!("not a result: {other:?}"),
        };
        let taken: Vec<u64> = candidates(ours.result.seed, &ours.set)
            .take(ours.result.attempts as usize - 1)
            .map(|(_, n)| {
                *results[..3]
                    .iter()
                    .find(|&&i| number_at(i) == n)
                    .expect("taken earlier")
            })
            .collect();
        let bytes = |i: u64| (i, log.entries[i as usize].as_slice());
        let receipt = Receipt::assemble(ReceiptParts {
            application_id: APP,
            salt: &salt,
            checkpoint: &note,
            checkpoint_size: size,
            tree: &tree,
            commit: bytes(commits[3]),
            result: bytes(results[3]),
            previous: Some(bytes(results[2])),
            taken: taken.into_iter().map(bytes).collect(),
            beacon: BeaconEvidence {
                beacon_id: beacon_id.clone(),
                scheme: beacon::SCHEME.into(),
                public_key: hex::encode(public),
                genesis_unix_ms: GENESIS_MS,
                period_ms: PERIOD_MS,
                round: ROUND,
                signature: hex::encode(&signature),
                randomness: hex::encode(randomness),
            },
            pool_bitmap: &ours.set.bitmap(),
            plate: &ours.result.plate,
        })
        .expect("assemble");
        let text = serde_json::to_string_pretty(&receipt).expect("json");
        let verified = verify_json(&text, &trust).expect("the fixture's receipt verifies");
        assert!(verified.attempts >= 2 && receipt.previous.is_some() && !receipt.taken.is_empty());
        return Fixture {
            trust,
            receipt,
            text,
            verified,
            entries: log.entries,
            note,
        };
    }
    panic!("no salt made an earlier draw take our first candidate")
}

/// The receipt checks' verdict on `text` is right: valid exactly when it says
/// what the fixture's receipt says, and then with the same outcome.
fn judged_rightly(text: &str, trust: &Trust) -> Result<(), TestCaseError> {
    let f = &*FIXTURE;
    let same = Receipt::parse(text).is_ok_and(|r| r == f.receipt);
    match verify_json(text, trust) {
        Ok(v) => {
            prop_assert!(same, "a receipt saying something else verified");
            prop_assert_eq!(&v, &f.verified);
        }
        Err(e) => prop_assert!(!same, "the fixture's receipt, reformatted, failed: {}", e),
    }
    Ok(())
}

#[test]
fn receipts_round_trip_through_json() {
    let int = 0..=vrs_draw::receipt::MAX_JSON_INT;
    let logged = || {
        (int.clone(), text(), vec(text(), 0..3)).prop_map(|(index, entry, proof)| LoggedEntry { index, entry, proof })
    };
    let beacon = (
        text(),
        text(),
        text(),
        int.clone(),
        int.clone(),
        int.clone(),
        text(),
        text(),
    )
        .prop_map(
            |(beacon_id, scheme, public_key, genesis, period_ms, round, signature, randomness)| BeaconEvidence {
                beacon_id,
                scheme,
                public_key,
                genesis_unix_ms: genesis as i64,
                period_ms,
                round,
                signature,
                randomness,
            },
        );
    let receipt = (
        (text(), text(), text(), text(), text()),
        (logged(), logged(), prop::option::of(logged()), vec(logged(), 0..3)),
        (
            beacon,
            text(),
            vec(
                (text(), logged()).prop_map(|(checkpoint, rotation)| Rotation { checkpoint, rotation }),
                0..2,
            ),
        ),
    )
        .prop_map(
            |(
                (version, plate, application_id, salt, checkpoint),
                (commit, result, previous, taken),
                (beacon, pool_bitmap, rotations),
            )| {
                Receipt {
                    version,
                    plate,
                    application_id,
                    salt,
                    checkpoint,
                    commit,
                    result,
                    previous,
                    taken,
                    beacon,
                    pool_bitmap,
                    rotations,
                }
            },
        );
    check("receipts_round_trip", 256, receipt, |r| {
        let text = serde_json::to_string(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Receipt::parse(&text), Ok(r.clone()));
        // Arbitrary field values are refused by a named check, never by a panic.
        prop_assert!(verify(&r, &FIXTURE.trust).is_err());
        Ok(())
    });
}

#[test]
fn arbitrary_text_is_not_a_receipt() {
    let f = &*FIXTURE;
    let inputs = prop_oneof![any::<String>(), "[{}\\[\\]\",:0-9a-z_ -]{0,64}", Just(String::new()),];
    check("arbitrary_receipt_text", 512, inputs, |t| {
        let r = verify_json(&t, &f.trust);
        prop_assert!(r.is_err());
        Ok(())
    });
}

#[test]
fn mutated_receipt_text_verifies_only_when_it_says_the_same() {
    let f = &*FIXTURE;
    // Most bytes of a receipt are the bitmap's base64: aim at the rest as often.
    let bitmap_at = f.text.find("\"pool_bitmap\"").expect("bitmap member");
    let head = f.text[..bitmap_at].to_owned();
    let inputs = (any::<bool>(), mutations());
    check("mutated_receipt_text", 192, inputs, |(whole, ms)| {
        let text = if whole {
            mutate_text(&f.text, &ms)
        } else {
            mutate_text(&head, &ms) + &f.text[bitmap_at..]
        };
        judged_rightly(&text, &f.trust)
    });
}

/// What to do at one place of the receipt's JSON tree.
#[derive(Debug, Clone)]
enum Edit {
    Bytes(Vec<Mutation>),
    Number(u64),
    Negative(i64),
    Float(f64),
    Null,
    Bool(bool),
    Str(String),
    EmptyArray,
    Remove,
    Duplicate,
    AddMember(String),
    Wrap,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => mutations().prop_map(Edit::Bytes),
        1 => prop_oneof![any::<u64>(), 0..16u64, Just((1 << 53) - 1), Just(1 << 53)].prop_map(Edit::Number),
        1 => any::<i64>().prop_map(Edit::Negative),
        1 => any::<f64>().prop_map(Edit::Float),
        1 => Just(Edit::Null),
        1 => any::<bool>().prop_map(Edit::Bool),
        1 => text().prop_map(Edit::Str),
        1 => Just(Edit::EmptyArray),
        2 => Just(Edit::Remove),
        2 => Just(Edit::Duplicate),
        1 => prop_oneof![Just("index".to_owned()), Just("extra".to_owned()), "[a-z_]{1,8}"].prop_map(Edit::AddMember),
        1 => Just(Edit::Wrap),
    ]
}

/// Every JSON pointer of `v`, containers included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(c, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn apply_edit(root: &mut Value, pointer: &str, edit: &Edit) {
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", ""));
    match edit {
        Edit::Remove | Edit::Duplicate if !pointer.is_empty() => {
            let key = last.replace("~1", "/").replace("~0", "~");
            match root.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    if matches!(edit, Edit::Remove) {
                        m.remove(&key);
                    }
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < a.len()
                    {
                        if matches!(edit, Edit::Remove) {
                            a.remove(i);
                        } else {
                            let copy = a[i].clone();
                            a.insert(i, copy);
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        _ => {}
    }
    let Some(target) = root.pointer_mut(pointer) else {
        return;
    };
    *target = match edit {
        Edit::Bytes(ms) => match &*target {
            Value::String(s) => Value::String(mutate_text(s, ms)),
            other => serde_json::from_str(&mutate_text(&other.to_string(), ms))
                .unwrap_or_else(|_| Value::String(mutate_text(&other.to_string(), ms))),
        },
        Edit::Number(n) => Value::from(*n),
        Edit::Negative(n) => Value::from(*n),
        Edit::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        Edit::Null => Value::Null,
        Edit::Bool(b) => Value::Bool(*b),
        Edit::Str(s) => Value::String(s.clone()),
        Edit::EmptyArray => Value::Array(Vec::new()),
        Edit::AddMember(k) => {
            let mut t = target.take();
            if let Value::Object(m) = &mut t {
                m.insert(k.clone(), Value::from(0));
            }
            t
        }
        Edit::Wrap => Value::Array(vec![target.take()]),
        Edit::Remove | Edit::Duplicate => target.take(),
    };
}

#[test]
fn edited_receipt_json_verifies_only_when_it_says_the_same() {
    let f = &*FIXTURE;
    let tree: Value = serde_json::from_str(&f.text).expect("json");
    let mut all = Vec::new();
    pointers(&tree, String::new(), &mut all);
    let inputs = vec((prop::sample::select(all), edit()), 1..=2);
    check("edited_receipt_json", 192, inputs, |edits| {
        let mut v = tree.clone();
        for (p, e) in &edits {
            apply_edit(&mut v, p, e);
        }
        judged_rightly(&v.to_string(), &f.trust)
    });
}

/// A byte the receipt vouches for, changed and re-encoded canonically: the
/// receipt is still well formed and must fail a named check.
#[derive(Debug, Clone, Copy)]
enum Field {
    CommitEntry,
    ResultEntry,
    PreviousEntry,
    TakenEntry,
    CommitProof,
    ResultProof,
    PreviousProof,
    Bitmap,
    Salt,
    BeaconSignature,
    Checkpoint,
}

fn flip_b64(s: &mut String, at: Index, mask: u8) {
    let mut b = B64.decode(&*s).expect("fixture base64");
    if !b.is_empty() {
        let i = at.index(b.len());
        b[i] ^= mask;
    }
    *s = B64.encode(b);
}

fn flip_hex(s: &mut String, at: Index, mask: u8) {
    let mut b = hex::decode(&*s).expect("fixture hex");
    let i = at.index(b.len());
    b[i] ^= mask;
    *s = hex::encode(b);
}

#[test]
fn any_changed_vouched_byte_fails_a_named_check() {
    let f = &*FIXTURE;
    let field = prop::sample::select(vec![
        Field::CommitEntry,
        Field::ResultEntry,
        Field::PreviousEntry,
        Field::TakenEntry,
        Field::CommitProof,
        Field::ResultProof,
        Field::PreviousProof,
        Field::Bitmap,
        Field::Salt,
        Field::BeaconSignature,
        Field::Checkpoint,
    ]);
    check(
        "changed_vouched_bytes",
        128,
        (field, any::<Index>(), any::<Index>(), 1..=255u8),
        |(field, which, at, mask)| {
            let mut r = f.receipt.clone();
            let previous = r.previous.as_mut().ok_or_else(|| TestCaseError::fail("previous"))?;
            let proof = |p: &mut Vec<String>| {
                let i = which.index(p.len());
                flip_b64(&mut p[i], at, mask);
            };
            match field {
                Field::CommitEntry => flip_b64(&mut r.commit.entry, at, mask),
                Field::ResultEntry => flip_b64(&mut r.result.entry, at, mask),
                Field::PreviousEntry => flip_b64(&mut previous.entry, at, mask),
                Field::TakenEntry => {
                    let i = which.index(r.taken.len());
                    flip_b64(&mut r.taken[i].entry, at, mask);
                }
                Field::CommitProof => proof(&mut r.commit.proof),
                Field::ResultProof => proof(&mut r.result.proof),
                Field::PreviousProof => proof(&mut previous.proof),
                Field::Bitmap => flip_b64(&mut r.pool_bitmap, at, mask),
                Field::Salt => flip_hex(&mut r.salt, at, mask),
                Field::BeaconSignature => flip_hex(&mut r.beacon.signature, at, mask),
                Field::Checkpoint => {
                    let mut b = r.checkpoint.into_bytes();
                    let i = at.index(b.len());
                    b[i] ^= mask;
                    r.checkpoint = String::from_utf8_lossy(&b).into_owned();
                }
            }
            prop_assume!(r != f.receipt);
            match verify(&r, &f.trust) {
                Ok(_) => prop_assert!(false, "{:?} changed, yet the receipt verified", field),
                Err(e) => prop_assert_ne!(e.check, "format", "{:?}: {}", field, e),
            }
            Ok(())
        },
    );
}

/// A member of the receipt, by name: every one of them is vouched for by some check.
#[derive(Debug, Clone, Copy)]
enum Member {
    Version,
    Plate,
    ApplicationId,
    Salt,
    Checkpoint,
    CommitIndex,
    ResultIndex,
    PreviousIndex,
    TakenIndex,
    PreviousNull,
    TakenDropped,
    TakenDuplicated,
    BeaconId,
    Scheme,
    PublicKey,
    Genesis,
    Period,
    Round,
    Signature,
    Randomness,
    Bitmap,
}

#[test]
fn any_changed_member_is_refused() {
    let f = &*FIXTURE;
    let member = prop::sample::select(vec![
        Member::Version,
        Member::Plate,
        Member::ApplicationId,
        Member::Salt,
        Member::Checkpoint,
        Member::CommitIndex,
        Member::ResultIndex,
        Member::PreviousIndex,
        Member::TakenIndex,
        Member::PreviousNull,
        Member::TakenDropped,
        Member::TakenDuplicated,
        Member::BeaconId,
        Member::Scheme,
        Member::PublicKey,
        Member::Genesis,
        Member::Period,
        Member::Round,
        Member::Signature,
        Member::Randomness,
        Member::Bitmap,
    ]);
    let int = prop_oneof![0..32u64, 0..=vrs_draw::receipt::MAX_JSON_INT];
    check("changed_members", 256, (member, mutations(), int), |(member, ms, n)| {
        let mut r = f.receipt.clone();
        let text = |s: &mut String| *s = mutate_text(s, &ms);
        match member {
            Member::Version => text(&mut r.version),
            Member::Plate => text(&mut r.plate),
            Member::ApplicationId => text(&mut r.application_id),
            Member::Salt => text(&mut r.salt),
            Member::Checkpoint => text(&mut r.checkpoint),
            Member::CommitIndex => r.commit.index = n,
            Member::ResultIndex => r.result.index = n,
            Member::PreviousIndex => {
                if let Some(p) = r.previous.as_mut() {
                    p.index = n;
                }
            }
            Member::TakenIndex => r.taken[0].index = n,
            Member::PreviousNull => r.previous = None,
            Member::TakenDropped => {
                r.taken.pop();
            }
            Member::TakenDuplicated => r.taken.push(r.taken[0].clone()),
            Member::BeaconId => text(&mut r.beacon.beacon_id),
            Member::Scheme => text(&mut r.beacon.scheme),
            Member::PublicKey => text(&mut r.beacon.public_key),
            Member::Genesis => r.beacon.genesis_unix_ms = n as i64,
            Member::Period => r.beacon.period_ms = n,
            Member::Round => r.beacon.round = n,
            Member::Signature => text(&mut r.beacon.signature),
            Member::Randomness => text(&mut r.beacon.randomness),
            Member::Bitmap => text(&mut r.pool_bitmap),
        }
        prop_assume!(r != f.receipt);
        let direct = verify(&r, &f.trust);
        prop_assert!(direct.is_err(), "{:?} changed, yet the receipt verified", member);
        let json = serde_json::to_string(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verify_json(&json, &f.trust), direct);
        Ok(())
    });
}

#[test]
fn edited_trust_verifies_the_receipt_only_when_it_pins_the_same_keys() {
    let f = &*FIXTURE;
    let tree = serde_json::to_value(&f.trust).expect("json");
    let mut all = Vec::new();
    pointers(&tree, String::new(), &mut all);
    let original_key = NoteVerifier::parse(&f.trust.log_key).expect("vkey");
    check(
        "edited_trust",
        128,
        vec((prop::sample::select(all), edit()), 1..=2),
        |edits| {
            let mut v = tree.clone();
            for (p, e) in &edits {
                apply_edit(&mut v, p, e);
            }
            // Trust files are read leniently (serde's defaults); what they pin is checked.
            let Ok(trust) = serde_json::from_value::<Trust>(v) else {
                return Ok(());
            };
            let _ = trust.check();
            let _ = vrs_draw::audit::beacon_keys(&trust);
            if verify(&f.receipt, &trust).is_ok() {
                prop_assert_eq!(&trust.log_origin, &f.trust.log_origin);
                prop_assert_eq!(NoteVerifier::parse(&trust.log_key).ok(), Some(original_key.clone()));
                let ours = &f.trust.beacons[0];
                prop_assert!(trust.beacons.iter().any(|b| b == ours));
            }
            Ok(())
        },
    );
}

/// The fixture's receipt with `n` copies of a minimal element in `taken`, or
/// of a hash in the commit's proof: built as text, never as a JSON tree.
fn receipt_with_many(n: usize, in_proof: bool) -> String {
    let f = &*FIXTURE;
    let mut r = f.receipt.clone();
    let (placeholder, element) = if in_proof {
        r.commit.proof = vec!["@@".into()];
        (r#"["@@"]"#, format!("\"{}\"", B64.encode([0u8; 32])))
    } else {
        r.taken = Vec::new();
        ("[]", r#"{"index":0,"entry":"","proof":[]}"#.to_owned())
    };
    let text = serde_json::to_string(&r).expect("json");
    let member = if in_proof { "\"proof\":" } else { "\"taken\":" };
    let at = text.find(&format!("{member}{placeholder}")).expect("placeholder") + member.len();
    let mut out = String::with_capacity(text.len() + n * (element.len() + 1));
    out.push_str(&text[..at]);
    out.push('[');
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&element);
    }
    out.push(']');
    out.push_str(&text[at + placeholder.len()..]);
    out
}

#[test]
fn receipts_declaring_a_million_elements_or_deep_nesting_are_refused() {
    let f = &*FIXTURE;
    for (what, text) in [
        ("taken", receipt_with_many(1_000_000, false)),
        ("proof", receipt_with_many(1_000_000, true)),
        ("nesting", "[".repeat(100_000)),
        ("nesting", "{\"a\":".repeat(100_000)),
    ] {
        let e = verify_json(&text, &f.trust).expect_err(what);
        assert_eq!(e.check, "format", "{what}: {e}");
    }
    finish("receipts_declaring_a_million_elements", 4);
}

// ---------------------------------------------------------------------------
// The replay of a log export (audit.rs) and the ledger under any entries.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ExportEdit {
    Mutate(Index, Vec<Mutation>),
    Drop(Index),
    Duplicate(Index),
    Swap(Index, Index),
}

#[test]
fn replayed_exports_with_any_change_have_findings() {
    let f = &*FIXTURE;
    let clean = replay(&f.trust, &f.note, &f.entries, PUBLISH_MS as i64 + 10, 0).expect("replay");
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    let edit = prop_oneof![
        4 => (any::<Index>(), mutations()).prop_map(|(i, m)| ExportEdit::Mutate(i, m)),
        1 => any::<Index>().prop_map(ExportEdit::Drop),
        1 => any::<Index>().prop_map(ExportEdit::Duplicate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| ExportEdit::Swap(a, b)),
    ];
    check("replayed_exports", 48, edit, |edit| {
        let mut entries = f.entries.clone();
        let n = entries.len();
        match &edit {
            ExportEdit::Mutate(i, ms) => {
                let i = i.index(n);
                entries[i] = mutate(&entries[i], ms);
            }
            ExportEdit::Drop(i) => {
                entries.remove(i.index(n));
            }
            ExportEdit::Duplicate(i) => {
                let i = i.index(n);
                let e = entries[i].clone();
                entries.insert(i, e);
            }
            ExportEdit::Swap(a, b) => entries.swap(a.index(n), b.index(n)),
        }
        let report = replay(&f.trust, &f.note, &entries, PUBLISH_MS as i64 + 10, 0)
            .map_err(|e| TestCaseError::fail(format!("the checkpoint is fine: {e}")))?;
        if entries == f.entries {
            prop_assert!(report.findings.is_empty());
        } else {
            prop_assert!(!report.findings.is_empty(), "a changed export replays clean");
        }
        Ok(())
    });
}

#[test]
fn replay_refuses_notes_it_cannot_open() {
    let f = &*FIXTURE;
    let inputs = prop_oneof![
        any::<String>().prop_map(|s| (s, Vec::new())),
        mutations().prop_map(|m| (String::new(), m))
    ];
    check("replay_notes", 128, inputs, |(junk, ms)| {
        let note = if ms.is_empty() { junk } else { mutate_text(&f.note, &ms) };
        let no_entries: [&[u8]; 0] = [];
        match replay(&f.trust, &note, no_entries, 0, 0) {
            Ok(report) => {
                // Only a note that opens to the very checkpoint: then the empty export is short of it.
                prop_assert_eq!(report.size, f.entries.len() as u64);
                prop_assert!(!report.findings.is_empty());
            }
            Err(e) => prop_assert!(e.starts_with("checkpoint:"), "{}", e),
        }
        Ok(())
    });
}

const POOLS: [&str; 3] = ["30-car-white-A", "29-motorbike-yellow-AB", "not-a-pool"];

/// What a registry may append next, in a pool of [`POOLS`].
#[derive(Debug, Clone)]
enum Op {
    Open(usize),
    /// Withhold everything but 1–12: a pool where draws collide.
    Shrink(usize),
    Withhold(usize, Vec<u32>),
    Release(usize, Vec<u32>),
    Assign(usize, u32),
    Revoke(usize, u32),
    Commit(usize, u64),
    Resolve(usize, usize),
    /// Fuzzing only: any entry, in one of the pools.
    Raw(usize, Box<Entry>),
    /// Fuzzing only: a result for an open commit, with fields of our choosing.
    Forge(Index, u32, u32, bool),
}

fn op(fuzz: bool) -> BoxedStrategy<Op> {
    let pool = 0..POOLS.len();
    let n = prop_oneof![4 => 1..=12u32, 1 => Just(0u32), 1 => Just(MAX_NUMBER), 1 => Just(MAX_NUMBER + 1)];
    let honest = prop_oneof![
        2 => pool.clone().prop_map(Op::Open),
        1 => pool.clone().prop_map(Op::Shrink),
        2 => (pool.clone(), vec(n.clone(), 1..4)).prop_map(|(p, v)| Op::Withhold(p, v)),
        2 => (pool.clone(), vec(n.clone(), 1..4)).prop_map(|(p, v)| Op::Release(p, v)),
        1 => (pool.clone(), n.clone()).prop_map(|(p, v)| Op::Assign(p, v)),
        1 => (pool.clone(), n.clone()).prop_map(|(p, v)| Op::Revoke(p, v)),
        4 => (pool.clone(), 1..6u64).prop_map(|(p, r)| Op::Commit(p, r)),
        3 => (pool.clone(), 1..5usize).prop_map(|(p, l)| Op::Resolve(p, l)),
    ];
    if !fuzz {
        return honest.boxed();
    }
    prop_oneof![
        6 => honest,
        2 => (pool, entry()).prop_map(|(p, e)| Op::Raw(p, Box::new(e))),
        2 => (any::<Index>(), 0..4u32, n, any::<bool>()).prop_map(|(i, a, n, h)| Op::Forge(i, a, n, h)),
    ]
    .boxed()
}

fn fake_value(round: u64) -> (Vec<u8>, Hash) {
    let sig = vec![round as u8; 48];
    let r = beacon::randomness(&sig);
    (sig, r)
}

fn with_pool(e: Entry, pool: &str) -> Entry {
    let p = pool.to_owned();
    match e {
        Entry::PoolOpen(x) => Entry::PoolOpen(PoolOpen { pool_id: p, ..x }),
        Entry::PoolWithhold(x) => Entry::PoolWithhold(PoolChange { pool_id: p, ..x }),
        Entry::PoolRelease(x) => Entry::PoolRelease(PoolChange { pool_id: p, ..x }),
        Entry::PlateAssign(x) => Entry::PlateAssign(PlateAssign { pool_id: p, ..x }),
        Entry::PlateRevoke(x) => Entry::PlateRevoke(PlateRevoke { pool_id: p, ..x }),
        Entry::DrawCommit(x) => Entry::DrawCommit(DrawCommit { pool_id: p, ..x }),
        Entry::DrawResult(x) => Entry::DrawResult(DrawResult { pool_id: p, ..x }),
        // No pool to name.
        e @ Entry::KeyRotation(_) => e,
    }
}

/// Appends what `ops` make of the ledger's state; `honest` keeps to the rules
/// (and then no entry may have a finding), otherwise anything goes.
fn drive(ops: &[Op], honest: bool) -> Result<(), TestCaseError> {
    let mut ledger = Ledger::new();
    let mut opened = [false; POOLS.len()];
    let mut shrunk = [false; POOLS.len()];
    let mut at_ms = 1_000u64;
    for op in ops {
        at_ms += 1;
        let status = |l: &Ledger, p: usize, n: u32| l.pool(POOLS[p]).and_then(|s| s.status(n));
        let pending = |l: &mut Ledger, p: usize| l.commit_state(POOLS[p]).map_or(0, |s| s.pending);
        let mut entries = Vec::new();
        match op.clone() {
            Op::Open(p) => {
                if !honest || !opened[p] {
                    opened[p] = true;
                    entries.push(Entry::PoolOpen(PoolOpen {
                        pool_id: POOLS[p].into(),
                        rules_version: RULES_VERSION.into(),
                        legal_basis: "basis".into(),
                        at_ms,
                    }));
                }
            }
            Op::Shrink(p) | Op::Withhold(p, _) if honest && (!opened[p] || pending(&mut ledger, p) > 0) => {}
            Op::Shrink(p) => {
                if !shrunk[p] {
                    shrunk[p] = true;
                    let numbers: Vec<u32> = (13..=MAX_NUMBER)
                        .filter(|&n| !honest || status(&ledger, p, n) == Some(Status::Available))
                        .collect();
                    entries.push(Entry::PoolWithhold(PoolChange {
                        pool_id: POOLS[p].into(),
                        reason: "AUCTION_LIST".into(),
                        legal_basis: "basis".into(),
                        numbers,
                        at_ms,
                    }));
                }
            }
            Op::Withhold(p, numbers) | Op::Release(p, numbers) => {
                let withhold = matches!(op, Op::Withhold(..));
                let from = if withhold { Status::Available } else { Status::Withheld };
                let numbers: Vec<u32> = if honest {
                    let set: BTreeSet<u32> = numbers
                        .into_iter()
                        .filter(|&n| status(&ledger, p, n) == Some(from))
                        .collect();
                    set.into_iter().collect()
                } else {
                    numbers
                };
                if !numbers.is_empty() && (!honest || opened[p]) {
                    let c = PoolChange {
                        pool_id: POOLS[p].into(),
                        reason: "reason".into(),
                        legal_basis: "basis".into(),
                        numbers,
                        at_ms,
                    };
                    entries.push(if withhold {
                        Entry::PoolWithhold(c)
                    } else {
                        Entry::PoolRelease(c)
                    });
                }
            }
            Op::Assign(p, number) => {
                if !honest || status(&ledger, p, number) == Some(Status::Withheld) {
                    entries.push(Entry::PlateAssign(PlateAssign {
                        pool_id: POOLS[p].into(),
                        number,
                        plate: "plate".into(),
                        reason: "AUCTION_WON".into(),
                        legal_basis: "basis".into(),
                        application_commitment: [1; 32],
                        at_ms,
                    }));
                }
            }
            Op::Revoke(p, number) => {
                if !honest || status(&ledger, p, number) == Some(Status::Issued) {
                    entries.push(Entry::PlateRevoke(PlateRevoke {
                        pool_id: POOLS[p].into(),
                        number,
                        plate: "plate".into(),
                        reason: "SCRAPPED".into(),
                        legal_basis: "basis".into(),
                        owner_commitment: [2; 32],
                        retained_until_ms: at_ms + 1,
                        at_ms,
                    }));
                }
            }
            Op::Commit(p, round) => match ledger.commit_state(POOLS[p]) {
                Some(state) if !honest || state.room() > 0 => {
                    entries.push(Entry::DrawCommit(DrawCommit {
                        pool_id: POOLS[p].into(),
                        rules_version: RULES_VERSION.into(),
                        application_commitment: [at_ms as u8; 32],
                        beacon_id: "beacon".into(),
                        round,
                        previous_commit: state.previous_commit,
                        available_count: state.available_count,
                        pool_digest: state.pool_digest,
                        at_ms,
                    }));
                }
                None if !honest => {
                    entries.push(Entry::DrawCommit(DrawCommit {
                        pool_id: POOLS[p].into(),
                        rules_version: RULES_VERSION.into(),
                        application_commitment: [0; 32],
                        beacon_id: "beacon".into(),
                        round,
                        previous_commit: u64::MAX,
                        available_count: 0,
                        pool_digest: [0; 32],
                        at_ms,
                    }));
                }
                _ => {}
            },
            Op::Resolve(p, limit) => {
                if let Ok(resolved) = ledger.resolve(POOLS[p], limit, |c| Some(fake_value(c.round)), at_ms) {
                    entries.extend(resolved.into_iter().map(|r| Entry::DrawResult(r.result)));
                }
            }
            Op::Raw(p, e) => entries.push(with_pool(*e, POOLS[p])),
            Op::Forge(which, attempts, number, right_hash) => {
                let open: Vec<(u64, DrawCommit)> = ledger.open_commits().map(|(i, c)| (i, c.clone())).collect();
                if !open.is_empty() {
                    let (index, c) = &open[which.index(open.len())];
                    let (signature, randomness) = fake_value(c.round);
                    entries.push(Entry::DrawResult(DrawResult {
                        commit_index: *index,
                        commit_hash: if right_hash { [0; 32] } else { [9; 32] },
                        pool_id: c.pool_id.clone(),
                        beacon_id: c.beacon_id.clone(),
                        round: c.round,
                        signature,
                        randomness,
                        seed: [0; 32],
                        attempts,
                        index: number.saturating_sub(1),
                        number,
                        plate: "plate".into(),
                        at_ms,
                    }));
                }
            }
        }
        for e in entries {
            let findings = ledger.append(&e.encode());
            if honest {
                prop_assert!(
                    findings.is_empty(),
                    "an honest {} has findings: {:?}",
                    e.kind(),
                    findings
                );
            }
        }
    }
    Ok(())
}

#[test]
fn honest_logs_of_any_shape_replay_without_findings() {
    check("honest_logs", 64, vec(op(false), 1..40), |ops| drive(&ops, true));
}

#[test]
fn the_ledger_takes_any_entries_without_panicking() {
    check("fuzzed_logs", 96, vec(op(true), 1..40), |ops| drive(&ops, false));
}

// ---------------------------------------------------------------------------
// Bounded allocation: the huge declarations again, under a 1 GiB address space.
// ---------------------------------------------------------------------------

/// Writes a line the capped run's parent reads (stdout is not captured under `--nocapture`).
fn capped_done(inputs: usize) {
    let _ = writeln!(std::io::stdout(), "capped-inputs: {inputs}");
}

#[test]
#[ignore = "run by bounded_allocation_under_a_1_gib_address_space, in a capped child process"]
fn capped_control_a_2_gib_reservation_fails() {
    if std::env::var_os("VRS_PROPS_CAPPED").is_some() {
        assert!(
            Vec::<u8>::new().try_reserve_exact(2 << 30).is_err(),
            "the cap is not in force: the other capped tests would prove nothing"
        );
    }
    capped_done(1);
}

#[test]
#[ignore = "run by bounded_allocation_under_a_1_gib_address_space, in a capped child process"]
fn capped_entries_declaring_u32_max_numbers() {
    let mut w = vrs_draw::encoding::Writer::new();
    w.raw(MAGIC)
        .u8(KIND_POOL_RELEASE)
        .str("30-car-white-A")
        .str("r")
        .str("b")
        .u32(u32::MAX);
    w.raw(&[0; 4096]);
    let bytes = w.finish();
    assert!(Entry::decode(&bytes).is_err());
    // The ledger and the replay read such an entry as a finding, not an allocation.
    let mut ledger = Ledger::new();
    assert_eq!(ledger.append(&bytes)[0].rule, "decode");
    let mut reader = Reader::new(&bytes[bytes.len() - 4096 - 4..]);
    assert!(reader.numbers().is_err());
    capped_done(3);
}

#[test]
#[ignore = "run by bounded_allocation_under_a_1_gib_address_space, in a capped child process"]
fn capped_receipts_with_a_million_elements() {
    let f = &*FIXTURE;
    assert!(verify_json(&receipt_with_many(1_000_000, false), &f.trust).is_err());
    assert!(verify_json(&receipt_with_many(1_000_000, true), &f.trust).is_err());
    assert!(verify_json(&"[".repeat(1_000_000), &f.trust).is_err());
    capped_done(3);
}

#[test]
#[ignore = "run by bounded_allocation_under_a_1_gib_address_space, in a capped child process"]
fn capped_notes_with_100k_signature_lines() {
    let signer = NoteSigner::from_seed("vrs-props-log", &[0x22; 32]).expect("log key");
    let verifier = NoteVerifier::parse(&signer.verifier_key()).expect("vkey");
    assert!(verifier.open(&many_signature_lines(100_000)).is_err());
    capped_done(1);
}

/// Number of `capped_` tests above.
const CAPPED_TESTS: usize = 4;

#[test]
fn bounded_allocation_under_a_1_gib_address_space() {
    if !cfg!(target_os = "linux") {
        finish("bounded_allocation (skipped: not Linux)", 0);
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" capped_ --ignored --nocapture --test-threads=1")
        .arg(exe)
        .env("VRS_PROPS_CAPPED", "1")
        .output()
        .expect("sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the capped run failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = format!("test result: ok. {CAPPED_TESTS} passed");
    assert!(stdout.contains(&summary), "not every capped test ran:\n{stdout}");
    let inputs: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("capped-inputs: "))
        .filter_map(|n| n.trim().parse::<usize>().ok())
        .sum();
    finish("bounded_allocation_under_a_1_gib_address_space", inputs);
}
