//! `vrsctl reject`: a clerk rejects a dossier with a reason code.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// The reason code, e.g. DOCUMENTS_FORGED or VEHICLE_NOT_PRESENTED.
    #[arg(long)]
    reason: String,
    /// A free-text note recorded in the history.
    #[arg(long, default_value = "")]
    note: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::RejectApplicationRequest {
        application_id: args.application_id.clone(),
        reason_code: args.reason.clone(),
        note: args.note.clone(),
    };
    let app = call(registry.reject_application(req).await)?;
    out!("{}", describe(&app));
    Ok(())
}
