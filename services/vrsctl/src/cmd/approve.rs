//! `vrsctl approve`: a clerk approves a dossier.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// A free-text note recorded in the history.
    #[arg(long, default_value = "")]
    note: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::ApproveApplicationRequest {
        application_id: args.application_id.clone(),
        note: args.note.clone(),
    };
    let app = call(registry.approve_application(req).await)?;
    out!("{}", describe(&app));
    Ok(())
}
