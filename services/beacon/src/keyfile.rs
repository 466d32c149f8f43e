//! The local beacon's identity on disk: secret key, genesis and period.
//!
//! At first start [`load_or_create`] generates a key and a genesis (now,
//! rounded down to the period) and writes them as a small JSON document with
//! mode 0600; later starts read them back, so the public key and every
//! round's value stay the same across restarts. The file is created
//! atomically (written aside, then hard-linked into place only if absent), so
//! two processes starting at once end up with the same key.
//!
//! Nothing here prints the secret: errors name the file and the field, never
//! its content.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};
use vrs_draw::beacon::{self, SCHEME, SecretKey};

/// The `format` field of a key file.
pub const FORMAT: &str = "vrs-beacon-key/v1";

/// What a key file holds. `Debug` shows no secret ([`SecretKey`] redacts itself).
#[derive(Debug, Clone)]
pub struct LocalKey {
    /// The signing key.
    pub secret: SecretKey,
    /// When round 1 is published, Unix milliseconds.
    pub genesis_unix_ms: i64,
    /// Milliseconds between rounds, 1 ..= `u32::MAX` (the wire carries a `uint32`).
    pub period_ms: u64,
}

/// The document on disk. No `Debug`: it holds the secret in hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    scheme: String,
    /// 32 bytes, big-endian, hex.
    secret_key: String,
    /// The compressed G2 public key, hex; checked against the secret on load.
    public_key: String,
    genesis_unix_ms: i64,
    period_ms: u64,
}

fn check_period(period_ms: u64) -> anyhow::Result<()> {
    ensure!(
        (1..=u64::from(u32::MAX)).contains(&period_ms),
        "period_ms must be between 1 and {}, got {period_ms}",
        u32::MAX
    );
    Ok(())
}

/// Reads the key file at `path`, or creates it with a fresh key, genesis
/// `now_unix_ms` rounded down to `period_ms`, and `period_ms`.
///
/// An existing file must have been created with the same `period_ms`: the
/// schedule is part of the beacon's public parameters.
pub fn load_or_create(path: &Path, period_ms: u64, now_unix_ms: i64) -> anyhow::Result<LocalKey> {
    check_period(period_ms)?;
    let key = match read(path)? {
        Some(key) => {
            tracing::info!(path = %path.display(), "beacon key loaded");
            key
        }
        None => create(path, period_ms, now_unix_ms)?,
    };
    ensure!(
        key.period_ms == period_ms,
        "the key file was created with period_ms = {} but the configuration says {period_ms}; \
         keep the period or start a new beacon with a new key file",
        key.period_ms
    );
    Ok(key)
}

/// Reads and checks a key file; `None` if there is none.
pub fn read(path: &Path) -> anyhow::Result<Option<LocalKey>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("reading the key file"),
    };
    warn_if_readable_by_others(path);
    // serde_json's messages can quote the input; report the position only.
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the key file is not a valid {FORMAT} document ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    ensure!(
        file.format == FORMAT,
        "the key file's format is {:?}, not {FORMAT:?}",
        file.format
    );
    ensure!(
        file.scheme == SCHEME,
        "the key file's scheme is {:?}, not {SCHEME:?}",
        file.scheme
    );
    check_period(file.period_ms)?;
    let secret = hex::decode(&file.secret_key)
        .ok()
        .and_then(|bytes| SecretKey::from_bytes(&bytes).ok())
        .ok_or_else(|| anyhow::anyhow!("the key file's secret_key is not a valid 32-byte hex scalar"))?;
    if hex::encode(secret.public_key()) != file.public_key.to_ascii_lowercase() {
        bail!("the key file's public_key does not match its secret_key");
    }
    Ok(Some(LocalKey {
        secret,
        genesis_unix_ms: file.genesis_unix_ms,
        period_ms: file.period_ms,
    }))
}

