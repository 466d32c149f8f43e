//! `vrsctl audit-export`: audit a log export offline against pinned keys, so
//! the registry need not be up, or trusted, for the audit.

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The pinned trust file (from `vrsctl trust`, obtained independently).
    #[arg(long)]
    trust: String,
    /// The export written by `vrsctl export-log`.
    export: String,
    /// Commits whose round is older than this and that have no result are gaps.
    #[arg(long, default_value_t = 60)]
    grace_seconds: i64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    crate::audit::run_offline(&args.export, &args.trust, args.grace_seconds)
}
