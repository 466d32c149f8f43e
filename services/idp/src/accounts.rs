//! Who can sign in: the accounts file, created at first start with the
//! local accounts and fresh random passwords, and the password check.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use vrs_kit::token::Role;

use crate::Account;
use vrs_kit::keys::same_secret;

#[derive(Deserialize)]
struct AccountsFile {
    #[serde(default)]
    accounts: Vec<Account>,
}

/// The local accounts: a clerk in each of three offices, a supervisor and an
/// auditor, as the registration service's roles need them.
fn defaults() -> anyhow::Result<Vec<Account>> {
    let people: [(&str, &str, Role, Option<&str>); 5] = [
        ("clerk-30", "Nguyễn Văn An", Role::Clerk, Some("PC-30")),
        ("clerk-60", "Trần Thị Bình", Role::Clerk, Some("PC-60")),
        ("clerk-29", "Lê Minh Châu", Role::Clerk, Some("PC-29")),
        ("supervisor", "Phạm Quốc Dũng", Role::Supervisor, None),
        ("auditor", "Hoàng Thu Hà", Role::Auditor, None),
    ];
    people
        .into_iter()
        .map(|(username, name, role, office)| {
            Ok(Account {
                username: username.into(),
                password: random_password()?,
                name: name.into(),
                roles: vec![role],
                office: office.map(str::to_owned),
            })
        })
        .collect()
}

/// 16 random bytes, base64url: 128 bits, nothing to guess, short enough to type.
fn random_password() -> anyhow::Result<String> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&vrs_kit::keys::random_seed()?[..16]))
}

/// Reads the accounts file, or creates it (mode 0600) with the default
/// accounts when it does not exist. Only its path and the user names are
/// logged: the passwords are read from the file.
pub fn load_or_create(path: &Path) -> anyhow::Result<Vec<Account>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).with_context(|| format!("accounts file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(e).with_context(|| format!("reading accounts file {}", path.display())),
    }
}

fn parse(text: &str) -> anyhow::Result<Vec<Account>> {
    let file: AccountsFile = toml::from_str(text)?;
    Ok(file.accounts)
}

fn create(path: &Path) -> anyhow::Result<Vec<Account>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let accounts = defaults()?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = match opts.open(path) {
        Ok(f) => f,
        // Another replica wrote it first: theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)?;
            return parse(&text).with_context(|| format!("accounts file {}", path.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("creating accounts file {}", path.display())),
    };
    f.write_all(render(&accounts).as_bytes())?;
    f.sync_all()?;
    let usernames: Vec<&str> = accounts.iter().map(|a| a.username.as_str()).collect();
    tracing::info!(
        path = %path.display(),
        usernames = %usernames.join(", "),
        "accounts file created; the passwords are in it"
    );
    Ok(accounts)
}

/// The accounts as TOML (written by hand: the workspace's `toml` parses only).
fn render(accounts: &[Account]) -> String {
    let mut out = String::from(
        "# Sign-in accounts of the identity provider stand-in (vrs-idp), generated at\n\
         # first start. Private (mode 0600): never commit it.\n",
    );
    for a in accounts {
        let roles: Vec<String> = a.roles.iter().map(|r| toml_string(r.as_str())).collect();
        out.push_str("\n[[accounts]]\n");
        out.push_str(&format!("username = {}\n", toml_string(&a.username)));
        out.push_str(&format!("password = {}\n", toml_string(&a.password)));
        out.push_str(&format!("name = {}\n", toml_string(&a.name)));
        out.push_str(&format!("roles = [{}]\n", roles.join(", ")));
        if let Some(office) = &a.office {
            out.push_str(&format!("office = {}\n", toml_string(office)));
        }
    }
    out
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Accounts that can sign in and whose tokens the registration service
/// accepts: names unique, a password each, an office for every clerk.
pub fn check(accounts: &[Account]) -> anyhow::Result<()> {
    anyhow::ensure!(!accounts.is_empty(), "no accounts");
    for (i, a) in accounts.iter().enumerate() {
        anyhow::ensure!(!a.username.is_empty(), "accounts[{i}] has no username");
        if accounts[..i].iter().any(|o| o.username == a.username) {
            bail!("account {} is listed twice", a.username);
        }
        anyhow::ensure!(!a.password.is_empty(), "account {} has no password", a.username);
        anyhow::ensure!(!a.roles.is_empty(), "account {} has no role", a.username);
        if a.roles.contains(&Role::Clerk) && a.office.as_deref().is_none_or(str::is_empty) {
            bail!("account {} is a clerk without an office", a.username);
        }
    }
    Ok(())
}

/// The index of the account with this name and password. Every password
/// comparison takes the same time, and an unknown name costs one too, so
/// neither the time nor the answer tells which names exist.
pub fn find(accounts: &[Account], username: &str, password: &str) -> Option<usize> {
    match accounts.iter().position(|a| a.username == username) {
        Some(i) => accounts
            .get(i)
            .is_some_and(|a| same_secret(password, &a.password))
            .then_some(i),
        None => {
            std::hint::black_box(same_secret(password, "no such account"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_file_reads_back() {
        let mut accounts = defaults().expect("accounts");
        accounts[0].name = "Quote \" and \\ and \u{7}".into();
        let back = parse(&render(&accounts)).expect("TOML");
        assert_eq!(back.len(), 5);
        for (a, b) in accounts.iter().zip(&back) {
            assert_eq!(
                (&a.username, &a.password, &a.name, &a.roles, &a.office),
                (&b.username, &b.password, &b.name, &b.roles, &b.office)
            );
        }
        check(&back).expect("valid accounts");
        assert_eq!(back[3].office, None);
        assert_eq!(back[1].name, "Trần Thị Bình");
    }

    #[test]
    fn a_clerk_needs_an_office() {
        let mut accounts = defaults().expect("accounts");
        accounts[0].office = None;
        assert!(check(&accounts).is_err());
    }

    #[test]
    fn only_the_right_password_signs_in() {
        let accounts = defaults().expect("accounts");
        let pw = accounts[1].password.clone();
        assert_eq!(find(&accounts, "clerk-60", &pw), Some(1));
        assert_eq!(find(&accounts, "clerk-30", &pw), None);
        assert_eq!(find(&accounts, "nobody", &pw), None);
    }
}
