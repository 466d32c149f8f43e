//! Validated identifiers and codes of a registration (DESIGN §3.2, §3.5).
//!
//! Every type here is a newtype that cannot hold an invalid value: the only
//! way in is a `parse` (or named) constructor that normalises its input
//! (trimming, upper-casing…) and checks it. The `Err` of a constructor is a
//! short English sentence fragment describing what is wrong, ready to become
//! the `description` of a `google.rpc.BadRequest` field violation; the field
//! path itself is added by the caller ([`super::declaration`]).
//!
//! Values are converted here once, at the gRPC edge (STYLE practice 5); the
//! rest of the service works with these types and never re-validates.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use vrs_proto::pb::registration::v1 as pb;

/// Whether `s` has between `min` and `max` characters (Unicode scalar values).
fn char_len_between(s: &str, min: usize, max: usize) -> bool {
    let n = s.chars().count();
    (min..=max).contains(&n)
}

/// Trims `s` and replaces every run of internal whitespace by one space.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Describes a character for an error message: `'x'`, or `U+0009` for
/// invisible ones.
fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

// ---------------------------------------------------------------------------
// Dossier code
// ---------------------------------------------------------------------------

/// The National Public Service Portal's dossier code: the idempotency key of
/// `SubmitApplication`. 6–40 characters of A–Z, 0–9, `-` and `.`, exactly as
/// the contract says: a lower-case or padded code is refused rather than
/// rewritten, because a key that is silently changed no longer matches the
/// portal's own record of the dossier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DossierCode(String);

impl DossierCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.chars().any(|c| c.is_ascii_lowercase()) {
            return Err(format!(
                "contains lower-case letters; dossier codes are upper-case (e.g. {})",
                s.trim().to_ascii_uppercase()
            ));
        }
        let s = s.to_owned();
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '.')))
        {
            return Err(format!(
                "contains {}; only letters A-Z, digits, '-' and '.' are allowed",
                describe_char(c)
            ));
        }
        if !(6..=40).contains(&s.len()) {
            return Err(format!("must be 6 to 40 characters long, got {}", s.len()));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Personal ID
// ---------------------------------------------------------------------------

/// A 12-digit personal ID (căn cước), `PPP G YY RRRRRR`: birth-province code
/// 001–096, century/gender digit, two-digit birth year, six random digits.
/// There is no checksum.
///
/// `parse` also rejects owners who are certainly younger than 15 on `today`
/// (the minimum age of a vehicle owner). Someone born in `today.year() - 15`
/// may still be 14: the exact age is checked later against the population
/// database's date of birth.
///
/// `Debug` masks all but the province code: personal IDs never go into logs
/// in clear (STYLE practice 9).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonalId(String);

/// The minimum age of a vehicle owner (DESIGN §3.5).
pub const MIN_OWNER_AGE: i32 = 15;

impl PersonalId {
    pub fn parse(s: &str, today: NaiveDate) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be exactly 12 digits (PPP G YY RRRRRR)".into());
        }
        let id = Self(s.to_owned());
        let province = id.birth_province();
        if !(1..=96).contains(&province) {
            return Err(format!(
                "starts with birth-province code {:03}, which does not exist (001 to 096)",
                province
            ));
        }
        let birth_year = id.birth_year();
        if birth_year > today.year() {
            return Err(format!("encodes birth year {birth_year}, which is in the future"));
        }
        if today.year() - birth_year < MIN_OWNER_AGE {
            return Err(format!(
                "encodes birth year {birth_year}: the owner is younger than {MIN_OWNER_AGE}"
            ));
        }
        Ok(id)
    }

    /// Digit `i` (0-based) of the ID; the constructor guarantees 12 ASCII digits.
    fn digit(&self, i: usize) -> u16 {
        self.0
            .as_bytes()
            .get(i)
            .map_or(0, |b| u16::from(b.saturating_sub(b'0')))
    }

    /// The birth-province code (1–96), the first three digits.
    pub fn birth_province(&self) -> u16 {
        self.digit(0) * 100 + self.digit(1) * 10 + self.digit(2)
    }

    /// The birth year: century from the fourth digit (0/1 → 1900s,
    /// 2/3 → 2000s, … 8/9 → 2300s) plus the two-digit year.
    pub fn birth_year(&self) -> i32 {
        let century = 1900 + i32::from(self.digit(3) / 2) * 100;
        century + i32::from(self.digit(4) * 10 + self.digit(5))
    }

    /// Whether the century/gender digit is odd (female).
    pub fn is_female(&self) -> bool {
        self.digit(3) % 2 == 1
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalId({:03}*********)", self.birth_province())
    }
}

// ---------------------------------------------------------------------------
// Tax code
// ---------------------------------------------------------------------------

/// An organisation's tax code: 10 digits whose last is a check digit, or
/// `NNNNNNNNNN-NNN` for a branch (dependent unit), suffix 001–999.
///
/// Individuals have used their 12-digit personal ID as tax code since
/// 1 Jul 2025 (DESIGN §3.5), but this type is for organisation owners and
/// accepts only the 10 and 10-3 forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaxCode(String);

/// Weights of the first nine digits in the tax-code check digit.
const TAX_CODE_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

