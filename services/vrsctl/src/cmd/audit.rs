//! `vrsctl audit`: replay the whole log of a running registry; the replay
//! itself is `crate::audit`, shared with `export-log` and `audit-export`.

use tonic::transport::Channel;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Pinned trust file; without it the registry's own is used (and said so).
    #[arg(long)]
    trust: Option<String>,
    /// Keeps the last audited checkpoint: the next audit proves the log only grew.
    #[arg(long)]
    state: Option<String>,
    /// Commits whose round is older than this and that have no result are gaps.
    #[arg(long, default_value_t = 60)]
    grace_seconds: i64,
}

pub(crate) async fn run(log: TransparencyLogServiceClient<Channel>, args: &Args) -> anyhow::Result<()> {
    crate::audit::run(log, args.trust.as_deref(), args.state.as_deref(), args.grace_seconds).await
}
