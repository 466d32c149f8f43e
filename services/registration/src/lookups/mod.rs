//! Agency lookups: identity, tax, and customs-or-register, fetched in parallel.
//!
//! Each call has its own deadline; transient failures (UNAVAILABLE,
//! DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED) are retried with
//! exponential backoff and jitter; every agency has a circuit breaker. Each
//! answer must echo the SHA-256 of the request we sent — that pair is kept as
//! evidence. If any agency cannot answer, the whole fetch fails with the list
//! of agencies that were unreachable, and the application waits for a retry.

pub mod breaker;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use tonic::Code;
use vrs_kit::evidence::sha256_of;
use vrs_kit::telemetry::propagation::{TracedChannel, propagating};
use vrs_proto::pb::customs::v1::{self as customs, customs_service_client::CustomsServiceClient};
use vrs_proto::pb::identity::v1::{self as identity, identity_service_client::IdentityServiceClient};
use vrs_proto::pb::register::v1::{self as register, vehicle_register_service_client::VehicleRegisterServiceClient};
use vrs_proto::pb::tax::v1::{self as tax, tax_service_client::TaxServiceClient};

use crate::domain::declaration::{Declaration, OwnerDecl};
use crate::domain::ids::Origin;
use breaker::{Breaker, Permit};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AgenciesConfig {
    pub identity_url: String,
    pub tax_url: String,
    pub customs_url: String,
    pub register_url: String,
    /// Deadline of one call to one agency.
    pub call_timeout_ms: u64,
    /// Retries after the first attempt, on transient codes only.
    pub retries: u32,
    /// First retry delay; doubles each retry, with ±50 % jitter.
    pub retry_base_ms: u64,
    /// Consecutive failures that open an agency's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails fast before letting one probe through.
    pub breaker_cooldown_ms: u64,
}

impl Default for AgenciesConfig {
    fn default() -> Self {
        AgenciesConfig {
            identity_url: "http://127.0.0.1:50061".into(),
            tax_url: "http://127.0.0.1:50062".into(),
            customs_url: "http://127.0.0.1:50063".into(),
            register_url: "http://127.0.0.1:50064".into(),
            call_timeout_ms: 1_000,
            retries: 2,
            retry_base_ms: 50,
            breaker_failures: 5,
            breaker_cooldown_ms: 5_000,
        }
    }
}

pub use crate::domain::answers::{Agency, Answers, Evidence, OriginAnswer, OwnerAnswer, Unreachable};
pub use crate::retry::backoff;

/// Clients of all four agencies with their breakers.
pub struct Agencies {
    identity: IdentityServiceClient<TracedChannel>,
    tax: TaxServiceClient<TracedChannel>,
    customs: CustomsServiceClient<TracedChannel>,
    register: VehicleRegisterServiceClient<TracedChannel>,
    breakers: Arc<[Breaker; 4]>,
    /// `vrs.agency.lookups` by agency and outcome (answered, retried, failed, circuit_open).
    lookups: Counter<u64>,
    timeout: Duration,
    retries: u32,
    retry_base: Duration,
}

fn channel(url: &str, timeout: Duration, tls: &vrs_kit::tls::TlsConfig) -> anyhow::Result<TracedChannel> {
    Ok(propagating(
        tls.endpoint(url)?
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .connect_lazy(),
    ))
}

impl Agencies {
    /// Creates lazy channels: nothing is dialled until the first lookup, and a
    /// channel reconnects by itself when an agency comes back.
    pub fn new(cfg: &AgenciesConfig, tls: &vrs_kit::tls::TlsConfig) -> anyhow::Result<Agencies> {
        let t = cfg.call_timeout();
        let breaker = || Breaker::new(cfg.breaker_failures, Duration::from_millis(cfg.breaker_cooldown_ms));
        let breakers = Arc::new([breaker(), breaker(), breaker(), breaker()]);
        let meter = vrs_kit::telemetry::meter();
        let watched = breakers.clone();
        // Observed at each export, so it costs nothing between exports.
        meter
            .u64_observable_gauge("vrs.agency.breaker.open")
            .with_description("1 while an agency's circuit breaker is open (calls fail fast), else 0")
            .with_callback(move |obs| {
                for agency in [Agency::Identity, Agency::Tax, Agency::Customs, Agency::Register] {
                    let open = watched[agency as usize].is_open();
                    obs.observe(u64::from(open), &[KeyValue::new("agency", agency.as_str())]);
                }
            })
            .build();
        Ok(Agencies {
            identity: IdentityServiceClient::new(channel(&cfg.identity_url, t, tls)?),
            tax: TaxServiceClient::new(channel(&cfg.tax_url, t, tls)?),
            customs: CustomsServiceClient::new(channel(&cfg.customs_url, t, tls)?),
            register: VehicleRegisterServiceClient::new(channel(&cfg.register_url, t, tls)?),
            breakers,
            lookups: meter
                .u64_counter("vrs.agency.lookups")
                .with_description("Agency call attempts by agency and outcome")
                .build(),
            timeout: t,
            retries: cfg.retries,
            retry_base: Duration::from_millis(cfg.retry_base_ms),
        })
    }

