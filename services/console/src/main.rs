//! `vrs-console`: the clerks' console (see the library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = vrs_kit::telemetry::init("vrs-console");
    let file = vrs_kit::config::file_from_args()?;
    let cfg: console::Config = vrs_kit::config::load("console", file.as_deref())?;
    let console = console::Console::build(&cfg).await?;
    tracing::info!(url = %console.public_url(), registration = %cfg.registration_url, provider = %cfg.oidc.issuer_url, "clerks' console ready");
    console.serve(vrs_kit::shutdown::on_signal()).await
}
