//! `vrsctl revoke`: a clerk ends a registration; the plate goes into its
//! owner's five-year retention.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// OWNERSHIP_TRANSFER or SCRAPPED.
    #[arg(long)]
    reason: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::RevokePlateRequest {
        application_id: args.application_id.clone(),
        reason_code: args.reason.clone(),
    };
    let r = call(registry.revoke_plate(req).await)?;
    outln!(
        "registration ended; plate {} is in its owner's five-year retention",
        r.plate
    );
    Ok(())
}
