//! Key files: generated at first start, never committed (in Kubernetes, Secrets).

use std::path::Path;

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
        match std::fs::read_to_string(path) {
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
            Err(e) => return Err(e.into()),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    anyhow::bail!("{} stays empty", path.display())
}
