//! `vrsctl inspect`: a clerk sees the dossier beside what identity, customs or
//! Vietnam Register, and tax hold now, and the evidence recorded at the time.

use vrs_proto::pb::registration::v1 as pb;

use crate::client::{Registry, call};
use crate::describe::describe;
use crate::output::{out, outln};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The application to inspect.
    application_id: String,
}

pub(crate) async fn run(mut registry: Registry, args: &Args) -> anyhow::Result<()> {
    let req = pb::InspectApplicationRequest {
        application_id: args.application_id.clone(),
    };
    let r = call(registry.inspect_application(req).await)?;
    if let Some(app) = &r.application {
        out!("{}", describe(app));
    }
    for rec in &r.records {
        for line in record_lines(rec) {
            outln!("{line}");
        }
    }
    Ok(())
}

/// An enum value as the proto names it, less the enum's own prefix:
/// `LIFE_STATUS_DECEASED` → `DECEASED` (as `describe::state_name`).
fn enum_name(name: &'static str, prefix: &str) -> &'static str {
    name.strip_prefix(prefix).unwrap_or(name)
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// One agency's record, as the lines `inspect` prints for it.
fn record_lines(rec: &pb::AgencyRecord) -> Vec<String> {
    use pb::agency_record::Record as R;
    let mut lines = vec![format!("── {} (now {}…)", rec.agency, short(&rec.response_sha256))];
    if let Some(e) = &rec.evidence {
        lines.push(format!(
            "   evidence  response {}… at {} ({})",
            short(&e.response_sha256),
            e.fetched_at,
            e.outcome
        ));
    }
    match &rec.record {
        Some(R::Citizen(c)) => lines.push(format!(
            "   citizen   {} {} born {} {}, residence {}",
            c.personal_id,
            c.full_name,
            c.date_of_birth,
            enum_name(c.life_status().as_str_name(), "LIFE_STATUS_"),
            c.residence.as_ref().map(|r| r.locality_code.as_str()).unwrap_or("-")
        )),
        Some(R::Organisation(o)) => lines.push(format!(
            "   company   {} {} {}",
            o.tax_code,
            o.name,
            enum_name(o.status().as_str_name(), "ORGANISATION_STATUS_")
        )),
        Some(R::ImportDeclaration(d)) => lines.push(format!(
            "   customs   {} chassis {} engine {} {} {} {} seats {}",
            d.declaration_number, d.chassis_number, d.engine_number, d.make, d.model, d.year_of_manufacture, d.seats
        )),
        // The quality certificate (phiếu xuất xưởng) of a domestic vehicle.
        Some(R::QualityCertificate(q)) => lines.push(format!(
            "   PXX       {} chassis {} engine {} {} {} {} seats {} ({}, by {}, issued {})",
            q.certificate_number,
            q.chassis_number,
            q.engine_number,
            q.make,
            q.model,
            q.year_of_manufacture,
            q.seats,
            q.vehicle_type,
            q.manufacturer,
            q.issued_on
        )),
        None if rec.fee_records.is_empty() => lines.push("   no record".to_owned()),
        None => {}
    }
    for f in &rec.fee_records {
        lines.push(format!(
            "   fee       {} chassis {} engine {} paid {} of {} VND on {} {}",
            f.dossier_code,
            f.chassis_number,
            f.engine_number,
            f.fee_paid_vnd,
            f.fee_due_vnd,
            f.payment_date,
            enum_name(f.status().as_str_name(), "PAYMENT_STATUS_")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use vrs_proto::pb::identity::v1 as identity;
    use vrs_proto::pb::register::v1 as register;
    use vrs_proto::pb::tax::v1 as tax;

    use super::*;

    fn record(agency: &str, record: Option<pb::agency_record::Record>) -> pb::AgencyRecord {
        pb::AgencyRecord {
            agency: agency.into(),
            response_sha256: "ab".repeat(32),
            record,
            ..Default::default()
        }
    }

    #[test]
    fn a_quality_certificate_is_readable_fields_not_a_debug_struct() {
        let q = register::QualityCertificate {
            certificate_number: "PXX-2024-000123".into(),
            manufacturer: "Honda Việt Nam".into(),
            chassis_number: "RLHJF1234PY000001".into(),
            engine_number: "JF12E-0000001".into(),
            make: "Honda".into(),
            model: "Vision".into(),
            year_of_manufacture: 2024,
            seats: 2,
            vehicle_type: "motorbike".into(),
            issued_on: "2024-03-01".into(),
        };
        let lines = record_lines(&record(
            "register",
            Some(pb::agency_record::Record::QualityCertificate(q)),
        ));
        let pxx = lines.iter().find(|l| l.contains("PXX")).expect("a PXX line");
        assert_eq!(
            pxx,
            "   PXX       PXX-2024-000123 chassis RLHJF1234PY000001 engine JF12E-0000001 Honda Vision 2024 seats 2 (motorbike, by Honda Việt Nam, issued 2024-03-01)"
        );
        for debug in ["QualityCertificate", "{", "certificate_number:", "\""] {
            assert!(!pxx.contains(debug), "{pxx}");
        }
    }

    #[test]
    fn enums_are_proto_names_not_debug() {
        let citizen = identity::Citizen {
            personal_id: "004158625736".into(),
            full_name: "Huỳnh Thị Thu Nhung".into(),
            date_of_birth: "1990-01-02".into(),
            life_status: identity::LifeStatus::Deceased as i32,
            ..Default::default()
        };
        let lines = record_lines(&record("identity", Some(pb::agency_record::Record::Citizen(citizen))));
        assert_eq!(
            lines[1],
            "   citizen   004158625736 Huỳnh Thị Thu Nhung born 1990-01-02 DECEASED, residence -"
        );

        let org = identity::Organisation {
            tax_code: "0101234567".into(),
            name: "Công ty A".into(),
            status: identity::OrganisationStatus::Closed as i32,
            ..Default::default()
        };
        let lines = record_lines(&record("identity", Some(pb::agency_record::Record::Organisation(org))));
        assert_eq!(lines[1], "   company   0101234567 Công ty A CLOSED");

        let mut tax = record("tax", None);
        tax.fee_records.push(tax::FeeRecord {
            dossier_code: "T-1".into(),
            status: tax::PaymentStatus::Unpaid as i32,
            ..Default::default()
        });
        let lines = record_lines(&tax);
        assert_eq!(lines.len(), 2, "no `no record` line beside fee records: {lines:?}");
        assert!(lines[1].ends_with(" UNPAID"), "{}", lines[1]);
        for line in &lines {
            assert!(!line.contains("Unpaid") && !line.contains("Deceased"), "{line}");
        }
    }

    #[test]
    fn no_record_is_said() {
        let lines = record_lines(&record("customs", None));
        assert_eq!(lines, ["── customs (now abababababab…)", "   no record"]);
    }
}