/// Generates a key and writes it to `path` unless another process got there
/// first, in which case that process's key is used.
fn create(path: &Path, period_ms: u64, now_unix_ms: i64) -> anyhow::Result<LocalKey> {
    let period = i64::try_from(period_ms).context("period_ms out of range")?;
    let key = LocalKey {
        secret: SecretKey::generate().context("generating the beacon key")?,
        genesis_unix_ms: now_unix_ms - now_unix_ms.rem_euclid(period),
        period_ms,
    };
    let public_key = key.secret.public_key();
    let file = KeyFile {
        format: FORMAT.to_string(),
        scheme: SCHEME.to_string(),
        secret_key: hex::encode(key.secret.to_bytes()),
        public_key: hex::encode(public_key),
        genesis_unix_ms: key.genesis_unix_ms,
        period_ms,
    };
    let mut text = serde_json::to_string_pretty(&file).context("encoding the key file")?;
    text.push('\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let aside = aside_path(path);
    let linked = write_private(&aside, text.as_bytes()).and_then(|()| fs::hard_link(&aside, path));
    let _ = fs::remove_file(&aside);
    match linked {
        Ok(()) => {
            tracing::info!(
                path = %path.display(),
                beacon_id = %beacon::beacon_id(&public_key),
                genesis_unix_ms = key.genesis_unix_ms,
                period_ms,
                "new beacon key generated"
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path)?.ok_or_else(|| anyhow::anyhow!("the key file vanished while being created"))
        }
        Err(e) => Err(e).context("writing the key file"),
    }
}

/// A sibling path unique to this process, for writing before linking into place.
fn aside_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Writes `bytes` to a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // `mode` only applies to a file created now; a stale leftover keeps its own.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the beacon key file is accessible to other users; it should be 0600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vrs-beacon-keyfile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn created_once_then_reused() {
        let dir = temp_dir("reuse");
        let path = dir.join("nested/beacon.key");
        let first = load_or_create(&path, 1000, 1_700_000_123_456).unwrap();
        assert_eq!(first.genesis_unix_ms, 1_700_000_123_000);
        assert_eq!(first.period_ms, 1000);
        let again = load_or_create(&path, 1000, 1_800_000_000_000).unwrap();
        assert_eq!(again.secret.public_key(), first.secret.public_key());
        assert_eq!(again.genesis_unix_ms, first.genesis_unix_ms);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // No leftovers beside the key file.
        let names: Vec<_> = fs::read_dir(dir.join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("beacon.key")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_changed_period_is_refused() {
        let dir = temp_dir("period");
        let path = dir.join("beacon.key");
        load_or_create(&path, 1000, 0).unwrap();
        let err = load_or_create(&path, 500, 0).unwrap_err().to_string();
        assert!(err.contains("period_ms = 1000"), "{err}");
        assert!(load_or_create(&dir.join("other.key"), 0, 0).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_files_are_refused_without_echoing_the_secret() {
        let dir = temp_dir("corrupt");
        let path = dir.join("beacon.key");
        let key = load_or_create(&path, 1000, 0).unwrap();
        let secret_hex = hex::encode(key.secret.to_bytes());
        let text = fs::read_to_string(&path).unwrap();
        assert!(!format!("{key:?}").contains(&secret_hex));

        // Another key's public key.
        let other = hex::encode(SecretKey::generate().unwrap().public_key());
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut swapped = doc.clone();
        swapped["public_key"] = other.into();
        fs::write(&path, swapped.to_string()).unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("does not match"), "{err}");

        // A mistyped field: the error gives a position, not the content.
        let mut mistyped = doc.clone();
        mistyped["period_ms"] = secret_hex.clone().into();
        fs::write(&path, mistyped.to_string()).unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(!err.contains(&secret_hex), "{err}");
        assert!(err.contains("line"), "{err}");

        fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(read(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn genesis_rounds_down_to_the_period() {
        let dir = temp_dir("genesis");
        let key = load_or_create(&dir.join("k"), 300, 1_000_299).unwrap();
        assert_eq!(key.genesis_unix_ms, 1_000_200);
        fs::remove_dir_all(&dir).unwrap();
    }
}
