//! Property tests of every decoder of untrusted input in `vrs-kit` (issue 12,
//! item 8): caller tokens, key files, layered configuration (TOML files and
//! environment variables), the W3C trace context every gRPC call may carry,
//! and the request-field validators the agency stand-ins apply.
//!
//! For each decoder: round trips where an encoder exists (tokens signed with a
//! key generated here, key files written here, configuration serialised here);
//! "never panics, always a typed error" for arbitrary input and for mutations
//! of valid encodings; rejection wherever a mutation must invalidate; and
//! inputs declaring huge sizes, run again in a child process whose address
//! space is capped at 1 GiB, so that allocating in proportion to a declared
//! size fails the test instead of passing unnoticed.
//!
//! Cases per property are bounded for a debug build on a loaded machine;
//! `PROPTEST_CASES` overrides them all, `PROPTEST_RNG_SEED` the fixed seed.
//! Nothing is written to the source tree (no failure persistence; files go to
//! temporary directories). The last test to finish prints how many inputs the
//! file tried in total.

use std::collections::HashMap;
use std::fmt::Debug;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde::{Deserialize, Serialize};
use vrs_kit::agency::{AgencyConfig, is_chassis_number, is_personal_id};
use vrs_kit::config::load_from;
use vrs_kit::keys::load_or_create_seed;
use vrs_kit::token::{AUDIENCE, Claims, KeySet, Role, TokenError, key_id, sign_token, verify_token};
use vrs_kit::world::{is_valid_tax_code, normalise_engine_number, tax_code_check_digit, vin_check_digit_valid};

// ---------------------------------------------------------------------------
// Harness: bounded cases, a fixed seed, no files, and a count of inputs.
// ---------------------------------------------------------------------------

/// The seed of every property unless `PROPTEST_RNG_SEED` is set: CI runs are reproducible.
const SEED: u64 = 0x5652_534b_4954_5052; // "VRSKITPR"

/// Tests of this file that call [`finish`]; the last one to finish prints the total.
const TESTS: usize = 19;

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
            "vrs-kit props: {total} inputs tried by {TESTS} tests"
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

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
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

/// Mutated text: the mutated bytes as UTF-8, invalid sequences replaced.
fn mutate_text(input: &str, ms: &[Mutation]) -> String {
    let bytes = ms.iter().fold(input.as_bytes().to_vec(), |acc, m| m.apply(&acc));
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------------------
// Caller tokens (token.rs).
// ---------------------------------------------------------------------------

const ISSUER: &str = "vrs-props-issuer";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x5a; 32])
}

/// The verifier's keys: [`key`] alone.
fn keys() -> KeySet {
    KeySet::new(key().verifying_key())
}

/// Times with the edges of i64 as likely as ordinary ones.
fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 1_700_000_000i64..1_900_000_000,
        1 => any::<i64>(),
        1 => prop_oneof![Just(i64::MAX), Just(i64::MIN), i64::MAX - 120..=i64::MAX, i64::MIN..=i64::MIN + 120],
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[A-Za-z0-9 ._-]{0,16}", 1 => any::<String>(), 1 => Just(String::new())]
}

fn claims() -> impl Strategy<Value = Claims> {
    let iss = prop_oneof![4 => Just(ISSUER.to_owned()), 1 => text()];
    let aud = prop_oneof![4 => Just(AUDIENCE.to_owned()), 1 => text()];
    let roles = vec(prop::sample::select(Role::ALL.to_vec()), 0..5);
    let office = prop::option::of(prop_oneof![Just(String::new()), text()]);
    (iss, text(), aud, roles, office, time(), time()).prop_map(|(iss, sub, aud, roles, office, iat, exp)| Claims {
        iss,
        sub,
        aud,
        roles,
        office,
        iat,
        exp,
        jti: String::new(),
    })
}

