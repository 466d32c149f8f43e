//! Cross-checks of a declaration against what the agencies answered
//! (DESIGN §2 step 2). A pure function: the same answers always give the same
//! verdict, so it is tested without any server.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use vrs_proto::pb::identity::v1 as identity;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::tax::v1 as tax;

use super::answers::{Answers, OriginAnswer, OwnerAnswer};
use super::declaration::{Declaration, OwnerDecl};
use super::ids::{EngineNumber, VehicleClass};
use super::jurisdiction::{Offices, province_of};

/// A machine-readable finding, shown to the citizen and the clerk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub field: String,
    pub message: String,
}

impl Reason {
    fn new(code: &str, field: &str, message: impl Into<String>) -> Reason {
        Reason {
            code: code.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn to_pb(&self) -> pb::Reason {
        pb::Reason {
            code: self.code.clone(),
            field: self.field.clone(),
            message: self.message.clone(),
        }
    }
}

/// What the checks conclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    /// The citizen can fix these and resubmit.
    NeedsCorrection(Vec<Reason>),
    /// At least one finding rules the application out; all findings are listed.
    Refused(Vec<Reason>),
}

/// Minimum age of an owner; 15–17 needs a guardian's consent (DESIGN §3.5).
const MIN_AGE: u32 = 15;
const ADULT_AGE: u32 = 18;

pub fn verdict(decl: &Declaration, answers: &Answers, offices: &Offices, today: NaiveDate) -> Verdict {
    let mut fix = Vec::new();
    let mut refuse = Vec::new();
    check_owner(decl, &answers.owner, today, &mut fix, &mut refuse);
    check_jurisdiction(decl, &answers.owner, offices, &mut fix);
    check_origin(decl, &answers.origin, &mut fix);
    check_fee(decl, &answers.fees, &mut fix);
    if !refuse.is_empty() {
        refuse.extend(fix);
        Verdict::Refused(refuse)
    } else if !fix.is_empty() {
        Verdict::NeedsCorrection(fix)
    } else {
        Verdict::Verified
    }
}

fn check_owner(
    decl: &Declaration,
    answer: &OwnerAnswer,
    today: NaiveDate,
    fix: &mut Vec<Reason>,
    refuse: &mut Vec<Reason>,
) {
    match (&decl.owner, answer) {
        (
            OwnerDecl::Individual {
                full_name,
                guardian_consent,
                ..
            },
            OwnerAnswer::Citizen(citizen),
        ) => {
            let Some(c) = citizen else {
                fix.push(Reason::new(
                    "OWNER_ID_UNKNOWN",
                    "owner.individual.personal_id",
                    "the population database has no citizen with this personal ID",
                ));
                return;
            };
            if c.life_status == identity::LifeStatus::Deceased as i32 {
                refuse.push(Reason::new(
                    "OWNER_DECEASED",
                    "owner.individual.personal_id",
                    "the population database records this citizen as deceased",
                ));
            }
            if !full_name.matches(&c.full_name) {
                fix.push(Reason::new(
                    "OWNER_NAME_MISMATCH",
                    "owner.individual.full_name",
                    "the declared name differs from the population database",
                ));
            }
            match age_on(&c.date_of_birth, today) {
                None => fix.push(Reason::new(
                    "OWNER_BIRTH_DATE_UNKNOWN",
                    "owner.individual.personal_id",
                    "the population database holds no usable date of birth",
                )),
                Some(age) if age < MIN_AGE => refuse.push(Reason::new(
                    "OWNER_UNDER_AGE",
                    "owner.individual.personal_id",
                    format!("owners must be at least {MIN_AGE}"),
                )),
                Some(age) if age < ADULT_AGE && !guardian_consent => fix.push(Reason::new(
                    "GUARDIAN_CONSENT_REQUIRED",
                    "owner.individual.guardian_consent",
                    format!("owners aged {MIN_AGE}–{} need a guardian's consent", ADULT_AGE - 1),
                )),
                Some(_) => {}
            }
        }
        (OwnerDecl::Organisation { name, .. }, OwnerAnswer::Organisation(org)) => {
            let Some(o) = org else {
                fix.push(Reason::new(
                    "OWNER_TAX_CODE_UNKNOWN",
                    "owner.organisation.tax_code",
                    "no organisation holds this tax code",
                ));
                return;
            };
            if o.status == identity::OrganisationStatus::Closed as i32 {
                refuse.push(Reason::new(
                    "OWNER_ORGANISATION_CLOSED",
                    "owner.organisation.tax_code",
                    "the organisation is dissolved or its tax code is closed",
                ));
            }
            if !name.matches(&o.name) {
                fix.push(Reason::new(
                    "OWNER_NAME_MISMATCH",
                    "owner.organisation.name",
                    "the declared name differs from the enterprise register",
                ));
            }
        }
        // The lookup layer asks the question matching the owner kind; anything else is a bug.
        _ => fix.push(Reason::new(
            "OWNER_LOOKUP_MISMATCH",
            "owner",
            "identity answered for another kind of owner",
        )),
    }
}

/// The plate's province is the owner's residence (an organisation's seat) as
/// identity reports it; the declared locality must be one of its codes and the
/// office one that serves it (DESIGN §3.2). Nothing to say when identity has no
/// record of the owner: that is its own finding.
fn check_jurisdiction(decl: &Declaration, answer: &OwnerAnswer, offices: &Offices, fix: &mut Vec<Reason>) {
    let residence = match answer {
        OwnerAnswer::Citizen(Some(c)) => c.residence.as_ref(),
        OwnerAnswer::Organisation(Some(o)) => o.seat.as_ref(),
        _ => return,
    };
    let Some(province) = residence.and_then(|r| province_of(&r.locality_code)) else {
        fix.push(Reason::new(
            "OWNER_RESIDENCE_UNKNOWN",
            "owner",
            "the owner's registered residence (or seat) names no province: the plate's province cannot be set",
        ));
        return;
    };
    let locality = decl.locality_code.as_str();
    if !province.codes.contains(&locality) {
        fix.push(Reason::new(
            "LOCALITY_NOT_OWNER_PROVINCE",
            "locality_code",
            format!(
                "the owner's registered residence is in {}, whose plate codes are {}; {locality} is not one of them",
                province.name,
                province.codes.join(", ")
            ),
        ));
    }
    let office = decl.office_code.as_str();
    match offices.serves(office) {
        None => fix.push(Reason::new(
            "OFFICE_UNKNOWN",
            "office_code",
            format!("{office} is not a registration office"),
        )),
        Some(served) if served != province => fix.push(Reason::new(
            "OFFICE_OUTSIDE_PROVINCE",
            "office_code",
            format!(
                "office {office} serves {}; the owner's registered residence is in {}",
                served.name, province.name
            ),
        )),
        Some(_) => {}
    }
}

/// Completed years between a `YYYY-MM-DD` birth date and `today`.
fn age_on(date_of_birth: &str, today: NaiveDate) -> Option<u32> {
    let dob = NaiveDate::parse_from_str(date_of_birth, "%Y-%m-%d").ok()?;
    let mut years = today.year() - dob.year();
    if (today.month(), today.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

/// Vehicle class as the agencies spell it.
fn agency_class(class: VehicleClass) -> &'static str {
    match class {
        VehicleClass::Car => "car",
        VehicleClass::Motorbike => "motorbike",
    }
}

fn check_origin(decl: &Declaration, answer: &OriginAnswer, fix: &mut Vec<Reason>) {
    let v = &decl.vehicle;
    let (engine, vehicle_type) = match answer {
        OriginAnswer::Customs(None) | OriginAnswer::Register(None) => {
            fix.push(Reason::new(
                "ORIGIN_RECORD_NOT_FOUND",
                "vehicle.chassis_number",
                match answer {
                    OriginAnswer::Customs(_) => "customs holds no import declaration for this chassis number",
                    OriginAnswer::Register(_) => {
                        "Vietnam Register holds no quality certificate for this chassis number"
                    }
                },
            ));
            return;
        }
        OriginAnswer::Customs(Some(d)) => {
            let declared = v.customs_declaration.as_ref().map(|n| n.as_str()).unwrap_or("");
            if d.declaration_number != declared {
                fix.push(Reason::new(
                    "CUSTOMS_DECLARATION_MISMATCH",
                    "vehicle.customs_declaration_number",
                    "the vehicle was cleared under another customs declaration",
                ));
            }
            (d.engine_number.as_str(), d.vehicle_type.as_str())
        }
        OriginAnswer::Register(Some(c)) => (c.engine_number.as_str(), c.vehicle_type.as_str()),
    };
    if EngineNumber::normalise(engine) != v.engine.as_str() {
        fix.push(Reason::new(
            "ENGINE_NUMBER_MISMATCH",
            "vehicle.engine_number",
            "the engine number differs from the origin record",
        ));
    }
    if !vehicle_type.eq_ignore_ascii_case(agency_class(v.class)) {
        fix.push(Reason::new(
            "VEHICLE_CLASS_MISMATCH",
            "vehicle.vehicle_class",
            format!("the origin record describes a {vehicle_type}"),
        ));
    }
}

fn check_fee(decl: &Declaration, fees: &[tax::FeeRecord], fix: &mut Vec<Reason>) {
    let v = &decl.vehicle;
    let record = fees
        .iter()
        .find(|r| r.chassis_number.trim().eq_ignore_ascii_case(v.chassis.as_str()));
    let Some(r) = record else {
        let by_engine = fees
            .iter()
            .any(|r| EngineNumber::normalise(&r.engine_number) == v.engine.as_str());
        fix.push(if by_engine {
            Reason::new(
                "FEE_RECORD_VIN_MISMATCH",
                "vehicle.chassis_number",
                "the registration fee was declared for this engine under another chassis number",
            )
        } else {
            Reason::new(
                "FEE_RECORD_NOT_FOUND",
                "vehicle.chassis_number",
                "the tax authority holds no registration fee declared by this owner for this vehicle",
            )
        });
        return;
    };
    if r.status != tax::PaymentStatus::Paid as i32 || r.fee_paid_vnd < r.fee_due_vnd {
        fix.push(Reason::new(
            "FEE_UNPAID",
            "vehicle.chassis_number",
            format!("registration fee not paid: {} of {} VND", r.fee_paid_vnd, r.fee_due_vnd),
        ));
    }
    if EngineNumber::normalise(&r.engine_number) != v.engine.as_str() {
        fix.push(Reason::new(
            "FEE_RECORD_ENGINE_MISMATCH",
            "vehicle.engine_number",
            "the registration fee was declared with another engine number",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrs_proto::pb::customs::v1 as customs;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).expect("date")
    }

    fn request() -> pb::SubmitApplicationRequest {
        pb::SubmitApplicationRequest {
            dossier_code: "G01.123456".into(),
            owner: Some(pb::Owner {
                kind: Some(pb::owner::Kind::Individual(pb::Individual {
                    personal_id: "001090012345".into(),
                    full_name: "Nguyễn Văn An".into(),
                    guardian_consent: false,
                })),
            }),
            vehicle: Some(pb::Vehicle {
                vehicle_class: pb::VehicleClass::Car as i32,
                origin: pb::VehicleOrigin::Imported as i32,
                chassis_number: "1HGCM82633A004352".into(),
                engine_number: "G4FG-123456".into(),
                customs_declaration_number: "104000000001".into(),
                make: "Honda".into(),
                model: "Accord".into(),
                seats: 5,
                commercial_use: false,
            }),
            office_code: "PC-30".into(),
            locality_code: "30".into(),
        }
    }

    fn offices() -> Offices {
        Offices::new(&std::collections::BTreeMap::from([("HN-PC08".into(), "29".into())])).expect("offices")
    }

    fn verdict(d: &Declaration, a: &Answers, today: NaiveDate) -> Verdict {
        super::verdict(d, a, &offices(), today)
    }

    fn decl() -> Declaration {
        Declaration::validate(&request(), today()).expect("valid").0
    }

    fn answers() -> Answers {
        Answers {
            owner: OwnerAnswer::Citizen(Some(identity::Citizen {
                personal_id: "001090012345".into(),
                full_name: "NGUYỄN VĂN  AN".into(),
                date_of_birth: "1990-03-04".into(),
                life_status: identity::LifeStatus::Alive as i32,
                residence: Some(identity::Residence {
                    locality_code: "29".into(),
                    province: "Hà Nội".into(),
                    address: "Số 1 Tràng Tiền".into(),
                }),
                ..Default::default()
            })),
            fees: vec![tax::FeeRecord {
                chassis_number: "1HGCM82633A004352".into(),
                engine_number: "g4fg 123456".into(),
                fee_due_vnd: 100,
                fee_paid_vnd: 100,
                status: tax::PaymentStatus::Paid as i32,
                ..Default::default()
            }],
            origin: OriginAnswer::Customs(Some(customs::ImportDeclaration {
                declaration_number: "104000000001".into(),
                chassis_number: "1HGCM82633A004352".into(),
                engine_number: "G4FG123456".into(),
                vehicle_type: "car".into(),
                ..Default::default()
            })),
            evidence: vec![],
        }
    }

    fn codes(v: &Verdict) -> Vec<&str> {
        match v {
            Verdict::Verified => vec![],
            Verdict::NeedsCorrection(r) | Verdict::Refused(r) => r.iter().map(|r| r.code.as_str()).collect(),
        }
    }

    #[test]
    fn consistent_answers_verify() {
        assert_eq!(verdict(&decl(), &answers(), today()), Verdict::Verified);
    }

    #[test]
    fn name_mismatch_needs_correction() {
        let mut a = answers();
        if let OwnerAnswer::Citizen(Some(c)) = &mut a.owner {
            c.full_name = "Nguyễn Văn Anh".into();
        }
        let v = verdict(&decl(), &a, today());
        assert!(matches!(v, Verdict::NeedsCorrection(_)));
        assert_eq!(codes(&v), ["OWNER_NAME_MISMATCH"]);
    }

    #[test]
    fn deceased_owner_is_refused_with_all_findings() {
        let mut a = answers();
        if let OwnerAnswer::Citizen(Some(c)) = &mut a.owner {
            c.life_status = identity::LifeStatus::Deceased as i32;
        }
        a.fees[0].status = tax::PaymentStatus::Unpaid as i32;
        let v = verdict(&decl(), &a, today());
        assert!(matches!(v, Verdict::Refused(_)));
        assert_eq!(codes(&v), ["OWNER_DECEASED", "FEE_UNPAID"]);
    }

    #[test]
    fn ages() {
        assert_eq!(age_on("2010-11-27", today()), Some(15));
        assert_eq!(age_on("2010-11-26", today()), Some(16));
        let mut a = answers();
        if let OwnerAnswer::Citizen(Some(c)) = &mut a.owner {
            c.date_of_birth = "2009-01-01".into();
        }
        assert_eq!(codes(&verdict(&decl(), &a, today())), ["GUARDIAN_CONSENT_REQUIRED"]);
        if let OwnerAnswer::Citizen(Some(c)) = &mut a.owner {
            c.date_of_birth = "2012-01-01".into();
        }
        assert!(matches!(verdict(&decl(), &a, today()), Verdict::Refused(_)));
    }

    #[test]
    fn fee_under_another_chassis_is_a_vin_mismatch() {
        let mut a = answers();
        a.fees[0].chassis_number = "1HGCM82633A004353".into();
        assert_eq!(codes(&verdict(&decl(), &a, today())), ["FEE_RECORD_VIN_MISMATCH"]);
        a.fees.clear();
        assert_eq!(codes(&verdict(&decl(), &a, today())), ["FEE_RECORD_NOT_FOUND"]);
    }

    #[test]
    fn origin_mismatches() {
        let mut a = answers();
        a.origin = OriginAnswer::Customs(Some(customs::ImportDeclaration {
            declaration_number: "104000000009".into(),
            engine_number: "OTHER1".into(),
            vehicle_type: "motorbike".into(),
            ..Default::default()
        }));
        assert_eq!(
            codes(&verdict(&decl(), &a, today())),
            [
                "CUSTOMS_DECLARATION_MISMATCH",
                "ENGINE_NUMBER_MISMATCH",
                "VEHICLE_CLASS_MISMATCH"
            ]
        );
        a.origin = OriginAnswer::Customs(None);
        assert_eq!(codes(&verdict(&decl(), &a, today())), ["ORIGIN_RECORD_NOT_FOUND"]);
    }

    #[test]
    fn the_pool_follows_from_the_residence_not_from_the_declaration() {
        let mut r = request();
        // Another province's code and office: both named.
        r.locality_code = "51".into();
        r.office_code = "PC-51".into();
        let d = Declaration::validate(&r, today()).expect("valid").0;
        let v = verdict(&d, &answers(), today());
        assert_eq!(codes(&v), ["LOCALITY_NOT_OWNER_PROVINCE", "OFFICE_OUTSIDE_PROVINCE"]);
        let Verdict::NeedsCorrection(reasons) = v else {
            panic!("correctable")
        };
        assert_eq!(reasons[0].field, "locality_code");
        assert_eq!(reasons[1].field, "office_code");
        // Another code of the same province, at a configured office serving it: fine.
        r.locality_code = "40".into();
        r.office_code = "HN-PC08".into();
        let d = Declaration::validate(&r, today()).expect("valid").0;
        assert_eq!(verdict(&d, &answers(), today()), Verdict::Verified);
        // An office of the right shape that nobody configured.
        r.office_code = "HN-PC99".into();
        let d = Declaration::validate(&r, today()).expect("valid").0;
        assert_eq!(codes(&verdict(&d, &answers(), today())), ["OFFICE_UNKNOWN"]);
        // An organisation's seat decides for it.
        let mut a = answers();
        a.owner = OwnerAnswer::Organisation(Some(identity::Organisation {
            name: "Công ty TNHH Vận tải Minh Phát".into(),
            status: identity::OrganisationStatus::Active as i32,
            seat: Some(identity::Residence {
                locality_code: "43".into(),
                ..Default::default()
            }),
            ..Default::default()
        }));
        let mut r = request();
        r.owner = Some(pb::Owner {
            kind: Some(pb::owner::Kind::Organisation(pb::Organisation {
                tax_code: "0100109106".into(),
                name: "Công ty TNHH Vận tải Minh Phát".into(),
            })),
        });
        r.locality_code = "92".into();
        r.office_code = "PC-43".into();
        let d = Declaration::validate(&r, today()).expect("valid").0;
        let v = verdict(&d, &a, today());
        assert!(
            !codes(&v).iter().any(|c| c.contains("LOCALITY") || c.contains("OFFICE")),
            "{v:?}"
        );
        // A residence identity cannot place.
        let mut a = answers();
        if let OwnerAnswer::Citizen(Some(c)) = &mut a.owner {
            c.residence = None;
        }
        assert_eq!(codes(&verdict(&decl(), &a, today())), ["OWNER_RESIDENCE_UNKNOWN"]);
    }
}
