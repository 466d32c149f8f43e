//! `vrsctl reissue`: a clerk replaces a lost or damaged certificate.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// LOST or DAMAGED.
    #[arg(long)]
    reason: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::ReissueCertificateRequest {
        application_id: args.application_id.clone(),
        reason_code: args.reason.clone(),
    };
    out!("{}", describe(&call(registry.reissue_certificate(req).await)?));
    Ok(())
}