    fn breaker(&self, agency: Agency) -> &Breaker {
        &self.breakers[agency as usize]
    }

    /// Whether an agency's breaker is open (for readiness and metrics).
    pub fn is_open(&self, agency: Agency) -> bool {
        self.breaker(agency).is_open()
    }

    /// Fetches all agency data for a declaration, in parallel.
    pub async fn fetch(&self, decl: &Declaration) -> Result<Answers, Unreachable> {
        let owner = async {
            match &decl.owner {
                OwnerDecl::Individual { personal_id, .. } => {
                    let req = identity::GetCitizenRequest {
                        personal_id: personal_id.as_str().to_owned(),
                    };
                    let client = self.identity.clone();
                    self.call(Agency::Identity, req, move |r| {
                        let mut c = client.clone();
                        async move { c.get_citizen(r).await }
                    })
                    .await
                    .map(|(resp, ev)| (OwnerAnswer::Citizen(resp.citizen), ev))
                }
                OwnerDecl::Organisation { tax_code, .. } => {
                    let req = identity::GetOrganisationRequest {
                        tax_code: tax_code.as_str().to_owned(),
                    };
                    let client = self.identity.clone();
                    self.call(Agency::Identity, req, move |r| {
                        let mut c = client.clone();
                        async move { c.get_organisation(r).await }
                    })
                    .await
                    .map(|(resp, ev)| (OwnerAnswer::Organisation(resp.organisation), ev))
                }
            }
        };
        let fees = async {
            let payer_id = match &decl.owner {
                OwnerDecl::Individual { personal_id, .. } => personal_id.as_str().to_owned(),
                OwnerDecl::Organisation { tax_code, .. } => tax_code.as_str().to_owned(),
            };
            let client = self.tax.clone();
            self.call(Agency::Tax, tax::ListRegistrationFeesRequest { payer_id }, move |r| {
                let mut c = client.clone();
                async move { c.list_registration_fees(r).await }
            })
            .await
            .map(|(resp, ev)| (resp.records, ev))
        };
        let origin = async {
            let chassis_number = decl.vehicle.chassis.as_str().to_owned();
            match decl.vehicle.origin {
                Origin::Imported => {
                    let client = self.customs.clone();
                    self.call(
                        Agency::Customs,
                        customs::GetImportDeclarationRequest { chassis_number },
                        move |r| {
                            let mut c = client.clone();
                            async move { c.get_import_declaration(r).await }
                        },
                    )
                    .await
                    .map(|(resp, ev)| (OriginAnswer::Customs(resp.declaration), ev))
                }
                Origin::Domestic => {
                    let client = self.register.clone();
                    self.call(
                        Agency::Register,
                        register::GetQualityCertificateRequest { chassis_number },
                        move |r| {
                            let mut c = client.clone();
                            async move { c.get_quality_certificate(r).await }
                        },
                    )
                    .await
                    .map(|(resp, ev)| (OriginAnswer::Register(resp.certificate), ev))
                }
            }
        };
        let (owner, fees, origin) = tokio::join!(owner, fees, origin);
        match (owner, fees, origin) {
            (Ok((owner, e1)), Ok((fees, e2)), Ok((origin, e3))) => Ok(Answers {
                owner,
                fees,
                origin,
                evidence: vec![e1, e2, e3],
            }),
            (owner, fees, origin) => {
                let failures = [owner.err(), fees.err(), origin.err()].into_iter().flatten().collect();
                Err(Unreachable(failures))
            }
        }
    }

