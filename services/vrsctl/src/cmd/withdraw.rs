//! `vrsctl withdraw`: the citizen withdraws their application, through the portal.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, acting_citizen, as_citizen, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// A free-text note recorded in the history.
    #[arg(long, default_value = "")]
    note: String,
}

/// Acts for `--citizen`, or else for the application's owner.
pub(crate) async fn run(mut registry: Registry, citizen: Option<&str>, args: &Args) -> anyhow::Result<()> {
    let who = acting_citizen(&mut registry, citizen, &args.application_id).await?;
    let req = pb::WithdrawApplicationRequest {
        application_id: args.application_id.clone(),
        note: args.note.clone(),
    };
    let app = call(registry.withdraw_application(as_citizen(req, &who)?).await)?;
    out!("{}", describe(&app));
    Ok(())
}