/// What `verify_token` must say of a genuinely signed token, checks in its
/// order, with times compared exactly (no arithmetic that can overflow).
fn expected(c: &Claims, now: i64) -> Result<Claims, TokenError> {
    if c.iss != ISSUER || c.aud != AUDIENCE {
        return Err(TokenError::WrongIssuer);
    }
    if i128::from(c.exp) + 60 < i128::from(now) || i128::from(c.iat) - 60 > i128::from(now) {
        return Err(TokenError::Expired);
    }
    if c.roles.contains(&Role::Clerk) && c.office.as_deref().is_none_or(str::is_empty) {
        return Err(TokenError::NoOffice);
    }
    Ok(c.clone())
}

#[test]
fn signed_tokens_verify_exactly_as_their_claims_say() {
    check("signed_tokens", 512, (claims(), time()), |(c, now)| {
        let k = key();
        let token = sign_token(&k, &c);
        prop_assert_eq!(verify_token(&keys(), ISSUER, &token, now), expected(&c, now));
        Ok(())
    });
}

#[test]
fn tokens_under_any_header_verify_only_with_alg_eddsa() {
    let alg = prop_oneof![
        Just(Some("\"EdDSA\"".to_owned())),
        prop::sample::select(vec![
            "\"none\"",
            "\"HS256\"",
            "\"eddsa\"",
            "\"EdDSA \"",
            "null",
            "1",
            "[\"EdDSA\"]"
        ])
        .prop_map(|s| Some(s.to_owned())),
        Just(None),
    ];
    let typ = prop_oneof![
        Just(None),
        Just(Some("\"JWT\"")),
        Just(Some("\"\"")),
        Just(Some("5")),
        Just(Some("null"))
    ];
    let extra = prop::option::of("[a-z]{1,6}");
    check(
        "token_headers",
        256,
        (alg, typ, extra, any::<bool>()),
        |(alg, typ, extra, duplicate)| {
            let mut members = Vec::new();
            if let Some(a) = &alg {
                members.push(format!("\"alg\":{a}"));
                if duplicate {
                    members.push(format!("\"alg\":{a}"));
                }
            }
            if let Some(t) = typ {
                members.push(format!("\"typ\":{t}"));
            }
            if let Some(x) = &extra {
                members.push(format!("\"{x}\":0"));
            }
            let header = format!("{{{}}}", members.join(","));
            let c = Claims {
                iss: ISSUER.into(),
                sub: "s".into(),
                aud: AUDIENCE.into(),
                roles: vec![Role::Auditor],
                office: None,
                iat: 1_000,
                exp: 2_000,
                jti: String::new(),
            };
            let signing_input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(&header),
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).map_err(fail)?)
            );
            let k = key();
            let sig = ed25519_dalek::Signer::sign(&k, signing_input.as_bytes());
            let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
            let typ_ok = matches!(typ, None | Some("\"JWT\"") | Some("\"\""));
            // An extra member named like a known one is a duplicate (or of the wrong type).
            let clash = extra.as_deref().is_some_and(|x| x == "alg" || x == "typ" || x == "kid");
            let ok = alg.as_deref() == Some("\"EdDSA\"") && typ_ok && !duplicate && !clash;
            let got = verify_token(&keys(), ISSUER, &token, 1_500);
            if ok {
                prop_assert_eq!(got, Ok(c), "header {}", header);
            } else {
                prop_assert_eq!(got, Err(TokenError::Malformed), "header {}", header);
            }
            Ok(())
        },
    );
}

/// Which key id a token's header names.
#[derive(Debug, Clone)]
enum Kid {
    /// None (a token minted before key ids).
    Absent,
    /// The id of the key with this seed byte (one of the set's, or not).
    Of(u8),
    /// Any string.
    Text(String),
}

