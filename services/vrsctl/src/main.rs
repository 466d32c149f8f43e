//! `vrsctl`: the registration service from the command line.
//!
//! ```text
//! vrsctl sample --case clean                     # a declaration from the seeded data set
//! vrsctl submit --sample clean --dossier G01.000001
//! vrsctl get <application-id> --wait             # until the lookups settle
//! vrsctl queue --office HN-PC08 --state verified
//! vrsctl approve <id> --actor clerk-017
//! ```

// A command-line tool: printing to stdout is its output.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tonic::transport::Channel;
use tonic_types::StatusExt;
use vrs_kit::world::{Case, World};
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;

#[derive(Parser)]
#[command(name = "vrsctl", version, about = "Vehicle registration service client")]
struct Cli {
    /// Registration service address.
    #[arg(long, env = "VRS_ADDR", default_value = "http://127.0.0.1:50051", global = true)]
    addr: String,
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
    /// An office's work queue, oldest first.
    Queue {
        #[arg(long)]
        office: String,
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
        #[arg(long)]
        actor: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a dossier with a reason code (clerk).
    Reject {
        application_id: String,
        #[arg(long)]
        actor: String,
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
        }
    }
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
    let channel = Channel::from_shared(cli.addr.clone())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", cli.addr))?;
    let mut client = RegistrationServiceClient::new(channel);
    match cli.cmd {
        // Printed above without a connection.
        Cmd::Sample(_) => {}
        Cmd::Submit(args) => {
            let req = build_submit(&args)?;
            let app = call(client.submit_application(req).await)?;
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
        Cmd::Queue {
            office,
            states,
            page_size,
            all,
        } => {
            let states: Vec<i32> = states
                .into_iter()
                .map(|s| pb::ApplicationState::from(s) as i32)
                .collect();
            let mut token = String::new();
            let mut total = 0usize;
            loop {
                let req = pb::ListApplicationsRequest {
                    office_code: office.clone(),
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
        Cmd::Approve {
            application_id,
            actor,
            note,
        } => {
            let app = call(
                client
                    .approve_application(pb::ApproveApplicationRequest {
                        application_id,
                        actor,
                        note,
                    })
                    .await,
            )?;
            print!("{}", describe(&app));
        }
        Cmd::Reject {
            application_id,
            actor,
            reason,
            note,
        } => {
            let req = pb::RejectApplicationRequest {
                application_id,
                actor,
                reason_code: reason,
                note,
            };
            let app = call(client.reject_application(req).await)?;
            print!("{}", describe(&app));
        }
        Cmd::Withdraw { application_id, note } => {
            let app = call(
                client
                    .withdraw_application(pb::WithdrawApplicationRequest { application_id, note })
                    .await,
            )?;
            print!("{}", describe(&app));
        }
    }
    Ok(())
}

/// Unwraps a response, turning a status into an error that lists field violations.
fn call<T>(r: Result<tonic::Response<T>, tonic::Status>) -> anyhow::Result<T> {
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
