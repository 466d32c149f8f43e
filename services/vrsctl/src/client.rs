//! Talking to the registration service: one connection per run, the clients
//! the commands call through it, and the helpers every call shares (status
//! errors as readable messages, the portal's citizen header).

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::StatusExt;
use vrs_kit::token::Bearer;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::Cli;

/// The registration service, called with the caller's token.
pub(crate) type Registry = RegistrationServiceClient<InterceptedService<Channel, Bearer>>;

/// A connected service and the token its calls carry, so each command picks
/// the client it needs without connecting again.
pub(crate) struct Server {
    channel: Channel,
    bearer: Bearer,
}

impl Server {
    /// Connects first and reads credentials second, so an unreachable server
    /// is reported before a missing token or office.
    /// `credentials` gives the token, read only once the server answered.
    pub(crate) async fn connect(
        cli: &Cli,
        credentials: impl FnOnce() -> anyhow::Result<String>,
    ) -> anyhow::Result<Server> {
        let channel = endpoint(cli)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", cli.addr))?;
        // The public log needs no credentials: anyone may audit.
        let bearer = if cli.cmd.reads_public_log() {
            Bearer::none()
        } else {
            Bearer::new(&credentials()?)?
        };
        Ok(Server { channel, bearer })
    }

    pub(crate) fn registry(&self) -> Registry {
        RegistrationServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    /// The transparency log with the caller's token, for what it does not give
    /// anyone (receipts).
    pub(crate) fn log(&self) -> TransparencyLogServiceClient<InterceptedService<Channel, Bearer>> {
        TransparencyLogServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    /// The transparency log without credentials, as any auditor sees it.
    pub(crate) fn public_log(&self) -> TransparencyLogServiceClient<Channel> {
        TransparencyLogServiceClient::new(self.channel.clone())
    }
}

/// TLS when the CA file is there (as `vrs-stack` writes it), plaintext otherwise.
fn endpoint(cli: &Cli) -> anyhow::Result<tonic::transport::Endpoint> {
    let tls = if cli.ca == "none" || !std::path::Path::new(&cli.ca).exists() {
        vrs_kit::tls::TlsConfig::default()
    } else {
        vrs_kit::tls::TlsConfig {
            ca_file: cli.ca.clone(),
            ..Default::default()
        }
    };
    tls.endpoint(&cli.addr)
}

/// Unwraps a response, turning a status into an error that lists field violations.
pub(crate) fn call<T>(r: Result<tonic::Response<T>, tonic::Status>) -> anyhow::Result<T> {
    match r {
        Ok(resp) => Ok(resp.into_inner()),
        Err(status) => {
            let mut msg = format!("{:?}: {}", status.code(), status.message());
            let details = status.get_error_details();
            if let Some(bad) = details.bad_request() {
                for v in &bad.field_violations {
                    msg.push_str(&format!("\n  {}: {}", v.field, v.description));
                }
            }
            if let Some(pre) = details.precondition_failure() {
                for v in &pre.violations {
                    msg.push_str(&format!("\n  {} {}: {}", v.r#type, v.subject, v.description));
                }
            }
            Err(anyhow::anyhow!(msg))
        }
    }
}

pub(crate) fn owner_id(owner: &Option<pb::Owner>) -> String {
    owner.as_ref().map_or("", |o| o.id()).to_owned()
}

/// The citizen the portal acts for: `--citizen`, or the dossier's owner.
pub(crate) async fn acting_citizen(
    registry: &mut Registry,
    given: Option<&str>,
    application_id: &str,
) -> anyhow::Result<String> {
    if let Some(c) = given {
        return Ok(c.to_owned());
    }
    let req = pb::GetApplicationRequest {
        application_id: application_id.to_owned(),
    };
    Ok(owner_id(&call(registry.get_application(req).await)?.owner))
}

/// A request with the portal's `x-citizen-id`.
pub(crate) fn as_citizen<T>(msg: T, citizen: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("x-citizen-id", citizen.parse()?);
    Ok(r)
}
