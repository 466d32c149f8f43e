//! `vrs-transparency`: the public draw-transparency site (see the library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = vrs_kit::telemetry::init("vrs-transparency");
    let file = vrs_kit::config::file_from_args()?;
    let cfg: transparency::Config = vrs_kit::config::load("transparency", file.as_deref())?;
    let site = transparency::Site::build(&cfg).await?;
    tracing::info!(url = %format!("http://{}", site.local_addr()), registration = %cfg.registration_url, "transparency site ready");
    site.serve(vrs_kit::shutdown::on_signal()).await
}