#[test]
fn each_token_is_checked_with_the_one_key_its_kid_names() {
    // Keys are seeds of one repeated byte; the set holds 1..=set_size, the
    // first one primary; the signer and the named key range wider.
    let kid = prop_oneof![
        1 => Just(Kid::Absent),
        3 => (1u8..=5).prop_map(Kid::Of),
        1 => text().prop_map(Kid::Text),
    ];
    check("key_sets", 256, (1u8..=3, 1u8..=5, kid), |(set_size, signer, kid)| {
        let sk = |b: u8| SigningKey::from_bytes(&[b; 32]);
        let set = (2..=set_size).fold(KeySet::new(sk(1).verifying_key()), |s, b| {
            s.with_previous(sk(b).verifying_key())
        });
        let kid_text = match &kid {
            Kid::Absent => None,
            Kid::Of(b) => Some(key_id(&sk(*b).verifying_key())),
            Kid::Text(t) => Some(t.clone()),
        };
        let header = match &kid_text {
            None => r#"{"alg":"EdDSA","typ":"JWT"}"#.to_owned(),
            Some(t) => serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": t}).to_string(),
        };
        let c = Claims {
            iss: ISSUER.into(),
            sub: "s".into(),
            aud: AUDIENCE.into(),
            roles: vec![Role::Auditor],
            office: None,
            iat: 1_000,
            exp: 2_000,
            jti: String::new(),
        };
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).map_err(fail)?)
        );
        let sig = ed25519_dalek::Signer::sign(&sk(signer), input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        // The one key checked: the named one if the set has it, the primary if none is named.
        let checked = match &kid_text {
            None => Some(1),
            Some(t) => (1..=set_size).find(|b| key_id(&sk(*b).verifying_key()) == *t),
        };
        let want = match checked {
            None => Err(TokenError::UnknownKey),
            Some(b) if b == signer => Ok(c),
            Some(_) => Err(TokenError::BadSignature),
        };
        prop_assert_eq!(verify_token(&set, ISSUER, &token, 1_500), want, "header {}", header);
        Ok(())
    });
}

#[test]
fn any_change_to_a_token_is_refused() {
    check("mutated_tokens", 1024, (claims(), mutations()), |(c, ms)| {
        let k = key();
        let token = sign_token(&k, &c);
        let m = mutate_text(&token, &ms);
        let got = verify_token(&keys(), ISSUER, &m, 1_800_000_000);
        if m == token {
            prop_assert_eq!(got, expected(&c, 1_800_000_000));
        } else {
            // A changed key id names no key of the set.
            prop_assert!(
                matches!(
                    got,
                    Err(TokenError::Malformed | TokenError::BadSignature | TokenError::UnknownKey)
                ),
                "a changed token gave {:?}",
                got
            );
        }
        Ok(())
    });
}

