//! The identity agency stand-in: `identity [--config <file>]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vrs_kit::agency::run("identity", identity::build).await
}
