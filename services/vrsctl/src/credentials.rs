//! The token a call carries: the one given, or one minted from the local
//! issuer key so that local runs need no identity provider.

use std::path::PathBuf;

use clap::ValueEnum;
use vrs_kit::token::Role;

use crate::Cli;
use crate::cmd::Cmd;
use crate::local;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Portal,
    Clerk,
    Supervisor,
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Portal => Role::Portal,
            RoleArg::Clerk => Role::Clerk,
            RoleArg::Supervisor => Role::Supervisor,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

/// The token to send: given, or minted from the local issuer key.
pub(crate) fn credentials(cli: &Cli) -> anyhow::Result<String> {
    if let Some(t) = &cli.token {
        return Ok(t.trim().to_owned());
    }
    let role = cli.role.map(Role::from).unwrap_or_else(|| cli.cmd.usual_role());
    let ttl = match &cli.cmd {
        Cmd::Token(args) => args.ttl_seconds,
        _ => 300,
    };
    if role == Role::Clerk && cli.office.is_none() {
        anyhow::bail!("clerk commands need --office (or VRS_OFFICE), or a --token from the identity provider");
    }
    let path = issuer_key_file(cli)?;
    let seed = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "no --token given and cannot read the local issuer key {}: {e}",
            path.display()
        )
    })?;
    let seed: [u8; 32] = hex::decode(seed.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("{} does not hold a 32-byte key in hex", path.display()))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let subject = if role == Role::Portal {
        "portal"
    } else {
        cli.subject.as_str()
    };
    Ok(vrs_kit::token::mint(
        &key,
        &cli.issuer,
        subject,
        &[role],
        cli.office.as_deref().filter(|_| role == Role::Clerk),
        ttl,
    ))
}

/// `--issuer-key` as given, or else `var/token-issuer.key` in the working
/// directory or the nearest parent directory that has one.
fn issuer_key_file(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.issuer_key {
        Some(path) => Ok(PathBuf::from(path)),
        None => local::find(local::ISSUER_KEY_FILE).ok_or_else(|| {
            anyhow::anyhow!(
                "no --token given and {}: run vrsctl where vrs-stack runs (or below), or give --issuer-key",
                local::searched(local::ISSUER_KEY_FILE)
            )
        }),
    }
}