#[test]
fn arbitrary_and_token_shaped_strings_are_refused() {
    let b64 = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
    let segment = prop_oneof![
        vec(any::<u8>(), 0..80).prop_map(b64),
        "[A-Za-z0-9_=+/-]{0,90}",
        Just(URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#)),
    ];
    let shaped = vec(segment, 0..5).prop_map(|s| s.join("."));
    let inputs = prop_oneof![any::<String>(), shaped];
    check("arbitrary_tokens", 1024, inputs, |t| {
        let got = verify_token(&keys(), ISSUER, &t, 1_800_000_000);
        prop_assert!(
            matches!(
                got,
                Err(TokenError::Malformed | TokenError::BadSignature | TokenError::UnknownKey)
            ),
            "{:?}",
            got
        );
        Ok(())
    });
}

/// An unsigned token carrying a million roles: refused before the payload is decoded.
fn token_with_a_million_roles() -> String {
    let mut payload = String::from(r#"{"iss":"vrs-props-issuer","sub":"s","aud":"vrs-registration","roles":["#);
    for i in 0..1_000_000 {
        if i > 0 {
            payload.push(',');
        }
        payload.push_str("\"supervisor\"");
    }
    payload.push_str(r#"],"iat":0,"exp":0}"#);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    )
}

#[test]
fn tokens_declaring_huge_or_deep_contents_are_refused() {
    let vk = keys();
    let deep = format!(
        "{}.e30.{}",
        URL_SAFE_NO_PAD.encode("[".repeat(100_000)),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    );
    assert_eq!(verify_token(&vk, ISSUER, &deep, 0), Err(TokenError::Malformed));
    assert_eq!(
        verify_token(&vk, ISSUER, &token_with_a_million_roles(), 0),
        Err(TokenError::BadSignature)
    );
    finish("tokens_declaring_huge_or_deep_contents", 2);
}

// ---------------------------------------------------------------------------
// Key files (keys.rs).
// ---------------------------------------------------------------------------

fn tempdir() -> Result<tempfile::TempDir, TestCaseError> {
    tempfile::tempdir().map_err(fail)
}

#[test]
fn key_files_round_trip_in_any_case_and_white_space() {
    let space = prop::sample::select(vec!["", " ", "\n", "\r\n", "\t ", "\n\n"]);
    check(
        "key_files_round_trip",
        128,
        (any::<[u8; 32]>(), any::<bool>(), space.clone(), space),
        |(seed, upper, before, after)| {
            let dir = tempdir()?;
            let path = dir.path().join("key");
            let hex = if upper {
                hex::encode_upper(seed)
            } else {
                hex::encode(seed)
            };
            std::fs::write(&path, format!("{before}{hex}{after}")).map_err(fail)?;
            prop_assert_eq!(load_or_create_seed(&path).map_err(fail)?, seed);
            Ok(())
        },
    );
}

/// What a key file's bytes must give: 32 bytes of hex, white space around it allowed.
/// `None` for a file of white space only (the loader waits for a writer, then gives up).
fn expected_key(bytes: &[u8]) -> Option<Option<[u8; 32]>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(None);
    };
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Some(hex::decode(t).ok().and_then(|b| b.try_into().ok()))
}

#[test]
fn key_files_of_any_content_load_exactly_when_they_hold_a_key() {
    let key_text = any::<[u8; 32]>().prop_map(hex::encode);
    let contents = prop_oneof![
        vec(any::<u8>(), 1..200),
        "[0-9a-fA-F \\n]{1,80}".prop_map(String::into_bytes),
        (key_text.clone(), mutations()).prop_map(|(k, m)| mutate_text(&k, &m).into_bytes()),
        key_text.prop_map(String::into_bytes),
    ];
    check("key_files_any_content", 256, contents, |bytes| {
        let Some(want) = expected_key(&bytes) else {
            return Ok(()); // white space only: see `an_empty_key_file_is_an_error`
        };
        let dir = tempdir()?;
        let path = dir.path().join("key");
        std::fs::write(&path, &bytes).map_err(fail)?;
        prop_assert_eq!(load_or_create_seed(&path).ok(), want);
        Ok(())
    });
}

#[test]
fn missing_key_files_are_created_once_and_read_back() {
    check("key_files_created", 16, "[a-z]{1,8}(/[a-z]{1,8}){0,2}", |rel| {
        let dir = tempdir()?;
        let path = dir.path().join(rel);
        let seed = load_or_create_seed(&path).map_err(fail)?;
        prop_assert_eq!(std::fs::read_to_string(&path).map_err(fail)?, hex::encode(seed));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map_err(fail)?.permissions().mode();
            prop_assert_eq!(mode & 0o777, 0o600);
        }
        prop_assert_eq!(load_or_create_seed(&path).map_err(fail)?, seed);
        Ok(())
    });
}

#[test]
fn an_empty_key_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key");
    std::fs::write(&path, " \n").expect("write");
    let e = load_or_create_seed(&path).expect_err("an empty key file");
    assert!(e.to_string().contains("stays empty"), "{e}");
    finish("an_empty_key_file", 1);
}

#[test]
fn oversized_key_files_are_refused_without_being_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key");
    // A valid key followed by 16 MiB of white space: no key file is that long.
    let mut text = hex::encode([7u8; 32]);
    text.push_str(&" ".repeat(16 << 20));
    std::fs::write(&path, text).expect("write");
    assert!(load_or_create_seed(&path).is_err());
    finish("oversized_key_files", 1);
}

// ---------------------------------------------------------------------------
// Layered configuration (config.rs): TOML files and environment variables.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Cfg {
    name: String,
    server: Server,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Server {
    listen: String,
    latency_ms: u64,
    enabled: bool,
    names: Vec<String>,
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg {
            name: "default".into(),
            server: Server::default(),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "127.0.0.1:1".into(),
            latency_ms: 5,
            enabled: false,
            names: vec!["a".into()],
        }
    }
}

/// Strings, with those that look like numbers, booleans or lists as likely as any.
fn setting() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[A-Za-z0-9 ./:_-]{1,20}",
        2 => "[+-]?[0-9]{1,4}(\\.[0-9]{0,3})?(e[0-9]{1,2})?",
        1 => prop::sample::select(vec!["true", "False", "TRUE", "yes", "on", "0", "007", "1e3", "+5", "inf", "NaN"])
            .prop_map(str::to_owned),
        1 => "\\PC{1,12}",
    ]
}

