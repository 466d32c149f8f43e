//! `vrsctl inspect`: a clerk sees the dossier beside what identity, customs or
//! Vietnam Register, and tax hold now, and the evidence recorded at the time.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;

#[derive(clap::Args)]
pub(crate) struct Args {
    application_id: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::InspectApplicationRequest {
        application_id: args.application_id.clone(),
    };
    let r = call(registry.inspect_application(req).await)?;
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
    Ok(())
}
