//! `vrsctl` as a user runs it: the built binary, with no server. What needs a
//! running service (TLS against the stack, PERMISSION_DENIED hints, `inspect`)
//! is covered by the unit tests of those modules and checked by hand against
//! `vrs-stack`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A CA certificate (no key kept): only for a client that must be configured
/// for TLS; no test expects a handshake to succeed with it.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUK4jhjDU67vG7lLDA1hwRbu8uFsMwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOdnJzY3RsIHRlc3QgQ0EwIBcNMjYxMjA0MDI0MTQ1WhgPMjEy
NjExMTAwMjQxNDVaMBkxFzAVBgNVBAMMDnZyc2N0bCB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEy2b7T4KSmTSxvPZ0ioV/o5ibcImrfK/eiKT0/JSr
8hYeCOu5qXCA21/5OmwJtobGtOFR63NhYF16q/opg3gDbqNTMFEwHQYDVR0OBBYE
FP54k8hkc3XNfhZtDJ1Tx1INibCtMB8GA1UdIwQYMBaAFP54k8hkc3XNfhZtDJ1T
x1INibCtMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgVD3g50wn
NsJ6arboKje746AyAKjuD2fOuNj+ZqZ8F5kCIQCSTrdDcasAW+3YHo2LelvaVHND
+uXiJgXXFRucuEce9g==
-----END CERTIFICATE-----
";

