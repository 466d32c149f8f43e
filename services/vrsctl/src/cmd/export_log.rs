//! `vrsctl export-log`: save the registry's log, so it can be audited offline
//! with `audit-export`.

use tonic::transport::Channel;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The file to write the export (JSON) to.
    #[arg(long)]
    out: String,
}

pub(crate) async fn run(log: TransparencyLogServiceClient<Channel>, args: &Args) -> anyhow::Result<()> {
    crate::audit::export(log, &args.out).await
}
