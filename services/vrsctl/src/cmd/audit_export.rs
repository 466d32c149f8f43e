//! `vrsctl audit-export`: audit a log export offline against pinned keys, so
//! the registry need not be up, or trusted, for the audit.

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(long)]
    trust: String,
    export: String,
    #[arg(long, default_value_t = 60)]
    grace_seconds: i64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    crate::audit::run_offline(&args.export, &args.trust, args.grace_seconds)
}
