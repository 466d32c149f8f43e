//! The validated form of a `SubmitApplication` request (form ĐKX10).
//!
//! [`Declaration::validate`] is the edge where the prost request becomes
//! domain types (STYLE practice 5): it checks every field, reports every bad
//! one as a [`FieldViolation`] whose `field` is the proto field path
//! (`owner.individual.personal_id`, `vehicle.seats`…), and returns
//! non-blocking [`Warning`]s alongside a valid declaration.
//!
//! [`Declaration::to_pb`] gives back the normalised request (upper-cased
//! chassis number, normalised engine number, collapsed names…), and
//! [`Declaration::content_hash`] hashes it: two retries of the same dossier
//! that differ only in spelling have the same hash.

use chrono::NaiveDate;
use prost::Message;
use sha2::{Digest, Sha256};
use vrs_proto::pb::registration::v1 as pb;

use super::ids::{
    ChassisNumber, CustomsDeclarationNumber, DossierCode, EngineNumber, LocalityCode, OfficeCode, Origin, PersonName,
    PersonalId, TaxCode, VehicleClass, collapse_whitespace,
};

/// One bad field of a request: becomes a `google.rpc.BadRequest.FieldViolation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Proto field path joined by dots, e.g. `owner.individual.personal_id`.
    pub field: String,
    /// What is wrong, in English, e.g. "must be exactly 12 digits".
    pub description: String,
}

/// A finding that does not block the application, e.g. a VIN whose
/// North-American check digit does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Machine-readable, e.g. [`Warning::VIN_CHECK_DIGIT`].
    pub code: String,
    /// Proto field path of the declaration field concerned.
    pub field: String,
    /// Human-readable explanation, in English.
    pub message: String,
}

impl Warning {
    /// The VIN's North-American check digit (position 9) does not match.
    pub const VIN_CHECK_DIGIT: &'static str = "VIN_CHECK_DIGIT";

    /// As the `Reason` of an `Application`'s `warnings`.
    pub fn to_pb(&self) -> pb::Reason {
        pb::Reason {
            code: self.code.clone(),
            field: self.field.clone(),
            message: self.message.clone(),
        }
    }
}

/// Who will own the vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerDecl {
    Individual {
        personal_id: PersonalId,
        full_name: PersonName,
        /// Declared guardian consent; needed when the owner is 15–17, which
        /// is decided later from the population database's date of birth.
        guardian_consent: bool,
    },
    Organisation {
        tax_code: TaxCode,
        name: PersonName,
    },
}

/// The owner's identifier in a request: personal ID or tax code (trimmed).
pub fn owner_id(req: &pb::SubmitApplicationRequest) -> String {
    req.owner.as_ref().map_or("", |o| o.id()).trim().to_owned()
}

/// The vehicle as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VehicleDecl {
    pub class: VehicleClass,
    pub origin: Origin,
    pub chassis: ChassisNumber,
    pub engine: EngineNumber,
    /// Present exactly when `origin` is [`Origin::Imported`].
    pub customs_declaration: Option<CustomsDeclarationNumber>,
    /// Trimmed, whitespace collapsed, 1–60 characters.
    pub make: String,
    /// Trimmed, whitespace collapsed, 1–60 characters.
    pub model: String,
    /// Including the driver: 1–100 for cars, 1–3 for motorbikes.
    pub seats: u32,
    /// Transport business: a yellow plate.
    pub commercial_use: bool,
}

/// A `SubmitApplicationRequest` whose every field is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub dossier_code: DossierCode,
    pub owner: OwnerDecl,
    pub vehicle: VehicleDecl,
    pub office_code: OfficeCode,
    pub locality_code: LocalityCode,
}

/// Longest `make` or `model`, in characters.
const MAX_MAKE_MODEL_CHARS: usize = 60;

/// Collects the violations of one request.
#[derive(Default)]
struct Violations(Vec<FieldViolation>);

impl Violations {
    fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.to_owned(),
            description: description.into(),
        });
    }

    /// The value, or `None` after recording the error under `field`.
    fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }
}

