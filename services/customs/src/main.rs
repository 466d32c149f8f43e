//! The customs agency stand-in: `customs [--config <file>]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vrs_kit::agency::run("customs", customs::build).await
}
