//! `vrsctl check`: a clerk records the chassis and engine numbers as read on
//! the vehicle itself.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// The chassis number (VIN) as read on the vehicle.
    #[arg(long)]
    chassis: String,
    /// The engine number as read on the vehicle.
    #[arg(long)]
    engine: String,
    /// A free-text note recorded in the history.
    #[arg(long, default_value = "")]
    note: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::RecordPhysicalCheckRequest {
        application_id: args.application_id.clone(),
        chassis_number: args.chassis.clone(),
        engine_number: args.engine.clone(),
        note: args.note.clone(),
    };
    out!("{}", describe(&call(registry.record_physical_check(req).await)?));
    Ok(())
}
