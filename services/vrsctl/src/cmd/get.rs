//! `vrsctl get`: one application with its history and evidence.

use std::time::Duration;

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// Poll until the application leaves SUBMITTED / AWAITING_AGENCY (up to 120 s).
    #[arg(long)]
    wait: bool,
}

/// With `--wait`, polls until the agency lookups settle: a fresh application
/// is still SUBMITTED or AWAITING_AGENCY for a while.
pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let req = pb::GetApplicationRequest {
            application_id: args.application_id.clone(),
        };
        let app = call(registry.get_application(req).await)?;
        let pending = matches!(
            app.state(),
            pb::ApplicationState::Submitted | pb::ApplicationState::AwaitingAgency
        );
        if !args.wait || !pending || tokio::time::Instant::now() > deadline {
            out!("{}", describe(&app));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}
