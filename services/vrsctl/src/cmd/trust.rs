//! `vrsctl trust`: what verifiers pin (log key, beacon keys), as the registry
//! serves it; a real audit obtains it independently too.

use tonic::transport::Channel;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::client::call;
use crate::output::outln;

pub(crate) async fn run(mut log: TransparencyLogServiceClient<Channel>) -> anyhow::Result<()> {
    outln!("{}", call(log.get_trust(pb::GetTrustRequest {}).await)?.json);
    Ok(())
}
