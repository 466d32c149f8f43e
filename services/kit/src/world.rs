//! The seeded, deterministic data set ("the world") the agency stand-ins serve.
//!
//! One generator builds, from the parameters in `contracts/datasets/world.toml`
//! (embedded at compile time), everything the four agencies hold and what the
//! owners declare:
//!
//! - the population database: [`Citizen`]s (identity agency);
//! - the enterprise register: [`Organisation`]s with valid tax codes (identity agency);
//! - registration-fee records: [`FeeRecord`]s, one per vehicle (tax agency);
//! - import declarations: [`ImportDeclaration`]s of imported vehicles (customs);
//! - factory quality certificates: [`QualityCertificate`]s ("PXX") of domestic
//!   vehicles (Vietnam Register);
//! - the [`Vehicle`]s themselves, each tagged with a deliberate [`Case`] and
//!   carrying the [`Declared`] form its owner files.
//!
//! Generation is a pure function of [`Params`]: a hand-written splitmix64 PRNG,
//! one independent stream per section, no hash-map iteration, no clock. The same
//! seed gives the same data on any machine. [`World::standard`] generates the
//! standard world once per process (well under a second, even in a debug build)
//! and shares it.
//!
//! Cases are allotted exactly (`rate × vehicles`, rounded) and shuffled, so every
//! case has a known number of examples; [`World::example`] and
//! [`World::vehicles_with`] find them. `contracts/datasets/README.md` describes
//! each case and what a registry must conclude from it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, bail, ensure};
pub use chrono::NaiveDate;
use chrono::{Datelike, Days, Months};
use serde::Deserialize;

/// The parameters of the standard world, embedded at compile time.
pub const STANDARD_PARAMS: &str = include_str!("../../../contracts/datasets/world.toml");

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/// Parameters of a world (`contracts/datasets/world.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// PRNG seed.
    pub seed: u64,
    /// The day the world is observed, `YYYY-MM-DD`.
    pub as_of: String,
    pub counts: Counts,
    pub shares: Shares,
    pub case_rates: CaseRates,
}

/// How many records of each kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub citizens: usize,
    pub organisations: usize,
    pub vehicles: usize,
}

/// Shares (0.0–1.0) shaping the population; see `world.toml` for each meaning.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shares {
    pub minor_citizens: f64,
    pub deceased_citizens: f64,
    pub closed_organisations: f64,
    pub branch_organisations: f64,
    pub cars: f64,
    pub imported: f64,
    pub bad_vin_check_digit: f64,
    pub short_frame_number: f64,
    pub declared_engine_reformatted: f64,
    pub declared_chassis_lowercase: f64,
}

/// Exact share of vehicles tagged with each deliberate case (the rest are clean).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRates {
    pub fee_unpaid: f64,
    pub vin_mismatch: f64,
    pub engine_mismatch: f64,
    pub name_mismatch: f64,
    pub minor_owner: f64,
    pub deceased_owner: f64,
    pub unknown_owner: f64,
    pub no_origin_record: f64,
    pub organisation: f64,
    pub closed_organisation: f64,
    pub locality_elsewhere: f64,
    pub office_elsewhere: f64,
}

impl CaseRates {
    /// The rate of `case`; `Clean` has none (it is the remainder).
    pub fn rate(&self, case: Case) -> f64 {
        match case {
            Case::Clean => 0.0,
            Case::FeeUnpaid => self.fee_unpaid,
            Case::VinMismatch => self.vin_mismatch,
            Case::EngineMismatch => self.engine_mismatch,
            Case::NameMismatch => self.name_mismatch,
            Case::MinorOwner => self.minor_owner,
            Case::DeceasedOwner => self.deceased_owner,
            Case::UnknownOwner => self.unknown_owner,
            Case::NoOriginRecord => self.no_origin_record,
            Case::Organisation => self.organisation,
            Case::ClosedOrganisation => self.closed_organisation,
            Case::LocalityElsewhere => self.locality_elsewhere,
            Case::OfficeElsewhere => self.office_elsewhere,
        }
    }
}

impl Params {
    /// The parameters of the standard world.
    pub fn standard() -> anyhow::Result<Params> {
        Params::from_toml(STANDARD_PARAMS)
    }

    /// Parses parameters from TOML text.
    pub fn from_toml(text: &str) -> anyhow::Result<Params> {
        toml::from_str(text).context("invalid world parameters")
    }
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// A deliberate situation a vehicle is in, and what a registry must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Case {
    /// Everything agrees: the owner is an alive adult citizen whose name matches,
    /// the fee is paid by the owner for this exact chassis and engine, and the
    /// origin record has the same chassis and engine.
    Clean,
    /// The tax record for this vehicle is unpaid (fee paid < fee due, no date).
    FeeUnpaid,
    /// The tax record's chassis number differs (one character) from the real one;
    /// the origin record and the declaration carry the real one.
    VinMismatch,
    /// The origin record's engine number differs (one digit) from the real one,
    /// which the owner declares and the tax record carries.
    EngineMismatch,
    /// The owner declares a name that differs from the population database
    /// (the middle name dropped).
    NameMismatch,
    /// The owner is 16 on `as_of`: needs a guardian's consent.
    MinorOwner,
    /// The owner is recorded as deceased.
    DeceasedOwner,
    /// The declared personal ID is well-formed but absent from the population database.
    UnknownOwner,
    /// Neither customs nor Vietnam Register holds the chassis number.
    NoOriginRecord,
    /// Owned by an active organisation with a valid tax code; clean otherwise.
    Organisation,
    /// Owned by an organisation whose tax code is closed; clean otherwise.
    ClosedOrganisation,
    /// The declaration names a plate locality code of another province than
    /// the owner's residence (the office is the residence's): the citizen
    /// picking the pool they draw from. Agencies agree with everything else.
    LocalityElsewhere,
    /// The declaration names the residence's locality code but an office of
    /// another province.
    OfficeElsewhere,
}

impl Case {
    /// Every case, `Clean` first.
    pub const ALL: [Case; 13] = [
        Case::Clean,
        Case::FeeUnpaid,
        Case::VinMismatch,
        Case::EngineMismatch,
        Case::NameMismatch,
        Case::MinorOwner,
        Case::DeceasedOwner,
        Case::UnknownOwner,
        Case::NoOriginRecord,
        Case::Organisation,
        Case::ClosedOrganisation,
        Case::LocalityElsewhere,
        Case::OfficeElsewhere,
    ];

    /// The snake_case name used in `world.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Case::Clean => "clean",
            Case::FeeUnpaid => "fee_unpaid",
            Case::VinMismatch => "vin_mismatch",
            Case::EngineMismatch => "engine_mismatch",
            Case::NameMismatch => "name_mismatch",
            Case::MinorOwner => "minor_owner",
            Case::DeceasedOwner => "deceased_owner",
            Case::UnknownOwner => "unknown_owner",
            Case::NoOriginRecord => "no_origin_record",
            Case::Organisation => "organisation",
            Case::ClosedOrganisation => "closed_organisation",
            Case::LocalityElsewhere => "locality_elsewhere",
            Case::OfficeElsewhere => "office_elsewhere",
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    Male,
    Female,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifeStatus {
    Alive,
    Deceased,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrganisationStatus {
    Active,
    /// Dissolved, or tax code closed: may not register vehicles.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VehicleClass {
    Car,
    Motorbike,
}

impl VehicleClass {
    /// `"car"` or `"motorbike"`, as the agencies write it.
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleClass::Car => "car",
            VehicleClass::Motorbike => "motorbike",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Checked against a customs import declaration.
    Imported,
    /// Checked against a Vietnam Register quality certificate (PXX).
    Domestic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    Paid,
    /// Declared and assessed, not (fully) paid.
    Unpaid,
}

/// A residence or an organisation's seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residence {
    /// Two-digit plate locality code in use (DESIGN §3.2), e.g. `"30"`.
    pub locality_code: String,
    /// Province (after the 2025 merger), e.g. `"Hà Nội"`.
    pub province: String,
    /// Street address, free text.
    pub address: String,
}

/// A record of the national population database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    /// 12 digits `PPP G YY RRRRRR`, consistent with `date_of_birth` and `gender`.
    pub personal_id: String,
    /// Family, middle and given names, NFC with diacritics.
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub gender: Gender,
    pub life_status: LifeStatus,
    pub residence: Residence,
}

impl Citizen {
    /// Age in whole years on `date`.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        date.years_since(self.date_of_birth).unwrap_or(0)
    }
}

/// A record of the enterprise register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// 10 digits with a valid check digit, or `NNNNNNNNNN-NNN` for a branch.
    pub tax_code: String,
    pub name: String,
    pub status: OrganisationStatus,
    pub seat: Residence,
}

/// Who owns a vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Index into [`World::citizens`].
    Citizen(usize),
    /// Index into [`World::organisations`].
    Organisation(usize),
    /// A person the population database does not know (case `UnknownOwner`).
    Unregistered {
        personal_id: String,
        full_name: String,
        residence: Residence,
    },
}

/// A registration-fee (lệ phí trước bạ) record at the tax agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeRecord {
    /// Unique, e.g. `LPTB-2026-0000001`. Not personal: safe to log.
    pub dossier_code: String,
    /// Personal ID of an individual, tax code of an organisation.
    pub payer_id: String,
    pub payer_name: String,
    pub vehicle_type: VehicleClass,
    pub brand: String,
    pub model: String,
    pub engine_number: String,
    /// As declared to the tax office (differs from the vehicle in `VinMismatch`).
    pub chassis_number: String,
    /// cm³; 0 for battery electric.
    pub capacity_cc: u32,
    pub seats: u32,
    pub country_of_manufacture: String,
    pub year_of_manufacture: u32,
    pub taxable_value_vnd: u64,
    /// Per mille: 100 = 10 %.
    pub rate_permille: u32,
    pub fee_due_vnd: u64,
    pub fee_paid_vnd: u64,
    /// `None` when unpaid.
    pub payment_date: Option<NaiveDate>,
    pub status: PaymentStatus,
}

