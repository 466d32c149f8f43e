//! The files `vrs-stack` writes under `var/` of the directory it runs in,
//! found from that directory or any directory below it (so vrsctl works from
//! anywhere in the checkout where the stack runs).

use std::path::PathBuf;

/// The local CA, which signs the certificate of every service of the stack.
pub(crate) const CA_FILE: &str = "var/tls/ca.pem";
/// The seed of the local token issuer.
pub(crate) const ISSUER_KEY_FILE: &str = "var/token-issuer.key";

/// `rel` in the working directory, or else in the nearest parent directory that has it.
pub(crate) fn find(rel: &str) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|dir| dir.join(rel)).find(|path| path.is_file())
}

/// Where [`find`] looked, for a message saying it found nothing.
pub(crate) fn searched(rel: &str) -> String {
    match std::env::current_dir() {
        Ok(cwd) => format!("no {rel} in {} or any parent directory", cwd.display()),
        Err(_) => format!("no {rel} (the working directory is unreadable)"),
    }
}
