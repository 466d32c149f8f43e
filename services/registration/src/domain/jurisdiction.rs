//! Which province a plate belongs to, and which offices serve it (DESIGN §3.2).
//!
//! The plate's province follows from facts the citizen cannot choose: the
//! owner's residence as the population database reports it (an
//! organisation's seat, from the enterprise register). The office must be one
//! that serves that province, and which of a merged province's codes an office
//! draws from is a provincial decision: configuration. A declaration naming
//! another locality or office is a mismatch to correct, not a choice —
//! otherwise a citizen could pick the pool they draw from.

use std::collections::BTreeMap;

/// A province after the 1 July 2025 merger, with its plate locality codes.
#[derive(Debug, PartialEq, Eq)]
pub struct Province {
    pub name: &'static str,
    pub codes: &'static [&'static str],
}

/// The 34 provinces and their locality codes (DESIGN §3.2). Code 80 (central
/// agencies) belongs to no province: no residence has it.
pub const PROVINCES: &[Province] = &[
    p("Hà Nội", &["29", "30", "31", "32", "33", "40"]),
    p(
        "TP. Hồ Chí Minh",
        &[
            "41", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "61", "72",
        ],
    ),
    p("Hải Phòng", &["15", "16", "34"]),
    p("Đà Nẵng", &["43", "92"]),
    p("Cần Thơ", &["65", "83", "95"]),
    p("Huế", &["75"]),
    p("Cao Bằng", &["11"]),
    p("Lạng Sơn", &["12"]),
    p("Quảng Ninh", &["14"]),
    p("Lai Châu", &["25"]),
    p("Sơn La", &["26"]),
    p("Điện Biên", &["27"]),
    p("Thanh Hóa", &["36"]),
    p("Nghệ An", &["37"]),
    p("Hà Tĩnh", &["38"]),
    p("Bắc Ninh", &["98", "99"]),
    p("Tuyên Quang", &["22", "23"]),
    p("Lào Cai", &["21", "24"]),
    p("Thái Nguyên", &["20", "97"]),
    p("Hưng Yên", &["17", "89"]),
    p("Quảng Trị", &["73", "74"]),
    p("Quảng Ngãi", &["76", "82"]),
    p("Gia Lai", &["77", "81"]),
    p("Đắk Lắk", &["47", "78"]),
    p("Khánh Hòa", &["79", "85"]),
    p("Tây Ninh", &["62", "70"]),
    p("Đồng Tháp", &["63", "66"]),
    p("Cà Mau", &["69", "94"]),
    p("An Giang", &["67", "68"]),
    p("Ninh Bình", &["18", "35", "90"]),
    p("Phú Thọ", &["19", "28", "88"]),
    p("Lâm Đồng", &["48", "49", "86"]),
    p("Đồng Nai", &["39", "60", "93"]),
    p("Vĩnh Long", &["64", "71", "84"]),
];

const fn p(name: &'static str, codes: &'static [&'static str]) -> Province {
    Province { name, codes }
}

/// The province a locality code belongs to.
pub fn province_of(locality_code: &str) -> Option<&'static Province> {
    PROVINCES.iter().find(|p| p.codes.contains(&locality_code))
}

/// The registration offices: which locality code each draws from, and so
/// which province it serves.
#[derive(Debug, Clone, Default)]
pub struct Offices {
    /// Configured offices → the code they draw from.
    configured: BTreeMap<String, String>,
}

impl Offices {
    /// Offices from configuration (`office → locality code`); every code must
    /// belong to a province. Offices named `PC-<code>` need no entry: they serve
    /// that code's province and draw from it.
    pub fn new(configured: &BTreeMap<String, String>) -> Result<Offices, String> {
        for (office, code) in configured {
            if province_of(code).is_none() {
                return Err(format!(
                    "office {office} is configured to draw from {code}, which is no province's locality code"
                ));
            }
        }
        let configured = configured
            .iter()
            .map(|(o, c)| (o.trim().to_ascii_uppercase(), c.clone()))
            .collect();
        Ok(Offices { configured })
    }

    /// The locality code an office draws from, if it is an office we know.
    pub fn draws_from<'a>(&'a self, office: &'a str) -> Option<&'a str> {
        if let Some(code) = self.configured.get(office) {
            return Some(code);
        }
        office.strip_prefix("PC-").filter(|code| province_of(code).is_some())
    }

    /// The province an office serves.
    pub fn serves(&self, office: &str) -> Option<&'static Province> {
        self.draws_from(office).and_then(province_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_locality_code_in_use_belongs_to_one_province_or_the_centre() {
        let mut seen = std::collections::HashSet::new();
        for p in PROVINCES {
            for c in p.codes {
                assert!(seen.insert(*c), "{c} in two provinces");
                assert!(crate::domain::ids::LocalityCode::parse(c).is_ok(), "{c}");
            }
        }
        assert_eq!(PROVINCES.len(), 34);
        assert!(province_of("80").is_none());
        assert!(crate::domain::ids::LocalityCode::parse("80").is_ok());
        assert_eq!(province_of("51").map(|p| p.name), Some("TP. Hồ Chí Minh"));
    }

    #[test]
    fn offices_serve_the_province_of_the_code_they_draw_from() {
        let offices = Offices::new(&BTreeMap::from([("hn-pc08".into(), "30".into())])).expect("valid");
        assert_eq!(offices.draws_from("HN-PC08"), Some("30"));
        assert_eq!(offices.draws_from("PC-51"), Some("51"));
        assert_eq!(offices.serves("PC-51").map(|p| p.name), Some("TP. Hồ Chí Minh"));
        assert_eq!(offices.draws_from("PC-80"), None);
        assert_eq!(offices.draws_from("PC-10"), None);
        assert_eq!(offices.draws_from("XYZ"), None);
        assert!(Offices::new(&BTreeMap::from([("A".into(), "80".into())])).is_err());
    }

    #[test]
    fn the_table_is_the_data_sets() {
        // The identity stand-in generates residences from its own copy of the list.
        for code in crate::domain::ids::LOCALITY_CODES {
            assert_eq!(
                province_of(code).map(|p| p.name),
                vrs_kit::world::province_of(code),
                "{code}"
            );
        }
    }
}