/// A free-text field such as `make`: whitespace collapsed, 1–60 characters,
/// no control characters.
fn parse_text(s: &str) -> Result<String, String> {
    let s = collapse_whitespace(s);
    if s.is_empty() {
        return Err("is required".into());
    }
    if s.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    let n = s.chars().count();
    if n > MAX_MAKE_MODEL_CHARS {
        return Err(format!(
            "must be at most {MAX_MAKE_MODEL_CHARS} characters long, got {n}"
        ));
    }
    Ok(s)
}

fn validate_owner(owner: Option<&pb::Owner>, today: NaiveDate, v: &mut Violations) -> Option<OwnerDecl> {
    match owner.and_then(|o| o.kind.as_ref()) {
        None => {
            v.add("owner", "is required: an individual or an organisation");
            None
        }
        Some(pb::owner::Kind::Individual(ind)) => {
            let personal_id = v.check(
                "owner.individual.personal_id",
                PersonalId::parse(&ind.personal_id, today),
            );
            let full_name = v.check("owner.individual.full_name", PersonName::individual(&ind.full_name));
            Some(OwnerDecl::Individual {
                personal_id: personal_id?,
                full_name: full_name?,
                guardian_consent: ind.guardian_consent,
            })
        }
        Some(pb::owner::Kind::Organisation(org)) => {
            let tax_code = v.check("owner.organisation.tax_code", TaxCode::parse(&org.tax_code));
            let name = v.check("owner.organisation.name", PersonName::organisation(&org.name));
            Some(OwnerDecl::Organisation {
                tax_code: tax_code?,
                name: name?,
            })
        }
    }
}

fn validate_vehicle(
    vehicle: Option<&pb::Vehicle>,
    v: &mut Violations,
    warnings: &mut Vec<Warning>,
) -> Option<VehicleDecl> {
    let Some(veh) = vehicle else {
        v.add("vehicle", "is required");
        return None;
    };
    let class = v.check("vehicle.vehicle_class", VehicleClass::from_pb(veh.vehicle_class));
    let origin = v.check("vehicle.origin", Origin::from_pb(veh.origin));

    // Without a valid class, the chassis number is still checked against the
    // loosest rules (a motorbike's) so that its own errors are reported.
    let chassis = v
        .check(
            "vehicle.chassis_number",
            ChassisNumber::parse(&veh.chassis_number, class.unwrap_or(VehicleClass::Motorbike)),
        )
        .map(|(chassis, warning)| {
            if let Some(message) = warning {
                warnings.push(Warning {
                    code: Warning::VIN_CHECK_DIGIT.into(),
                    field: "vehicle.chassis_number".into(),
                    message,
                });
            }
            chassis
        });
    let engine = v.check("vehicle.engine_number", EngineNumber::parse(&veh.engine_number));

    const CUSTOMS: &str = "vehicle.customs_declaration_number";
    let customs_raw = veh.customs_declaration_number.trim();
    let customs_declaration = match origin {
        Some(Origin::Imported) if customs_raw.is_empty() => {
            v.add(CUSTOMS, "is required for an imported vehicle");
            None
        }
        Some(Origin::Imported) => v.check(CUSTOMS, CustomsDeclarationNumber::parse(customs_raw)).map(Some),
        Some(Origin::Domestic) if !customs_raw.is_empty() => {
            v.add(
                CUSTOMS,
                "must be empty for a vehicle made in Viet Nam (origin DOMESTIC)",
            );
            None
        }
        Some(Origin::Domestic) => Some(None),
        None => {
            // Origin unknown: still report a malformed number.
            if !customs_raw.is_empty() {
                v.check(CUSTOMS, CustomsDeclarationNumber::parse(customs_raw));
            }
            None
        }
    };

    let make = v.check("vehicle.make", parse_text(&veh.make));
    let model = v.check("vehicle.model", parse_text(&veh.model));

    let max_seats = match class {
        Some(VehicleClass::Motorbike) => 3,
        Some(VehicleClass::Car) | None => 100,
    };
    let seats = if (1..=max_seats).contains(&veh.seats) {
        Some(veh.seats)
    } else {
        let what = match class {
            Some(VehicleClass::Motorbike) => " for a motorbike",
            Some(VehicleClass::Car) => " for a car",
            None => "",
        };
        v.add(
            "vehicle.seats",
            format!("must be 1 to {max_seats}{what}, got {}", veh.seats),
        );
        None
    };

    Some(VehicleDecl {
        class: class?,
        origin: origin?,
        chassis: chassis?,
        engine: engine?,
        customs_declaration: customs_declaration?,
        make: make?,
        model: model?,
        seats: seats?,
        commercial_use: veh.commercial_use,
    })
}

