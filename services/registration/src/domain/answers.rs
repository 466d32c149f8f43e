//! What the agencies said about a declaration, as the domain reads it: the
//! checks judge these, whoever fetched them (`crate::lookups` does, over gRPC).

use vrs_proto::pb::customs::v1 as customs;
use vrs_proto::pb::identity::v1 as identity;
use vrs_proto::pb::register::v1 as register;
use vrs_proto::pb::tax::v1 as tax;

/// The agencies we call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agency {
    Identity,
    Tax,
    Customs,
    Register,
}

impl Agency {
    pub fn as_str(self) -> &'static str {
        match self {
            Agency::Identity => "identity",
            Agency::Tax => "tax",
            Agency::Customs => "customs",
            Agency::Register => "register",
        }
    }
}

/// The identity answer: a citizen or an organisation, present or not.
#[derive(Debug, Clone)]
pub enum OwnerAnswer {
    Citizen(Option<identity::Citizen>),
    Organisation(Option<identity::Organisation>),
}

/// The origin answer: customs for imported vehicles, PXX for domestic ones.
#[derive(Debug, Clone)]
pub enum OriginAnswer {
    Customs(Option<customs::ImportDeclaration>),
    Register(Option<register::QualityCertificate>),
}

/// One agency's answer as evidence: the hashes of what was asked and answered.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub agency: Agency,
    pub request_sha256: String,
    pub response_sha256: String,
    pub found: bool,
    pub fetched_at_ms: i64,
}

/// Everything the agencies said about one declaration.
#[derive(Debug, Clone)]
pub struct Answers {
    pub owner: OwnerAnswer,
    pub fees: Vec<tax::FeeRecord>,
    pub origin: OriginAnswer,
    pub evidence: Vec<Evidence>,
}

/// Agencies that could not answer, with why (safe to show: no personal data).
#[derive(Debug, Clone, thiserror::Error)]
#[error("agencies unavailable: {}", .0.iter().map(|(a, why)| format!("{} ({why})", a.as_str())).collect::<Vec<_>>().join(", "))]
pub struct Unreachable(pub Vec<(Agency, String)>);
