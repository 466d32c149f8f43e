//! `vrsctl`: the registration service from the command line.
//!
//! ```text
//! vrsctl sample --case clean                     # a declaration from the seeded data set
//! vrsctl submit --sample clean --dossier G01.000001
//! vrsctl get <application-id> --wait             # until the lookups settle
//! vrsctl queue --office HN-PC08 --state verified
//! vrsctl --office HN-PC08 approve <id>          # as a clerk of that office
//! ```
//!
//! Credentials: `--token` (or `VRS_TOKEN`) sends a token from the identity
//! provider. Without one, vrsctl mints a short-lived token from the local
//! issuer key that `vrs-stack` generates (`var/token-issuer.key`), in the role
//! the command needs: portal for citizen steps, clerk (with `--office`) for
//! clerk steps, supervisor or auditor for reads.

// A command-line tool: printing to stdout is its output.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tonic_types::StatusExt;
use vrs_kit::token::{Bearer, Role};
use vrs_kit::world::{Case, World};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

mod audit;

#[derive(Parser)]
#[command(name = "vrsctl", version, about = "Vehicle registration service client")]
struct Cli {
    /// Registration service address.
    #[arg(long, env = "VRS_ADDR", default_value = "http://127.0.0.1:50051", global = true)]
    addr: String,
    /// A caller token from the identity provider.
    #[arg(long, env = "VRS_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Local runs: act in this role instead of the command's usual one.
    #[arg(long = "as", value_enum, global = true)]
    role: Option<RoleArg>,
    /// Local runs: the clerk's office (clerk commands need it).
    #[arg(long, env = "VRS_OFFICE", global = true)]
    office: Option<String>,
    /// Local runs: who you are, as recorded in history.
    #[arg(long, env = "VRS_SUBJECT", default_value = "clerk-local", global = true)]
    subject: String,
    /// Local runs: the issuer seed that mints tokens, and its name.
    #[arg(long, env = "VRS_ISSUER_KEY", default_value = "var/token-issuer.key", global = true)]
    issuer_key: String,
    #[arg(long, env = "VRS_ISSUER", default_value = "vrs-local-issuer", global = true)]
    issuer: String,
    /// As the portal: the citizen acting (personal ID or tax code), as the portal's
    /// VNeID session knows them. Default: the dossier's owner.
    #[arg(long, env = "VRS_CITIZEN", global = true)]
    citizen: Option<String>,
    /// The CA that signs the service's certificate (TLS); `none` for plaintext.
    #[arg(long, env = "VRS_CA", default_value = "var/tls/ca.pem", global = true)]
    ca: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a declaration from the seeded agency data set (what a citizen would file).
    Sample(SampleArgs),
    /// File an application (form ĐKX10).
    Submit(Box<SubmitArgs>),
    /// Show one application with its history and evidence.
    Get {
        application_id: String,
        /// Poll until the application leaves SUBMITTED / AWAITING_AGENCY (up to 120 s).
        #[arg(long)]
        wait: bool,
    },
    /// An office's work queue, oldest first (the office is the global --office).
    Queue {
        /// Only these states (repeatable), e.g. verified, needs-correction.
        #[arg(long = "state", value_enum)]
        states: Vec<StateArg>,
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// Follow page tokens to the end of the queue.
        #[arg(long)]
        all: bool,
    },
    /// Approve a dossier (clerk).
    Approve {
        application_id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The dossier beside what identity, customs or Vietnam Register, and tax hold now (clerk).
    Inspect { application_id: String },
    /// Record the physical check of chassis and engine numbers as read on the vehicle (clerk).
    Check {
        application_id: String,
        #[arg(long)]
        chassis: String,
        #[arg(long)]
        engine: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Everything one actor did, newest first (supervisor, auditor; a clerk for themself).
    Actions {
        actor: String,
        #[arg(long, default_value_t = 50)]
        page_size: u32,
    },
    /// The portal outbox: pending, dead-lettered and delivered status changes (supervisor).
    Outbox {
        /// Put dead letters back in the queue.
        #[arg(long)]
        retry_dead: bool,
    },
    /// Print a token for the chosen role (local runs), e.g. for grpcurl.
    Token {
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: i64,
    },
    /// Reject a dossier with a reason code (clerk).
    Reject {
        application_id: String,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Withdraw an application (citizen).
    Withdraw {
        application_id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Get the application its plate: a retained plate, or a verifiable draw.
    Draw {
        application_id: String,
        /// Where to save the receipt (default: receipt-<plate>.json).
        #[arg(long)]
        receipt_out: Option<String>,
    },
    /// Replace a lost or damaged certificate: a new number, the old one void (clerk).
    Reissue {
        application_id: String,
        /// LOST or DAMAGED.
        #[arg(long)]
        reason: String,
    },
    /// End a registration (sold, scrapped): its plate goes into the owner's five-year retention (clerk).
    Revoke {
        application_id: String,
        /// OWNERSHIP_TRANSFER or SCRAPPED.
        #[arg(long)]
        reason: String,
    },
    /// Fetch a drawn plate's receipt.
    Receipt {
        application_id: String,
        #[arg(long)]
        out: Option<String>,
    },
    /// Print what verifiers pin (log key, beacon keys) as JSON.
    Trust,
    /// Verify receipts offline: no server, no network.
    VerifyReceipt {
        /// The pinned trust file (from `vrsctl trust`, obtained independently).
        #[arg(long)]
        trust: String,
        receipts: Vec<String>,
    },
    /// Confirm the certificate-and-plate fee (the payment platform).
    Pay {
        application_id: String,
        #[arg(long)]
        reference: String,
        /// Amount in VND; must equal the fee due shown by `get`.
        #[arg(long)]
        amount: u64,
    },
    /// Issue the registration certificate (clerk).
    Issue { application_id: String },
    /// Confirm delivery of certificate and plates (the post, through the portal).
    Deliver { application_id: String },
    /// Save the registry's log (entries and signed checkpoint) to a file.
    ExportLog {
        #[arg(long)]
        out: String,
    },
    /// Audit a log export offline against pinned keys.
    AuditExport {
        #[arg(long)]
        trust: String,
        export: String,
        #[arg(long, default_value_t = 60)]
        grace_seconds: i64,
    },
    /// Replay the whole log of a running registry and report every finding.
    Audit {
        /// Pinned trust file; without it the registry's own is used (and said so).
        #[arg(long)]
        trust: Option<String>,
        /// Keeps the last audited checkpoint: the next audit proves the log only grew.
        #[arg(long)]
        state: Option<String>,
        /// Commits whose round is older than this and that have no result are gaps.
        #[arg(long, default_value_t = 60)]
        grace_seconds: i64,
    },
}

#[derive(clap::Args)]
struct SampleArgs {
    /// Which deliberate case of the data set.
    #[arg(long, value_enum, default_value = "clean")]
    case: CaseArg,
    /// Which example of that case (0 = first).
    #[arg(long, default_value_t = 0)]
    nth: usize,
}

#[derive(clap::Args)]
struct SubmitArgs {
    /// The portal's dossier code (idempotency key).
    #[arg(long)]
    dossier: String,
    /// Start from a declaration of the seeded data set; other flags override it.
    #[arg(long, value_enum)]
    sample: Option<CaseArg>,
    #[arg(long, default_value_t = 0)]
    nth: usize,
    #[arg(long)]
    personal_id: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    guardian_consent: bool,
    /// Organisation owner: its tax code (use with --name).
    #[arg(long)]
    tax_code: Option<String>,
    #[arg(long, value_enum)]
    class: Option<ClassArg>,
    #[arg(long, value_enum)]
    origin: Option<OriginArg>,
    #[arg(long)]
    chassis: Option<String>,
    #[arg(long)]
    engine: Option<String>,
    #[arg(long)]
    customs_declaration: Option<String>,
    #[arg(long)]
    make: Option<String>,
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    seats: Option<u32>,
    /// Used for a transport business: a yellow plate.
    #[arg(long)]
    commercial: bool,
    #[arg(long)]
    office: Option<String>,
    #[arg(long)]
    locality: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum CaseArg {
    Clean,
    FeeUnpaid,
    VinMismatch,
    EngineMismatch,
    NameMismatch,
    MinorOwner,
    DeceasedOwner,
    UnknownOwner,
    NoOriginRecord,
    Organisation,
    ClosedOrganisation,
    /// Declared under another province's locality code than the owner's residence.
    LocalityElsewhere,
    /// Filed at an office of another province.
    OfficeElsewhere,
}

impl From<CaseArg> for Case {
    fn from(c: CaseArg) -> Case {
        match c {
            CaseArg::Clean => Case::Clean,
            CaseArg::FeeUnpaid => Case::FeeUnpaid,
            CaseArg::VinMismatch => Case::VinMismatch,
            CaseArg::EngineMismatch => Case::EngineMismatch,
            CaseArg::NameMismatch => Case::NameMismatch,
            CaseArg::MinorOwner => Case::MinorOwner,
            CaseArg::DeceasedOwner => Case::DeceasedOwner,
            CaseArg::UnknownOwner => Case::UnknownOwner,
            CaseArg::NoOriginRecord => Case::NoOriginRecord,
            CaseArg::Organisation => Case::Organisation,
            CaseArg::ClosedOrganisation => Case::ClosedOrganisation,
            CaseArg::LocalityElsewhere => Case::LocalityElsewhere,
            CaseArg::OfficeElsewhere => Case::OfficeElsewhere,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Portal,
    Clerk,
    Supervisor,
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Portal => Role::Portal,
            RoleArg::Clerk => Role::Clerk,
            RoleArg::Supervisor => Role::Supervisor,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

impl Cmd {
    /// The role a command is normally run in.
    fn usual_role(&self) -> Role {
        match self {
            Cmd::Approve { .. }
            | Cmd::Reject { .. }
            | Cmd::Issue { .. }
            | Cmd::Reissue { .. }
            | Cmd::Inspect { .. }
            | Cmd::Check { .. }
            | Cmd::Revoke { .. }
            | Cmd::Queue { .. } => Role::Clerk,
            Cmd::Actions { .. } | Cmd::Outbox { .. } => Role::Supervisor,
            Cmd::Receipt { .. } => Role::Auditor,
            _ => Role::Portal,
        }
    }
}

/// The token to send: given, or minted from the local issuer key.
fn credentials(cli: &Cli) -> anyhow::Result<String> {
    if let Some(t) = &cli.token {
        return Ok(t.trim().to_owned());
    }
    let role = cli.role.map(Role::from).unwrap_or_else(|| cli.cmd.usual_role());
    let ttl = match cli.cmd {
        Cmd::Token { ttl_seconds } => ttl_seconds,
        _ => 300,
    };
    if role == Role::Clerk && cli.office.is_none() {
        anyhow::bail!("clerk commands need --office (or VRS_OFFICE), or a --token from the identity provider");
    }
    let seed = std::fs::read_to_string(&cli.issuer_key).map_err(|e| {
        anyhow::anyhow!(
            "no --token given and cannot read the local issuer key {}: {e}",
            cli.issuer_key
        )
    })?;
    let seed: [u8; 32] = hex::decode(seed.trim())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{} does not hold a 32-byte key", cli.issuer_key))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let subject = if role == Role::Portal {
        "portal"
    } else {
        cli.subject.as_str()
    };
    Ok(vrs_kit::token::mint(
        &key,
        &cli.issuer,
        subject,
        &[role],
        cli.office.as_deref().filter(|_| role == Role::Clerk),
        ttl,
    ))
}

#[derive(Clone, Copy, ValueEnum)]
enum ClassArg {
    Car,
    Motorbike,
}

#[derive(Clone, Copy, ValueEnum)]
enum OriginArg {
    Imported,
    Domestic,
}

#[derive(Clone, Copy, ValueEnum)]
enum StateArg {
    Submitted,
    AwaitingAgency,
    Verified,
    NeedsCorrection,
    Rejected,
    Approved,
    PlateAssigned,
    FeePaid,
    Issued,
    Delivered,
    Withdrawn,
    Deregistered,
}

impl From<StateArg> for pb::ApplicationState {
    fn from(s: StateArg) -> Self {
        use pb::ApplicationState as P;
        match s {
            StateArg::Submitted => P::Submitted,
            StateArg::AwaitingAgency => P::AwaitingAgency,
            StateArg::Verified => P::Verified,
            StateArg::NeedsCorrection => P::NeedsCorrection,
            StateArg::Rejected => P::Rejected,
            StateArg::Approved => P::Approved,
            StateArg::PlateAssigned => P::PlateAssigned,
            StateArg::FeePaid => P::FeePaid,
            StateArg::Issued => P::Issued,
            StateArg::Delivered => P::Delivered,
            StateArg::Withdrawn => P::Withdrawn,
            StateArg::Deregistered => P::Deregistered,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Cmd::Sample(args) = &cli.cmd {
        let req = sample(args.case, args.nth, "SAMPLE.000001")?;
        print!("{}", describe_request(&req));
        return Ok(());
    }
    if let Cmd::VerifyReceipt { trust, receipts } = &cli.cmd {
        return verify_receipts(trust, receipts);
    }
    if let Cmd::AuditExport {
        trust,
        export,
        grace_seconds,
    } = &cli.cmd
    {
        return audit::run_offline(export, trust, *grace_seconds);
    }
    let channel = endpoint(&cli)?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", cli.addr))?;
    // The public log needs no credentials: anyone may audit.
    let public = matches!(cli.cmd, Cmd::Trust | Cmd::Audit { .. } | Cmd::ExportLog { .. });
    let bearer = if public {
        Bearer::none()
    } else {
        Bearer::new(&credentials(&cli)?)?
    };
    let mut client = RegistrationServiceClient::with_interceptor(channel.clone(), bearer.clone());
    match cli.cmd {
        Cmd::Token { .. } => println!("{}", credentials(&cli)?),
        Cmd::Inspect { application_id } => {
            let r = call(
                client
                    .inspect_application(pb::InspectApplicationRequest { application_id })
                    .await,
            )?;
            if let Some(app) = &r.application {
                print!("{}", describe(app));
            }
            for rec in &r.records {
                use pb::agency_record::Record as R;
                println!(
                    "── {} (now {}…)",
                    rec.agency,
                    &rec.response_sha256[..12.min(rec.response_sha256.len())]
                );
                if let Some(e) = &rec.evidence {
                    println!(
                        "   evidence  response {}… at {} ({})",
                        &e.response_sha256[..12.min(e.response_sha256.len())],
                        e.fetched_at,
                        e.outcome
                    );
                }
                match &rec.record {
                    Some(R::Citizen(c)) => println!(
                        "   citizen   {} {} born {} {:?}, residence {}",
                        c.personal_id,
                        c.full_name,
                        c.date_of_birth,
                        c.life_status(),
                        c.residence.as_ref().map(|r| r.locality_code.as_str()).unwrap_or("-")
                    ),
                    Some(R::Organisation(o)) => println!("   company   {} {} {:?}", o.tax_code, o.name, o.status()),
                    Some(R::ImportDeclaration(d)) => println!(
                        "   customs   {} chassis {} engine {} {} {} {} seats {}",
                        d.declaration_number,
                        d.chassis_number,
                        d.engine_number,
                        d.make,
                        d.model,
                        d.year_of_manufacture,
                        d.seats
                    ),
                    Some(R::QualityCertificate(q)) => println!("   PXX       {q:?}"),
                    None if rec.fee_records.is_empty() => println!("   no record"),
                    None => {}
                }
                for f in &rec.fee_records {
                    println!(
                        "   fee       {} chassis {} engine {} paid {} of {} VND on {} {:?}",
                        f.dossier_code,
                        f.chassis_number,
                        f.engine_number,
                        f.fee_paid_vnd,
                        f.fee_due_vnd,
                        f.payment_date,
                        f.status()
                    );
                }
            }
        }
        Cmd::Check {
            application_id,
            chassis,
            engine,
            note,
        } => {
            let req = pb::RecordPhysicalCheckRequest {
                application_id,
                chassis_number: chassis,
                engine_number: engine,
                note,
            };
            print!("{}", describe(&call(client.record_physical_check(req).await)?));
        }
        Cmd::Actions { actor, page_size } => {
            let req = pb::ListActionsRequest {
                actor,
                page_size,
                page_token: String::new(),
            };
            let r = call(client.list_actions(req).await)?;
            for a in &r.actions {
                let c = a.change.clone().unwrap_or_default();
                println!(
                    "{}  {}  {} → {}  {}  {}",
                    c.at,
                    a.application_id,
                    state_name(c.from_state()),
                    state_name(c.to_state()),
                    c.reason_code,
                    c.note
                );
            }
            println!("{} action(s)", r.actions.len());
        }
        Cmd::Outbox { retry_dead } => {
            if retry_dead {
                let r = call(client.retry_dead_letters(pb::RetryDeadLettersRequest {}).await)?;
                println!("{} dead letter(s) requeued", r.requeued);
            }
            let s = call(client.get_outbox_status(pb::GetOutboxStatusRequest {}).await)?;
            println!(
                "pending {}  dead {}  delivered {}  oldest pending {} ms",
                s.pending, s.dead, s.delivered, s.oldest_pending_age_ms
            );
        }
        // Handled above without a connection.
        Cmd::Sample(_) | Cmd::VerifyReceipt { .. } | Cmd::AuditExport { .. } => {}
        Cmd::Pay {
            application_id,
            reference,
            amount,
        } => {
            let req = pb::ConfirmPaymentRequest {
                application_id,
                payment_reference: reference,
                amount_vnd: amount,
            };
            print!("{}", describe(&call(client.confirm_payment(req).await)?));
        }
        Cmd::Issue { application_id } => {
            let req = pb::IssueCertificateRequest { application_id };
            print!("{}", describe(&call(client.issue_certificate(req).await)?));
        }
        Cmd::Reissue { application_id, reason } => {
            let req = pb::ReissueCertificateRequest {
                application_id,
                reason_code: reason,
            };
            print!("{}", describe(&call(client.reissue_certificate(req).await)?));
        }
        Cmd::Deliver { application_id } => {
            let req = pb::ConfirmDeliveryRequest { application_id };
            print!("{}", describe(&call(client.confirm_delivery(req).await)?));
        }
        Cmd::ExportLog { out } => {
            audit::export(TransparencyLogServiceClient::new(channel.clone()), &out).await?;
        }
        Cmd::Draw {
            application_id,
            receipt_out,
        } => {
            let who = acting_citizen(&mut client, cli.citizen.as_deref(), &application_id).await?;
            let r = call(
                client
                    .draw_plate(as_citizen(pb::DrawPlateRequest { application_id }, &who)?)
                    .await,
            )?;
            println!("plate       {} ({})", r.plate, r.method);
            if let Some(receipt) = r.receipt {
                let path = receipt_out.unwrap_or_else(|| format!("receipt-{}.json", r.plate.replace([' ', '.'], "-")));
                std::fs::write(&path, receipt.json)?;
                println!("receipt     {path}  (check it offline: vrsctl verify-receipt --trust trust.json {path})");
            }
            if let Some(app) = r.application {
                print!("{}", describe(&app));
            }
        }
        Cmd::Revoke { application_id, reason } => {
            let req = pb::RevokePlateRequest {
                application_id,
                reason_code: reason,
            };
            let r = call(client.revoke_plate(req).await)?;
            println!(
                "registration ended; plate {} is in its owner's five-year retention",
                r.plate
            );
        }
        Cmd::Receipt { application_id, out } => {
            let mut log = TransparencyLogServiceClient::with_interceptor(channel, bearer);
            let r = call(log.get_receipt(pb::GetReceiptRequest { application_id }).await)?;
            match out {
                Some(path) => std::fs::write(path, r.json)?,
                None => println!("{}", r.json),
            }
        }
        Cmd::Trust => {
            let mut log = TransparencyLogServiceClient::new(channel.clone());
            println!("{}", call(log.get_trust(pb::GetTrustRequest {}).await)?.json);
        }
        Cmd::Audit {
            trust,
            state,
            grace_seconds,
        } => {
            let log = TransparencyLogServiceClient::new(channel.clone());
            audit::run(log, trust.as_deref(), state.as_deref(), grace_seconds).await?;
        }
        Cmd::Submit(args) => {
            let req = build_submit(&args)?;
            let who = match cli.citizen.clone() {
                Some(c) => c,
                None => owner_id(&req.owner),
            };
            let app = call(client.submit_application(as_citizen(req, &who)?).await)?;
            print!("{}", describe(&app));
        }
        Cmd::Get { application_id, wait } => {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            loop {
                let req = pb::GetApplicationRequest {
                    application_id: application_id.clone(),
                };
                let app = call(client.get_application(req).await)?;
                let pending = matches!(
                    app.state(),
                    pb::ApplicationState::Submitted | pb::ApplicationState::AwaitingAgency
                );
                if !wait || !pending || tokio::time::Instant::now() > deadline {
                    print!("{}", describe(&app));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Cmd::Queue { states, page_size, all } => {
            let states: Vec<i32> = states
                .into_iter()
                .map(|s| pb::ApplicationState::from(s) as i32)
                .collect();
            let mut token = String::new();
            let mut total = 0usize;
            loop {
                let req = pb::ListApplicationsRequest {
                    office_code: cli.office.clone().unwrap_or_default(),
                    states: states.clone(),
                    page_size,
                    page_token: token.clone(),
                };
                let page = call(client.list_applications(req).await)?;
                for a in &page.applications {
                    println!(
                        "{}  {:<17} {:<18} {}  {}",
                        a.created_at,
                        a.dossier_code,
                        state_name(a.state()),
                        a.application_id,
                        a.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(",")
                    );
                }
                total += page.applications.len();
                token = page.next_page_token;
                if token.is_empty() || !all {
                    if !token.is_empty() {
                        println!("… more: --all to follow the queue to its end");
                    }
                    break;
                }
            }
            println!("{total} application(s)");
        }
        Cmd::Approve { application_id, note } => {
            let app = call(
                client
                    .approve_application(pb::ApproveApplicationRequest { application_id, note })
                    .await,
            )?;
            print!("{}", describe(&app));
        }
        Cmd::Reject {
            application_id,
            reason,
            note,
        } => {
            let req = pb::RejectApplicationRequest {
                application_id,
                reason_code: reason,
                note,
            };
            let app = call(client.reject_application(req).await)?;
            print!("{}", describe(&app));
        }
        Cmd::Withdraw { application_id, note } => {
            let who = acting_citizen(&mut client, cli.citizen.as_deref(), &application_id).await?;
            let req = pb::WithdrawApplicationRequest { application_id, note };
            let app = call(client.withdraw_application(as_citizen(req, &who)?).await)?;
            print!("{}", describe(&app));
        }
    }
    Ok(())
}

type Client =
    RegistrationServiceClient<tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>>;

fn owner_id(owner: &Option<pb::Owner>) -> String {
    owner.as_ref().map_or("", |o| o.id()).to_owned()
}

/// The citizen the portal acts for: `--citizen`, or the dossier's owner.
async fn acting_citizen(client: &mut Client, given: Option<&str>, application_id: &str) -> anyhow::Result<String> {
    if let Some(c) = given {
        return Ok(c.to_owned());
    }
    let req = pb::GetApplicationRequest {
        application_id: application_id.to_owned(),
    };
    Ok(owner_id(&call(client.get_application(req).await)?.owner))
}

/// A request with the portal's `x-citizen-id`.
fn as_citizen<T>(msg: T, citizen: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("x-citizen-id", citizen.parse()?);
    Ok(r)
}

/// Unwraps a response, turning a status into an error that lists field violations.
pub(crate) fn call<T>(r: Result<tonic::Response<T>, tonic::Status>) -> anyhow::Result<T> {
    match r {
        Ok(resp) => Ok(resp.into_inner()),
        Err(status) => {
            let mut msg = format!("{:?}: {}", status.code(), status.message());
            let details = status.get_error_details();
            if let Some(bad) = details.bad_request() {
                for v in &bad.field_violations {
                    msg.push_str(&format!("\n  {}: {}", v.field, v.description));
                }
            }
            if let Some(pre) = details.precondition_failure() {
                for v in &pre.violations {
                    msg.push_str(&format!("\n  {} {}: {}", v.r#type, v.subject, v.description));
                }
            }
            Err(anyhow::anyhow!(msg))
        }
    }
}

/// TLS when the CA file is there (as `vrs-stack` writes it), plaintext otherwise.
fn endpoint(cli: &Cli) -> anyhow::Result<tonic::transport::Endpoint> {
    let tls = if cli.ca == "none" || !std::path::Path::new(&cli.ca).exists() {
        vrs_kit::tls::TlsConfig::default()
    } else {
        vrs_kit::tls::TlsConfig {
            ca_file: cli.ca.clone(),
            ..Default::default()
        }
    };
    tls.endpoint(&cli.addr)
}

fn verify_receipts(trust: &str, receipts: &[String]) -> anyhow::Result<()> {
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
            Ok(Ok(v)) => println!(
                "OK   {path}: plate {} from pool {}, round {}, candidate {} at index {} of the {} numbers the commit named, log size {}",
                v.plate, v.pool_id, v.round, v.attempts, v.index, v.available_count, v.checkpoint_size
            ),
            Ok(Err(e)) => {
                failed += 1;
                println!("FAIL {path}: {e}");
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {path}: unreadable: {e}");
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} receipt(s) failed", receipts.len());
    Ok(())
}

fn sample(case: CaseArg, nth: usize, dossier: &str) -> anyhow::Result<pb::SubmitApplicationRequest> {
    let world = World::standard();
    let case = Case::from(case);
    let (index, _) = world
        .vehicles_with(case)
        .nth(nth)
        .ok_or_else(|| anyhow::anyhow!("the data set has fewer than {} examples of {case}", nth + 1))?;
    Ok(vrs_kit::samples::submit_request(&world, index, dossier))
}

fn build_submit(a: &SubmitArgs) -> anyhow::Result<pb::SubmitApplicationRequest> {
    let mut req = match a.sample {
        Some(case) => sample(case, a.nth, &a.dossier)?,
        None => pb::SubmitApplicationRequest {
            dossier_code: a.dossier.clone(),
            ..Default::default()
        },
    };
    if a.tax_code.is_some() {
        req.owner = Some(pb::Owner {
            kind: Some(pb::owner::Kind::Organisation(pb::Organisation {
                tax_code: a.tax_code.clone().unwrap_or_default(),
                name: a.name.clone().unwrap_or_default(),
            })),
        });
    } else if a.personal_id.is_some() || a.name.is_some() || a.guardian_consent {
        let mut ind = match req.owner.take().and_then(|o| o.kind) {
            Some(pb::owner::Kind::Individual(i)) => i,
            _ => pb::Individual::default(),
        };
        if let Some(p) = &a.personal_id {
            ind.personal_id = p.clone();
        }
        if let Some(n) = &a.name {
            ind.full_name = n.clone();
        }
        ind.guardian_consent |= a.guardian_consent;
        req.owner = Some(pb::Owner {
            kind: Some(pb::owner::Kind::Individual(ind)),
        });
    }
    let v = req.vehicle.get_or_insert_with(Default::default);
    if a.commercial {
        v.commercial_use = true;
    }
    if let Some(c) = a.class {
        v.vehicle_class = match c {
            ClassArg::Car => pb::VehicleClass::Car,
            ClassArg::Motorbike => pb::VehicleClass::Motorbike,
        } as i32;
    }
    if let Some(o) = a.origin {
        v.origin = match o {
            OriginArg::Imported => pb::VehicleOrigin::Imported,
            OriginArg::Domestic => pb::VehicleOrigin::Domestic,
        } as i32;
    }
    let set = |field: &mut String, value: &Option<String>| {
        if let Some(x) = value {
            *field = x.clone();
        }
    };
    set(&mut v.chassis_number, &a.chassis);
    set(&mut v.engine_number, &a.engine);
    set(&mut v.customs_declaration_number, &a.customs_declaration);
    set(&mut v.make, &a.make);
    set(&mut v.model, &a.model);
    if let Some(s) = a.seats {
        v.seats = s;
    }
    set(&mut req.office_code, &a.office);
    set(&mut req.locality_code, &a.locality);
    Ok(req)
}

fn state_name(s: pb::ApplicationState) -> &'static str {
    s.as_str_name().trim_start_matches("APPLICATION_STATE_")
}

fn describe_owner(owner: &Option<pb::Owner>) -> String {
    match owner.as_ref().and_then(|o| o.kind.as_ref()) {
        Some(pb::owner::Kind::Individual(i)) => format!(
            "individual {} {}{}",
            i.personal_id,
            i.full_name,
            if i.guardian_consent { " (guardian consent)" } else { "" }
        ),
        Some(pb::owner::Kind::Organisation(o)) => format!("organisation {} {}", o.tax_code, o.name),
        None => "-".into(),
    }
}

fn describe_vehicle(v: &Option<pb::Vehicle>) -> String {
    match v {
        Some(v) => format!(
            "{} {} {} {} seats, {} chassis {} engine {}{}",
            state_like(v.vehicle_class().as_str_name(), "VEHICLE_CLASS_"),
            v.make,
            v.model,
            v.seats,
            state_like(v.origin().as_str_name(), "VEHICLE_ORIGIN_"),
            v.chassis_number,
            v.engine_number,
            if v.customs_declaration_number.is_empty() {
                String::new()
            } else {
                format!(" customs {}", v.customs_declaration_number)
            }
        ),
        None => "-".into(),
    }
}

fn state_like(name: &'static str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

fn describe_request(r: &pb::SubmitApplicationRequest) -> String {
    format!(
        "dossier   {}\nowner     {}\nvehicle   {}\noffice    {} (locality {})\n",
        r.dossier_code,
        describe_owner(&r.owner),
        describe_vehicle(&r.vehicle),
        r.office_code,
        r.locality_code
    )
}

fn describe(a: &pb::Application) -> String {
    let mut s = format!(
        "application {}\ndossier     {}\nstate       {}\nowner       {}\nvehicle     {}\noffice      {} (locality {})\ncreated     {}  updated {}  lookup attempts {}\n",
        a.application_id,
        a.dossier_code,
        state_name(a.state()),
        describe_owner(&a.owner),
        describe_vehicle(&a.vehicle),
        a.office_code,
        a.locality_code,
        a.created_at,
        a.updated_at,
        a.attempts
    );
    if !a.plate.is_empty() {
        s.push_str(&format!("plate       {}\n", a.plate));
    }
    if a.fee_due_vnd > 0 {
        s.push_str(&format!("fee due     {} VND ({})\n", a.fee_due_vnd, a.fee_legal_source));
    }
    if a.physical_check_required || !a.physical_checks.is_empty() {
        let last = a.physical_checks.last();
        let summary = match last {
            None => "required before approval, not yet done".to_owned(),
            Some(c) => format!(
                "chassis {}, engine {} (by {} at {})",
                if c.chassis_matches { "matches" } else { "MISMATCH" },
                if c.engine_matches { "matches" } else { "MISMATCH" },
                c.actor,
                c.at
            ),
        };
        s.push_str(&format!("phys. check {summary}\n"));
    }
    if !a.blocked_reason.is_empty() {
        s.push_str(&format!("BLOCKED     {}\n", a.blocked_reason));
    }
    if !a.certificate_number.is_empty() {
        s.push_str(&format!("certificate {}\n", a.certificate_number));
    }
    for r in &a.reasons {
        s.push_str(&format!("reason      {} [{}] {}\n", r.code, r.field, r.message));
    }
    for w in &a.warnings {
        s.push_str(&format!("warning     {} [{}] {}\n", w.code, w.field, w.message));
    }
    for e in &a.evidence {
        s.push_str(&format!(
            "evidence    {:<9} {:<9} request {} response {} at {}\n",
            e.agency,
            e.outcome,
            &e.request_sha256.get(..16).unwrap_or(""),
            &e.response_sha256.get(..16).unwrap_or(""),
            e.fetched_at
        ));
    }
    s.push_str("history\n");
    for h in &a.history {
        s.push_str(&format!(
            "  {}  {:>16} → {:<16} by {}{}{}\n",
            h.at,
            if h.from_state() == pb::ApplicationState::Unspecified {
                "(new)"
            } else {
                state_name(h.from_state())
            },
            state_name(h.to_state()),
            h.actor,
            if h.reason_code.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.reason_code)
            },
            if h.note.is_empty() {
                String::new()
            } else {
                format!(": {}", h.note)
            }
        ));
    }
    s
}
