//! `vrsctl token`: print the token vrsctl would send, for other tools such as
//! grpcurl.

use crate::Cli;
use crate::credentials::credentials;

#[derive(clap::Args)]
pub(crate) struct Args {
    // Read by `credentials`, which mints the token.
    #[arg(long, default_value_t = 3600)]
    pub(crate) ttl_seconds: i64,
}

pub(crate) fn run(cli: &Cli) -> anyhow::Result<()> {
    println!("{}", credentials(cli)?);
    Ok(())
}
