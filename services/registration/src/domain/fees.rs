//! The certificate-and-plate fee (DESIGN §3.6): a configured table, never code.
//! Area by the owner's locality (Area I: Hà Nội and TP. Hồ Chí Minh), then
//! vehicle class, seats for cars, and the value band for motorbikes.
//! The registration fee (lệ phí trước bạ) itself is the tax agency's, not ours.

use serde::{Deserialize, Serialize};

use super::ids::VehicleClass;

/// One row of the fee table; the first row that matches applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeRule {
    /// "I", "II" or "III".
    pub area: String,
    /// "car" or "motorbike".
    pub class: String,
    /// Cars: applies up to this many seats (inclusive); none = any.
    #[serde(default)]
    pub max_seats: Option<u32>,
    /// Motorbikes: applies up to this taxable value in VND (inclusive); none = any.
    #[serde(default)]
    pub max_value_vnd: Option<u64>,
    pub amount_vnd: u64,
    pub legal_source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeesConfig {
    /// Locality codes in Area I.
    pub area_one: Vec<String>,
    /// Locality codes in Area II (cities under central authority other than Area I, and
    /// provincial cities); every other code is Area III. *(unconfirmed: configuration)*
    pub area_two: Vec<String>,
    pub rules: Vec<FeeRule>,
}

impl Default for FeesConfig {
    fn default() -> Self {
        let codes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        let src = "Circular 60/2023/TT-BTC";
        let rule =
            |area: &str, class: &str, max_seats: Option<u32>, max_value_vnd: Option<u64>, amount_vnd: u64| FeeRule {
                area: area.into(),
                class: class.into(),
                max_seats,
                max_value_vnd,
                amount_vnd,
                legal_source: src.into(),
            };
        FeesConfig {
            area_one: codes(&[
                "29", "30", "31", "32", "33", "40", "41", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59",
                "61", "72",
            ]),
            area_two: codes(&["15", "16", "34", "43", "92", "65", "83", "95", "75"]),
            rules: vec![
                rule("I", "car", Some(9), None, 20_000_000),
                rule("I", "car", None, None, 500_000),
                rule("I", "motorbike", None, Some(15_000_000), 1_000_000),
                rule("I", "motorbike", None, Some(40_000_000), 2_000_000),
                rule("I", "motorbike", None, None, 4_000_000),
                rule("II", "car", Some(9), None, 1_000_000),
                rule("II", "car", None, None, 200_000),
                rule("II", "motorbike", None, Some(15_000_000), 200_000),
                rule("II", "motorbike", None, Some(40_000_000), 400_000),
                rule("II", "motorbike", None, None, 800_000),
                rule("III", "car", None, None, 200_000),
                rule("III", "motorbike", None, None, 150_000),
            ],
        }
    }
}

/// The fee due and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    pub amount_vnd: u64,
    pub area: &'static str,
    pub legal_source: String,
}

impl FeesConfig {
    pub fn area(&self, locality: &str) -> &'static str {
        if self.area_one.iter().any(|c| c == locality) {
            "I"
        } else if self.area_two.iter().any(|c| c == locality) {
            "II"
        } else {
            "III"
        }
    }

    /// The fee for a vehicle registered in `locality`; `None` if no rule matches.
    /// The fee of a declared vehicle registered in `locality`, with the
    /// taxable value from the fee record once verified.
    pub fn fee_of(
        &self,
        decl: &vrs_proto::pb::registration::v1::SubmitApplicationRequest,
        locality: &str,
        value_vnd: Option<i64>,
    ) -> Option<Fee> {
        use vrs_proto::pb::registration::v1 as pb;
        let v = decl.vehicle.as_ref()?;
        let class = match v.vehicle_class() {
            pb::VehicleClass::Motorbike => VehicleClass::Motorbike,
            _ => VehicleClass::Car,
        };
        self.fee(locality, class, v.seats, value_vnd.and_then(|v| u64::try_from(v).ok()))
    }

    pub fn fee(&self, locality: &str, class: VehicleClass, seats: u32, value_vnd: Option<u64>) -> Option<Fee> {
        let area = self.area(locality);
        let class_name = match class {
            VehicleClass::Car => "car",
            VehicleClass::Motorbike => "motorbike",
        };
        self.rules
            .iter()
            .find(|r| {
                r.area == area
                    && r.class == class_name
                    && r.max_seats.is_none_or(|m| seats <= m)
                    // Without a known value, the motorbike falls in the highest band that has no cap.
                    && r.max_value_vnd.is_none_or(|m| value_vnd.is_some_and(|v| v <= m))
            })
            .map(|r| Fee {
                amount_vnd: r.amount_vnd,
                area,
                legal_source: r.legal_source.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_design() {
        let f = FeesConfig::default();
        assert_eq!(
            f.fee("30", VehicleClass::Car, 5, None).map(|f| f.amount_vnd),
            Some(20_000_000)
        );
        assert_eq!(
            f.fee("51", VehicleClass::Car, 16, None).map(|f| f.amount_vnd),
            Some(500_000)
        );
        assert_eq!(
            f.fee("29", VehicleClass::Motorbike, 2, Some(12_000_000))
                .map(|f| f.amount_vnd),
            Some(1_000_000)
        );
        assert_eq!(
            f.fee("29", VehicleClass::Motorbike, 2, Some(30_000_000))
                .map(|f| f.amount_vnd),
            Some(2_000_000)
        );
        assert_eq!(
            f.fee("29", VehicleClass::Motorbike, 2, Some(90_000_000))
                .map(|f| f.amount_vnd),
            Some(4_000_000)
        );
        assert_eq!(
            f.fee("29", VehicleClass::Motorbike, 2, None).map(|f| f.amount_vnd),
            Some(4_000_000)
        );
        assert_eq!(f.fee("43", VehicleClass::Car, 7, None).map(|f| f.area), Some("II"));
        assert_eq!(
            f.fee("11", VehicleClass::Car, 7, None).map(|f| (f.area, f.amount_vnd)),
            Some(("III", 200_000))
        );
        assert_eq!(
            f.fee("30", VehicleClass::Car, 5, None).map(|f| f.legal_source),
            Some("Circular 60/2023/TT-BTC".into())
        );
    }
}
