//! `vrsctl verify-receipt`: check receipts offline against a pinned trust
//! file, with no server and no network, as anyone holding a receipt can.

use crate::output::outln;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The pinned trust file (from `vrsctl trust`, obtained independently).
    #[arg(long)]
    trust: String,
    /// The receipt files (JSON), as `vrsctl draw` or `vrsctl receipt` saves them.
    receipts: Vec<String>,
}

/// Reports every receipt, then fails if any did not verify.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let Args { trust, receipts } = args;
    let trust: vrs_draw::receipt::Trust = serde_json::from_str(&std::fs::read_to_string(trust)?)?;
    trust
        .check()
        .map_err(|e| anyhow::anyhow!("the trust file is refused: {e}"))?;
    let mut failed = 0;
    for path in receipts {
        let outcome = std::fs::read_to_string(path)
            .map_err(anyhow::Error::from)
            .map(|t| vrs_draw::receipt::verify_json(&t, &trust));
        match outcome {
            Ok(Ok(v)) => outln!(
                "OK   {path}: plate {} from pool {}, round {}, candidate {} at index {} of the {} numbers the commit named, log size {}",
                v.plate,
                v.pool_id,
                v.round,
                v.attempts,
                v.index,
                v.available_count,
                v.checkpoint_size
            ),
            Ok(Err(e)) => {
                failed += 1;
                outln!("FAIL {path}: {e}");
            }
            Err(e) => {
                failed += 1;
                outln!("FAIL {path}: unreadable: {e}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} receipt(s) failed", receipts.len());
    Ok(())
}
