//! The tax agency (registration fees) stand-in: `tax [--config <file>]`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vrs_kit::agency::run("tax", tax::build).await
}
