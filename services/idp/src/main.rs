//! `vrs-idp`: the stand-in for the police identity provider (see the library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = vrs_kit::telemetry::init("vrs-idp");
    let file = vrs_kit::config::file_from_args()?;
    let cfg: idp::Config = vrs_kit::config::load("idp", file.as_deref())?;
    let provider = idp::Provider::build(&cfg).await?;
    tracing::info!(url = %provider.issuer_url(), clients = cfg.clients.len(), "identity provider ready");
    provider.serve(vrs_kit::shutdown::on_signal()).await
}
