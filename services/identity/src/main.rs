//! The identity agency stand-in: `identity [--config <file>]`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use vrs_kit::world::World;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vrs_kit::telemetry::init("identity");
    let path = config_path(std::env::args().skip(1))?;
    let cfg: identity::Config = vrs_kit::config::load("identity", path.as_deref())?;
    let (server, _faults) = identity::build(&cfg, World::standard()).await?;
    server.serve(vrs_kit::shutdown::on_signal()).await
}

/// The optional `--config <file>` (or `--config=<file>`) argument.
fn config_path(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<PathBuf>> {
    let mut path = None;
    while let Some(arg) = args.next() {
        if arg == "--config" {
            path = Some(PathBuf::from(args.next().context("--config needs a file")?));
        } else if let Some(file) = arg.strip_prefix("--config=") {
            path = Some(PathBuf::from(file));
        } else {
            bail!("unexpected argument {arg:?}; usage: identity [--config <file>]");
        }
    }
    Ok(path)
}