fn cfg() -> impl Strategy<Value = Cfg> {
    let name = prop_oneof![setting(), any::<String>()];
    (
        name,
        setting(),
        0..=i64::MAX as u64,
        any::<bool>(),
        vec(setting(), 0..4),
    )
        .prop_map(|(name, listen, latency_ms, enabled, names)| Cfg {
            name,
            server: Server {
                listen,
                latency_ms,
                enabled,
                names,
            },
        })
}

/// A TOML basic string (the workspace builds `toml` without its serialiser).
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_toml(c: &Cfg) -> String {
    let names: Vec<String> = c.server.names.iter().map(|n| toml_str(n)).collect();
    format!(
        "name = {}\n[server]\nlisten = {}\nlatency_ms = {}\nenabled = {}\nnames = [{}]\n",
        toml_str(&c.name),
        toml_str(&c.server.listen),
        c.server.latency_ms,
        c.server.enabled,
        names.join(", ")
    )
}

fn write_file(dir: &Path, text: &str) -> Result<std::path::PathBuf, TestCaseError> {
    let path = dir.join("cfg.toml");
    std::fs::write(&path, text).map_err(fail)?;
    Ok(path)
}

#[test]
fn configuration_files_round_trip() {
    check("configuration_files", 128, cfg(), |c| {
        let dir = tempdir()?;
        let path = write_file(dir.path(), &to_toml(&c))?;
        let got: Cfg = load_from("x", Some(&path), HashMap::new()).map_err(fail)?;
        prop_assert_eq!(got, c);
        Ok(())
    });
}

#[test]
fn environment_settings_round_trip_and_strings_stay_strings() {
    check("environment_settings", 256, cfg(), |c| {
        let env = HashMap::from([
            ("VRS_X__NAME".to_owned(), c.name.clone()),
            ("VRS_X__SERVER__LISTEN".to_owned(), c.server.listen.clone()),
            ("VRS_X__SERVER__LATENCY_MS".to_owned(), c.server.latency_ms.to_string()),
            ("VRS_X__SERVER__ENABLED".to_owned(), c.server.enabled.to_string()),
            ("VRS_X__SERVER__NAMES".to_owned(), c.server.names.join(",")),
        ]);
        let got: Cfg = load_from("x", None, env).map_err(fail)?;
        prop_assert_eq!(&got.name, &c.name);
        prop_assert_eq!(&got.server.listen, &c.server.listen);
        prop_assert_eq!(got.server.latency_ms, c.server.latency_ms);
        prop_assert_eq!(got.server.enabled, c.server.enabled);
        // A list is its comma-separated parts (an empty variable: one empty name).
        let parts: Vec<String> = c.server.names.join(",").split(',').map(str::to_owned).collect();
        prop_assert_eq!(&got.server.names, &parts);
        Ok(())
    });
}

/// TOML-ish lines: the agency configuration's own keys and sections, keys with
/// path syntax, and junk.
fn toml_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "listen",
            "drain_delay_ms",
            "probe_listen",
            "error_rate",
            "latency_ms",
            "outage",
            "ca_file",
            "faults",
            "tls"
        ])
        .prop_map(str::to_owned),
        "\"[a-z]{1,6}\\[-?[0-9]{1,2}\\]\"",
        "\"[a-z]{1,4}(\\.[a-z]{1,4}){1,3}\"",
        "[a-z_]{1,8}",
    ];
    let value = prop_oneof![
        Just("\"127.0.0.1:0\"".to_owned()),
        Just("\"[::1]:9\"".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        Just("true".to_owned()),
        Just("[1, \"a\", [2]]".to_owned()),
        Just("{ latency_ms = 3 }".to_owned()),
        "\"[ -~]{0,12}\"",
        "[ -~]{0,8}",
    ];
    let line = prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => prop::sample::select(vec!["[faults]", "[tls]", "[[faults]]", "[x.y]", ""]).prop_map(str::to_owned),
        1 => "[ -~]{0,16}",
    ];
    prop_oneof![4 => vec(line, 0..8).prop_map(|l| l.join("\n")), 1 => any::<String>()]
}

