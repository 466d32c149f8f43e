//! `vrsctl submit`: file an application (form ĐKX10) as the portal would,
//! from flags or from a declaration of the seeded data set.

use clap::ValueEnum;
use vrs_proto::pb::registration::v1 as pb;

use super::sample::{CaseArg, declaration};
use crate::client::{Registry, as_citizen, call, owner_id};
use crate::describe::describe;
use crate::output::out;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The portal's dossier code (idempotency key).
    #[arg(long)]
    dossier: String,
    /// Start from a declaration of the seeded data set; other flags override it.
    #[arg(long, value_enum)]
    sample: Option<CaseArg>,
    /// Which example of the --sample case to start from (0 = first).
    #[arg(long, default_value_t = 0)]
    nth: usize,
    /// Individual owner: their 12-digit personal ID (CCCD) number.
    #[arg(long)]
    personal_id: Option<String>,
    /// The owner's full name as on their ID (an organisation's name with --tax-code).
    #[arg(long)]
    name: Option<String>,
    /// A minor owner's guardian has consented (individual owners only).
    #[arg(long)]
    guardian_consent: bool,
    /// Organisation owner: its tax code (use with --name).
    #[arg(long)]
    tax_code: Option<String>,
    /// The vehicle class.
    #[arg(long, value_enum)]
    class: Option<ClassArg>,
    /// Imported (checked with customs) or domestic (checked with Vietnam Register).
    #[arg(long, value_enum)]
    origin: Option<OriginArg>,
    /// The chassis number (VIN) as declared.
    #[arg(long)]
    chassis: Option<String>,
    /// The engine number as declared.
    #[arg(long)]
    engine: Option<String>,
    /// Imported vehicles: the customs import declaration number.
    #[arg(long)]
    customs_declaration: Option<String>,
    /// The vehicle's make (brand), e.g. Honda.
    #[arg(long)]
    make: Option<String>,
    /// The vehicle's model, e.g. Vision.
    #[arg(long)]
    model: Option<String>,
    /// The number of seats, the driver's included.
    #[arg(long)]
    seats: Option<u32>,
    /// Used for a transport business: a yellow plate.
    #[arg(long)]
    commercial: bool,
    /// The registration office the dossier is filed at, e.g. PC-60 (not the clerk's global --office).
    #[arg(long)]
    office: Option<String>,
    /// The locality (province) code the vehicle is registered under, e.g. 60.
    #[arg(long)]
    locality: Option<String>,
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

/// Files as the citizen given, or else as the declared owner.
pub(crate) async fn run(mut registry: Registry, citizen: Option<&str>, args: &Args) -> anyhow::Result<()> {
    let req = submit_request(args)?;
    let who = match citizen {
        Some(c) => c.to_owned(),
        None => owner_id(&req.owner),
    };
    let app = call(registry.submit_application(as_citizen(req, &who)?).await)?;
    out!("{}", describe(&app));
    Ok(())
}

/// The sample declaration if one is named, with each flag given laid over it.
fn submit_request(a: &Args) -> anyhow::Result<pb::SubmitApplicationRequest> {
    let mut req = match a.sample {
        Some(case) => declaration(case, a.nth, &a.dossier)?,
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
