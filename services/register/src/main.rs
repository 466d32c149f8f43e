//! The Vietnam Register stand-in: `register [--config <file>]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vrs_kit::agency::run("register", register::build).await
}
