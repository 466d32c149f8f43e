//! `registration`: serves the registration gRPC API.
//!
//! Usage: `registration [--config FILE] [--migrate-only]`; see `Config` for the environment variables.

use registration::app::Application;
use registration::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = vrs_kit::telemetry::init("registration");
    let (config_file, flags) = vrs_kit::config::file_and_flags_from_args(&["--migrate-only"])?;
    let cfg = Config::load(config_file.as_deref())?;
    if flags.iter().any(|f| f == "--migrate-only") {
        // For a deployment's migration Job: schema changes run once, before the rollout.
        registration::store::migrate(&cfg.database.url).await?;
        tracing::info!("database migrated");
        return Ok(());
    }
    let app = Application::build(&cfg).await?;
    app.run(vrs_kit::shutdown::on_signal()).await
}
