//! Which pool family a registration draws from, as one pure function over the
//! draw crate's enums: the office's locality code, the vehicle's class, and
//! yellow plates for commercial transport (Circular 79/2024/TT-BCA). Pool ids
//! are `<family>-<series>`; strings are made here and nowhere else.

use vrs_draw::pool::{Class, Colour, PoolId};
use vrs_proto::pb::registration::v1 as pb;

/// A family of pools: one locality, class and colour; its series open in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub locality: String,
    pub class: Class,
    pub colour: Colour,
}

impl Family {
    /// The family a declared vehicle draws from at an office drawing from `locality`.
    pub fn of(locality: &str, vehicle: &pb::Vehicle) -> Family {
        let class = match vehicle.vehicle_class() {
            pb::VehicleClass::Motorbike => Class::Motorbike,
            _ => Class::Car,
        };
        let colour = if vehicle.commercial_use {
            Colour::Yellow
        } else {
            Colour::White
        };
        Family {
            locality: locality.to_owned(),
            class,
            colour,
        }
    }

    /// `<locality>-<class>-<colour>`: the prefix of its pools' ids.
    pub fn id(&self) -> String {
        format!(
            "{}-{}-{}",
            self.locality,
            class_name(self.class),
            colour_name(self.colour)
        )
    }

    /// Whether `pool_id` is one of this family's pools.
    pub fn holds(&self, pool_id: &str) -> bool {
        PoolId::parse(pool_id).is_some_and(|p| p.locality == self.locality && self.same_kind(&p))
    }

    /// Same class and colour, any locality: an identity plate follows its
    /// owner's moves, but a white plate is not reissued as a yellow one.
    pub fn same_kind(&self, pool: &PoolId) -> bool {
        pool.class == self.class && pool.colour == self.colour
    }
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Car => "car",
        Class::Motorbike => "motorbike",
    }
}

fn colour_name(c: Colour) -> &'static str {
    match c {
        Colour::White => "white",
        Colour::Yellow => "yellow",
        Colour::Blue => "blue",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vehicle(class: pb::VehicleClass, commercial_use: bool) -> pb::Vehicle {
        pb::Vehicle {
            vehicle_class: class as i32,
            commercial_use,
            ..Default::default()
        }
    }

    #[test]
    fn class_and_use_choose_the_family() {
        let car = Family::of("30", &vehicle(pb::VehicleClass::Car, false));
        assert_eq!(car.id(), "30-car-white");
        assert_eq!(
            Family::of("51", &vehicle(pb::VehicleClass::Car, true)).id(),
            "51-car-yellow"
        );
        assert_eq!(
            Family::of("29", &vehicle(pb::VehicleClass::Motorbike, false)).id(),
            "29-motorbike-white"
        );
        // Its pools, and the same kind elsewhere, but not another colour.
        assert!(car.holds("30-car-white-A"));
        assert!(!car.holds("31-car-white-A"));
        assert!(car.same_kind(&PoolId::parse("51-car-white-K").expect("pool id")));
        assert!(!car.same_kind(&PoolId::parse("30-car-yellow-A").expect("pool id")));
    }
}