impl TaxCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        let (head, branch) = match s.split_once('-') {
            Some((head, branch)) => (head, Some(branch)),
            None => (s, None),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if head.len() != 10 || !all_digits(head) {
            if branch.is_none() && s.len() == 12 && all_digits(s) {
                return Err("must be an organisation's 10-digit tax code (or NNNNNNNNNN-NNN \
                            for a branch), not a 12-digit personal ID"
                    .into());
            }
            return Err("must be 10 digits, or NNNNNNNNNN-NNN for a branch".into());
        }
        if let Some(branch) = branch {
            if branch.len() != 3 || !all_digits(branch) {
                return Err("must be 10 digits, or NNNNNNNNNN-NNN for a branch".into());
            }
            if branch == "000" {
                return Err("has branch suffix 000; a branch suffix is 001 to 999".into());
            }
        }
        let digits: Vec<u32> = head.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = digits.iter().zip(TAX_CODE_WEIGHTS).map(|(d, w)| d * w).sum();
        let check = 10 - sum % 11;
        if check == 10 {
            return Err("is not a valid tax code: no check digit exists for its first nine \
                        digits"
                .into());
        }
        if digits.get(9) != Some(&check) {
            return Err("has a wrong check digit (the 10th digit)".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// The 10-digit tax code of the organisation (of the parent, for a branch).
    pub fn head(&self) -> &str {
        self.0.get(..10).unwrap_or(&self.0)
    }

    /// The branch suffix (`"001"`…), if this is a branch's tax code.
    pub fn branch(&self) -> Option<&str> {
        self.0.get(11..)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaxCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/// A person's full name or an organisation's name: trimmed, internal
/// whitespace collapsed to single spaces.
///
/// - [`PersonName::individual`]: 2–100 characters of letters (any Unicode
///   alphabetic, so Vietnamese diacritics are fine), spaces, `'`, `-` and `.`;
///   at least two letters.
/// - [`PersonName::organisation`]: 1–150 characters; also digits and `&,()/`;
///   at least one letter or digit.
///
/// Combining diacritical marks (U+0300–U+036F, as in decomposed/NFD input)
/// are accepted after a letter, but not composed: "Nguyễn" in NFC and NFD
/// are different names to [`PersonName::matches`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

fn is_combining_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

impl PersonName {
    /// A natural person's full name.
    pub fn individual(s: &str) -> Result<Self, String> {
        Self::parse(s, 2, 100, "letters, spaces, ', - and .", |c| {
            matches!(c, '\'' | '-' | '.')
        })
        .and_then(|name| {
            if name.0.chars().filter(|c| c.is_alphabetic()).count() < 2 {
                Err("must contain at least two letters".into())
            } else {
                Ok(name)
            }
        })
    }

    /// An organisation's name.
    pub fn organisation(s: &str) -> Result<Self, String> {
        Self::parse(s, 1, 150, "letters, digits, spaces and . ' - & , ( ) /", |c| {
            c.is_numeric() || matches!(c, '.' | '\'' | '-' | '&' | ',' | '(' | ')' | '/')
        })
        .and_then(|name| {
            if name.0.chars().any(char::is_alphanumeric) {
                Ok(name)
            } else {
                Err("must contain a letter or a digit".into())
            }
        })
    }

    fn parse(s: &str, min: usize, max: usize, allowed: &str, extra: impl Fn(char) -> bool) -> Result<Self, String> {
        // Runs of spaces are tidied; a line break, tab or other control or
        // special space is refused: it is not part of any name, and storing it
        // turned into a space would keep something the citizen did not type.
        if let Some(c) = s.chars().find(|&c| c != ' ' && (c.is_whitespace() || c.is_control())) {
            return Err(format!("contains {}; only {allowed} are allowed", describe_char(c)));
        }
        let s = collapse_whitespace(s);
        if s.is_empty() {
            return Err("is required".into());
        }
        let mut prev: Option<char> = None;
        for c in s.chars() {
            let ok = c.is_alphabetic()
                || c == ' '
                || extra(c)
                || (is_combining_mark(c) && prev.is_some_and(|p| p.is_alphabetic() || is_combining_mark(p)));
            if !ok {
                return Err(format!("contains {}; only {allowed} are allowed", describe_char(c)));
            }
            prev = Some(c);
        }
        if !char_len_between(&s, min, max) {
            return Err(format!(
                "must be {min} to {max} characters long, got {}",
                s.chars().count()
            ));
        }
        Ok(Self(s))
    }

    /// Whether `other` is the same name, ignoring case and whitespace
    /// differences. Diacritics are significant: "Nguyễn" ≠ "Nguyen".
    pub fn matches(&self, other: &str) -> bool {
        self.0.to_lowercase() == collapse_whitespace(other).to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// Vehicle class and origin
// ---------------------------------------------------------------------------

/// The kind of vehicle, which decides the plate format and several rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VehicleClass {
    Car,
    Motorbike,
}

impl VehicleClass {
    /// Stable lower-case name, for storage and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Car => "car",
            Self::Motorbike => "motorbike",
        }
    }

    /// From the wire value of `vrs.registration.v1.VehicleClass`.
    pub fn from_pb(value: i32) -> Result<Self, String> {
        match pb::VehicleClass::try_from(value) {
            Ok(pb::VehicleClass::Car) => Ok(Self::Car),
            Ok(pb::VehicleClass::Motorbike) => Ok(Self::Motorbike),
            Ok(pb::VehicleClass::Unspecified) => {
                Err("is required: VEHICLE_CLASS_CAR or VEHICLE_CLASS_MOTORBIKE".into())
            }
            Err(_) => Err(format!("has unknown value {value}")),
        }
    }

    pub fn to_pb(self) -> pb::VehicleClass {
        match self {
            Self::Car => pb::VehicleClass::Car,
            Self::Motorbike => pb::VehicleClass::Motorbike,
        }
    }
}

/// Where the vehicle comes from, which decides the agency that vouches for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Checked against a customs import declaration.
    Imported,
    /// Checked against Vietnam Register's factory quality certificate.
    Domestic,
}

impl Origin {
    /// Stable lower-case name, for storage and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imported => "imported",
            Self::Domestic => "domestic",
        }
    }