/// A customs import declaration of one vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportDeclaration {
    /// 12 digits, unique.
    pub declaration_number: String,
    /// Tax code of the importer (a dealer, or the owning organisation).
    pub importer_tax_code: String,
    pub importer_name: String,
    pub chassis_number: String,
    /// Differs from the vehicle's in `EngineMismatch`.
    pub engine_number: String,
    pub make: String,
    pub model: String,
    pub year_of_manufacture: u32,
    pub seats: u32,
    pub vehicle_type: VehicleClass,
    pub country_of_origin: String,
    pub cleared_on: NaiveDate,
}

/// A Vietnam Register factory quality certificate (phiếu xuất xưởng, PXX).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityCertificate {
    /// Unique, e.g. `HVN-26-000123`.
    pub certificate_number: String,
    pub manufacturer: String,
    pub chassis_number: String,
    /// Differs from the vehicle's in `EngineMismatch`.
    pub engine_number: String,
    pub make: String,
    pub model: String,
    pub year_of_manufacture: u32,
    pub seats: u32,
    pub vehicle_type: VehicleClass,
    pub issued_on: NaiveDate,
}

/// What the owner writes on the registration form (ĐKX10): truthfully, or for
/// the mismatch cases mistakenly. Exactly one of `owner_personal_id` and
/// `owner_tax_code` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub owner_personal_id: Option<String>,
    pub owner_tax_code: Option<String>,
    /// The citizen's or organisation's name (middle name dropped in `NameMismatch`).
    pub owner_name: String,
    /// The real chassis number; in lower case for a few vehicles.
    pub chassis_number: String,
    /// The real engine number, as the owner writes it: sometimes lower case, or
    /// with spaces and dashes added or removed. Equal after normalisation
    /// ([`normalise_engine_number`]).
    pub engine_number: String,
    /// Imported vehicles only. In `NoOriginRecord` a number customs does not hold.
    pub customs_declaration_number: Option<String>,
    pub class: VehicleClass,
    pub origin: Origin,
    pub make: String,
    pub model: String,
    pub seats: u32,
    /// The plate locality code: the owner's residence's (an organisation's
    /// seat's), another province's in `LocalityElsewhere`.
    pub locality_code: String,
    /// The registration office, `PC-<code>`: the residence's locality code,
    /// another province's in `OfficeElsewhere`.
    pub office_code: String,
}

/// A vehicle as it really is, with its case and its owner's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vehicle {
    pub case: Case,
    pub class: VehicleClass,
    pub origin: Origin,
    /// Upper case: a 17-char VIN, or (some motorbikes) a 10–14-char frame number.
    pub chassis_number: String,
    /// As stamped, upper case, possibly with spaces and dashes.
    pub engine_number: String,
    pub make: String,
    pub model: String,
    pub year_of_manufacture: u32,
    pub seats: u32,
    /// cm³; 0 for battery electric.
    pub capacity_cc: u32,
    pub country_of_manufacture: String,
    pub owner: Owner,
    /// Index into [`World::fee_records`] (every vehicle has exactly one).
    pub fee_record: usize,
    /// Index into [`World::import_declarations`]; `Some` for imported vehicles
    /// except `NoOriginRecord`.
    pub import_declaration: Option<usize>,
    /// Index into [`World::quality_certificates`]; `Some` for domestic vehicles
    /// except `NoOriginRecord`.
    pub quality_certificate: Option<usize>,
    pub declared: Declared,
}

// ---------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------

/// All agency data and all vehicles, with lookup indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    pub params: Params,
    pub as_of: NaiveDate,
    pub citizens: Vec<Citizen>,
    pub organisations: Vec<Organisation>,
    pub vehicles: Vec<Vehicle>,
    pub fee_records: Vec<FeeRecord>,
    pub import_declarations: Vec<ImportDeclaration>,
    pub quality_certificates: Vec<QualityCertificate>,
    citizen_by_id: HashMap<String, usize>,
    organisation_by_tax_code: HashMap<String, usize>,
    fees_by_payer: HashMap<String, Vec<usize>>,
    import_by_chassis: HashMap<String, usize>,
    certificate_by_chassis: HashMap<String, usize>,
}

impl World {
    /// The standard world (`contracts/datasets/world.toml`), generated once per process.
    pub fn standard() -> Arc<World> {
        static STANDARD: OnceLock<Arc<World>> = OnceLock::new();
        STANDARD
            .get_or_init(|| {
                let world = Params::standard().and_then(|p| World::generate(&p));
                // The embedded parameters are fixed at compile time and the
                // unit tests generate from them: failure here is a build defect.
                Arc::new(world.expect("the embedded world.toml generates a world"))
            })
            .clone()
    }

    /// Generates a world from `params`.
    pub fn generate(params: &Params) -> anyhow::Result<World> {
        Generator::new(params)?.run()
    }

    /// The citizen with this personal ID.
    pub fn citizen(&self, personal_id: &str) -> Option<&Citizen> {
        self.citizen_by_id.get(personal_id).map(|&i| &self.citizens[i])
    }

    /// The organisation with this tax code (10 digits, or 10-3 for a branch).
    pub fn organisation(&self, tax_code: &str) -> Option<&Organisation> {
        self.organisation_by_tax_code
            .get(tax_code)
            .map(|&i| &self.organisations[i])
    }

    /// Every fee record declared by this payer (personal ID or tax code), in
    /// dossier order; empty when none.
    pub fn fee_records_of(&self, payer_id: &str) -> impl Iterator<Item = &FeeRecord> + '_ {
        self.fees_by_payer
            .get(payer_id)
            .into_iter()
            .flatten()
            .map(|&i| &self.fee_records[i])
    }

    /// The import declaration of this chassis number (case-insensitive).
    pub fn import_declaration(&self, chassis_number: &str) -> Option<&ImportDeclaration> {
        self.import_by_chassis
            .get(&chassis_key(chassis_number))
            .map(|&i| &self.import_declarations[i])
    }

    /// The quality certificate of this chassis number (case-insensitive).
    pub fn quality_certificate(&self, chassis_number: &str) -> Option<&QualityCertificate> {
        self.certificate_by_chassis
            .get(&chassis_key(chassis_number))
            .map(|&i| &self.quality_certificates[i])
    }

    /// What the owner of vehicle `vehicle_index` declares. Panics when out of range.
    pub fn declared(&self, vehicle_index: usize) -> Declared {
        self.vehicles[vehicle_index].declared.clone()
    }

    /// The vehicles tagged with `case`, with their indexes.
    pub fn vehicles_with(&self, case: Case) -> impl Iterator<Item = (usize, &Vehicle)> + '_ {
        self.vehicles.iter().enumerate().filter(move |(_, v)| v.case == case)
    }

    /// The index of the first vehicle tagged with `case`. Panics when there is
    /// none (never for the standard world, which has ≥ 20 of each).
    pub fn example(&self, case: Case) -> usize {
        self.vehicles_with(case)
            .map(|(i, _)| i)
            .next()
            .unwrap_or_else(|| panic!("the world has no vehicle with case {case}"))
    }

    /// The owner of `vehicle` when it is a registered citizen.
    pub fn owner_citizen(&self, vehicle: &Vehicle) -> Option<&Citizen> {
        match vehicle.owner {
            Owner::Citizen(i) => self.citizens.get(i),
            _ => None,
        }
    }

    /// The owner of `vehicle` when it is an organisation.
    pub fn owner_organisation(&self, vehicle: &Vehicle) -> Option<&Organisation> {
        match vehicle.owner {
            Owner::Organisation(i) => self.organisations.get(i),
            _ => None,
        }
    }

    /// The fee record of `vehicle`.
    pub fn fee_record_of(&self, vehicle: &Vehicle) -> &FeeRecord {
        &self.fee_records[vehicle.fee_record]
    }
}

fn chassis_key(chassis_number: &str) -> String {
    chassis_number.trim().to_ascii_uppercase()
}

// ---------------------------------------------------------------------------
// Identifier rules (DESIGN §3.5), public for tests and the registry's own checks
// ---------------------------------------------------------------------------

