//! `vrsctl revoke-access`: a supervisor revokes one token (by its id) or every
//! token of a clerk issued so far; every replica refuses them within seconds.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The token's id (its `jti` claim).
    #[arg(long, required_unless_present = "subject", conflicts_with = "subject")]
    token_id: Option<String>,
    /// A subject (`sub`): every token of it issued up to now.
    #[arg(long)]
    subject: Option<String>,
    /// Why, kept with the revocation.
    #[arg(long, default_value = "")]
    reason: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::RevokeAccessRequest {
        token_id: args.token_id.clone().unwrap_or_default(),
        subject: args.subject.clone().unwrap_or_default(),
        reason: args.reason.clone(),
    };
    let r = call(registry.revoke_access(req).await)?;
    outln!(
        "revoked; tokens issued at or before {} (Unix seconds) are refused",
        r.revoked_at
    );
    Ok(())
}