    /// From the wire value of `vrs.registration.v1.VehicleOrigin`.
    pub fn from_pb(value: i32) -> Result<Self, String> {
        match pb::VehicleOrigin::try_from(value) {
            Ok(pb::VehicleOrigin::Imported) => Ok(Self::Imported),
            Ok(pb::VehicleOrigin::Domestic) => Ok(Self::Domestic),
            Ok(pb::VehicleOrigin::Unspecified) => {
                Err("is required: VEHICLE_ORIGIN_IMPORTED or VEHICLE_ORIGIN_DOMESTIC".into())
            }
            Err(_) => Err(format!("has unknown value {value}")),
        }
    }

    pub fn to_pb(self) -> pb::VehicleOrigin {
        match self {
            Self::Imported => pb::VehicleOrigin::Imported,
            Self::Domestic => pb::VehicleOrigin::Domestic,
        }
    }
}

// ---------------------------------------------------------------------------
// Chassis number
// ---------------------------------------------------------------------------

/// A chassis number, upper case: a 17-character VIN (ISO 3779 / TCVN 6578:
/// digits and A–Z without I, O, Q) for cars; for motorbikes such a VIN or a
/// manufacturer's frame number of 6–20 ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChassisNumber(String);

/// Weights of the 17 VIN positions in the North-American check digit.
const VIN_WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// Whether `s` is 17 characters of the VIN alphabet.
fn is_vin(s: &str) -> bool {
    s.len() == 17
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'O' | b'Q')))
}

/// The value of a VIN character in the check-digit sum.
fn vin_value(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => 0,
    }
}

/// The North-American check digit (`'0'`–`'9'` or `'X'`) of a 17-character
/// VIN; position 9 of the VIN should hold it.
pub fn vin_check_digit(vin: &str) -> char {
    let sum: u32 = vin.bytes().zip(VIN_WEIGHTS).map(|(c, w)| vin_value(c) * w).sum();
    match sum % 11 {
        10 => 'X',
        d => char::from_digit(d, 10).unwrap_or('X'),
    }
}