/// Weights of the tax-code check digit over the first nine digits.
const TAX_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// The check digit of a tax code's first nine digits: `10 − (sum mod 11)`,
/// `None` when that is 10 (no valid code has this base). `None` for non-digits.
pub fn tax_code_check_digit(first_nine: &str) -> Option<u8> {
    let bytes = first_nine.as_bytes();
    if bytes.len() != 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(TAX_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = 10 - (sum % 11);
    (check < 10).then_some(check as u8)
}

/// True for a 10-digit tax code with a valid check digit, or such a code
/// followed by `-NNN` (a branch).
pub fn is_valid_tax_code(tax_code: &str) -> bool {
    let (base, branch) = match tax_code.split_once('-') {
        Some((base, branch)) => (base, Some(branch)),
        None => (tax_code, None),
    };
    if let Some(branch) = branch
        && (branch.len() != 3 || !branch.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    base.len() == 10
        && base.is_char_boundary(9)
        && base.as_bytes()[9].is_ascii_digit()
        && tax_code_check_digit(&base[..9]) == Some(base.as_bytes()[9] - b'0')
}

/// Characters of a VIN (ISO 3779): digits and letters except I, O, Q.
pub const VIN_ALPHABET: &[u8; 33] = b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

const VIN_WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

fn vin_value(c: u8) -> Option<u32> {
    let v = match c {
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
        _ => return None,
    };
    Some(v)
}

/// The North-American check digit a 17-character VIN should carry at position 9
/// (`'0'`–`'9'` or `'X'`); `None` when `vin` is not 17 VIN characters. Position 9
/// itself is ignored (weight 0). Not required in Vietnam: warn, never reject.
pub fn vin_check_digit(vin: &str) -> Option<char> {
    let bytes = vin.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (&c, w) in bytes.iter().zip(VIN_WEIGHTS) {
        sum += vin_value(c.to_ascii_uppercase())? * w;
    }
    Some(match sum % 11 {
        10 => 'X',
        d => char::from(b'0' + d as u8),
    })
}

/// True when `vin` is a 17-character VIN whose position 9 is its check digit.
pub fn vin_check_digit_valid(vin: &str) -> bool {
    vin_check_digit(vin).is_some_and(|c| vin.as_bytes()[8].to_ascii_uppercase() == c as u8)
}

/// Engine numbers are free text: compare them upper-cased, without spaces or dashes.
pub fn normalise_engine_number(engine_number: &str) -> String {
    engine_number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and identical everywhere.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    /// An independent stream for one section of the world.
    fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-high (Lemire), no modulo bias to speak of.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in `[0, 1)` with 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// An index into `weights`, chosen proportionally to the weights.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }

    fn vin_chars(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(*self.pick(VIN_ALPHABET))).collect()
    }
}

// ---------------------------------------------------------------------------
// Reference tables
// ---------------------------------------------------------------------------

/// Provinces after the 1 Jul 2025 merger with their plate locality codes in use
/// (DESIGN §3.2) and a weight for where people live.
const PROVINCES: &[(&str, &[&str], u32)] = &[
    ("Hà Nội", &["29", "30", "31", "32", "33", "40"], 16),
    (
        "TP. Hồ Chí Minh",
        &[
            "41", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "61", "72",
        ],
        18,
    ),
    ("Hải Phòng", &["15", "16", "34"], 4),
    ("Đà Nẵng", &["43", "92"], 3),
    ("Cần Thơ", &["65", "83", "95"], 3),
    ("Huế", &["75"], 2),
    ("Cao Bằng", &["11"], 1),
    ("Lạng Sơn", &["12"], 1),
    ("Quảng Ninh", &["14"], 2),
    ("Lai Châu", &["25"], 1),
    ("Sơn La", &["26"], 1),
    ("Điện Biên", &["27"], 1),
    ("Thanh Hóa", &["36"], 3),
    ("Nghệ An", &["37"], 3),
    ("Hà Tĩnh", &["38"], 1),
    ("Bắc Ninh", &["98", "99"], 3),
    ("Tuyên Quang", &["22", "23"], 1),
    ("Lào Cai", &["21", "24"], 1),
    ("Thái Nguyên", &["20", "97"], 2),
    ("Hưng Yên", &["17", "89"], 3),
    ("Quảng Trị", &["73", "74"], 1),
    ("Quảng Ngãi", &["76", "82"], 1),
    ("Gia Lai", &["77", "81"], 2),
    ("Đắk Lắk", &["47", "78"], 2),
    ("Khánh Hòa", &["79", "85"], 2),
    ("Tây Ninh", &["62", "70"], 2),
    ("Đồng Tháp", &["63", "66"], 2),
    ("Cà Mau", &["69", "94"], 1),
    ("An Giang", &["67", "68"], 2),
    ("Ninh Bình", &["18", "35", "90"], 3),
    ("Phú Thọ", &["19", "28", "88"], 3),
    ("Lâm Đồng", &["48", "49", "86"], 3),
    ("Đồng Nai", &["39", "60", "93"], 4),
    ("Vĩnh Long", &["64", "71", "84"], 2),
];

/// Birth-province codes of personal IDs (the 63 pre-2025 provinces, Circular
/// 07/2016/TT-BCA): 001 Hà Nội, 031 Hải Phòng, 048 Đà Nẵng, 079 TP HCM, 092 Cần Thơ, 096 Cà Mau…
const BIRTH_PROVINCES: &[(&str, u32)] = &[
    ("001", 14),
    ("002", 1),
    ("004", 1),
    ("006", 1),
    ("008", 1),
    ("010", 1),
    ("011", 1),
    ("012", 1),
    ("014", 1),
    ("015", 1),
    ("017", 1),
    ("019", 2),
    ("020", 1),
    ("022", 2),
    ("024", 2),
    ("025", 2),
    ("026", 2),
    ("027", 2),
    ("030", 2),
    ("031", 3),
    ("033", 2),
    ("034", 2),
    ("035", 1),
    ("036", 2),
    ("037", 1),
    ("038", 4),
    ("040", 4),
    ("042", 2),
    ("044", 1),
    ("045", 1),
    ("046", 2),
    ("048", 2),
    ("049", 2),
    ("051", 2),
    ("052", 2),
    ("054", 1),
    ("056", 2),
    ("058", 1),
    ("060", 2),
    ("062", 1),
    ("064", 2),
    ("066", 2),
    ("067", 1),
    ("068", 2),
    ("070", 1),
    ("072", 2),
    ("074", 3),
    ("075", 3),
    ("077", 2),
    ("079", 12),
    ("080", 2),
    ("082", 2),
    ("083", 2),
    ("084", 1),
    ("086", 1),
    ("087", 2),
    ("089", 2),
    ("091", 2),
    ("092", 2),
    ("093", 1),
    ("094", 1),
    ("095", 1),
    ("096", 1),
];

/// Family names with rough frequencies (per mille).
const FAMILY_NAMES: &[(&str, u32)] = &[
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 30),
    ("Huỳnh", 20),
    ("Phan", 45),
    ("Vũ", 20),
    ("Võ", 19),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
    ("Trương", 8),
    ("Đinh", 7),
    ("Lâm", 5),
    ("Mai", 5),
    ("Tô", 3),
    ("Hà", 6),
    ("Lương", 4),
    ("Châu", 2),
];

const MALE_MIDDLE: &[&str] = &[
    "Văn", "Văn", "Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Thành", "Xuân", "Ngọc", "Anh", "Đình", "Trọng",
    "Hoàng", "Tuấn", "Gia", "Bảo", "Quốc",
];

const FEMALE_MIDDLE: &[&str] = &[
    "Thị",
    "Thị",
    "Thị",
    "Thị",
    "Ngọc",
    "Thu",
    "Thanh",
    "Thị Bích",
    "Thị Thu",
    "Thị Ngọc",
    "Thị Minh",
    "Kim",
    "Phương",
    "Hoài",
    "Mỹ",
    "Khánh",
    "Bảo",
];

const MALE_GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Hùng", "Hải", "Huy", "Khoa", "Long", "Minh", "Nam", "Phúc", "Quân", "Sơn", "Thắng",
    "Tuấn", "Việt", "Đạt", "Hiếu", "Trung", "Khánh", "Tùng", "Phong", "Hoàng", "Kiên", "Lộc", "Nghĩa", "Quý", "Tâm",
    "Thịnh", "Vinh", "Đức", "Hưng", "Tài",
];

const FEMALE_GIVEN: &[&str] = &[
    "Anh", "Chi", "Hà", "Hạnh", "Hương", "Lan", "Linh", "Mai", "Ngọc", "Nhung", "Oanh", "Phương", "Thảo", "Trang",
    "Vy", "Yến", "Hằng", "Giang", "Ngân", "Quỳnh", "Dung", "Hoa", "Loan", "My", "Nga", "Nhi", "Thủy", "Trâm", "Uyên",
    "Xuân",
];

const STREETS: &[&str] = &[
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Huệ",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Quang Trung",
    "Nguyễn Trãi",
    "Lê Duẩn",
    "Phan Chu Trinh",
    "Điện Biên Phủ",
    "Hùng Vương",
    "Trần Phú",
    "Nguyễn Văn Cừ",
    "Võ Thị Sáu",
    "Cách Mạng Tháng Tám",
    "Lê Hồng Phong",
    "Phan Đình Phùng",
    "Nguyễn Thị Minh Khai",
    "Bà Triệu",
    "Lạc Long Quân",
];

const WARDS: &[&str] = &[
    "phường Tân Phú",
    "phường An Hòa",
    "phường Hòa Bình",
    "phường Thống Nhất",
    "phường Trung Tâm",
    "phường Bình An",
    "phường Phú Lợi",
    "phường Hòa Xuân",
    "xã Tân Lập",
    "xã Quang Trung",
    "xã Phú Lộc",
    "xã Hòa Phú",
    "xã Tân Thành",
    "xã Đông Hưng",
];

const ORGANISATION_FORMS: &[&str] = &[
    "Công ty TNHH",
    "Công ty TNHH",
    "Công ty Cổ phần",
    "Công ty Cổ phần",
    "Công ty TNHH MTV",
    "Hợp tác xã",
    "Doanh nghiệp tư nhân",
];

const ORGANISATION_SECTORS: &[&str] = &[
    "Vận tải",
    "Thương mại",
    "Xây dựng",
    "Du lịch",
    "Thương mại và Dịch vụ",
    "Logistics",
    "Ô tô",
    "Đầu tư và Phát triển",
    "Công nghệ",
    "Thực phẩm",
    "Vận tải và Du lịch",
    "Cơ khí",
];

const BRAND_SYLLABLES: &[&str] = &[
    "Minh",
    "Phát",
    "Hoàng",
    "Long",
    "Thành",
    "Công",
    "Phú",
    "Thái",
    "An",
    "Khang",
    "Đại",
    "Việt",
    "Sao",
    "Mai",
    "Hưng",
    "Thịnh",
    "Tân",
    "Thiên",
    "Hòa",
    "Bình",
    "Quang",
    "Nam",
    "Trường",
    "Sơn",
    "Kim",
    "Ngọc",
    "Bảo",
    "Tín",
    "Phước",
    "Lộc",
    "Gia",
    "Huy",
];

/// Tax office prefixes (first two digits of a tax code) with their province.
const TAX_PREFIXES: &[&str] = &[
    "01", "02", "03", "04", "05", "10", "18", "23", "27", "28", "36", "37", "38", "42", "46",
];

/// One kind of vehicle the world holds.
struct ModelSpec {
    make: &'static str,
    model: &'static str,
    class: VehicleClass,
    origin: Origin,
    /// World manufacturer identifier: the first three VIN characters.
    wmi: &'static str,
    country: &'static str,
    /// PXX issuer (domestic) or exporter (imported).
    manufacturer: &'static str,
    /// Prefix of PXX certificate numbers (domestic only).
    pxx_prefix: &'static str,
    engine_code: &'static str,
    /// 0 for battery electric.
    capacity_cc: u32,
    seats: &'static [u32],
    /// Taxable value range, million VND.
    value_mvnd: (u64, u64),
}

#[allow(clippy::too_many_arguments)]
const fn spec(
    make: &'static str,
    model: &'static str,
    class: VehicleClass,
    origin: Origin,
    wmi: &'static str,
    country: &'static str,
    manufacturer: &'static str,
    pxx_prefix: &'static str,
    engine_code: &'static str,
    capacity_cc: u32,
    seats: &'static [u32],
    value_mvnd: (u64, u64),
) -> ModelSpec {
    ModelSpec {
        make,
        model,
        class,
        origin,
        wmi,
        country,
        manufacturer,
        pxx_prefix,
        engine_code,
        capacity_cc,
        seats,
        value_mvnd,
    }
}

