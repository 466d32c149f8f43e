//! `vrsctl`: the registration service from the command line.
//!
//! ```text
//! vrsctl sample --case clean                     # a declaration from the seeded data set
//! vrsctl submit --sample clean --dossier G01.000001
//! vrsctl get <application-id> --wait             # until the lookups settle
//! vrsctl queue --office HN-PC08 --state verified
//! vrsctl --office HN-PC08 approve <id>          # as a clerk of that office
//! ```
//!
//! Credentials: `--token` (or `VRS_TOKEN`) sends a token from the identity
//! provider. Without one, vrsctl mints a short-lived token from the local
//! issuer key that `vrs-stack` generates (`var/token-issuer.key`), in the role
//! the command needs: portal for citizen steps, clerk (with `--office`) for
//! clerk steps, supervisor or auditor for reads.
//!
//! Each command lives in its own module under `cmd/`; this file only parses,
//! connects and dispatches.

// A command-line tool: printing to stdout is its output.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::Parser;

use crate::client::Server;
use crate::cmd::Cmd;
use crate::credentials::RoleArg;

mod audit;
mod client;
mod cmd;
mod credentials;
mod describe;

#[derive(Parser)]
#[command(name = "vrsctl", version, about = "Vehicle registration service client")]
struct Cli {
    /// Registration service address.
    #[arg(long, env = "VRS_ADDR", default_value = "http://127.0.0.1:50051", global = true)]
    addr: String,
    /// A caller token from the identity provider.
    #[arg(long, env = "VRS_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Local runs: act in this role instead of the command's usual one.
    #[arg(long = "as", value_enum, global = true)]
    role: Option<RoleArg>,
    /// Local runs: the clerk's office (clerk commands need it).
    #[arg(long, env = "VRS_OFFICE", global = true)]
    office: Option<String>,
    /// Local runs: who you are, as recorded in history.
    #[arg(long, env = "VRS_SUBJECT", default_value = "clerk-local", global = true)]
    subject: String,
    /// Local runs: the issuer seed that mints tokens, and its name.
    #[arg(long, env = "VRS_ISSUER_KEY", default_value = "var/token-issuer.key", global = true)]
    issuer_key: String,
    #[arg(long, env = "VRS_ISSUER", default_value = "vrs-local-issuer", global = true)]
    issuer: String,
    /// As the portal: the citizen acting (personal ID or tax code), as the portal's
    /// VNeID session knows them. Default: the dossier's owner.
    #[arg(long, env = "VRS_CITIZEN", global = true)]
    citizen: Option<String>,
    /// The CA that signs the service's certificate (TLS); `none` for plaintext.
    #[arg(long, env = "VRS_CA", default_value = "var/tls/ca.pem", global = true)]
    ca: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Offline commands run first, so that they work with no server up.
async fn run(cli: &Cli) -> anyhow::Result<()> {
    if let Some(done) = cli.cmd.run_offline() {
        return done;
    }
    let server = Server::connect(cli, || credentials::credentials(cli)).await?;
    cli.cmd.run(cli, &server).await
}
