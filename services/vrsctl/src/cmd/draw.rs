//! `vrsctl draw`: get the application its plate, a retained one or a draw, and
//! keep the draw's receipt so it can be checked offline later.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, acting_citizen, as_citizen, call};
use crate::describe::describe;
use crate::output::{out, outln};

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// Where to save the receipt (default: receipt-<plate>.json).
    #[arg(long)]
    receipt_out: Option<String>,
}

/// Acts for `--citizen`, or else for the application's owner.
pub(crate) async fn run(mut registry: Registry, citizen: Option<&str>, args: &Args) -> anyhow::Result<()> {
    let who = acting_citizen(&mut registry, citizen, &args.application_id).await?;
    let req = pb::DrawPlateRequest {
        application_id: args.application_id.clone(),
    };
    let r = call(registry.draw_plate(as_citizen(req, &who)?).await)?;
    outln!("plate       {} ({})", r.plate, r.method);
    if let Some(receipt) = r.receipt {
        let path = args
            .receipt_out
            .clone()
            .unwrap_or_else(|| format!("receipt-{}.json", r.plate.replace([' ', '.'], "-")));
        std::fs::write(&path, receipt.json)?;
        outln!("receipt     {path}  (check it offline: vrsctl verify-receipt --trust trust.json {path})");
    }
    if let Some(app) = r.application {
        out!("{}", describe(&app));
    }
    Ok(())
}
