//! `vrsctl token`: print the token vrsctl would send, for other tools such as
//! grpcurl. Offline: it is minted from the local issuer key, no server asked.

use crate::Cli;
use crate::credentials::credentials;
use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// How long the token is valid, in seconds; zero or negative mints one already expired (to test expiry).
    // Read by `credentials`, which mints the token.
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    pub(crate) ttl_seconds: i64,
}

pub(crate) fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    if args.ttl_seconds <= 0 && cli.token.is_none() {
        eprintln!(
            "warning: --ttl-seconds {} is not positive: the token is already expired",
            args.ttl_seconds
        );
    }
    outln!("{}", credentials(cli)?);
    Ok(())
}