#[test]
fn configuration_files_of_any_content_load_or_fail_cleanly() {
    check("configuration_files_any_content", 256, toml_text(), |text| {
        let dir = tempdir()?;
        let path = write_file(dir.path(), &text)?;
        let _ = load_from::<AgencyConfig<50063>>("identity", Some(&path), HashMap::new());
        let _ = load_from::<Cfg>("x", Some(&path), HashMap::new());
        Ok(())
    });
}

#[test]
fn environments_of_any_content_load_or_fail_cleanly() {
    let name = prop_oneof![
        prop::sample::select(vec![
            "LISTEN",
            "FAULTS__ERROR_RATE",
            "FAULTS__LATENCY_MS",
            "FAULTS__OUTAGE",
            "TLS__CA_FILE",
            "PROBE_LISTEN",
            "DRAIN_DELAY_MS",
            "FAULTS",
            "TLS",
        ])
        .prop_map(str::to_owned),
        "[A-Z_]{1,8}(__[A-Z_]{1,8}){0,3}",
        "[A-Za-z_]{1,6}\\[-?[0-9]{1,2}\\](__[A-Z]{1,4})?",
        "[ -~]{1,16}",
    ];
    let vars = vec((name, prop_oneof![setting(), any::<String>()]), 0..6);
    check("environments_any_content", 256, vars, |vars| {
        let env: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (format!("VRS_IDENTITY__{k}"), v))
            .collect();
        let _ = load_from::<AgencyConfig<50063>>("identity", None, env);
        Ok(())
    });
}

/// Keys with a subscript: the `config` crate would grow a list to the index.
fn subscript_cases() -> Vec<(&'static str, Option<&'static str>, HashMap<String, String>)> {
    let env = |k: &str| HashMap::from([(k.to_owned(), "a".to_owned())]);
    vec![
        ("file, huge index", Some("\"x[4000000000]\" = 1\n"), HashMap::new()),
        (
            "file, isize::MAX",
            Some("\"x[9223372036854775807]\" = 1\n"),
            HashMap::new(),
        ),
        ("file, negative index", Some("\"x[-4000000000]\" = 1\n"), HashMap::new()),
        ("env, huge index", None, env("VRS_X__SERVER__NAMES[4000000000]")),
        ("env, isize::MAX", None, env("VRS_X__SERVER[9223372036854775807]")),
        ("env, negative index", None, env("VRS_X__NAME[-4000000000]")),
    ]
}

/// The cases of [`subscript_cases`] that cannot allocate even if the decoder were
/// wrong (they overflow before allocating): safe to run without the cap.
#[test]
fn configuration_keys_with_overflowing_subscripts_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    for (what, file, env) in subscript_cases() {
        if !what.contains("isize::MAX") {
            continue;
        }
        let path = file.map(|text| {
            let p = dir.path().join("cfg.toml");
            std::fs::write(&p, text).expect("write");
            p
        });
        let r = std::panic::catch_unwind(|| load_from::<Cfg>("x", path.as_deref(), env.clone()).is_err());
        assert_eq!(r.ok(), Some(true), "{what}: not refused cleanly");
        n += 1;
    }
    finish("configuration_keys_with_overflowing_subscripts", n);
}

// ---------------------------------------------------------------------------
// W3C trace context (telemetry/propagation.rs): any caller may send one.
// ---------------------------------------------------------------------------

fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
}