impl Declaration {
    /// Validates every field and reports every bad one (not just the first).
    ///
    /// `today` is the date in Viet Nam, for the owner's minimum age.
    pub fn validate(
        req: &pb::SubmitApplicationRequest,
        today: NaiveDate,
    ) -> Result<(Declaration, Vec<Warning>), Vec<FieldViolation>> {
        let mut v = Violations::default();
        let mut warnings = Vec::new();

        let dossier_code = v.check("dossier_code", DossierCode::parse(&req.dossier_code));
        let owner = validate_owner(req.owner.as_ref(), today, &mut v);
        let vehicle = validate_vehicle(req.vehicle.as_ref(), &mut v, &mut warnings);
        let office_code = v.check("office_code", OfficeCode::parse(&req.office_code));
        let locality_code = v.check("locality_code", LocalityCode::parse(&req.locality_code));

        match (dossier_code, owner, vehicle, office_code, locality_code) {
            (Some(dossier_code), Some(owner), Some(vehicle), Some(office_code), Some(locality_code))
                if v.0.is_empty() =>
            {
                Ok((
                    Declaration {
                        dossier_code,
                        owner,
                        vehicle,
                        office_code,
                        locality_code,
                    },
                    warnings,
                ))
            }
            // Every `None` above recorded a violation, so this is never empty.
            _ => Err(v.0),
        }
    }

    /// The normalised request (upper-cased chassis, normalised engine
    /// number, trimmed names…).
    pub fn to_pb(&self) -> pb::SubmitApplicationRequest {
        let kind = match &self.owner {
            OwnerDecl::Individual {
                personal_id,
                full_name,
                guardian_consent,
            } => pb::owner::Kind::Individual(pb::Individual {
                personal_id: personal_id.as_str().to_owned(),
                full_name: full_name.as_str().to_owned(),
                guardian_consent: *guardian_consent,
            }),
            OwnerDecl::Organisation { tax_code, name } => pb::owner::Kind::Organisation(pb::Organisation {
                tax_code: tax_code.as_str().to_owned(),
                name: name.as_str().to_owned(),
            }),
        };
        let veh = &self.vehicle;
        pb::SubmitApplicationRequest {
            dossier_code: self.dossier_code.as_str().to_owned(),
            owner: Some(pb::Owner { kind: Some(kind) }),
            vehicle: Some(pb::Vehicle {
                vehicle_class: veh.class.to_pb() as i32,
                origin: veh.origin.to_pb() as i32,
                chassis_number: veh.chassis.as_str().to_owned(),
                engine_number: veh.engine.as_str().to_owned(),
                customs_declaration_number: veh
                    .customs_declaration
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                make: veh.make.clone(),
                model: veh.model.clone(),
                seats: veh.seats,
                commercial_use: veh.commercial_use,
            }),
            office_code: self.office_code.as_str().to_owned(),
            locality_code: self.locality_code.as_str().to_owned(),
        }
    }