use Origin::{Domestic, Imported};
use VehicleClass::{Car, Motorbike};

const TMV: &str = "Công ty Ô tô Toyota Việt Nam";
const HTC: &str = "Công ty CP Hyundai Thành Công Việt Nam";
const THACO: &str = "Công ty CP Ô tô Trường Hải";
const FORD: &str = "Công ty TNHH Ford Việt Nam";
const VINFAST: &str = "Công ty TNHH Sản xuất và Kinh doanh VinFast";
const HVN: &str = "Công ty Honda Việt Nam";
const YAMAHA: &str = "Công ty TNHH Yamaha Motor Việt Nam";
const SUZUKI: &str = "Công ty TNHH Việt Nam Suzuki";
const PIAGGIO: &str = "Công ty TNHH Piaggio Việt Nam";

#[rustfmt::skip]
const MODELS: &[ModelSpec] = &[
    // Imported cars.
    spec("Toyota", "Corolla Cross", Car, Imported, "MR0", "Thái Lan", "Toyota Motor Thailand", "", "2ZR", 1798, &[5], (820, 910)),
    spec("Toyota", "Fortuner", Car, Imported, "MHF", "Indonesia", "Toyota Motor Manufacturing Indonesia", "", "2GD", 2393, &[7], (1050, 1350)),
    spec("Toyota", "Land Cruiser", Car, Imported, "JTM", "Nhật Bản", "Toyota Motor Corporation", "", "F33A", 3445, &[7], (4200, 4600)),
    spec("Honda", "CR-V", Car, Imported, "MRH", "Thái Lan", "Honda Automobile Thailand", "", "L15B", 1498, &[5, 7], (1050, 1300)),
    spec("Mitsubishi", "Xpander", Car, Imported, "MK2", "Indonesia", "Mitsubishi Motors Krama Yudha", "", "4A91", 1499, &[7], (560, 660)),
    spec("Ford", "Everest", Car, Imported, "MNC", "Thái Lan", "Ford Thailand Manufacturing", "", "YN2S", 1996, &[7], (1100, 1550)),
    spec("Suzuki", "XL7", Car, Imported, "MHY", "Indonesia", "Suzuki Indomobil Motor", "", "K15B", 1462, &[7], (600, 640)),
    spec("Mercedes-Benz", "GLC 300", Car, Imported, "W1N", "Đức", "Mercedes-Benz AG", "", "M254", 1999, &[5], (2600, 2900)),
    spec("BMW", "X5", Car, Imported, "5UX", "Hoa Kỳ", "BMW Manufacturing Co.", "", "B58B30", 2998, &[5, 7], (4000, 4800)),
    spec("Lexus", "RX 350", Car, Imported, "JTJ", "Nhật Bản", "Toyota Motor Corporation", "", "T24A", 2393, &[5], (3400, 4300)),
    spec("Kia", "Carnival", Car, Imported, "KNA", "Hàn Quốc", "Kia Corporation", "", "D4HE", 2151, &[7, 8], (1300, 1800)),
    spec("Hyundai", "Staria", Car, Imported, "KMJ", "Hàn Quốc", "Hyundai Motor Company", "", "D4HB", 2199, &[9, 11], (1100, 1400)),
    // Domestic cars.
    spec("Toyota", "Vios", Car, Domestic, "RL4", "Việt Nam", TMV, "TMV", "2NR", 1496, &[5], (460, 550)),
    spec("Hyundai", "Accent", Car, Domestic, "RLU", "Việt Nam", HTC, "HTC", "G4FL", 1497, &[5], (430, 570)),
    spec("Hyundai", "Creta", Car, Domestic, "RLU", "Việt Nam", HTC, "HTC", "G4FG", 1497, &[5], (600, 720)),
    spec("Hyundai", "Santa Fe", Car, Domestic, "RLU", "Việt Nam", HTC, "HTC", "G4KN", 2497, &[7], (1000, 1370)),
    spec("Hyundai", "Solati", Car, Domestic, "RLU", "Việt Nam", HTC, "HTC", "D4CB", 2497, &[16], (1030, 1100)),
    spec("Kia", "Seltos", Car, Domestic, "RNY", "Việt Nam", THACO, "THACO", "G4FL", 1497, &[5], (600, 750)),
    spec("Mazda", "CX-5", Car, Domestic, "RP8", "Việt Nam", THACO, "THACO", "PY", 2488, &[5], (750, 960)),
    spec("Thaco", "Towner 990", Car, Domestic, "RP9", "Việt Nam", THACO, "THACO", "DA465QE", 1249, &[2], (230, 260)),
    spec("Ford", "Ranger", Car, Domestic, "RLF", "Việt Nam", FORD, "FVN", "YN2S", 1996, &[5], (660, 980)),
    spec("Ford", "Transit", Car, Domestic, "RLF", "Việt Nam", FORD, "FVN", "DRFA", 2198, &[16], (850, 1000)),
    spec("VinFast", "VF 3", Car, Domestic, "RLL", "Việt Nam", VINFAST, "VFS", "VFM32", 0, &[4], (300, 320)),
    spec("VinFast", "VF 5", Car, Domestic, "RLL", "Việt Nam", VINFAST, "VFS", "VFM50", 0, &[5], (470, 530)),
    spec("VinFast", "VF 8", Car, Domestic, "RLL", "Việt Nam", VINFAST, "VFS", "VFM80", 0, &[5], (1000, 1400)),
    // Imported motorbikes.
    spec("Honda", "Rebel 500", Motorbike, Imported, "MLH", "Thái Lan", "Thai Honda", "", "PC75E", 471, &[2], (180, 190)),
    spec("Kawasaki", "Z900", Motorbike, Imported, "MH4", "Thái Lan", "Kawasaki Motors Enterprise Thailand", "", "ZR900B", 948, &[2], (300, 320)),
    spec("Ducati", "Monster", Motorbike, Imported, "ZDM", "Italia", "Ducati Motor Holding", "", "937A", 937, &[2], (440, 480)),
    spec("BMW", "R 1250 GS", Motorbike, Imported, "WB1", "Đức", "BMW Motorrad", "", "A12B", 1254, &[2], (700, 800)),
    spec("Yamaha", "XSR155", Motorbike, Imported, "MLE", "Thái Lan", "Thai Yamaha Motor", "", "G3M8E", 155, &[2], (75, 80)),
    spec("Harley-Davidson", "Nightster", Motorbike, Imported, "1HD", "Hoa Kỳ", "Harley-Davidson Motor Company", "", "RH975", 975, &[2], (600, 700)),
    // Domestic motorbikes.
    spec("Honda", "Wave Alpha", Motorbike, Domestic, "RLH", "Việt Nam", HVN, "HVN", "JA39E", 109, &[2], (18, 19)),
    spec("Honda", "Vision", Motorbike, Domestic, "RLH", "Việt Nam", HVN, "HVN", "JK03E", 109, &[2], (31, 37)),
    spec("Honda", "Air Blade 125", Motorbike, Domestic, "RLH", "Việt Nam", HVN, "HVN", "JK12E", 124, &[2], (42, 48)),
    spec("Honda", "SH 160i", Motorbike, Domestic, "RLH", "Việt Nam", HVN, "HVN", "KF45E", 156, &[2], (92, 102)),
    spec("Yamaha", "Exciter 155", Motorbike, Domestic, "RLC", "Việt Nam", YAMAHA, "YMVN", "G3D4E", 155, &[2], (47, 55)),
    spec("Yamaha", "Sirius", Motorbike, Domestic, "RLC", "Việt Nam", YAMAHA, "YMVN", "5C64", 110, &[2], (19, 24)),
    spec("Suzuki", "Raider R150", Motorbike, Domestic, "RLS", "Việt Nam", SUZUKI, "VSC", "CGA1", 147, &[2], (50, 52)),
    spec("Piaggio", "Liberty 125", Motorbike, Domestic, "RP8", "Việt Nam", PIAGGIO, "PVN", "M92", 124, &[2], (57, 60)),
    spec("VinFast", "Evo 200", Motorbike, Domestic, "RLL", "Việt Nam", VINFAST, "VFS", "VFE20", 0, &[2], (22, 22)),
    spec("VinFast", "Feliz S", Motorbike, Domestic, "RLL", "Việt Nam", VINFAST, "VFS", "VFE30", 0, &[2], (27, 30)),
];

/// Model-year codes at VIN position 10, from 2010.
const VIN_YEAR_CODES: &[u8] = b"ABCDEFGHJKLMNPRSTVWXY123456789";

/// Localities whose registration fee is 12 % for cars (Hà Nội) and 5 % for
/// motorbikes (centrally-run cities); illustrative only, DESIGN §3.6.
const HANOI_CODES: &[&str] = &["29", "30", "31", "32", "33", "40"];

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

/// Independent PRNG streams, one per section, so a change in one section leaves
/// the others' draws untouched.
const STREAM_CITIZENS: u64 = 1;
const STREAM_ORGANISATIONS: u64 = 2;
const STREAM_CASES: u64 = 3;
const STREAM_VEHICLES: u64 = 4;

struct Generator<'p> {
    p: &'p Params,
    as_of: NaiveDate,
    citizens: Vec<Citizen>,
    organisations: Vec<Organisation>,
    vehicles: Vec<Vehicle>,
    fee_records: Vec<FeeRecord>,
    import_declarations: Vec<ImportDeclaration>,
    quality_certificates: Vec<QualityCertificate>,
    /// Every personal ID handed out, including unregistered owners'.
    personal_ids: HashSet<String>,
    /// Every chassis number in use, real or mistyped.
    chassis_numbers: HashSet<String>,
    /// Every customs declaration number in use, real or invented.
    declaration_numbers: HashSet<String>,
}

/// Pools of owners, by the case they can serve.
struct OwnerPools {
    adults: Vec<usize>,
    minors: Vec<usize>,
    deceased: Vec<usize>,
    active: Vec<usize>,
    closed: Vec<usize>,
}