/// An issuer seed as `vrs-stack` writes it: 64 hex digits.
const ISSUER_SEED: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("vrsctl-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    /// Writes `text` at `rel` (creating its directories) and returns the path.
    fn file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("its directory");
        std::fs::write(&path, text).expect("the file written");
        path
    }

    fn subdir(&self, rel: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(&path).expect("the directory");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The built vrsctl, run in `dir`, with none of the caller's `VRS_*` settings.
fn vrsctl(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vrsctl"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VRS_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

struct Run {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().expect("vrsctl runs");
    Run {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An address where nothing listens: a port bound, then released.
fn refused_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------- stdout closed early

#[test]
fn stdout_closed_before_any_output_ends_quietly() {
    let dir = TempDir::new("pipe-closed");
    let mut child = vrsctl(&dir.0)
        .args(["sample", "--case", "clean"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reading end closes before vrsctl has built the data set and written.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr, "", "nothing is said when the reader went away");
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn stdout_closed_after_one_line_ends_quietly() {
    let dir = TempDir::new("pipe-one-line");
    let mut child = vrsctl(&dir.0)
        .args(["sample", "--case", "clean"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("dossier"), "{first}");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}: {stderr}");
}

// ---------------------------------------------------------------- transport errors

#[test]
fn refused_connection_names_the_cause_and_asks_whether_the_stack_runs() {
    let dir = TempDir::new("refused");
    let addr = refused_addr();
    let r = run(vrsctl(&dir.0).args(["--addr", &addr, "--ca", "none", "get", "some-id"]));
    assert!(!r.ok);
    assert!(r.stderr.contains(&format!("cannot reach {addr}")), "{}", r.stderr);
    assert!(
        r.stderr.to_lowercase().contains("connection refused"),
        "the cause: {}",
        r.stderr
    );
    assert!(r.stderr.contains("is vrs-stack running?"), "{}", r.stderr);
    assert!(r.stderr.contains("--addr"), "{}", r.stderr);
}

#[test]
fn address_without_scheme_is_refused_before_connecting() {
    let dir = TempDir::new("no-scheme");
    let addr = refused_addr();
    let bare = addr.trim_start_matches("http://");
    let r = run(vrsctl(&dir.0).args(["--addr", bare, "--ca", "none", "get", "some-id"]));
    assert!(!r.ok);
    assert!(
        r.stderr.contains("--addr must start with http:// or https://"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(bare), "names what was given: {}", r.stderr);
    assert!(!r.stderr.contains("cannot reach"), "no connection tried: {}", r.stderr);
}

#[test]
fn tls_to_a_server_without_tls_says_so() {
    let dir = TempDir::new("tls-to-plain");
    let ca = dir.file("ca.pem", TEST_CA);
    // A server that answers whatever it is sent in plain text, as a service
    // started without TLS would.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let addr = format!("https://127.0.0.1:{port}");
    let r = run(vrsctl(&dir.0).args(["--addr", &addr, "--ca", ca.to_str().unwrap(), "get", "some-id"]));
    server.join().unwrap();
    assert!(!r.ok);
    assert!(r.stderr.contains("does not speak TLS"), "{}", r.stderr);
    assert!(r.stderr.contains("--ca none"), "{}", r.stderr);
}

// ---------------------------------------------------------------- the CA file

#[test]
fn a_given_ca_file_that_does_not_exist_is_an_error_naming_it() {
    let dir = TempDir::new("ca-missing");
    let addr = refused_addr();
    let r = run(vrsctl(&dir.0).args(["--addr", &addr, "--ca", "/nonexistent/ca.pem", "get", "some-id"]));
    assert!(!r.ok);
    assert!(r.stderr.contains("/nonexistent/ca.pem"), "{}", r.stderr);
    assert!(!r.stderr.contains("cannot reach"), "no connection tried: {}", r.stderr);

    let r = run(vrsctl(&dir.0)
        .env("VRS_CA", "/nonexistent/ca.pem")
        .args(["--addr", &addr, "get", "some-id"]));
    assert!(!r.ok);
    assert!(r.stderr.contains("/nonexistent/ca.pem"), "{}", r.stderr);
    assert!(!r.stderr.contains("cannot reach"), "no connection tried: {}", r.stderr);
}

#[test]
fn the_default_ca_is_found_in_a_parent_directory() {
    let dir = TempDir::new("ca-parent");
    let ca = dir.file("var/tls/ca.pem", TEST_CA);
    let below = dir.subdir("services/vrsctl");
    let addr = refused_addr();
    let r = run(vrsctl(&below).args(["--addr", &addr, "get", "some-id"]));
    assert!(!r.ok);
    assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&ca.display().to_string()),
        "says which CA it trusted: {}",
        r.stderr
    );
}

#[test]
fn without_a_ca_anywhere_the_connection_is_plaintext() {
    let dir = TempDir::new("ca-absent");
    let addr = refused_addr();
    let r = run(vrsctl(&dir.0).args(["--addr", &addr, "get", "some-id"]));
    assert!(!r.ok);
    assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);
    assert!(r.stderr.contains("plaintext"), "{}", r.stderr);
}

// ---------------------------------------------------------------- token

#[test]
fn token_is_minted_offline_even_already_expired() {
    let dir = TempDir::new("token");
    let key = dir.file("issuer.key", ISSUER_SEED);
    let r = run(vrsctl(&dir.0).args([
        "--addr",
        "http://127.0.0.1:1",
        "--issuer-key",
        key.to_str().unwrap(),
        "token",
        "--ttl-seconds",
        "-3600",
    ]));
    assert!(r.ok, "{}", r.stderr);
    let token = r.stdout.trim();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, -3600, "{claims}");
    assert!(
        r.stderr.contains("warning"),
        "an expired token is said so: {}",
        r.stderr
    );
    assert!(r.stderr.contains("expired"), "{}", r.stderr);
}

#[test]
fn token_with_a_positive_ttl_has_no_warning() {
    let dir = TempDir::new("token-positive");
    let key = dir.file("issuer.key", ISSUER_SEED);
    let r = run(vrsctl(&dir.0).args([
        "--addr",
        "http://127.0.0.1:1",
        "--issuer-key",
        key.to_str().unwrap(),
        "--as",
        "auditor",
        "token",
        "--ttl-seconds",
        "60",
    ]));
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.trim().split('.').count(), 3, "{}", r.stdout);
    assert_eq!(r.stderr, "");
}

#[test]
fn token_names_its_issuer_key() {
    let dir = TempDir::new("token-kid");
    let key = dir.file("issuer.key", ISSUER_SEED);
    let r = run(vrsctl(&dir.0).args([
        "--addr",
        "http://127.0.0.1:1",
        "--issuer-key",
        key.to_str().unwrap(),
        "--as",
        "auditor",
        "token",
    ]));
    assert!(r.ok, "{}", r.stderr);
    use base64::Engine;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(r.stdout.trim().split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let seed: [u8; 32] = hex::decode(ISSUER_SEED).unwrap().try_into().unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(header["kid"], vrs_kit::token::key_id(&public).as_str(), "{header}");
    assert_eq!(header["alg"], "EdDSA", "{header}");
}

#[test]
fn the_default_issuer_key_is_found_in_a_parent_directory() {
    let dir = TempDir::new("issuer-parent");
    dir.file("var/token-issuer.key", ISSUER_SEED);
    let below = dir.subdir("services/vrsctl/src");
    let r = run(vrsctl(&below).args(["--addr", "http://127.0.0.1:1", "token"]));
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout.trim().split('.').count(), 3, "{}", r.stdout);
}

#[test]
fn without_an_issuer_key_anywhere_the_error_says_where_it_looked() {
    let dir = TempDir::new("issuer-absent");
    let r = run(vrsctl(&dir.0).args(["--addr", "http://127.0.0.1:1", "token"]));
    assert!(!r.ok);
    assert!(r.stderr.contains("var/token-issuer.key"), "{}", r.stderr);
    assert!(r.stderr.contains("--issuer-key"), "{}", r.stderr);
}

// ---------------------------------------------------------------- help

/// The options of a `--help` text, each with its description (empty when it has none).
fn options(help: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut in_options = false;
    for line in help.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            in_options = line.trim_end() == "Options:";
            continue;
        }
        if !in_options {
            continue;
        }
        let text = line.trim_start();
        // Options are indented by 2 to 6 columns, their descriptions by more
        // (where a list of possible values also starts with `-`).
        if text.starts_with('-') && line.len() - text.len() <= 6 {
            // `-x, --name <VALUE>  description` or the description on the next lines.
            let (spec, desc) = text.split_once("  ").unwrap_or((text, ""));
            let name = spec
                .split([',', ' ', '='])
                .find(|w| w.starts_with("--"))
                .unwrap_or(spec)
                .to_owned();
            found.push((name, desc.trim().to_owned()));
        } else if let Some(last) = found.last_mut() {
            if !last.1.is_empty() {
                last.1.push(' ');
            }
            last.1.push_str(text.trim());
        }
    }
    found
}

