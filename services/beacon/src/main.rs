//! The local randomness beacon: `beacon [--config <file>]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = vrs_kit::telemetry::init("beacon");
    let path = vrs_kit::config::file_from_args()?;
    let cfg: beacon::Config = vrs_kit::config::load("beacon", path.as_deref())?;
    let server = beacon::build(&cfg).await?;
    server.serve(vrs_kit::shutdown::on_signal()).await
}