impl ChassisNumber {
    /// Parses a chassis number for a vehicle of `class`. The second value is
    /// a warning when the VIN's North-American check digit does not match:
    /// Viet Nam does not require it, so that is never an error.
    pub fn parse(s: &str, class: VehicleClass) -> Result<(Self, Option<String>), String> {
        let s = s.trim().to_ascii_uppercase();
        if s.is_empty() {
            return Err("is required".into());
        }
        let vin = match class {
            VehicleClass::Car => {
                if let Some(c) = s.chars().find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit())) {
                    return Err(format!(
                        "contains {}; a VIN has only digits and letters A-Z",
                        describe_char(c)
                    ));
                }
                if let Some(c) = s.chars().find(|c| matches!(c, 'I' | 'O' | 'Q')) {
                    return Err(format!(
                        "contains the letter {c}, which a VIN never uses (no I, O or Q)"
                    ));
                }
                if s.len() != 17 {
                    return Err(format!("must be a 17-character VIN, got {} characters", s.len()));
                }
                true
            }
            VehicleClass::Motorbike => {
                if let Some(c) = s.chars().find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit())) {
                    return Err(format!(
                        "contains {}; a VIN or frame number has only digits and letters A-Z",
                        describe_char(c)
                    ));
                }
                if !(6..=20).contains(&s.len()) {
                    return Err(format!(
                        "must be a 17-character VIN or a frame number of 6 to 20 characters, \
                         got {} characters",
                        s.len()
                    ));
                }
                is_vin(&s)
            }
        };
        let warning = if vin {
            let expected = vin_check_digit(&s);
            let actual = s.as_bytes().get(8).map_or('?', |b| char::from(*b));
            (actual != expected).then(|| {
                format!(
                    "VIN check digit (position 9) is {actual}, the North-American check digit \
                     would be {expected}; not required in Viet Nam"
                )
            })
        } else {
            None
        };
        Ok((Self(s), warning))
    }

    /// Whether this is a 17-character VIN (always, for cars) rather than a
    /// motorbike frame number.
    pub fn is_vin(&self) -> bool {
        is_vin(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChassisNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Engine number
// ---------------------------------------------------------------------------

/// A manufacturer-defined engine number, normalised by
/// [`EngineNumber::normalise`] to 4–30 upper-case ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineNumber(String);

impl EngineNumber {
    /// The comparison form of an engine number: upper case, without
    /// whitespace, dashes (incl. Unicode dashes), underscores, dots and
    /// slashes. Agency engine numbers are compared through this function too.
    pub fn normalise(s: &str) -> String {
        s.chars()
            .filter(|c| {
                !(c.is_whitespace() || matches!(c, '-' | '_' | '.' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}'))
            })
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let n = Self::normalise(s);
        if n.is_empty() {
            return Err("is required".into());
        }
        if let Some(c) = n.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(format!(
                "contains {}; after removing spaces, dashes, underscores, dots and slashes an \
                 engine number must be 4 to 30 letters A-Z and digits",
                describe_char(c)
            ));
        }
        if !(4..=30).contains(&n.len()) {
            return Err(format!(
                "must be 4 to 30 letters A-Z and digits (ignoring spaces, dashes, underscores, \
                 dots and slashes), got {}",
                n.len()
            ));
        }
        Ok(Self(n))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EngineNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Customs declaration number
// ---------------------------------------------------------------------------

/// A customs import declaration number: exactly 12 digits, otherwise opaque
/// (its structure is unconfirmed, DESIGN §3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomsDeclarationNumber(String);

impl CustomsDeclarationNumber {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be exactly 12 digits".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomsDeclarationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Locality code
// ---------------------------------------------------------------------------

/// Every plate locality code in use (DESIGN §3.2, after the 1 Jul 2025
/// merger into 34 provinces; every old code kept), ascending:
///
/// - one code: Cao Bằng 11, Lạng Sơn 12, Quảng Ninh 14, Lai Châu 25,
///   Sơn La 26, Điện Biên 27, Thanh Hóa 36, Nghệ An 37, Hà Tĩnh 38, Huế 75;
/// - two: Bắc Ninh 98 99, Tuyên Quang 22 23, Lào Cai 21 24,
///   Thái Nguyên 20 97, Hưng Yên 17 89, Quảng Trị 73 74, Đà Nẵng 43 92,
///   Quảng Ngãi 76 82, Gia Lai 77 81, Đắk Lắk 47 78, Khánh Hòa 79 85,
///   Tây Ninh 62 70, Đồng Tháp 63 66, Cà Mau 69 94, An Giang 67 68;
/// - three: Hải Phòng 15 16 34, Ninh Bình 18 35 90, Cần Thơ 65 83 95,
///   Phú Thọ 19 28 88, Lâm Đồng 48 49 86, Đồng Nai 39 60 93,
///   Vĩnh Long 64 71 84;
/// - Hà Nội 29 30 31 32 33 40; TP. Hồ Chí Minh 41 50–59 61 72;
/// - central agencies 80.
///
/// Not codes: 00–10, 13, 42, 44, 45, 46, 87, 91, 96 (§3.2 lists 10, 42, 44,
/// 45, 46, 87, 91 and 96 as unused; 13 is assigned to no province either).
pub const LOCALITY_CODES: &[&str] = &[
    "11", "12", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30",
    "31", "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "43", "47", "48", "49", "50", "51", "52", "53",
    "54", "55", "56", "57", "58", "59", "60", "61", "62", "63", "64", "65", "66", "67", "68", "69", "70", "71", "72",
    "73", "74", "75", "76", "77", "78", "79", "80", "81", "82", "83", "84", "85", "86", "88", "89", "90", "92", "93",
    "94", "95", "97", "98", "99",
];

/// A two-digit plate locality code in use (see [`LOCALITY_CODES`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalityCode(String);

impl LocalityCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be a two-digit plate locality code".into());
        }
        if !LOCALITY_CODES.contains(&s) {
            return Err(format!("{s} is not a plate locality code in use"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Office code
// ---------------------------------------------------------------------------

/// A registry office's code, e.g. `HN-PC08`: trimmed and upper-cased; 3–32
/// characters of A–Z, 0–9, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfficeCode(String);

impl OfficeCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_uppercase();
        if s.is_empty() {
            return Err("is required".into());
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '_')))
        {
            return Err(format!(
                "contains {}; only letters A-Z, digits, '-' and '_' are allowed",
                describe_char(c)
            ));
        }
        if !(3..=32).contains(&s.len()) {
            return Err(format!("must be 3 to 32 characters long, got {}", s.len()));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OfficeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
    }

    // --- DossierCode -------------------------------------------------------

    #[test]
    fn dossier_code_is_taken_exactly_as_given() {
        let c = DossierCode::parse("000.30.01.H26-250101-0001").unwrap();
        assert_eq!(c.as_str(), "000.30.01.H26-250101-0001");
        // Not rewritten: a lower-case or padded code is refused, naming the fix.
        let lower = DossierCode::parse("000.30.01.h26-250101-0001").unwrap_err();
        assert!(
            lower.contains("lower-case") && lower.contains("000.30.01.H26-250101-0001"),
            "{lower}"
        );
        assert!(DossierCode::parse(" G01.000001").unwrap_err().contains("U+0020"));
        assert_eq!(DossierCode::parse("ABC123").unwrap().as_str(), "ABC123");
        assert_eq!(DossierCode::parse(&"A".repeat(40)).unwrap().as_str().len(), 40);
    }

    #[test]
    fn dossier_code_rejects_bad_length_and_characters() {
        assert_eq!(DossierCode::parse("").unwrap_err(), "is required");
        assert!(DossierCode::parse("  ").unwrap_err().contains("U+0020"));
        assert!(DossierCode::parse("ABC12").unwrap_err().contains("6 to 40"));
        assert!(DossierCode::parse(&"A".repeat(41)).unwrap_err().contains("6 to 40"));
        assert!(DossierCode::parse("G01_123456").unwrap_err().contains("'_'"));
        assert!(DossierCode::parse("G01 123456").unwrap_err().contains("U+0020"));
        // Non-ASCII letters are not upper-cased into ASCII ("ß" → "SS").
        assert!(DossierCode::parse("abcß12").is_err());
    }

    // --- PersonalId --------------------------------------------------------

    #[test]
    fn personal_id_decodes_province_and_birth_year() {
        let id = PersonalId::parse(" 001090012345 ", today()).unwrap();
        assert_eq!(id.as_str(), "001090012345");
        assert_eq!(id.birth_province(), 1);
        assert_eq!(id.birth_year(), 1990);
        assert!(!id.is_female());

        let id = PersonalId::parse("096303001234", today()).unwrap();
        assert_eq!(id.birth_province(), 96);
        assert_eq!(id.birth_year(), 2003);
        assert!(id.is_female());
    }

    #[test]
    fn personal_id_century_digits() {
        let far = NaiveDate::from_ymd_opt(2400, 1, 1).unwrap();
        for (g, century) in [
            (0, 1900),
            (1, 1900),
            (2, 2000),
            (3, 2000),
            (4, 2100),
            (5, 2100),
            (6, 2200),
            (7, 2200),
            (8, 2300),
            (9, 2300),
        ] {
            let id = PersonalId::parse(&format!("001{g}05123456"), far).unwrap();
            assert_eq!(id.birth_year(), century + 5, "digit {g}");
            assert_eq!(id.is_female(), g % 2 == 1);
        }
    }

    #[test]
    fn personal_id_rejects_bad_format() {
        assert_eq!(PersonalId::parse("", today()).unwrap_err(), "is required");
        assert!(
            PersonalId::parse("00109001234", today())
                .unwrap_err()
                .contains("12 digits")
        );
        assert!(
            PersonalId::parse("0010900123456", today())
                .unwrap_err()
                .contains("12 digits")
        );
        assert!(
            PersonalId::parse("00109001234A", today())
                .unwrap_err()
                .contains("12 digits")
        );
        assert!(PersonalId::parse("001 090 012345", today()).is_err());
        // Non-ASCII digits (Arabic-Indic) are not digits here.
        assert!(PersonalId::parse("٠٠١٠٩٠٠١٢٣٤٥", today()).is_err());
    }

    #[test]
    fn personal_id_rejects_unknown_provinces() {
        assert!(PersonalId::parse("000090012345", today()).unwrap_err().contains("000"));
        assert!(PersonalId::parse("097090012345", today()).unwrap_err().contains("097"));
        assert!(PersonalId::parse("999090012345", today()).is_err());
        assert!(PersonalId::parse("096090012345", today()).is_ok());
    }

    #[test]
    fn personal_id_rejects_future_birth_years() {
        // 2027 (G=2, YY=27) is after 2026.
        assert!(
            PersonalId::parse("001227012345", today())
                .unwrap_err()
                .contains("future")
        );
        // 2100s.
        assert!(
            PersonalId::parse("001400012345", today())
                .unwrap_err()
                .contains("future")
        );
    }

    #[test]
    fn personal_id_rejects_owners_certainly_under_15() {
        // Born 2012: at most 14 in 2026.
        let err = PersonalId::parse("001212012345", today()).unwrap_err();
        assert!(err.contains("younger than 15"), "{err}");
        // Born this year.
        assert!(PersonalId::parse("001226012345", today()).is_err());
        // Born 2011: may be 14 or 15 — left to the exact check.
        assert_eq!(PersonalId::parse("001211012345", today()).unwrap().birth_year(), 2011);
        // Even on 1 January.
        let new_year = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(PersonalId::parse("001211012345", new_year).is_ok());
    }

    #[test]
    fn personal_id_debug_is_masked() {
        let id = PersonalId::parse("001090012345", today()).unwrap();
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("012345"), "{dbg}");
        assert!(dbg.contains("001"));
    }

    // --- TaxCode -----------------------------------------------------------

    #[test]
    fn tax_code_accepts_valid_check_digits() {
        for code in ["0100109106", "0300588569", "0312345673"] {
            let t = TaxCode::parse(code).unwrap();
            assert_eq!(t.as_str(), code);
            assert_eq!(t.head(), code);
            assert_eq!(t.branch(), None);
        }
        assert_eq!(TaxCode::parse(" 0100109106 ").unwrap().as_str(), "0100109106");
    }

    #[test]
    fn tax_code_rejects_wrong_check_digit() {
        for code in ["0100109107", "0100109100", "0300588560"] {
            assert!(TaxCode::parse(code).unwrap_err().contains("check digit"), "{code}");
        }
    }

    #[test]
    fn tax_code_rejects_when_no_check_digit_exists() {
        // sum mod 11 == 0 → 10 − 0 = 10 → invalid, whatever the 10th digit.
        for code in ["0000000000", "1000000080", "1000000081"] {
            let err = TaxCode::parse(code).unwrap_err();
            assert!(err.contains("no check digit exists"), "{code}: {err}");
        }
    }

    #[test]
    fn tax_code_branch_form() {
        let t = TaxCode::parse("0100109106-001").unwrap();
        assert_eq!(t.head(), "0100109106");
        assert_eq!(t.branch(), Some("001"));
        assert!(TaxCode::parse("0100109106-999").is_ok());
        assert!(TaxCode::parse("0100109106-000").unwrap_err().contains("001 to 999"));
        assert!(TaxCode::parse("0100109107-001").unwrap_err().contains("check digit"));
        assert!(TaxCode::parse("0100109106-01").is_err());
        assert!(TaxCode::parse("0100109106-0001").is_err());
        assert!(TaxCode::parse("0100109106-").is_err());
        assert!(TaxCode::parse("0100109106-00A").is_err());
        assert!(TaxCode::parse("0100109106001").is_err());
    }

    #[test]
    fn tax_code_rejects_other_shapes() {
        assert_eq!(TaxCode::parse("").unwrap_err(), "is required");
        assert!(TaxCode::parse("010010910").is_err());
        assert!(TaxCode::parse("01001091066").is_err());
        assert!(TaxCode::parse("010010910A").is_err());
        // An individual's 12-digit personal ID is not an organisation's tax code.
        let err = TaxCode::parse("001090012345").unwrap_err();
        assert!(err.contains("personal ID"), "{err}");
    }

    // --- PersonName --------------------------------------------------------

    #[test]
    fn individual_name_is_collapsed_and_keeps_diacritics() {
        let n = PersonName::individual("  Nguyễn   Văn An ").unwrap();
        assert_eq!(n.as_str(), "Nguyễn Văn An");
        // A line break or tab is not part of a name: refused, not turned into a space.
        for bad in ["Nguyễn Văn\nAn", "Nguyễn\tVăn An", "Nguyễn Văn An\r", "Nguyễn\u{a0}Văn"] {
            let err = PersonName::individual(bad).unwrap_err();
            assert!(err.contains("U+"), "{bad:?}: {err}");
            assert!(PersonName::organisation(bad).is_err(), "{bad:?}");
        }
        assert_eq!(PersonName::individual("Đặng Thị Ánh").unwrap().as_str(), "Đặng Thị Ánh");
        assert!(PersonName::individual("O'Brien-Smith Jr.").is_ok());
        // Single names exist.
        assert!(PersonName::individual("Lan").is_ok());
        assert!(PersonName::individual("Li").is_ok());
        // Decomposed (NFD) diacritics after a letter.
        assert!(PersonName::individual("Nguye\u{0302}\u{0303}n").is_ok());
    }

    #[test]
    fn individual_name_rejects_bad_input() {
        assert_eq!(PersonName::individual("   ").unwrap_err(), "is required");
        assert!(PersonName::individual("X").unwrap_err().contains("2 to 100"));
        assert!(PersonName::individual("A.").unwrap_err().contains("two letters"));
        assert!(PersonName::individual("Nguyen Van 2").unwrap_err().contains("'2'"));
        assert!(PersonName::individual("Tom & Jerry").unwrap_err().contains("'&'"));
        assert!(PersonName::individual("Nguyen (An)").is_err());
        assert!(PersonName::individual("An\u{0000}h").is_err());
        assert!(PersonName::individual("\u{0301}An").is_err());
        assert!(PersonName::individual(&"a".repeat(100)).is_ok());
        assert!(
            PersonName::individual(&"a".repeat(101))
                .unwrap_err()
                .contains("2 to 100")
        );
        // Length counts characters, not bytes.
        assert!(PersonName::individual(&"ễ".repeat(100)).is_ok());
    }

    #[test]
    fn organisation_name_allows_digits_and_punctuation() {
        let n = PersonName::organisation(" Công ty TNHH  Thương mại & Dịch vụ Số 1 (Hà Nội), A/B ").unwrap();
        assert_eq!(n.as_str(), "Công ty TNHH Thương mại & Dịch vụ Số 1 (Hà Nội), A/B");
        assert!(PersonName::organisation("3M").is_ok());
        assert!(PersonName::organisation("X").is_ok());
        assert!(PersonName::organisation(&"a".repeat(150)).is_ok());
    }

    #[test]
    fn organisation_name_rejects_bad_input() {
        assert_eq!(PersonName::organisation("").unwrap_err(), "is required");
        assert!(PersonName::organisation("Acme@Corp").unwrap_err().contains("'@'"));
        assert!(PersonName::organisation("Acme; Corp").is_err());
        assert!(
            PersonName::organisation("&&")
                .unwrap_err()
                .contains("letter or a digit")
        );
        assert!(
            PersonName::organisation(&"a".repeat(151))
                .unwrap_err()
                .contains("1 to 150")
        );
    }

    #[test]
    fn name_matching_ignores_case_and_spacing_but_not_diacritics() {
        let n = PersonName::individual("Nguyễn Văn An").unwrap();
        assert!(n.matches("Nguyễn Văn An"));
        assert!(n.matches("  NGUYỄN   VĂN  AN "));
        assert!(n.matches("nguyễn văn an"));
        assert!(!n.matches("Nguyen Van An"));
        assert!(!n.matches("Nguyễn Văn Anh"));
        assert!(!n.matches("NguyễnVăn An"));
    }

    // --- VehicleClass / Origin ---------------------------------------------

    #[test]
    fn enums_round_trip_through_pb() {
        for class in [VehicleClass::Car, VehicleClass::Motorbike] {
            assert_eq!(VehicleClass::from_pb(class.to_pb() as i32).unwrap(), class);
        }
        assert!(VehicleClass::from_pb(0).unwrap_err().contains("required"));
        assert!(VehicleClass::from_pb(99).unwrap_err().contains("unknown"));
        for origin in [Origin::Imported, Origin::Domestic] {
            assert_eq!(Origin::from_pb(origin.to_pb() as i32).unwrap(), origin);
        }
        assert!(Origin::from_pb(0).unwrap_err().contains("required"));
        assert!(Origin::from_pb(-1).unwrap_err().contains("unknown"));
        assert_eq!(VehicleClass::Car.as_str(), "car");
        assert_eq!(Origin::Domestic.as_str(), "domestic");
    }

    // --- ChassisNumber -----------------------------------------------------

    #[test]
    fn vin_check_digit_examples() {
        assert_eq!(vin_check_digit("1M8GDM9AXKP042788"), 'X');
        assert_eq!(vin_check_digit("11111111111111111"), '1');
        assert_eq!(vin_check_digit("5YJ3E1EA7KF317000"), '2');
    }

    #[test]
    fn car_vin_is_upper_cased_and_checked_without_error() {
        let (c, w) = ChassisNumber::parse(" 1m8gdm9axkp042788 ", VehicleClass::Car).unwrap();
        assert_eq!(c.as_str(), "1M8GDM9AXKP042788");
        assert!(c.is_vin());
        assert_eq!(w, None);

        // A wrong check digit is a warning only.
        let (c, w) = ChassisNumber::parse("5YJ3E1EA7KF317000", VehicleClass::Car).unwrap();
        assert_eq!(c.as_str(), "5YJ3E1EA7KF317000");
        let w = w.unwrap();
        assert!(w.contains("is 7") && w.contains("would be 2"), "{w}");
    }

    #[test]
    fn car_vin_rejects_forbidden_letters_naming_them() {
        for (vin, letter) in [
            ("1M8GDM9AXKP04278O", "O"),
            ("IM8GDM9AXKP042788", "I"),
            ("1M8GDM9AXKP0Q2788", "Q"),
            ("1m8gdm9axkp04278o", "O"),
        ] {
            let err = ChassisNumber::parse(vin, VehicleClass::Car).unwrap_err();
            assert!(err.contains(&format!("letter {letter}")), "{vin}: {err}");
        }
    }

    #[test]
    fn car_vin_rejects_wrong_length_and_characters() {
        assert_eq!(ChassisNumber::parse(" ", VehicleClass::Car).unwrap_err(), "is required");
        assert!(
            ChassisNumber::parse("1M8GDM9AXKP04278", VehicleClass::Car)
                .unwrap_err()
                .contains("17")
        );
        assert!(ChassisNumber::parse("1M8GDM9AXKP0427881", VehicleClass::Car).is_err());
        // A motorbike frame number is not a car VIN.
        assert!(ChassisNumber::parse("JC52E1234567", VehicleClass::Car).is_err());
        assert!(
            ChassisNumber::parse("1M8GDM9AXKP04278-", VehicleClass::Car)
                .unwrap_err()
                .contains("'-'")
        );
        assert!(ChassisNumber::parse("1M8GDM9AXKP0427É8", VehicleClass::Car).is_err());
    }

    #[test]
    fn motorbike_accepts_vin_or_frame_number() {
        // A VIN with a matching check digit.
        let (c, w) = ChassisNumber::parse("11111111111111111", VehicleClass::Motorbike).unwrap();
        assert!(c.is_vin());
        assert_eq!(w, None);
        // A VIN whose check digit does not match: warning.
        let (_, w) = ChassisNumber::parse("rlhjc5210by123456", VehicleClass::Motorbike).unwrap();
        assert!(w.is_some());
        // Frame numbers: 6–20 alphanumerics, I/O/Q allowed, no check digit.
        let (c, w) = ChassisNumber::parse("jc52e1234567", VehicleClass::Motorbike).unwrap();
        assert_eq!(c.as_str(), "JC52E1234567");
        assert!(!c.is_vin());
        assert_eq!(w, None);
        assert!(ChassisNumber::parse("IOQ123", VehicleClass::Motorbike).is_ok());
        assert!(ChassisNumber::parse(&"9".repeat(20), VehicleClass::Motorbike).is_ok());
        // 17 characters with an O: a frame number, not a VIN: no warning.
        let (c, w) = ChassisNumber::parse("OOOOOOOOOOOOOOOOO", VehicleClass::Motorbike).unwrap();
        assert!(!c.is_vin());
        assert_eq!(w, None);
    }

    #[test]
    fn motorbike_rejects_bad_frame_numbers() {
        assert!(
            ChassisNumber::parse("AB123", VehicleClass::Motorbike)
                .unwrap_err()
                .contains("6 to 20")
        );
        assert!(ChassisNumber::parse(&"9".repeat(21), VehicleClass::Motorbike).is_err());
        assert!(
            ChassisNumber::parse("JC52-1234567", VehicleClass::Motorbike)
                .unwrap_err()
                .contains("'-'")
        );
    }

    // --- EngineNumber ------------------------------------------------------

    #[test]
    fn engine_number_is_normalised() {
        assert_eq!(EngineNumber::normalise(" 1nz-fe 123_456./7 "), "1NZFE1234567");
        assert_eq!(EngineNumber::normalise("g3la–12\u{2212}34"), "G3LA1234");
        let e = EngineNumber::parse("jc52e-123 456").unwrap();
        assert_eq!(e.as_str(), "JC52E123456");
        assert_eq!(e, EngineNumber::parse("JC52E123456").unwrap());
        assert!(EngineNumber::parse("A1B2").is_ok());
        assert!(EngineNumber::parse(&"A".repeat(30)).is_ok());
    }

    #[test]
    fn engine_number_rejects_bad_input() {
        assert_eq!(EngineNumber::parse(" - ").unwrap_err(), "is required");
        assert!(EngineNumber::parse("AB-C").unwrap_err().contains("4 to 30"));
        assert!(EngineNumber::parse(&"A".repeat(31)).unwrap_err().contains("4 to 30"));
        assert!(EngineNumber::parse("ENG#1234").unwrap_err().contains("'#'"));
        assert!(EngineNumber::parse("ĐỘNGCƠ1234").is_err());
    }

    // --- CustomsDeclarationNumber ------------------------------------------

    #[test]
    fn customs_declaration_number_is_twelve_digits() {
        assert_eq!(
            CustomsDeclarationNumber::parse(" 105123456789 ").unwrap().as_str(),
            "105123456789"
        );
        assert_eq!(CustomsDeclarationNumber::parse("").unwrap_err(), "is required");
        assert!(CustomsDeclarationNumber::parse("10512345678").is_err());
        assert!(CustomsDeclarationNumber::parse("1051234567890").is_err());
        assert!(CustomsDeclarationNumber::parse("10512345678A").is_err());
    }

    // --- LocalityCode ------------------------------------------------------

    #[test]
    fn locality_codes_accepted_and_rejected() {
        for code in ["11", "29", "41", "43", "50", "59", "80", "88", "99", " 30 "] {
            assert!(LocalityCode::parse(code).is_ok(), "{code}");
        }
        assert_eq!(LocalityCode::parse("30").unwrap().as_str(), "30");
        for code in ["00", "05", "10", "13", "42", "44", "45", "46", "87", "91", "96"] {
            let err = LocalityCode::parse(code).unwrap_err();
            assert!(err.contains("not a plate locality code"), "{code}: {err}");
        }
        assert_eq!(LocalityCode::parse("").unwrap_err(), "is required");
        for code in ["1", "123", "3A", "٣٠"] {
            assert!(LocalityCode::parse(code).unwrap_err().contains("two-digit"), "{code}");
        }
    }

    #[test]
    fn locality_code_list_matches_design_3_2() {
        let provinces: &[&[u8]] = &[
            &[11],
            &[12],
            &[14],
            &[25],
            &[26],
            &[27],
            &[36],
            &[37],
            &[38],
            &[75],
            &[98, 99],
            &[22, 23],
            &[21, 24],
            &[20, 97],
            &[17, 89],
            &[73, 74],
            &[43, 92],
            &[76, 82],
            &[77, 81],
            &[47, 78],
            &[79, 85],
            &[62, 70],
            &[63, 66],
            &[69, 94],
            &[67, 68],
            &[15, 16, 34],
            &[18, 35, 90],
            &[65, 83, 95],
            &[19, 28, 88],
            &[48, 49, 86],
            &[39, 60, 93],
            &[64, 71, 84],
            &[29, 30, 31, 32, 33, 40],
            &[41, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 61, 72],
        ];
        assert_eq!(provinces.len(), 34);
        let mut from_design: Vec<u8> = provinces.iter().flat_map(|p| p.iter().copied()).collect();
        from_design.push(80); // central agencies
        let unique: BTreeSet<u8> = from_design.iter().copied().collect();
        assert_eq!(unique.len(), from_design.len(), "a code listed twice in §3.2");

        let listed: Vec<u8> = LOCALITY_CODES.iter().map(|c| c.parse().unwrap()).collect();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(listed, sorted, "LOCALITY_CODES must be ascending and unique");
        assert_eq!(unique.into_iter().collect::<Vec<_>>(), listed);

        let not_codes: Vec<u8> = (0..100).filter(|c| !listed.contains(c)).collect();
        let mut expected: Vec<u8> = (0..=10).collect();
        expected.extend([13, 42, 44, 45, 46, 87, 91, 96]);
        assert_eq!(not_codes, expected);
    }

    // --- OfficeCode --------------------------------------------------------

    #[test]
    fn office_code_normalised_and_checked() {
        assert_eq!(OfficeCode::parse(" hn-pc08 ").unwrap().as_str(), "HN-PC08");
        assert_eq!(OfficeCode::parse("HCM_PC08_Q1").unwrap().as_str(), "HCM_PC08_Q1");
        assert!(OfficeCode::parse("ABC").is_ok());
        assert!(OfficeCode::parse(&"A".repeat(32)).is_ok());
        assert_eq!(OfficeCode::parse("").unwrap_err(), "is required");
        assert!(OfficeCode::parse("AB").unwrap_err().contains("3 to 32"));
        assert!(OfficeCode::parse(&"A".repeat(33)).unwrap_err().contains("3 to 32"));
        assert!(OfficeCode::parse("HN PC08").unwrap_err().contains("U+0020"));
        assert!(OfficeCode::parse("HN.PC08").unwrap_err().contains("'.'"));
    }
}
