//! `vrsctl pay`: the payment platform confirms the certificate-and-plate fee.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
    /// The payment platform's reference of the payment.
    #[arg(long)]
    reference: String,
    /// Amount in VND; must equal the fee due shown by `get`.
    #[arg(long)]
    amount: u64,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::ConfirmPaymentRequest {
        application_id: args.application_id.clone(),
        payment_reference: args.reference.clone(),
        amount_vnd: args.amount,
    };
    out!("{}", describe(&call(registry.confirm_payment(req).await)?));
    Ok(())
}
