//! Key files: generated at first start, never committed (in Kubernetes, Secrets).

use std::path::Path;

/// Longest key file read: 64 hex digits and white space around them. A longer
/// file is refused, never read whole (a wrong path such as `/dev/zero`, or a
/// huge file, must not exhaust memory).
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// The file's text, if it exists and is no longer than [`MAX_KEY_FILE_BYTES`].
fn read_key_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than {MAX_KEY_FILE_BYTES} bytes: not a key file"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// 32 fresh random bytes, base64url without padding: a session's name, a
/// CSRF token, a one-time code, a password made for a run.
pub fn random_token() -> anyhow::Result<String> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_seed()?))
}

/// Equality of two secrets in time independent of where they differ: the
/// SHA-256 digests are compared with a fold over every byte (hashing first
/// also hides the lengths).
pub fn same_secret(a: &str, b: &str) -> bool {
    use sha2::Digest;
    let (x, y) = (sha2::Sha256::digest(a.as_bytes()), sha2::Sha256::digest(b.as_bytes()));
    let diff = x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q));
    std::hint::black_box(diff) == 0
}

/// 32 fresh random bytes: a key or a secret made for this run.
pub fn random_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(seed)
}

/// A 32-byte key that must already exist (a retired key, kept to hand over
/// from): read from `path`, never generated.
pub fn load_seed(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = read_key_file(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| anyhow::anyhow!("{} does not hold a 32-byte key in hex", path.display()))
}

/// A 32-byte key (the log's or the token issuer's Ed25519 seed, the data
/// key): read from `path`, or generated and written there
/// (mode 0600) at first start. Never committed: in Kubernetes it is a Secret.
pub fn load_or_create_seed(path: &Path) -> anyhow::Result<[u8; 32]> {
    use std::io::Write;
    let parse = |text: &str| -> anyhow::Result<[u8; 32]> {
        let bytes = hex::decode(text.trim())?;
        bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} does not hold a 32-byte key", path.display()))
    };
    for _ in 0..50 {
        match read_key_file(path) {
            Ok(text) if !text.trim().is_empty() => return parse(&text),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                match opts.open(path) {
                    Ok(mut f) => {
                        f.write_all(hex::encode(seed).as_bytes())?;
                        f.sync_all()?;
                        tracing::info!(path = %path.display(), "key generated");
                        return Ok(seed);
                    }
                    // Another replica is creating it: read theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    anyhow::bail!("{} stays empty", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by tests/props.rs): the key file was read whole, so a
    /// wrong path such as /dev/zero allocated without bound, and a valid key
    /// followed by megabytes of white space was accepted.
    #[test]
    fn key_files_longer_than_a_key_are_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        let mut text = hex::encode([7u8; 32]);
        text.push_str(&" ".repeat(4096));
        std::fs::write(&path, text).expect("write");
        let e = load_or_create_seed(&path).expect_err("too long");
        assert!(e.to_string().contains("not a key file"), "{e}");
        // (Endless files such as /dev/zero: tests/props.rs, under a memory cap.)
        // A key with a trailing newline, as editors write it, still loads.
        std::fs::write(&path, format!("{}\n", hex::encode([7u8; 32]))).expect("write");
        assert_eq!(load_or_create_seed(&path).expect("key"), [7u8; 32]);
    }
}
