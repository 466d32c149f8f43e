//! One module per subcommand, each with its arguments and its `run`.

use clap::Subcommand;
use vrs_kit::token::Role;

use crate::Cli;
use crate::client::Server;

mod actions;
mod approve;
mod audit;
mod audit_export;
mod check;
mod deliver;
mod draw;
mod export_log;
mod get;
mod inspect;
mod issue;
mod outbox;
mod pay;
mod queue;
mod receipt;
mod reissue;
mod reject;
mod revoke;
mod revoke_access;
mod sample;
mod submit;
mod token;
mod trust;
mod verify_receipt;
mod withdraw;

// The order of the variants is the order of `vrsctl --help`.
#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Print a declaration from the seeded agency data set (what a citizen would file).
    Sample(sample::Args),
    /// File an application (form ĐKX10).
    Submit(Box<submit::Args>),
    /// Show one application with its history and evidence.
    Get(get::Args),
    /// An office's work queue, oldest first (the office is the global --office).
    Queue(queue::Args),
    /// Approve a dossier (clerk).
    Approve(approve::Args),
    /// The dossier beside what identity, customs or Vietnam Register, and tax hold now (clerk).
    Inspect(inspect::Args),
    /// Record the physical check of chassis and engine numbers as read on the vehicle (clerk).
    Check(check::Args),
    /// Everything one actor did, newest first (supervisor, auditor; a clerk for themself).
    Actions(actions::Args),
    /// The portal outbox: pending, dead-lettered and delivered status changes (supervisor).
    Outbox(outbox::Args),
    /// Revoke a token by its id, or every token of a clerk issued so far (supervisor).
    RevokeAccess(revoke_access::Args),
    /// Print a token for the chosen role (local runs), e.g. for grpcurl.
    Token(token::Args),
    /// Reject a dossier with a reason code (clerk).
    Reject(reject::Args),
    /// Withdraw an application (citizen).
    Withdraw(withdraw::Args),
    /// Get the application its plate: a retained plate, or a verifiable draw.
    Draw(draw::Args),
    /// Replace a lost or damaged certificate: a new number, the old one void (clerk).
    Reissue(reissue::Args),
    /// End a registration (sold, scrapped): its plate goes into the owner's five-year retention (clerk).
    Revoke(revoke::Args),
    /// Fetch a drawn plate's receipt.
    Receipt(receipt::Args),
    /// Print what verifiers pin (log key, beacon keys) as JSON.
    Trust,
    /// Verify receipts offline: no server, no network.
    VerifyReceipt(verify_receipt::Args),
    /// Confirm the certificate-and-plate fee (the payment platform).
    Pay(pay::Args),
    /// Issue the registration certificate (clerk).
    Issue(issue::Args),
    /// Confirm delivery of certificate and plates (the post, through the portal).
    Deliver(deliver::Args),
    /// Save the registry's log (entries and signed checkpoint) to a file.
    ExportLog(export_log::Args),
    /// Audit a log export offline against pinned keys.
    AuditExport(audit_export::Args),
    /// Replay the whole log of a running registry and report every finding.
    Audit(audit::Args),
}

impl Cmd {
    /// The role a command is normally run in.
    pub(crate) fn usual_role(&self) -> Role {
        match self {
            Cmd::Approve(_)
            | Cmd::Reject(_)
            | Cmd::Issue(_)
            | Cmd::Reissue(_)
            | Cmd::Inspect(_)
            | Cmd::Check(_)
            | Cmd::Revoke(_)
            | Cmd::Queue(_) => Role::Clerk,
            Cmd::Actions(_) | Cmd::Outbox(_) | Cmd::RevokeAccess(_) => Role::Supervisor,
            Cmd::Receipt(_) => Role::Auditor,
            _ => Role::Portal,
        }
    }

    /// Commands that only read the public log, so they send no token.
    pub(crate) fn reads_public_log(&self) -> bool {
        matches!(self, Cmd::Trust | Cmd::Audit(_) | Cmd::ExportLog(_))
    }

    /// Runs the commands that need no server (local files, the seeded data
    /// set, tokens minted from the local issuer key); `None` for the others.
    pub(crate) fn run_offline(&self, cli: &Cli) -> Option<anyhow::Result<()>> {
        match self {
            Cmd::Sample(args) => Some(sample::run(args)),
            Cmd::Token(args) => Some(token::run(cli, args)),
            Cmd::VerifyReceipt(args) => Some(verify_receipt::run(args)),
            Cmd::AuditExport(args) => Some(audit_export::run(args)),
            _ => None,
        }
    }

    /// Runs a command against the connected service.
    pub(crate) async fn run(&self, cli: &Cli, server: &Server) -> anyhow::Result<()> {
        let citizen = cli.citizen.as_deref();
        match self {
            Cmd::Submit(args) => submit::run(server.registry(), citizen, args).await,
            Cmd::Get(args) => get::run(server.registry(), args).await,
            Cmd::Queue(args) => queue::run(server.registry(), cli.office.as_deref(), args).await,
            Cmd::Approve(args) => approve::run(server.registry(), args).await,
            Cmd::Inspect(args) => inspect::run(server.registry(), args).await,
            Cmd::Check(args) => check::run(server.registry(), args).await,
            Cmd::Actions(args) => actions::run(server.registry(), args).await,
            Cmd::Outbox(args) => outbox::run(server.registry(), args).await,
            Cmd::RevokeAccess(args) => revoke_access::run(server.registry(), args).await,
            Cmd::Reject(args) => reject::run(server.registry(), args).await,
            Cmd::Withdraw(args) => withdraw::run(server.registry(), citizen, args).await,
            Cmd::Draw(args) => draw::run(server.registry(), citizen, args).await,
            Cmd::Reissue(args) => reissue::run(server.registry(), args).await,
            Cmd::Revoke(args) => revoke::run(server.registry(), args).await,
            Cmd::Receipt(args) => receipt::run(server.log(), args).await,
            Cmd::Trust => trust::run(server.public_log()).await,
            Cmd::Pay(args) => pay::run(server.registry(), args).await,
            Cmd::Issue(args) => issue::run(server.registry(), args).await,
            Cmd::Deliver(args) => deliver::run(server.registry(), args).await,
            Cmd::ExportLog(args) => export_log::run(server.public_log(), args).await,
            Cmd::Audit(args) => audit::run(server.public_log(), args).await,
            // `run_offline` ran these, without a connection.
            Cmd::Sample(_) | Cmd::Token(_) | Cmd::VerifyReceipt(_) | Cmd::AuditExport(_) => Ok(()),
        }
    }
}
