//! `vrsctl queue`: an office's work queue, oldest first.

use clap::ValueEnum;
use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::state_name;
use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only these states (repeatable), e.g. verified, needs-correction.
    #[arg(long = "state", value_enum)]
    states: Vec<StateArg>,
    /// Applications per page.
    #[arg(long, default_value_t = 50)]
    page_size: u32,
    /// Follow page tokens to the end of the queue.
    #[arg(long)]
    all: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum StateArg {
    Submitted,
    AwaitingAgency,
    Verified,
    NeedsCorrection,
    Rejected,
    Approved,
    PlateAssigned,
    FeePaid,
    Issued,
    Delivered,
    Withdrawn,
    Deregistered,
}

impl From<StateArg> for pb::ApplicationState {
    fn from(s: StateArg) -> Self {
        use pb::ApplicationState as P;
        match s {
            StateArg::Submitted => P::Submitted,
            StateArg::AwaitingAgency => P::AwaitingAgency,
            StateArg::Verified => P::Verified,
            StateArg::NeedsCorrection => P::NeedsCorrection,
            StateArg::Rejected => P::Rejected,
            StateArg::Approved => P::Approved,
            StateArg::PlateAssigned => P::PlateAssigned,
            StateArg::FeePaid => P::FeePaid,
            StateArg::Issued => P::Issued,
            StateArg::Delivered => P::Delivered,
            StateArg::Withdrawn => P::Withdrawn,
            StateArg::Deregistered => P::Deregistered,
        }
    }
}

/// The office is the global `--office`, the same one a clerk's token names.
/// One page unless `--all`, so a long queue does not scroll past unasked.
pub(crate) async fn run(mut registry: Registry, office: Option<&str>, args: &Args) -> anyhow::Result<()> {
    let states: Vec<i32> = args
        .states
        .iter()
        .map(|&s| pb::ApplicationState::from(s) as i32)
        .collect();
    let mut token = String::new();
    let mut total = 0usize;
    loop {
        let req = pb::ListApplicationsRequest {
            office_code: office.unwrap_or_default().to_owned(),
            states: states.clone(),
            page_size: args.page_size,
            page_token: token.clone(),
            with_counts: false,
        };
        let page = call(registry.list_applications(req).await)?;
        for a in &page.applications {
            outln!(
                "{}  {:<17} {:<18} {}  {}",
                a.created_at,
                a.dossier_code,
                state_name(a.state()),
                a.application_id,
                a.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(",")
            );
        }
        total += page.applications.len();
        token = page.next_page_token;
        if token.is_empty() || !args.all {
            if !token.is_empty() {
                outln!("… more: --all to follow the queue to its end");
            }
            break;
        }
    }
    outln!("{total} application(s)");
    Ok(())
}
