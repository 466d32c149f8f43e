//! `registration`: serves the registration gRPC API.
//!
//! Usage: `registration [--config FILE]`; see `Config` for the environment variables.

use registration::app::Application;
use registration::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vrs_kit::telemetry::init("registration");
    let config_file = vrs_kit::config::file_from_args()?;
    let cfg = Config::load(config_file.as_deref())?;
    let app = Application::build(&cfg).await?;
    app.run(vrs_kit::shutdown::on_signal()).await
}
