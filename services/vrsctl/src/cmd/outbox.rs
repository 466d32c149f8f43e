//! `vrsctl outbox`: the status changes waiting to reach the portal, for a
//! supervisor to see stuck deliveries (the oldest 20 dead letters, each with
//! the portal's answer) and put dead letters back.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Put dead letters back in the queue.
    #[arg(long)]
    retry_dead: bool,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    if args.retry_dead {
        let r = call(registry.retry_dead_letters(pb::RetryDeadLettersRequest {}).await)?;
        outln!("{} dead letter(s) requeued", r.requeued);
    }
    let s = call(
        registry
            .get_outbox_status(pb::GetOutboxStatusRequest { dead_letters: 20 })
            .await,
    )?;
    outln!(
        "pending {}  dead {}  delivered {}  oldest pending {} ms",
        s.pending,
        s.dead,
        s.delivered,
        s.oldest_pending_age_ms
    );
    for d in &s.dead_letters {
        outln!(
            "dead  {}  {} #{}  {} {}  {} attempt(s): {}",
            d.at,
            d.application_id,
            d.seq,
            d.status,
            d.reason_code,
            d.attempts,
            d.last_error
        );
    }
    Ok(())
}
