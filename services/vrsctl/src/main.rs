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
//! issuer key that `vrs-stack` generates (`var/token-issuer.key`, looked for in
//! the working directory and then in each parent directory), in the role the
//! command needs: portal for citizen steps, clerk (with `--office`) for clerk
//! steps, supervisor or auditor for reads.
//!
//! Each command lives in its own module under `cmd/`; this file only parses,
//! connects and dispatches. Output to stdout goes through `output::outln!`
//! (never `println!`, which panics when stdout is closed early).

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
mod local;
mod output;

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
    /// Local runs: the issuer key (seed, 64 hex digits) that mints tokens when no --token is given.
    /// Default: var/token-issuer.key in the working directory or else in the nearest parent
    /// directory that has one, as vrs-stack writes it.
    #[arg(long, env = "VRS_ISSUER_KEY", global = true)]
    issuer_key: Option<String>,
    /// Local runs: the issuer named in minted tokens; the service accepts only its configured one.
    #[arg(long, env = "VRS_ISSUER", default_value = "vrs-local-issuer", global = true)]
    issuer: String,
    /// As the portal: the citizen acting (personal ID or tax code), as the portal's
    /// VNeID session knows them. Default: the dossier's owner.
    #[arg(long, env = "VRS_CITIZEN", global = true)]
    citizen: Option<String>,
    /// The CA file that signs the service's certificate (TLS), or `none` for plaintext. Default:
    /// var/tls/ca.pem in the working directory or else in the nearest parent directory that has
    /// one, as vrs-stack writes it; plaintext if there is none. A file given must exist.
    #[arg(long, env = "VRS_CA", global = true)]
    ca: Option<String>,
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
    if let Some(done) = cli.cmd.run_offline(cli) {
        return done;
    }
    let server = Server::connect(cli, || credentials::credentials(cli)).await?;
    cli.cmd.run(cli, &server).await.map_err(|e| server.explain(e))
}
