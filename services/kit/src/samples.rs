//! Submissions built from the seeded data set: what a citizen whose vehicle is
//! in the agencies' records would file. Used by `vrsctl sample`/`submit
//! --sample`, the integration tests and the load generator.

use vrs_proto::pb::registration::v1 as pb;

use crate::world::{Origin, VehicleClass, World};

/// The `SubmitApplication` request for vehicle `index`, filed at the office
/// the declaration names (`PC-<code>`: the residence's, but in `OfficeElsewhere`).
pub fn submit_request(world: &World, index: usize, dossier_code: &str) -> pb::SubmitApplicationRequest {
    let d = world.declared(index);
    let owner = match (d.owner_personal_id, d.owner_tax_code) {
        (Some(personal_id), _) => pb::owner::Kind::Individual(pb::Individual {
            personal_id,
            full_name: d.owner_name,
            guardian_consent: false,
        }),
        (None, tax_code) => pb::owner::Kind::Organisation(pb::Organisation {
            tax_code: tax_code.unwrap_or_default(),
            name: d.owner_name,
        }),
    };
    let origin = match d.origin {
        Origin::Imported => pb::VehicleOrigin::Imported,
        Origin::Domestic => pb::VehicleOrigin::Domestic,
    };
    let class = match d.class {
        VehicleClass::Car => pb::VehicleClass::Car,
        VehicleClass::Motorbike => pb::VehicleClass::Motorbike,
    };
    pb::SubmitApplicationRequest {
        dossier_code: dossier_code.to_owned(),
        owner: Some(pb::Owner { kind: Some(owner) }),
        vehicle: Some(pb::Vehicle {
            vehicle_class: class as i32,
            origin: origin as i32,
            chassis_number: d.chassis_number,
            engine_number: d.engine_number,
            customs_declaration_number: d.customs_declaration_number.unwrap_or_default(),
            make: d.make,
            model: d.model,
            seats: d.seats,
            commercial_use: false,
        }),
        office_code: d.office_code,
        locality_code: d.locality_code,
    }
}