    /// One agency call with breaker, deadline, retries and evidence check, in
    /// a client span that the agency's server span continues.
    #[tracing::instrument(
        level = "info",
        name = "agency.call",
        skip_all,
        fields(otel.name = %format_args!("{} lookup", agency.as_str()), otel.kind = "client", agency = agency.as_str())
    )]
    async fn call<Req, Resp, F, Fut>(
        &self,
        agency: Agency,
        req: Req,
        send: F,
    ) -> Result<(Resp, Evidence), (Agency, String)>
    where
        Req: prost::Message + prost::Name + Clone,
        Resp: prost::Message + prost::Name + HasRequestHash + HasRecord,
        F: Fn(tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let expected_hash = sha256_of(&req);
        let breaker = self.breaker(agency);
        let count = |outcome: &'static str| {
            self.lookups.add(
                1,
                &[
                    KeyValue::new("agency", agency.as_str()),
                    KeyValue::new("outcome", outcome),
                ],
            );
        };
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(backoff(self.retry_base, attempt)).await;
            }
            if breaker.permit() == Permit::Refuse {
                count("circuit_open");
                return Err((agency, "circuit open".into()));
            }
            let mut request = tonic::Request::new(req.clone());
            request.set_timeout(self.timeout);
            let outcome = match tokio::time::timeout(self.timeout, send(request)).await {
                Ok(r) => r,
                Err(_) => Err(tonic::Status::deadline_exceeded("agency deadline")),
            };
            match outcome {
                Ok(resp) => {
                    let resp = resp.into_inner();
                    if resp.request_hash() != expected_hash.as_slice() {
                        // An answer to some other question is no answer at all.
                        breaker.record_failure();
                        tracing::error!(agency = agency.as_str(), "agency answer does not echo our request hash");
                        last = "answer does not match the request".into();
                        count("failed");
                        continue;
                    }
                    breaker.record_success();
                    count("answered");
                    let evidence = Evidence {
                        agency,
                        request_sha256: hex::encode(&expected_hash),
                        response_sha256: hex::encode(sha256_of(&resp)),
                        found: resp.has_record(),
                        fetched_at_ms: crate::now_ms(),
                    };
                    return Ok((resp, evidence));
                }
                Err(status) => {
                    let transient = is_transient(status.code());
                    count("failed");
                    if transient {
                        breaker.record_failure();
                    }
                    tracing::warn!(agency = agency.as_str(), attempt, code = ?status.code(), "agency call failed");
                    last = format!("{:?}", status.code());
                    if !transient {
                        // The agency is up and answered; the problem is the question.
                        breaker.record_success();
                        break;
                    }
                }
            }
        }
        Err((agency, last))
    }
}

/// Codes worth retrying: the agency may answer next time.
fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted
    )
}

/// Responses that echo the request hash.
pub trait HasRequestHash {
    fn request_hash(&self) -> &[u8];
}

/// Responses that may or may not hold a record.
pub trait HasRecord {
    fn has_record(&self) -> bool;
}

macro_rules! agency_response {
    ($t:ty, |$r:ident| $found:expr) => {
        impl HasRequestHash for $t {
            fn request_hash(&self) -> &[u8] {
                &self.request_sha256
            }
        }
        impl HasRecord for $t {
            fn has_record(&self) -> bool {
                let $r = self;
                $found
            }
        }
    };
}

agency_response!(identity::GetCitizenResponse, |r| r.citizen.is_some());
agency_response!(identity::GetOrganisationResponse, |r| r.organisation.is_some());
agency_response!(tax::ListRegistrationFeesResponse, |r| !r.records.is_empty());
agency_response!(customs::GetImportDeclarationResponse, |r| r.declaration.is_some());
agency_response!(register::GetQualityCertificateResponse, |r| r.certificate.is_some());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..5u32 {
            let nominal = 100.0 * f64::from(1u32 << (attempt - 1));
            let d = backoff(base, attempt).as_secs_f64() * 1000.0;
            assert!(d >= nominal * 0.5 && d <= nominal * 1.5, "attempt {attempt}: {d}");
        }
    }

    #[test]
    fn only_transient_codes_are_retried() {
        assert!(is_transient(Code::Unavailable));
        assert!(is_transient(Code::DeadlineExceeded));
        assert!(!is_transient(Code::InvalidArgument));
        assert!(!is_transient(Code::NotFound));
        assert!(!is_transient(Code::PermissionDenied));
    }
}