impl<'p> Generator<'p> {
    fn new(p: &'p Params) -> anyhow::Result<Generator<'p>> {
        let as_of = NaiveDate::parse_from_str(&p.as_of, "%Y-%m-%d")
            .with_context(|| format!("as_of {:?} is not YYYY-MM-DD", p.as_of))?;
        ensure!(
            (2011..=2039).contains(&as_of.year()),
            "as_of must lie in 2011–2039 (VIN model-year codes, 2000s ID century digits)"
        );
        ensure!(p.counts.citizens > 0 && p.counts.organisations > 0, "empty population");
        Ok(Generator {
            p,
            as_of,
            citizens: Vec::with_capacity(p.counts.citizens),
            organisations: Vec::with_capacity(p.counts.organisations),
            vehicles: Vec::with_capacity(p.counts.vehicles),
            fee_records: Vec::with_capacity(p.counts.vehicles),
            import_declarations: Vec::new(),
            quality_certificates: Vec::new(),
            personal_ids: HashSet::with_capacity(p.counts.citizens + p.counts.vehicles / 50),
            chassis_numbers: HashSet::with_capacity(p.counts.vehicles * 2),
            declaration_numbers: HashSet::new(),
        })
    }

    fn run(mut self) -> anyhow::Result<World> {
        self.citizens()?;
        self.organisations()?;
        let pools = self.pools();
        let cases = self.cases()?;
        let mut rng = Rng::new(self.p.seed, STREAM_VEHICLES);
        for case in cases {
            self.vehicle(&mut rng, case, &pools)?;
        }
        Ok(self.into_world())
    }

    // -- citizens ----------------------------------------------------------

    fn citizens(&mut self) -> anyhow::Result<()> {
        let mut rng = Rng::new(self.p.seed, STREAM_CITIZENS);
        let as_of = self.as_of;
        let adult_latest = sub_years(as_of, 18)?;
        let adult_earliest = sub_years(as_of, 85)?;
        // Aged exactly 16: born after as_of − 17 years, at most as_of − 16 years.
        let minor_latest = sub_years(as_of, 16)?;
        let minor_earliest = sub_years(as_of, 17)? + Days::new(1);
        for _ in 0..self.p.counts.citizens {
            let minor = rng.chance(self.p.shares.minor_citizens);
            let dob = if minor {
                random_date(&mut rng, minor_earliest, minor_latest)
            } else {
                random_date(&mut rng, adult_earliest, adult_latest)
            };
            let deceased = !minor && rng.chance(self.p.shares.deceased_citizens);
            let gender = if rng.chance(0.5) { Gender::Male } else { Gender::Female };
            let personal_id = self.new_personal_id(&mut rng, dob, gender)?;
            self.citizens.push(Citizen {
                personal_id,
                full_name: person_name(&mut rng, gender),
                date_of_birth: dob,
                gender,
                life_status: if deceased {
                    LifeStatus::Deceased
                } else {
                    LifeStatus::Alive
                },
                residence: residence(&mut rng),
            });
        }
        Ok(())
    }

    fn new_personal_id(&mut self, rng: &mut Rng, dob: NaiveDate, gender: Gender) -> anyhow::Result<String> {
        let weights: Vec<u32> = BIRTH_PROVINCES.iter().map(|(_, w)| *w).collect();
        let century = match dob.year() {
            1900..=1999 => 0,
            2000..=2099 => 2,
            y => bail!("birth year {y} outside the 1900s and 2000s"),
        };
        let g = century + u32::from(gender == Gender::Female);
        for _ in 0..100 {
            let province = BIRTH_PROVINCES[rng.weighted(&weights)].0;
            let id = format!("{province}{g}{:02}{}", dob.year() % 100, rng.digits(6));
            if self.personal_ids.insert(id.clone()) {
                return Ok(id);
            }
        }
        bail!("could not find a free personal ID")
    }

    // -- organisations -----------------------------------------------------

    fn organisations(&mut self) -> anyhow::Result<()> {
        let mut rng = Rng::new(self.p.seed, STREAM_ORGANISATIONS);
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        let mut branches_of: HashMap<usize, u32> = HashMap::new();
        for i in 0..self.p.counts.organisations {
            let closed = rng.chance(self.p.shares.closed_organisations);
            let status = if closed {
                OrganisationStatus::Closed
            } else {
                OrganisationStatus::Active
            };
            let seat = residence(&mut rng);
            if i > 0 && rng.chance(self.p.shares.branch_organisations) {
                // A branch of an earlier head office: `NNNNNNNNNN-NNN`.
                let mut parent = rng.index(i);
                while self.organisations[parent].tax_code.contains('-') {
                    parent = rng.index(i);
                }
                let n = branches_of.entry(parent).or_insert(0);
                *n += 1;
                let head = &self.organisations[parent];
                let tax_code = format!("{}-{:03}", head.tax_code, n);
                let name = format!("Chi nhánh {} tại {}", head.name, seat.province);
                codes.insert(tax_code.clone());
                self.organisations.push(Organisation {
                    tax_code,
                    name,
                    status,
                    seat,
                });
                continue;
            }
            let tax_code = loop {
                let base = format!("{}{}", rng.pick(TAX_PREFIXES), rng.digits(7));
                if let Some(check) = tax_code_check_digit(&base) {
                    let code = format!("{base}{check}");
                    if codes.insert(code.clone()) {
                        break code;
                    }
                }
            };
            let name = loop {
                let form = *rng.pick(ORGANISATION_FORMS);
                let sector = if form == "Hợp tác xã" {
                    "Vận tải"
                } else {
                    *rng.pick(ORGANISATION_SECTORS)
                };
                let a = *rng.pick(BRAND_SYLLABLES);
                let mut b = *rng.pick(BRAND_SYLLABLES);
                while b == a {
                    b = *rng.pick(BRAND_SYLLABLES);
                }
                let name = format!("{form} {sector} {a} {b}");
                if names.insert(name.clone()) {
                    break name;
                }
            };
            self.organisations.push(Organisation {
                tax_code,
                name,
                status,
                seat,
            });
        }
        Ok(())
    }

    fn pools(&self) -> OwnerPools {
        let mut pools = OwnerPools {
            adults: Vec::new(),
            minors: Vec::new(),
            deceased: Vec::new(),
            active: Vec::new(),
            closed: Vec::new(),
        };
        for (i, c) in self.citizens.iter().enumerate() {
            match (c.life_status, c.age_on(self.as_of) >= 18) {
                (LifeStatus::Deceased, _) => pools.deceased.push(i),
                (LifeStatus::Alive, true) => pools.adults.push(i),
                (LifeStatus::Alive, false) => pools.minors.push(i),
            }
        }
        for (i, o) in self.organisations.iter().enumerate() {
            match o.status {
                OrganisationStatus::Active => pools.active.push(i),
                OrganisationStatus::Closed => pools.closed.push(i),
            }
        }
        pools
    }

    // -- cases ---------------------------------------------------------------

    /// Every vehicle's case: the exact allotment for each rate, shuffled.
    fn cases(&self) -> anyhow::Result<Vec<Case>> {
        let n = self.p.counts.vehicles;
        let mut cases = Vec::with_capacity(n);
        for case in Case::ALL.into_iter().skip(1) {
            let rate = self.p.case_rates.rate(case);
            ensure!((0.0..=1.0).contains(&rate), "case rate {case} = {rate} outside 0–1");
            let count = (rate * n as f64).round() as usize;
            cases.extend(std::iter::repeat_n(case, count));
        }
        ensure!(cases.len() <= n, "case rates add up to more than all vehicles");
        cases.resize(n, Case::Clean);
        let mut rng = Rng::new(self.p.seed, STREAM_CASES);
        for i in (1..n).rev() {
            cases.swap(i, rng.index(i + 1));
        }
        Ok(cases)
    }

    // -- vehicles ------------------------------------------------------------

    fn vehicle(&mut self, rng: &mut Rng, case: Case, pools: &OwnerPools) -> anyhow::Result<()> {
        let p: &'p Params = self.p;
        let shares = &p.shares;
        let class = if rng.chance(shares.cars) { Car } else { Motorbike };
        let origin = if rng.chance(shares.imported) {
            Imported
        } else {
            Domestic
        };
        let candidates: Vec<&ModelSpec> = MODELS
            .iter()
            .filter(|m| m.class == class && m.origin == origin)
            .collect();
        let spec = *rng.pick(&candidates);

        let owner = self.owner(rng, case, pools)?;
        let (payer_id, payer_name, owner_name, locality_code) = match &owner {
            Owner::Citizen(i) => {
                let c = &self.citizens[*i];
                (
                    c.personal_id.clone(),
                    c.full_name.clone(),
                    c.full_name.clone(),
                    c.residence.locality_code.clone(),
                )
            }
            Owner::Organisation(i) => {
                let o = &self.organisations[*i];
                (
                    o.tax_code.clone(),
                    o.name.clone(),
                    o.name.clone(),
                    o.seat.locality_code.clone(),
                )
            }
            Owner::Unregistered {
                personal_id,
                full_name,
                residence,
            } => (
                personal_id.clone(),
                full_name.clone(),
                full_name.clone(),
                residence.locality_code.clone(),
            ),
        };

        // Dates: the origin record, then the fee a few days later, all before as_of.
        let origin_date = self.as_of - Days::new(rng.range(20, 540));
        let year_of_manufacture = if rng.chance(0.3) {
            origin_date.year() as u32 - 1
        } else {
            origin_date.year() as u32
        };
        let payment_date = (origin_date + Days::new(rng.range(1, 20))).min(self.as_of - Days::new(1));

        let chassis_number = self.new_chassis(rng, spec, year_of_manufacture)?;
        let engine_number = engine_number(rng, spec);
        let seats = *rng.pick(spec.seats);
        let taxable_value_vnd = rng.range(spec.value_mvnd.0 * 10, spec.value_mvnd.1 * 10) * 100_000;

        // Origin record: real chassis; engine wrong in EngineMismatch; none in NoOriginRecord.
        let origin_engine = if case == Case::EngineMismatch {
            change_last_digit(rng, &engine_number)
        } else {
            engine_number.clone()
        };
        let mut import_declaration = None;
        let mut quality_certificate = None;
        let mut declared_customs = None;
        match (origin, case == Case::NoOriginRecord) {
            (Imported, false) => {
                let number = self.new_declaration_number(rng);
                let (importer_tax_code, importer_name) = match &owner {
                    Owner::Organisation(i) if rng.chance(0.3) => (
                        self.organisations[*i].tax_code.clone(),
                        self.organisations[*i].name.clone(),
                    ),
                    _ => {
                        let dealer = &self.organisations[*rng.pick(&pools.active)];
                        (dealer.tax_code.clone(), dealer.name.clone())
                    }
                };
                declared_customs = Some(number.clone());
                import_declaration = Some(self.import_declarations.len());
                self.import_declarations.push(ImportDeclaration {
                    declaration_number: number,
                    importer_tax_code,
                    importer_name,
                    chassis_number: chassis_number.clone(),
                    engine_number: origin_engine,
                    make: spec.make.to_string(),
                    model: spec.model.to_string(),
                    year_of_manufacture,
                    seats,
                    vehicle_type: class,
                    country_of_origin: spec.country.to_string(),
                    cleared_on: origin_date,
                });
            }
            (Imported, true) => {
                // The owner writes a declaration number customs never issued.
                declared_customs = Some(self.new_declaration_number(rng));
            }
            (Domestic, false) => {
                quality_certificate = Some(self.quality_certificates.len());
                let certificate_number = format!(
                    "{}-{:02}-{:06}",
                    spec.pxx_prefix,
                    origin_date.year() % 100,
                    self.quality_certificates.len() + 1
                );
                self.quality_certificates.push(QualityCertificate {
                    certificate_number,
                    manufacturer: spec.manufacturer.to_string(),
                    chassis_number: chassis_number.clone(),
                    engine_number: origin_engine,
                    make: spec.make.to_string(),
                    model: spec.model.to_string(),
                    year_of_manufacture,
                    seats,
                    vehicle_type: class,
                    issued_on: origin_date,
                });
            }
            (Domestic, true) => {}
        }

        // Fee record: chassis mistyped in VinMismatch; unpaid in FeeUnpaid.
        let fee_chassis = if case == Case::VinMismatch {
            self.mistyped_chassis(rng, &chassis_number)?
        } else {
            chassis_number.clone()
        };
        let rate_permille = match (class, spec.capacity_cc) {
            (_, 0) => 0,
            (Car, _) if HANOI_CODES.contains(&locality_code.as_str()) => 120,
            (Car, _) => 100,
            (Motorbike, _) if is_central_city(&locality_code) => 50,
            (Motorbike, _) => 20,
        };
        let fee_due_vnd = taxable_value_vnd * u64::from(rate_permille) / 1000;
        let unpaid = case == Case::FeeUnpaid;
        let fee_paid_vnd = match unpaid {
            false => fee_due_vnd,
            true if rng.chance(0.25) => fee_due_vnd / 2,
            true => 0,
        };
        let fee_record = self.fee_records.len();
        self.fee_records.push(FeeRecord {
            dossier_code: format!("LPTB-{}-{:07}", payment_date.year(), fee_record + 1),
            payer_id: payer_id.clone(),
            payer_name,
            vehicle_type: class,
            brand: spec.make.to_string(),
            model: spec.model.to_string(),
            engine_number: engine_number.clone(),
            chassis_number: fee_chassis,
            capacity_cc: spec.capacity_cc,
            seats,
            country_of_manufacture: spec.country.to_string(),
            year_of_manufacture,
            taxable_value_vnd,
            rate_permille,
            fee_due_vnd,
            fee_paid_vnd,
            payment_date: (!unpaid).then_some(payment_date),
            status: if unpaid {
                PaymentStatus::Unpaid
            } else {
                PaymentStatus::Paid
            },
        });

        // The declaration.
        let is_org = matches!(owner, Owner::Organisation(_));
        let declared = Declared {
            owner_personal_id: (!is_org).then(|| payer_id.clone()),
            owner_tax_code: is_org.then(|| payer_id.clone()),
            owner_name: if case == Case::NameMismatch {
                drop_middle_name(&owner_name)
            } else {
                owner_name
            },
            chassis_number: if rng.chance(shares.declared_chassis_lowercase) {
                chassis_number.to_ascii_lowercase()
            } else {
                chassis_number.clone()
            },
            engine_number: if rng.chance(shares.declared_engine_reformatted) {
                reformat_engine_number(rng, &engine_number)
            } else {
                engine_number.clone()
            },
            customs_declaration_number: declared_customs,
            class,
            origin,
            make: spec.make.to_string(),
            model: spec.model.to_string(),
            seats,
            office_code: format!(
                "PC-{}",
                if case == Case::OfficeElsewhere {
                    elsewhere(rng, &locality_code)
                } else {
                    locality_code.clone()
                }
            ),
            locality_code: if case == Case::LocalityElsewhere {
                elsewhere(rng, &locality_code)
            } else {
                locality_code
            },
        };

        self.vehicles.push(Vehicle {
            case,
            class,
            origin,
            chassis_number,
            engine_number,
            make: spec.make.to_string(),
            model: spec.model.to_string(),
            year_of_manufacture,
            seats,
            capacity_cc: spec.capacity_cc,
            country_of_manufacture: spec.country.to_string(),
            owner,
            fee_record,
            import_declaration,
            quality_certificate,
            declared,
        });
        Ok(())
    }

    fn owner(&mut self, rng: &mut Rng, case: Case, pools: &OwnerPools) -> anyhow::Result<Owner> {
        let pool = match case {
            Case::Organisation => {
                return pick_from(rng, &pools.active, case).map(Owner::Organisation);
            }
            Case::ClosedOrganisation => {
                return pick_from(rng, &pools.closed, case).map(Owner::Organisation);
            }
            Case::MinorOwner => &pools.minors,
            Case::DeceasedOwner => &pools.deceased,
            Case::UnknownOwner => {
                let dob = random_date(rng, sub_years(self.as_of, 70)?, sub_years(self.as_of, 20)?);
                let gender = if rng.chance(0.5) { Gender::Male } else { Gender::Female };
                let personal_id = self.new_personal_id(rng, dob, gender)?;
                return Ok(Owner::Unregistered {
                    personal_id,
                    full_name: person_name(rng, gender),
                    residence: residence(rng),
                });
            }
            _ => &pools.adults,
        };
        pick_from(rng, pool, case).map(Owner::Citizen)
    }

    /// A new, unique chassis number for `spec`: a 17-char VIN (check digit
    /// right or, at the configured share, deliberately wrong), or for some
    /// motorbikes a 10–14-char frame number.
    fn new_chassis(&mut self, rng: &mut Rng, spec: &ModelSpec, year: u32) -> anyhow::Result<String> {
        let short = spec.class == Motorbike && rng.chance(self.p.shares.short_frame_number);
        let bad_check = rng.chance(self.p.shares.bad_vin_check_digit);
        let year_code = char::from(VIN_YEAR_CODES[(year.saturating_sub(2010) as usize) % VIN_YEAR_CODES.len()]);
        for _ in 0..100 {
            let chassis = if short {
                // e.g. "JK03E5123456": engine family code, then a serial.
                let len = rng.range(10, 14) as usize;
                let head: String = spec
                    .engine_code
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(5)
                    .collect();
                let head = head.replace(['I', 'O', 'Q'], "0");
                format!("{head}{}", rng.digits(len - head.len()))
            } else {
                let mut vin = format!(
                    "{}{}0{}{}{}",
                    spec.wmi,
                    rng.vin_chars(5),
                    year_code,
                    rng.vin_chars(1),
                    rng.digits(6)
                );
                let check = vin_check_digit(&vin).context("generated VIN is well-formed")?;
                let digit = if bad_check {
                    let wrong: Vec<char> = "0123456789X".chars().filter(|&c| c != check).collect();
                    *rng.pick(&wrong)
                } else {
                    check
                };
                vin.replace_range(8..9, digit.encode_utf8(&mut [0; 4]));
                vin
            };
            if self.chassis_numbers.insert(chassis.clone()) {
                return Ok(chassis);
            }
        }
        bail!("could not find a free chassis number")
    }

    /// The chassis number with one serial character changed, unused elsewhere.
    fn mistyped_chassis(&mut self, rng: &mut Rng, chassis: &str) -> anyhow::Result<String> {
        for _ in 0..100 {
            let typo = change_last_digit(rng, chassis);
            if self.chassis_numbers.insert(typo.clone()) {
                return Ok(typo);
            }
        }
        bail!("could not mistype chassis number")
    }

    fn new_declaration_number(&mut self, rng: &mut Rng) -> String {
        loop {
            let number = format!("10{}", rng.digits(10));
            if self.declaration_numbers.insert(number.clone()) {
                return number;
            }
        }
    }

    fn into_world(self) -> World {
        let index_of = |keys: Vec<String>| -> HashMap<String, usize> {
            keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect()
        };
        let citizen_by_id = index_of(self.citizens.iter().map(|c| c.personal_id.clone()).collect());
        let organisation_by_tax_code = index_of(self.organisations.iter().map(|o| o.tax_code.clone()).collect());
        let import_by_chassis = index_of(
            self.import_declarations
                .iter()
                .map(|d| chassis_key(&d.chassis_number))
                .collect(),
        );
        let certificate_by_chassis = index_of(
            self.quality_certificates
                .iter()
                .map(|c| chassis_key(&c.chassis_number))
                .collect(),
        );
        let mut fees_by_payer: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in self.fee_records.iter().enumerate() {
            fees_by_payer.entry(r.payer_id.clone()).or_default().push(i);
        }
        World {
            params: self.p.clone(),
            as_of: self.as_of,
            citizens: self.citizens,
            organisations: self.organisations,
            vehicles: self.vehicles,
            fee_records: self.fee_records,
            import_declarations: self.import_declarations,
            quality_certificates: self.quality_certificates,
            citizen_by_id,
            organisation_by_tax_code,
            fees_by_payer,
            import_by_chassis,
            certificate_by_chassis,
        }
    }
}

fn pick_from(rng: &mut Rng, pool: &[usize], case: Case) -> anyhow::Result<usize> {
    ensure!(
        !pool.is_empty(),
        "no owner available for case {case}: adjust the population shares"
    );
    Ok(*rng.pick(pool))
}

fn sub_years(date: NaiveDate, years: u32) -> anyhow::Result<NaiveDate> {
    date.checked_sub_months(Months::new(12 * years))
        .with_context(|| format!("{date} minus {years} years"))
}

/// Uniform in `earliest..=latest`.
fn random_date(rng: &mut Rng, earliest: NaiveDate, latest: NaiveDate) -> NaiveDate {
    let span = (latest - earliest).num_days().max(0) as u64;
    earliest + Days::new(rng.range(0, span))
}

fn person_name(rng: &mut Rng, gender: Gender) -> String {
    let weights: Vec<u32> = FAMILY_NAMES.iter().map(|(_, w)| *w).collect();
    let family = FAMILY_NAMES[rng.weighted(&weights)].0;
    let (middle, given) = match gender {
        Gender::Male => (rng.pick(MALE_MIDDLE), rng.pick(MALE_GIVEN)),
        Gender::Female => (rng.pick(FEMALE_MIDDLE), rng.pick(FEMALE_GIVEN)),
    };
    format!("{family} {middle} {given}")
}

/// "Nguyễn Văn An" → "Nguyễn An"; "Trần Thị Bích Ngọc" → "Trần Ngọc".
fn drop_middle_name(full_name: &str) -> String {
    let words: Vec<&str> = full_name.split_whitespace().collect();
    match (words.first(), words.last()) {
        (Some(first), Some(last)) if words.len() > 2 => format!("{first} {last}"),
        _ => full_name.to_string(),
    }
}

fn residence(rng: &mut Rng) -> Residence {
    let weights: Vec<u32> = PROVINCES.iter().map(|(_, _, w)| *w).collect();
    let (province, codes, _) = PROVINCES[rng.weighted(&weights)];
    Residence {
        locality_code: rng.pick(codes).to_string(),
        province: province.to_string(),
        address: format!("Số {} {}, {}", rng.range(1, 450), rng.pick(STREETS), rng.pick(WARDS)),
    }
}

/// A locality code of a province other than `locality_code`'s.
fn elsewhere(rng: &mut Rng, locality_code: &str) -> String {
    let others: Vec<&str> = PROVINCES
        .iter()
        .filter(|(_, codes, _)| !codes.contains(&locality_code))
        .flat_map(|(_, codes, _)| codes.iter().copied())
        .collect();
    rng.pick(&others).to_string()
}

/// The share of residences (and organisations' seats) the generator puts in `province`.
pub fn residence_share(province: &str) -> f64 {
    let total: u32 = PROVINCES.iter().map(|(_, _, w)| *w).sum();
    let of: u32 = PROVINCES
        .iter()
        .filter(|(p, _, _)| *p == province)
        .map(|(_, _, w)| *w)
        .sum();
    f64::from(of) / f64::from(total)
}

/// The province of a locality code, in the merged list (DESIGN §3.2).
pub fn province_of(locality_code: &str) -> Option<&'static str> {
    PROVINCES
        .iter()
        .find(|(_, codes, _)| codes.contains(&locality_code))
        .map(|(name, _, _)| *name)
}

