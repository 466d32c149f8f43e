//! `vrsctl issue`: a clerk issues the registration certificate.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::IssueCertificateRequest {
        application_id: args.application_id.clone(),
    };
    out!("{}", describe(&call(registry.issue_certificate(req).await)?));
    Ok(())
}