#[test]
fn trace_context_of_any_content_is_read_or_ignored() {
    use opentelemetry::trace::TraceContextExt as _;
    install_propagator();
    let hexes = |n: usize| {
        vec(prop::sample::select(b"0123456789abcdef".to_vec()), n)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let valid = (hexes(32), hexes(16), prop::sample::select(vec!["00", "01"]));
    let junk = prop_oneof![
        "[ -~]{0,80}",
        "[0-9a-f-]{0,60}",
        (hexes(32), hexes(16), "[0-9a-fA-Fx-]{0,4}", "[0-9a-z]{0,3}")
            .prop_map(|(t, s, f, v)| format!("{v}-{t}-{s}-{f}")),
    ];
    check(
        "trace_context",
        512,
        (valid, junk, "[ -~]{0,40}", any::<bool>()),
        |((trace, span, flags), junk, state, use_valid)| {
            let tp = if use_valid {
                format!("00-{trace}-{span}-{flags}")
            } else {
                junk
            };
            let mut headers = http::HeaderMap::new();
            let (Ok(tp_value), Ok(state_value)) =
                (http::HeaderValue::from_str(&tp), http::HeaderValue::from_str(&state))
            else {
                return Ok(());
            };
            headers.insert("traceparent", tp_value);
            headers.insert("tracestate", state_value);
            let cx = vrs_kit::telemetry::propagation::extract(&headers);
            let sc = cx.span().span_context().clone();
            let zero = |s: &str| s.bytes().all(|b| b == b'0');
            if use_valid && !zero(&trace) && !zero(&span) {
                prop_assert!(sc.is_valid());
                prop_assert_eq!(sc.trace_id().to_string(), trace);
                prop_assert_eq!(sc.span_id().to_string(), span);
            }
            vrs_kit::telemetry::propagation::continue_from(&tracing::Span::none(), Some(&tp));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// Request-field validators of the agency stand-ins (agency.rs, world.rs).
// ---------------------------------------------------------------------------

fn digits(n: usize) -> impl Strategy<Value = String> {
    vec(0..10u8, n).prop_map(|d| d.iter().map(|x| char::from(b'0' + x)).collect())
}

#[test]
fn request_field_validators_accept_exactly_their_grammar() {
    let inputs = (
        prop_oneof![any::<String>(), "[0-9A-Za-z-]{0,22}", digits(12)],
        digits(9),
        prop::option::of(digits(3)),
        0..10usize,
        1..10u8,
    );
    check(
        "request_field_validators",
        1024,
        inputs,
        |(s, nine, branch, at, delta)| {
            prop_assert_eq!(
                is_personal_id(&s),
                s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
            );
            prop_assert_eq!(
                is_chassis_number(&s),
                (6..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
            );
            let _ = is_valid_tax_code(&s);
            let _ = vin_check_digit_valid(&s);
            let _ = normalise_engine_number(&s);
            // Tax codes: a code with its check digit is valid; any one digit changed is not.
            if let Some(check) = tax_code_check_digit(&nine) {
                let code = format!("{nine}{check}");
                let full = branch.as_ref().map_or(code.clone(), |b| format!("{code}-{b}"));
                prop_assert!(is_valid_tax_code(&full), "{}", full);
                let mut wrong = code.into_bytes();
                wrong[at] = b'0' + (wrong[at] - b'0' + delta) % 10;
                let wrong = String::from_utf8(wrong).map_err(fail)?;
                prop_assert!(!is_valid_tax_code(&wrong), "{}", wrong);
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// Bounded allocation: huge declarations again, under a 1 GiB address space.
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
fn capped_configuration_keys_with_huge_subscripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    for (what, file, env) in subscript_cases() {
        let path = file.map(|text| {
            let p = dir.path().join("cfg.toml");
            std::fs::write(&p, text).expect("write");
            p
        });
        assert!(
            load_from::<Cfg>("x", path.as_deref(), env).is_err(),
            "{what}: not refused"
        );
        n += 1;
    }
    capped_done(n);
}

#[test]
#[ignore = "run by bounded_allocation_under_a_1_gib_address_space, in a capped child process"]
fn capped_key_files_that_never_end() {
    let mut n = 0;
    for endless in ["/dev/zero", "/dev/urandom"] {
        if Path::new(endless).exists() {
            assert!(load_or_create_seed(Path::new(endless)).is_err(), "{endless}");
            n += 1;
        }
    }
    capped_done(n);
}

#[test]
#[ignore = "run by bounded_allocation_under_a_1_gib_address_space, in a capped child process"]
fn capped_tokens_with_a_million_roles() {
    let vk = keys();
    assert!(verify_token(&vk, ISSUER, &token_with_a_million_roles(), 0).is_err());
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