fn is_central_city(locality_code: &str) -> bool {
    ["Hà Nội", "TP. Hồ Chí Minh", "Hải Phòng", "Đà Nẵng", "Cần Thơ", "Huế"]
        .iter()
        .any(|city| {
            PROVINCES
                .iter()
                .any(|(name, codes, _)| name == city && codes.contains(&locality_code))
        })
}

/// An engine number as stamped: family code, optional two-letter variant, serial,
/// separated by nothing, a dash or a space (e.g. `"G4FG-AB 123456"`).
fn engine_number(rng: &mut Rng, spec: &ModelSpec) -> String {
    const SEPARATORS: &[&str] = &["", "-", " "];
    let serial_len = if rng.chance(0.5) { 6 } else { 7 };
    let serial = rng.digits(serial_len);
    if rng.chance(0.3) {
        let variant: String = (0..2).map(|_| char::from(b'A' + rng.below(26) as u8)).collect();
        format!("{}-{variant} {serial}", spec.engine_code)
    } else {
        format!("{}{}{serial}", spec.engine_code, rng.pick(SEPARATORS))
    }
}

/// The same engine number as an owner might write it: lower case, separators
/// dropped, or dashes and spaces swapped. Equal after normalisation.
fn reformat_engine_number(rng: &mut Rng, engine: &str) -> String {
    match rng.below(3) {
        0 => engine.to_lowercase(),
        1 => engine.chars().filter(|c| *c != '-' && *c != ' ').collect(),
        _ => {
            let swapped: String = engine
                .chars()
                .map(|c| match c {
                    '-' => ' ',
                    ' ' => '-',
                    c => c,
                })
                .collect();
            if swapped == engine {
                // No separators to swap: add one before the serial.
                let cut = engine.len().saturating_sub(6);
                format!("{}-{}", &engine[..cut], &engine[cut..])
            } else {
                swapped
            }
        }
    }
}

