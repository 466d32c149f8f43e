//! `vrsctl actions`: everything one actor did, newest first.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::state_name;
use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The actor, as recorded in history (a clerk's --subject, or `portal`).
    actor: String,
    /// At most this many actions.
    #[arg(long, default_value_t = 50)]
    page_size: u32,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::ListActionsRequest {
        actor: args.actor.clone(),
        page_size: args.page_size,
        page_token: String::new(),
    };
    let r = call(registry.list_actions(req).await)?;
    for a in &r.actions {
        let c = a.change.clone().unwrap_or_default();
        outln!(
            "{}  {}  {} → {}  {}  {}",
            c.at,
            a.application_id,
            state_name(c.from_state()),
            state_name(c.to_state()),
            c.reason_code,
            c.note
        );
    }
    outln!("{} action(s)", r.actions.len());
    Ok(())
}