    /// SHA-256 of [`Declaration::to_pb`]'s protobuf encoding: equal for
    /// retries of the same content, however it was spelled.
    pub fn content_hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_pb().encode_to_vec()).into()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
    }

    fn individual(personal_id: &str, full_name: &str) -> Option<pb::Owner> {
        Some(pb::Owner {
            kind: Some(pb::owner::Kind::Individual(pb::Individual {
                personal_id: personal_id.into(),
                full_name: full_name.into(),
                guardian_consent: false,
            })),
        })
    }

    fn organisation(tax_code: &str, name: &str) -> Option<pb::Owner> {
        Some(pb::Owner {
            kind: Some(pb::owner::Kind::Organisation(pb::Organisation {
                tax_code: tax_code.into(),
                name: name.into(),
            })),
        })
    }

    /// A valid imported car owned by an individual.
    fn car_request() -> pb::SubmitApplicationRequest {
        pb::SubmitApplicationRequest {
            dossier_code: "G01.123-250101-0001".into(),
            owner: individual("001090012345", "Nguyễn Văn An"),
            vehicle: Some(pb::Vehicle {
                vehicle_class: pb::VehicleClass::Car as i32,
                origin: pb::VehicleOrigin::Imported as i32,
                chassis_number: "1M8GDM9AXKP042788".into(),
                engine_number: "1NZFE123456".into(),
                customs_declaration_number: "105123456789".into(),
                make: "Toyota".into(),
                model: "Camry 2.5Q".into(),
                seats: 5,
                commercial_use: false,
            }),
            office_code: "HN-PC08".into(),
            locality_code: "30".into(),
        }
    }

    /// A valid domestic motorbike owned by an organisation.
    fn motorbike_request() -> pb::SubmitApplicationRequest {
        pb::SubmitApplicationRequest {
            dossier_code: "G01.123-250101-0002".into(),
            owner: organisation("0100109106-001", "Công ty TNHH Giao hàng Số 1"),
            vehicle: Some(pb::Vehicle {
                vehicle_class: pb::VehicleClass::Motorbike as i32,
                origin: pb::VehicleOrigin::Domestic as i32,
                chassis_number: "JC52E1234567".into(),
                engine_number: "JC52E-1234567".into(),
                customs_declaration_number: String::new(),
                make: "Honda".into(),
                model: "Wave Alpha".into(),
                seats: 2,
                commercial_use: false,
            }),
            office_code: "HCM-PC08".into(),
            locality_code: "59".into(),
        }
    }

    fn vehicle_mut(req: &mut pb::SubmitApplicationRequest) -> &mut pb::Vehicle {
        req.vehicle.as_mut().unwrap()
    }

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|v| v.field.as_str()).collect()
    }

    fn violations_of(req: &pb::SubmitApplicationRequest) -> Vec<FieldViolation> {
        Declaration::validate(req, today()).unwrap_err()
    }

    #[test]
    fn valid_individual_car_is_accepted() {
        let (decl, warnings) = Declaration::validate(&car_request(), today()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(decl.dossier_code.as_str(), "G01.123-250101-0001");
        match &decl.owner {
            OwnerDecl::Individual {
                personal_id,
                full_name,
                guardian_consent,
            } => {
                assert_eq!(personal_id.birth_year(), 1990);
                assert_eq!(full_name.as_str(), "Nguyễn Văn An");
                assert!(!guardian_consent);
            }
            other => panic!("unexpected owner {other:?}"),
        }
        assert_eq!(decl.vehicle.class, VehicleClass::Car);
        assert_eq!(decl.vehicle.origin, Origin::Imported);
        assert_eq!(
            decl.vehicle.customs_declaration.as_ref().map(|c| c.as_str()),
            Some("105123456789")
        );
        assert_eq!(decl.vehicle.seats, 5);
        assert_eq!(decl.office_code.as_str(), "HN-PC08");
        assert_eq!(decl.locality_code.as_str(), "30");
    }

    #[test]
    fn valid_organisation_motorbike_is_accepted() {
        let (decl, warnings) = Declaration::validate(&motorbike_request(), today()).unwrap();
        assert!(warnings.is_empty());
        match &decl.owner {
            OwnerDecl::Organisation { tax_code, name } => {
                assert_eq!(tax_code.head(), "0100109106");
                assert_eq!(name.as_str(), "Công ty TNHH Giao hàng Số 1");
            }
            other => panic!("unexpected owner {other:?}"),
        }
        assert_eq!(decl.vehicle.class, VehicleClass::Motorbike);
        assert_eq!(decl.vehicle.origin, Origin::Domestic);
        assert_eq!(decl.vehicle.customs_declaration, None);
        assert_eq!(decl.vehicle.engine.as_str(), "JC52E1234567");
    }

    #[test]
    fn guardian_consent_is_carried() {
        let mut req = car_request();
        req.owner = Some(pb::Owner {
            kind: Some(pb::owner::Kind::Individual(pb::Individual {
                personal_id: "001210012345".into(), // born 2010
                full_name: "Trần Thị Bình".into(),
                guardian_consent: true,
            })),
        });
        let (decl, _) = Declaration::validate(&req, today()).unwrap();
        assert!(matches!(
            decl.owner,
            OwnerDecl::Individual {
                guardian_consent: true,
                ..
            }
        ));
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        let req = pb::SubmitApplicationRequest {
            dossier_code: "x".into(),
            owner: individual("12345", "Nguyen 2"),
            vehicle: Some(pb::Vehicle {
                vehicle_class: pb::VehicleClass::Car as i32,
                origin: pb::VehicleOrigin::Domestic as i32,
                chassis_number: "1M8GDM9AXKP04278O".into(),
                engine_number: "#".into(),
                customs_declaration_number: "105123456789".into(),
                make: "  ".into(),
                model: "M".repeat(61),
                seats: 0,
                commercial_use: false,
            }),
            office_code: "a".into(),
            locality_code: "13".into(),
        };
        let violations = violations_of(&req);
        assert_eq!(
            fields(&violations),
            [
                "dossier_code",
                "owner.individual.personal_id",
                "owner.individual.full_name",
                "vehicle.chassis_number",
                "vehicle.engine_number",
                "vehicle.customs_declaration_number",
                "vehicle.make",
                "vehicle.model",
                "vehicle.seats",
                "office_code",
                "locality_code",
            ]
        );
        assert!(violations.iter().all(|v| !v.description.is_empty()));
        let chassis = &violations[3];
        assert!(chassis.description.contains("letter O"), "{chassis:?}");
        assert!(violations[8].description.contains("1 to 100 for a car"));
    }

    #[test]
    fn bad_organisation_and_enums_are_reported() {
        let req = pb::SubmitApplicationRequest {
            dossier_code: "G01-000001".into(),
            owner: organisation("001090012345", "@@"),
            vehicle: Some(pb::Vehicle {
                vehicle_class: 0,
                origin: 7,
                chassis_number: "AB-1".into(),
                engine_number: "ENG12345".into(),
                customs_declaration_number: "12".into(),
                make: "Honda".into(),
                model: "Vision".into(),
                seats: 101,
                commercial_use: false,
            }),
            office_code: "HN-PC08".into(),
            locality_code: "29".into(),
        };
        let violations = violations_of(&req);
        assert_eq!(
            fields(&violations),
            [
                "owner.organisation.tax_code",
                "owner.organisation.name",
                "vehicle.vehicle_class",
                "vehicle.origin",
                "vehicle.chassis_number",
                "vehicle.customs_declaration_number",
                "vehicle.seats",
            ]
        );
        assert!(violations[0].description.contains("personal ID"));
    }

    #[test]
    fn missing_owner_and_vehicle_are_reported() {
        let mut req = car_request();
        req.owner = None;
        req.vehicle = None;
        assert_eq!(fields(&violations_of(&req)), ["owner", "vehicle"]);

        // An owner without a kind is as good as none.
        let mut req = car_request();
        req.owner = Some(pb::Owner { kind: None });
        assert_eq!(fields(&violations_of(&req)), ["owner"]);
    }

    #[test]
    fn empty_request_reports_every_required_field() {
        let violations = violations_of(&pb::SubmitApplicationRequest::default());
        assert_eq!(
            fields(&violations),
            ["dossier_code", "owner", "vehicle", "office_code", "locality_code"]
        );
        let mut req = car_request();
        req.vehicle = Some(pb::Vehicle::default());
        assert_eq!(
            fields(&violations_of(&req)),
            [
                "vehicle.vehicle_class",
                "vehicle.origin",
                "vehicle.chassis_number",
                "vehicle.engine_number",
                "vehicle.make",
                "vehicle.model",
                "vehicle.seats",
            ]
        );
    }

    #[test]
    fn under_age_owner_is_a_personal_id_violation() {
        let mut req = car_request();
        req.owner = individual("001212012345", "Lê Văn Cường"); // born 2012
        let violations = violations_of(&req);
        assert_eq!(fields(&violations), ["owner.individual.personal_id"]);
        assert!(violations[0].description.contains("younger than 15"));
    }

    #[test]
    fn customs_declaration_required_for_imported_only() {
        let mut req = car_request();
        vehicle_mut(&mut req).customs_declaration_number = "  ".into();
        let violations = violations_of(&req);
        assert_eq!(fields(&violations), ["vehicle.customs_declaration_number"]);
        assert!(violations[0].description.contains("required for an imported"));

        vehicle_mut(&mut req).customs_declaration_number = "10512345678X".into();
        assert_eq!(fields(&violations_of(&req)), ["vehicle.customs_declaration_number"]);

        let mut req = motorbike_request();
        vehicle_mut(&mut req).customs_declaration_number = "105123456789".into();
        let violations = violations_of(&req);
        assert_eq!(fields(&violations), ["vehicle.customs_declaration_number"]);
        assert!(violations[0].description.contains("must be empty"));
    }

    #[test]
    fn seats_limits_depend_on_class() {
        let mut req = car_request();
        vehicle_mut(&mut req).seats = 100;
        assert!(Declaration::validate(&req, today()).is_ok());
        vehicle_mut(&mut req).seats = 1;
        assert!(Declaration::validate(&req, today()).is_ok());
        vehicle_mut(&mut req).seats = 101;
        assert_eq!(fields(&violations_of(&req)), ["vehicle.seats"]);

        let mut req = motorbike_request();
        vehicle_mut(&mut req).seats = 3;
        assert!(Declaration::validate(&req, today()).is_ok());
        vehicle_mut(&mut req).seats = 4;
        let violations = violations_of(&req);
        assert_eq!(fields(&violations), ["vehicle.seats"]);
        assert!(violations[0].description.contains("1 to 3 for a motorbike"));
        vehicle_mut(&mut req).seats = 0;
        assert_eq!(fields(&violations_of(&req)), ["vehicle.seats"]);
    }

    #[test]
    fn make_and_model_are_trimmed_and_bounded() {
        let mut req = car_request();
        vehicle_mut(&mut req).make = "  Mercedes   Benz ".into();
        vehicle_mut(&mut req).model = "M".repeat(60);
        let (decl, _) = Declaration::validate(&req, today()).unwrap();
        assert_eq!(decl.vehicle.make, "Mercedes Benz");
        assert_eq!(decl.vehicle.model.len(), 60);

        vehicle_mut(&mut req).make = "Vin\u{0007}Fast".into();
        vehicle_mut(&mut req).model = String::new();
        assert_eq!(fields(&violations_of(&req)), ["vehicle.make", "vehicle.model"]);
    }

    #[test]
    fn car_chassis_must_be_a_vin() {
        let mut req = car_request();
        vehicle_mut(&mut req).chassis_number = "JC52E1234567".into();
        assert_eq!(fields(&violations_of(&req)), ["vehicle.chassis_number"]);
    }

    #[test]
    fn vin_check_digit_mismatch_is_a_warning() {
        let mut req = car_request();
        vehicle_mut(&mut req).chassis_number = "5YJ3E1EA7KF317000".into();
        let (decl, warnings) = Declaration::validate(&req, today()).unwrap();
        assert_eq!(decl.vehicle.chassis.as_str(), "5YJ3E1EA7KF317000");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "VIN_CHECK_DIGIT");
        assert_eq!(warnings[0].field, "vehicle.chassis_number");
        assert!(!warnings[0].message.is_empty());
        let reason = warnings[0].to_pb();
        assert_eq!(reason.code, "VIN_CHECK_DIGIT");
        assert_eq!(reason.field, "vehicle.chassis_number");
    }

    #[test]
    fn two_spellings_of_the_same_content_normalise_alike() {
        let canonical = car_request();
        let mut sloppy = car_request();
        // The dossier code is the portal's key, taken exactly as given (a
        // lower-case or padded one is refused: `ids::DossierCode`).
        sloppy.dossier_code = "G01.123-250101-0001".into();
        sloppy.owner = individual(" 001090012345", "  NGUYỄN  Văn AN ");
        {
            let v = vehicle_mut(&mut sloppy);
            v.chassis_number = " 1m8gdm9axkp042788".into();
            v.engine_number = "1nz-fe 123_456".into();
            v.customs_declaration_number = " 105123456789 ".into();
            v.make = " Toyota ".into();
            v.model = "Camry   2.5Q".into();
        }
        sloppy.office_code = "hn-pc08".into();
        sloppy.locality_code = " 30 ".into();

        let (a, _) = Declaration::validate(&canonical, today()).unwrap();
        let (b, _) = Declaration::validate(&sloppy, today()).unwrap();
        // Names are kept as written apart from whitespace: case differs here.
        assert_ne!(a, b);
        sloppy.owner = individual("001090012345", " Nguyễn   Văn An ");
        let (b, _) = Declaration::validate(&sloppy, today()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_pb(), b.to_pb());
        assert_eq!(a.content_hash(), b.content_hash());

        let normalised = b.to_pb();
        assert_eq!(normalised.dossier_code, "G01.123-250101-0001");
        let v = normalised.vehicle.as_ref().unwrap();
        assert_eq!(v.chassis_number, "1M8GDM9AXKP042788");
        assert_eq!(v.engine_number, "1NZFE123456");
        assert_eq!(v.customs_declaration_number, "105123456789");
        assert_eq!(v.model, "Camry 2.5Q");
        assert_eq!(normalised.office_code, "HN-PC08");
        assert_eq!(normalised.locality_code, "30");
    }

    #[test]
    fn to_pb_round_trips_and_is_a_fixed_point() {
        for req in [car_request(), motorbike_request()] {
            let (decl, _) = Declaration::validate(&req, today()).unwrap();
            let pb1 = decl.to_pb();
            let (again, _) = Declaration::validate(&pb1, today()).unwrap();
            assert_eq!(again, decl);
            assert_eq!(again.to_pb(), pb1);
            assert_eq!(again.content_hash(), decl.content_hash());
        }
        // The valid canonical request is its own normal form.
        let (decl, _) = Declaration::validate(&car_request(), today()).unwrap();
        assert_eq!(decl.to_pb(), car_request());
    }

    #[test]
    fn content_hash_differs_for_different_content() {
        let (a, _) = Declaration::validate(&car_request(), today()).unwrap();
        let base = a.content_hash();
        assert_eq!(base, <[u8; 32]>::from(Sha256::digest(car_request().encode_to_vec())));

        let mut req = car_request();
        vehicle_mut(&mut req).seats = 7;
        let (b, _) = Declaration::validate(&req, today()).unwrap();
        assert_ne!(b.content_hash(), base);

        let mut req = car_request();
        req.owner = Some(pb::Owner {
            kind: Some(pb::owner::Kind::Individual(pb::Individual {
                personal_id: "001090012345".into(),
                full_name: "Nguyễn Văn An".into(),
                guardian_consent: true,
            })),
        });
        let (c, _) = Declaration::validate(&req, today()).unwrap();
        assert_ne!(c.content_hash(), base);

        let (d, _) = Declaration::validate(&motorbike_request(), today()).unwrap();
        assert_ne!(d.content_hash(), base);
    }

    /// Property tests: a declaration is untrusted bytes from the portal.
    mod props {
        use proptest::prelude::*;

        use super::*;

        /// Text that looks like what a form sends, and what it should not.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                ".{0,80}",
                "[A-Za-z0-9 .'\\-]{0,40}",
                "[ \t\n\r\u{a0}\u{300}ĐđƯưẠ-ỹ]{0,20}",
                Just(String::new()),
            ]
        }

        /// The car request with `k` of its string fields replaced by `v`.
        fn mutated(k: usize, v: String) -> pb::SubmitApplicationRequest {
            let mut r = car_request();
            {
                let veh = vehicle_mut(&mut r);
                match k % 9 {
                    0 => veh.chassis_number = v.clone(),
                    1 => veh.engine_number = v.clone(),
                    2 => veh.make = v.clone(),
                    3 => veh.model = v.clone(),
                    4 => veh.customs_declaration_number = v.clone(),
                    _ => {}
                }
            }
            match k % 9 {
                5 => r.dossier_code = v,
                6 => r.office_code = v,
                7 => r.locality_code = v,
                8 => r.owner = individual(&v, "Nguyễn Văn An"),
                _ => {}
            }
            r
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 512,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// Never a panic; whatever is accepted is a fixed point: validating
            /// the normalised form gives the same declaration and content hash
            /// (so a retry of what we stored is the same application).
            #[test]
            fn validation_is_total_and_normalisation_idempotent(k in 0usize..9, v in text()) {
                let req = mutated(k, v);
                if let Ok((d, _)) = Declaration::validate(&req, today()) {
                    let (again, _) = Declaration::validate(&d.to_pb(), today())
                        .expect("the normalised form of an accepted declaration is accepted");
                    prop_assert_eq!(&again, &d);
                    prop_assert_eq!(again.content_hash(), d.content_hash());
                } else if let Err(violations) = Declaration::validate(&req, today()) {
                    prop_assert!(!violations.is_empty());
                    prop_assert!(violations.iter().all(|v| !v.field.is_empty() && !v.description.is_empty()));
                }
            }

        }
    }
}