/// The text with its last digit replaced by another digit.
fn change_last_digit(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    if let Some(pos) = bytes.iter().rposition(u8::is_ascii_digit) {
        let old = bytes[pos] - b'0';
        bytes[pos] = b'0' + ((u64::from(old) + rng.range(1, 9)) % 10) as u8;
    }
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;

    fn world() -> Arc<World> {
        World::standard()
    }

    /// SHA-256 over a canonical rendering of every record.
    fn fingerprint(w: &World) -> String {
        let mut h = Sha256::new();
        for c in &w.citizens {
            h.update(format!("{c:?}\n"));
        }
        for o in &w.organisations {
            h.update(format!("{o:?}\n"));
        }
        for v in &w.vehicles {
            h.update(format!("{v:?}\n"));
        }
        for r in &w.fee_records {
            h.update(format!("{r:?}\n"));
        }
        for d in &w.import_declarations {
            h.update(format!("{d:?}\n"));
        }
        for c in &w.quality_certificates {
            h.update(format!("{c:?}\n"));
        }
        h.finalize().iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    #[test]
    fn embedded_parameters_parse() -> anyhow::Result<()> {
        let p = Params::standard()?;
        assert!(p.counts.citizens >= 10_000);
        assert!(p.counts.organisations >= 500);
        assert!(p.counts.vehicles >= 20_000);
        Ok(())
    }

    #[test]
    fn deterministic() -> anyhow::Result<()> {
        let p = Params::standard()?;
        let started = std::time::Instant::now();
        let a = World::generate(&p)?;
        let elapsed = started.elapsed();
        let b = World::generate(&p)?;
        assert!(a == b, "two generations from the same parameters differ");
        assert!(elapsed.as_secs_f64() < 5.0, "generation took {elapsed:?}");
        let mut other = p.clone();
        other.seed += 1;
        assert!(World::generate(&other)? != a);
        Ok(())
    }

    /// Pins the generator: any change to it or to world.toml changes this value.
    /// Update it deliberately, together with contracts/datasets/README.md if a
    /// documented example moves.
    #[test]
    fn pinned_fingerprint() {
        let w = world();
        let c = &w.citizens[0];
        let v = &w.vehicles[0];
        let summary = format!(
            "{} {} {} | {} | {} {} {:?}",
            c.personal_id,
            c.full_name,
            c.date_of_birth,
            w.organisations[0].tax_code,
            v.chassis_number,
            v.engine_number,
            v.case
        );
        assert_eq!(
            summary,
            "079046678321 Nguyễn Văn Long 1946-11-17 | 0228409600 | RP8ZSC3U4SZ240468 M92-2467949 Clean"
        );
        assert_eq!(
            fingerprint(&w),
            "329ffa8f53c9df97a14eb74bb8ae0bbd160524147a202e8e68496f43352b3ba8"
        );
    }

    #[test]
    fn standard_is_shared() {
        assert!(Arc::ptr_eq(&World::standard(), &World::standard()));
    }

    #[test]
    fn counts() {
        let w = world();
        assert_eq!(w.citizens.len(), w.params.counts.citizens);
        assert_eq!(w.organisations.len(), w.params.counts.organisations);
        assert_eq!(w.vehicles.len(), w.params.counts.vehicles);
        assert_eq!(w.fee_records.len(), w.vehicles.len());
        assert!(w.citizens.len() >= 10_000 && w.organisations.len() >= 500 && w.vehicles.len() >= 20_000);
        let imported = w.vehicles.iter().filter(|v| v.origin == Imported).count();
        let share = imported as f64 / w.vehicles.len() as f64;
        assert!((0.27..0.33).contains(&share), "imported share {share}");
        assert!(w.organisations.iter().any(|o| o.tax_code.contains('-')), "no branches");
    }

    #[test]
    fn every_case_has_examples() {
        let w = world();
        for case in Case::ALL {
            let n = w.vehicles_with(case).count();
            assert!(n >= 20, "{case}: only {n} examples");
            assert_eq!(w.vehicles[w.example(case)].case, case);
        }
    }

    #[test]
    fn tax_codes_are_valid_and_unique() {
        let w = world();
        let mut seen = HashSet::new();
        for o in &w.organisations {
            assert!(is_valid_tax_code(&o.tax_code), "{}", o.tax_code);
            assert!(seen.insert(&o.tax_code));
            assert!(w.organisation(&o.tax_code).is_some());
        }
        assert!(is_valid_tax_code("0100109106"));
        assert!(is_valid_tax_code("0100109106-001"));
        assert!(!is_valid_tax_code("0100109107"));
        assert!(!is_valid_tax_code("0100109106-01"));
        assert!(!is_valid_tax_code("010010910"));
    }

    #[test]
    fn check_digit_rules() {
        // Worked example from the VIN standard (49 CFR 565).
        assert_eq!(vin_check_digit("1M8GDM9AXKP042788"), Some('X'));
        assert!(vin_check_digit_valid("1M8GDM9AXKP042788"));
        assert!(vin_check_digit_valid("1m8gdm9axkp042788"));
        assert!(!vin_check_digit_valid("1M8GDM9A1KP042788"));
        assert_eq!(vin_check_digit("1M8GDM9AXKP04278"), None);
        assert_eq!(vin_check_digit("1M8GDM9AXKP04278I"), None);
        // sum % 11 == 0 has no check digit.
        assert_eq!(tax_code_check_digit("000000000"), None);
        assert_eq!(tax_code_check_digit("010010910"), Some(6));
        assert_eq!(normalise_engine_number("g4fg-ab 123456"), "G4FGAB123456");
    }

    #[test]
    fn identifiers_are_unique_and_consistent() {
        let w = world();
        let birth_codes: HashSet<&str> = BIRTH_PROVINCES.iter().map(|(c, _)| *c).collect();
        let mut ids = HashSet::new();
        for c in &w.citizens {
            let id = c.personal_id.as_str();
            assert!(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
            assert!(birth_codes.contains(&id[..3]));
            let g = id.as_bytes()[3] - b'0';
            let century = if c.date_of_birth.year() < 2000 { 0 } else { 2 };
            let female = u8::from(c.gender == Gender::Female);
            assert_eq!(g, century + female, "{id} {:?} {}", c.gender, c.date_of_birth);
            assert_eq!(id[4..6], format!("{:02}", c.date_of_birth.year() % 100));
            assert!(ids.insert(id));
            assert!(w.citizen(id).is_some_and(|found| found == c));
        }
        let mut chassis = HashSet::new();
        let mut dossiers = HashSet::new();
        for v in &w.vehicles {
            assert!(chassis.insert(v.chassis_number.as_str()));
            assert!(dossiers.insert(w.fee_record_of(v).dossier_code.as_str()));
        }
        let mut declarations = HashSet::new();
        for d in &w.import_declarations {
            assert!(d.declaration_number.len() == 12 && d.declaration_number.bytes().all(|b| b.is_ascii_digit()));
            assert!(declarations.insert(d.declaration_number.as_str()));
        }
        let mut certificates = HashSet::new();
        for c in &w.quality_certificates {
            assert!(certificates.insert(c.certificate_number.as_str()));
        }
    }

    #[test]
    fn names_and_residences_are_plausible() {
        let w = world();
        let in_use: HashSet<&str> = PROVINCES
            .iter()
            .flat_map(|(_, codes, _)| codes.iter().copied())
            .collect();
        for unused in ["10", "42", "44", "45", "46", "87", "91", "96", "80"] {
            assert!(!in_use.contains(unused));
        }
        let residences = w
            .citizens
            .iter()
            .map(|c| (&c.full_name, &c.residence))
            .chain(w.organisations.iter().map(|o| (&o.name, &o.seat)));
        for (name, r) in residences {
            // NFC: precomposed letters only, no combining diacritics.
            assert!(!name.chars().any(|ch| ('\u{300}'..='\u{36f}').contains(&ch)), "{name}");
            assert!(name.split_whitespace().count() >= 3, "{name}");
            assert!(in_use.contains(r.locality_code.as_str()), "{}", r.locality_code);
            assert!(
                PROVINCES
                    .iter()
                    .any(|(p, codes, _)| *p == r.province && codes.contains(&r.locality_code.as_str()))
            );
        }
    }

    #[test]
    fn chassis_numbers_follow_the_rules() {
        let w = world();
        let mut cars = 0;
        let mut bad_check = 0;
        let mut short = 0;
        for v in &w.vehicles {
            let c = &v.chassis_number;
            assert!(c.bytes().all(|b| VIN_ALPHABET.contains(&b)), "{c}");
            if c.len() == 17 {
                if v.class == Car {
                    cars += 1;
                }
                if !vin_check_digit_valid(c) {
                    bad_check += 1;
                }
            } else {
                assert_eq!(v.class, Motorbike, "{c}");
                assert!((10..=14).contains(&c.len()), "{c}");
                short += 1;
            }
            match v.class {
                Car => assert!((2..=16).contains(&v.seats)),
                Motorbike => assert_eq!(v.seats, 2),
            }
        }
        assert!(cars > 0 && short >= 20 && bad_check >= 20);
        assert!(
            bad_check * 4 < w.vehicles.len(),
            "most VINs carry a correct check digit"
        );
    }

    /// What a registry checks, done directly on the data: true when every check passes.
    fn problems(w: &World, i: usize) -> Vec<Case> {
        let v = &w.vehicles[i];
        let d = w.declared(i);
        let mut found = Vec::new();
        if let Some(id) = &d.owner_personal_id {
            match w.citizen(id) {
                None => found.push(Case::UnknownOwner),
                Some(c) => {
                    if c.life_status == LifeStatus::Deceased {
                        found.push(Case::DeceasedOwner);
                    } else if c.age_on(w.as_of) < 18 {
                        found.push(Case::MinorOwner);
                    }
                    if c.full_name != d.owner_name {
                        found.push(Case::NameMismatch);
                    }
                }
            }
        }
        if let Some(code) = &d.owner_tax_code {
            let o = w.organisation(code).expect("declared organisation exists");
            assert!(is_valid_tax_code(code));
            assert_eq!(o.name, d.owner_name);
            if o.status == OrganisationStatus::Closed {
                found.push(Case::ClosedOrganisation);
            }
        }
        let payer = d
            .owner_personal_id
            .as_deref()
            .or(d.owner_tax_code.as_deref())
            .expect("one owner id");
        let chassis = d.chassis_number.to_ascii_uppercase();
        let engine = normalise_engine_number(&d.engine_number);
        let fees: Vec<&FeeRecord> = w.fee_records_of(payer).collect();
        match fees.iter().find(|r| r.chassis_number == chassis) {
            None => found.push(Case::VinMismatch),
            Some(r) => {
                assert_eq!(normalise_engine_number(&r.engine_number), engine);
                if r.status != PaymentStatus::Paid || r.fee_paid_vnd < r.fee_due_vnd {
                    found.push(Case::FeeUnpaid);
                }
            }
        }
        let origin_engine = match d.origin {
            Imported => {
                let number = d
                    .customs_declaration_number
                    .as_deref()
                    .expect("imported declares customs");
                w.import_declaration(&d.chassis_number).map(|r| {
                    assert_eq!(r.declaration_number, number);
                    assert_eq!(r.chassis_number, chassis);
                    r.engine_number.clone()
                })
            }
            Domestic => {
                assert!(d.customs_declaration_number.is_none());
                assert!(w.import_declaration(&chassis).is_none());
                w.quality_certificate(&d.chassis_number).map(|r| {
                    assert_eq!(r.chassis_number, chassis);
                    r.engine_number.clone()
                })
            }
        };
        match origin_engine {
            None => found.push(Case::NoOriginRecord),
            Some(e) if normalise_engine_number(&e) != engine => found.push(Case::EngineMismatch),
            Some(_) => {}
        }
        // The plate's province is the residence's (an organisation's seat's).
        let residence = match v.owner {
            Owner::Citizen(i) => &w.citizens[i].residence,
            Owner::Organisation(i) => &w.organisations[i].seat,
            Owner::Unregistered { ref residence, .. } => residence,
        };
        let province = province_of(&residence.locality_code).expect("residence in a province");
        assert_eq!(province, residence.province);
        if province_of(&d.locality_code) != Some(province) {
            found.push(Case::LocalityElsewhere);
        }
        let office = d.office_code.strip_prefix("PC-").expect("PC-<code>");
        if province_of(office) != Some(province) {
            found.push(Case::OfficeElsewhere);
        }
        assert_eq!(chassis, v.chassis_number);
        assert_eq!(engine, normalise_engine_number(&v.engine_number));
        found
    }

    #[test]
    fn each_case_shows_exactly_its_problem() {
        let w = world();
        for (i, v) in w.vehicles.iter().enumerate() {
            let expected = match v.case {
                Case::Clean | Case::Organisation => vec![],
                case => vec![case],
            };
            assert_eq!(problems(&w, i), expected, "vehicle {i} {:?}", v.declared);
            match v.case {
                Case::Clean => assert!(matches!(v.owner, Owner::Citizen(_))),
                Case::Organisation => {
                    let o = w.owner_organisation(v).expect("organisation owner");
                    assert_eq!(o.status, OrganisationStatus::Active);
                }
                Case::MinorOwner => {
                    let c = w.owner_citizen(v).expect("citizen owner");
                    assert_eq!(c.age_on(w.as_of), 16);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn declarations_vary_only_in_form() {
        let w = world();
        let lower = w
            .vehicles
            .iter()
            .filter(|v| v.declared.chassis_number != v.chassis_number)
            .count();
        let reformatted = w
            .vehicles
            .iter()
            .filter(|v| v.declared.engine_number != v.engine_number)
            .count();
        assert!(lower >= 20 && reformatted >= 20);
        assert!(
            w.vehicles
                .iter()
                .any(|v| v.engine_number.contains('-') && v.engine_number.contains(' '))
        );
    }

    /// `cargo test -p vrs-kit --lib world::tests::print_examples -- --ignored --nocapture`
    /// prints the first example of every case (used for contracts/datasets/README.md).
    #[test]
    #[ignore = "prints the examples; run by hand"]
    fn print_examples() {
        let w = world();
        for case in Case::ALL {
            let i = w.example(case);
            let v = &w.vehicles[i];
            println!("== {case}: vehicle {i} ({} examples)", w.vehicles_with(case).count());
            println!(
                "   vehicle   {:?} {:?} {} {} {} / engine {:?} / {} seats {} cc {}",
                v.class,
                v.origin,
                v.make,
                v.model,
                v.chassis_number,
                v.engine_number,
                v.seats,
                v.capacity_cc,
                v.year_of_manufacture
            );
            println!("   declared  {:?}", v.declared);
            println!("   fee       {:?}", w.fee_record_of(v));
            if let Some(d) = v.import_declaration {
                println!("   customs   {:?}", w.import_declarations[d]);
            }
            if let Some(c) = v.quality_certificate {
                println!("   pxx       {:?}", w.quality_certificates[c]);
            }
            match &v.owner {
                Owner::Citizen(c) => println!("   citizen   {:?}", w.citizens[*c]),
                Owner::Organisation(o) => println!("   org       {:?}", w.organisations[*o]),
                other => println!("   owner     {other:?}"),
            }
        }
        for o in w.organisations.iter().filter(|o| o.tax_code.contains('-')).take(3) {
            println!("branch {o:?}");
        }
    }
}
