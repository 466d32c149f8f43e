//! `vrsctl receipt`: fetch a drawn plate's receipt from the log.

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use vrs_kit::token::Bearer;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::client::call;
use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// Write the receipt to this file instead of printing it.
    #[arg(long)]
    out: Option<String>,
}

/// Prints the receipt's JSON as served, or writes it to `--out`.
pub(crate) async fn run(
    mut log: TransparencyLogServiceClient<InterceptedService<Channel, Bearer>>,
    args: &Args,
) -> anyhow::Result<()> {
    let req = pb::GetReceiptRequest {
        application_id: args.application_id.clone(),
    };
    let r = call(log.get_receipt(req).await)?;
    match &args.out {
        Some(path) => std::fs::write(path, r.json)?,
        None => outln!("{}", r.json),
    }
    Ok(())
}