fn assert_described(help: &str, flags: &[&str]) {
    let opts = options(help);
    for flag in flags {
        let (_, desc) = opts
            .iter()
            .find(|(name, _)| name == flag)
            .unwrap_or_else(|| panic!("{flag} is not in the help:\n{help}"));
        // Only the `[env: …]` / `[default: …]` clap adds does not count.
        let own: String = desc.split(" [").next().unwrap_or("").trim().to_owned();
        assert!(
            own.len() > 8 && !own.starts_with('['),
            "{flag} has no description:\n{help}"
        );
    }
    for (name, desc) in &opts {
        assert!(!desc.trim().is_empty(), "{name} has no description:\n{help}");
    }
}

#[test]
fn every_submit_flag_has_a_description() {
    let dir = TempDir::new("help-submit");
    let r = run(vrsctl(&dir.0).args(["submit", "--help"]));
    assert!(r.ok, "{}", r.stderr);
    assert_described(
        &r.stdout,
        &[
            "--nth",
            "--personal-id",
            "--name",
            "--guardian-consent",
            "--class",
            "--origin",
            "--chassis",
            "--engine",
            "--customs-declaration",
            "--make",
            "--model",
            "--seats",
            "--office",
            "--locality",
            "--issuer",
            "--issuer-key",
        ],
    );
}

#[test]
fn every_global_flag_has_a_description() {
    let dir = TempDir::new("help-global");
    let r = run(vrsctl(&dir.0).arg("--help"));
    assert!(r.ok, "{}", r.stderr);
    assert_described(&r.stdout, &["--issuer", "--issuer-key", "--ca", "--addr", "--office"]);
    // Where the defaults are looked for.
    assert!(r.stdout.contains("parent"), "{}", r.stdout);
}

#[test]
fn ttl_seconds_help_is_there() {
    let dir = TempDir::new("help-token");
    let r = run(vrsctl(&dir.0).args(["token", "--help"]));
    assert!(r.ok, "{}", r.stderr);
    assert_described(&r.stdout, &["--ttl-seconds"]);
    assert_eq!(r.code, Some(0));
}
