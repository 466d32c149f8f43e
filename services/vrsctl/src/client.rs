//! Talking to the registration service: one connection per run, the clients
//! the commands call through it, and the helpers every call shares (status
//! errors as readable messages with a hint for the known causes, the portal's
//! citizen header).

use std::path::PathBuf;
use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::StatusExt;
use vrs_kit::token::Bearer;
use vrs_proto::pb::registration::v1 as pb;
use vrs_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient;
use vrs_proto::pb::registration::v1::transparency_log_service_client::TransparencyLogServiceClient;

use crate::Cli;
use crate::local;

/// The registration service, called with the caller's token.
pub(crate) type Registry = RegistrationServiceClient<InterceptedService<Channel, Bearer>>;

/// A connected service and the token its calls carry, so each command picks
/// the client it needs without connecting again.
pub(crate) struct Server {
    channel: Channel,
    bearer: Bearer,
    target: Target,
    /// The office the token names (a clerk's), for the hint of PERMISSION_DENIED.
    token_office: Option<String>,
    /// The issuer key the token names (`kid`), for the hint of UNAUTHENTICATED.
    token_kid: Option<String>,
    /// Whether the token came from `--token` rather than minted locally.
    token_given: bool,
}

impl Server {
    /// Checks the address and the CA file first, connects second and reads
    /// credentials last, so an unreachable server is reported before a
    /// missing token or office.
    /// `credentials` gives the token, read only once the server answered.
    pub(crate) async fn connect(
        cli: &Cli,
        credentials: impl FnOnce() -> anyhow::Result<String>,
    ) -> anyhow::Result<Server> {
        let target = Target::new(&cli.addr, cli.ca.as_deref())?;
        let channel = target
            .endpoint()?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .map_err(|e| target.unreachable(&e))?;
        // The public log needs no credentials: anyone may audit.
        let (bearer, token_office, token_kid) = if cli.cmd.reads_public_log() {
            (Bearer::none(), None, None)
        } else {
            let token = credentials()?;
            (Bearer::new(&token)?, token_office(&token), token_kid(&token))
        };
        Ok(Server {
            channel,
            bearer,
            target,
            token_office,
            token_kid,
            token_given: cli.token.is_some(),
        })
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

    /// A command's error with a hint when a call failed for a known reason:
    /// the connection (see [`Target::unreachable`]), a clerk acting on
    /// another office's dossier, or a token signed by a key the service does
    /// not accept.
    pub(crate) fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        let Some(failed) = e.downcast_ref::<CallFailed>() else {
            return e;
        };
        if let Some(causes) = &failed.transport {
            return self.target.failed(causes);
        }
        let hint = match failed.status.code() {
            tonic::Code::PermissionDenied => {
                office_hint(failed.status.message(), self.token_office.as_deref(), self.token_given)
            }
            tonic::Code::Unauthenticated => {
                key_hint(failed.status.message(), self.token_kid.as_deref(), self.token_given)
            }
            _ => None,
        };
        match hint {
            Some(hint) => anyhow::anyhow!("{e:#}\nhint: {hint}"),
            None => e,
        }
    }
}

/// Where the service is and how to reach it: its address, and the CA file
/// when over TLS.
pub(crate) struct Target {
    addr: String,
    trust: Trust,
}

/// Plaintext or TLS, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trust {
    /// `--ca none`.
    PlainAsked,
    /// No `--ca`, and no `var/tls/ca.pem` here or above.
    PlainNoCa,
    /// TLS, trusting the CA in this file (given, or found).
    Ca(PathBuf),
}

impl Target {
    /// Checks `--addr` and `--ca` before anything is connected: the address
    /// must name its scheme, and a CA file given must exist (only the default
    /// one may be absent, which means plaintext).
    pub(crate) fn new(addr: &str, ca: Option<&str>) -> anyhow::Result<Target> {
        let lower = addr.to_ascii_lowercase();
        let https = lower.starts_with("https://");
        if !https && !lower.starts_with("http://") {
            let example = if addr.contains("://") {
                "http://127.0.0.1:50051".to_owned()
            } else {
                format!("http://{addr}")
            };
            anyhow::bail!("--addr must start with http:// or https:// (got {addr:?}), e.g. --addr {example}");
        }
        let trust = match ca {
            Some("none") => Trust::PlainAsked,
            Some(path) => match std::fs::read_to_string(path) {
                Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Trust::Ca(PathBuf::from(path)),
                Ok(_) => anyhow::bail!("the CA file {path} (--ca or VRS_CA) holds no PEM certificate"),
                Err(e) => anyhow::bail!(
                    "the CA file {path} (--ca or VRS_CA) cannot be read: {e}; give the CA that signs the service's certificate (vrs-stack writes {}), or --ca none for plaintext",
                    local::CA_FILE
                ),
            },
            None => local::find(local::CA_FILE).map_or(Trust::PlainNoCa, Trust::Ca),
        };
        // An `https://` address needs a CA to trust; `http://` with one is taken as `https://`.
        match &trust {
            Trust::PlainNoCa if https => anyhow::bail!(
                "--addr {addr} asks for TLS but there is no CA to trust ({}): give --ca with the CA file that signs the service's certificate",
                local::searched(local::CA_FILE)
            ),
            Trust::PlainAsked if https => {
                anyhow::bail!(
                    "--addr {addr} asks for TLS but --ca none for plaintext: give the CA file with --ca, or use http://"
                )
            }
            _ => {}
        }
        Ok(Target {
            addr: addr.to_owned(),
            trust,
        })
    }

    /// TLS when there is a CA file (an `http://` address is then taken as
    /// `https://`), plaintext otherwise.
    fn endpoint(&self) -> anyhow::Result<tonic::transport::Endpoint> {
        match &self.trust {
            Trust::Ca(path) => vrs_kit::tls::TlsConfig {
                ca_file: path.display().to_string(),
                ..Default::default()
            }
            .endpoint(&self.addr)
            .map_err(|e| anyhow::anyhow!("the CA file {}: {}", path.display(), chain(e.as_ref()))),
            Trust::PlainAsked | Trust::PlainNoCa => Ok(tonic::transport::Endpoint::from_shared(self.addr.clone())
                .map_err(|e| anyhow::anyhow!("--addr {}: {}", self.addr, chain(&e)))?),
        }
    }

    /// How the connection was made, for the error saying it failed.
    fn describe(&self) -> String {
        match &self.trust {
            Trust::PlainAsked => "plaintext, as --ca none asks".to_owned(),
            Trust::PlainNoCa => format!("plaintext: no --ca given and {}", local::searched(local::CA_FILE)),
            Trust::Ca(path) => format!("TLS, trusting the CA in {}", path.display()),
        }
    }

    /// The error of a failed connection: its whole cause chain, and a hint
    /// when the cause is a known one.
    fn unreachable(&self, e: &tonic::transport::Error) -> anyhow::Error {
        self.failed(&chain(e))
    }

    /// The error of a connection that failed with these causes, and a hint
    /// when the cause is a known one.
    fn failed(&self, causes: &str) -> anyhow::Error {
        let mut msg = format!("cannot reach {} ({}): {causes}", self.addr, self.describe());
        if let Some(hint) = self.hint(causes) {
            msg.push_str("\nhint: ");
            msg.push_str(&hint);
        }
        anyhow::anyhow!(msg)
    }

    /// What to do about a transport failure, from its cause chain.
    fn hint(&self, causes: &str) -> Option<String> {
        let c = causes.to_ascii_lowercase();
        let ca = match &self.trust {
            Trust::Ca(path) => Some(path.display().to_string()),
            Trust::PlainAsked | Trust::PlainNoCa => None,
        };
        if c.contains("connection refused") {
            return Some(format!(
                "nothing is listening at {}: is vrs-stack running? Or point --addr (VRS_ADDR) at the service",
                self.addr
            ));
        }
        if let Some(ca) = &ca {
            if c.contains("unknownissuer") || c.contains("badsignature") {
                return Some(format!(
                    "the server's certificate is not signed by the CA in {ca}: vrs-stack makes a new CA at each start, so give the var/tls/ca.pem of the stack you call (--ca)"
                ));
            }
            if c.contains("notvalidforname") {
                return Some(format!(
                    "the server's certificate does not name the host of {}: use the name its certificate has (e.g. 127.0.0.1 or localhost)",
                    self.addr
                ));
            }
            if c.contains("invalid peer certificate") {
                return Some(format!("the server's certificate is not accepted with the CA in {ca}"));
            }
            if c.contains("invalidcontenttype") || c.contains("corrupt message") || c.contains("wrong version number") {
                return Some(format!(
                    "the server at {} does not speak TLS: connect in plaintext with --ca none (VRS_CA=none) and http://",
                    self.addr
                ));
            }
        } else if c.contains("frame with invalid size")
            || c.contains("connection reset")
            || c.contains("broken pipe")
            || c.contains("unexpected eof")
            || c.contains("connection closed")
            || c.contains("http2 error")
            || c.contains("h2 protocol error")
        {
            return Some(format!(
                "the server at {} may expect TLS, and this connection is plaintext: give --ca with the CA file that signs its certificate (vrs-stack writes {})",
                self.addr,
                local::CA_FILE
            ));
        }
        if c.contains("certificaterequired") {
            return Some(format!(
                "the server at {} demands a client certificate (mutual TLS, as the agencies and the beacon do) and vrsctl presents none: is --addr the registration service's?",
                self.addr
            ));
        }
        if c.contains("timed out") {
            return Some(format!(
                "no answer from {} in time: is the address right, and the port open?",
                self.addr
            ));
        }
        if c.contains("dns error") || c.contains("failed to lookup") {
            return Some(format!("the host of {} is not known", self.addr));
        }
        None
    }
}

/// An error and its causes, `outer: inner: …`, each said once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        // Some errors repeat their source's text in their own.
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// The office a token names (a clerk's), read without verifying it: only
/// for the hint of a refusal.
fn token_office(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<vrs_kit::token::Claims>(&bytes).ok()?.office
}

/// The issuer key a token names (its header's `kid`), read without
/// verifying it: only for the hint of a refusal.
fn token_kid(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// The hint of an UNAUTHENTICATED for a token signed by a key the service
/// does not accept (another stack's issuer key, or one retired by a rotation).
fn key_hint(message: &str, kid: Option<&str>, token_given: bool) -> Option<String> {
    if !message.contains("key this service does not accept") {
        return None;
    }
    let which = kid.map_or_else(String::new, |kid| format!(" (kid {kid})"));
    Some(if token_given {
        format!("the service does not accept the issuer key this token is signed with{which}: get a current token")
    } else {
        format!(
            "the service does not accept the issuer key{which} vrsctl minted with: give the --issuer-key of the \
             stack you call (the service logs its issuer key id at start)"
        )
    })
}

/// The hint of a PERMISSION_DENIED that is about the office: the dossier
/// (or queue) is another office's than the token's.
fn office_hint(message: &str, token_office: Option<&str>, token_given: bool) -> Option<String> {
    if !message.contains("office") {
        return None;
    }
    let how = if token_given { "from --token" } else { "--office" };
    let ours = match token_office {
        Some(office) => format!("this token's office is {office} ({how})"),
        None => format!("this token names no office ({how})"),
    };
    // "this application belongs to office PC-60, not to the caller's office"
    let theirs = message
        .split_once("belongs to office ")
        .and_then(|(_, rest)| rest.split([',', ' ']).next())
        .filter(|office| !office.is_empty());
    Some(match theirs {
        Some(office) => format!("the dossier belongs to another office ({office}); {ours}"),
        None if message.contains("queue") => format!("the queue asked for is another office's; {ours}"),
        None => format!("the dossier belongs to another office; {ours}"),
    })
}

/// A call the service answered with an error status.
#[derive(Debug)]
pub(crate) struct CallFailed {
    status: tonic::Status,
    /// The status as the user reads it: code, message, violations, causes.
    text: String,
    /// The causes, when the call did not reach the service (a status made by
    /// the client, not the service's answer).
    transport: Option<String>,
}

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for CallFailed {}

/// Unwraps a response, turning a status into an error that lists field
/// violations (or, for a call that did not reach the service, its causes:
/// [`Server::explain`] reports them).
pub(crate) fn call<T>(r: Result<tonic::Response<T>, tonic::Status>) -> anyhow::Result<T> {
    match r {
        Ok(resp) => Ok(resp.into_inner()),
        Err(status) => {
            let mut text = format!("{:?}: {}", status.code(), status.message());
            let details = status.get_error_details();
            if let Some(bad) = details.bad_request() {
                for v in &bad.field_violations {
                    text.push_str(&format!("\n  {}: {}", v.field, v.description));
                }
            }
            if let Some(pre) = details.precondition_failure() {
                for v in &pre.violations {
                    text.push_str(&format!("\n  {} {}: {}", v.r#type, v.subject, v.description));
                }
            }
            // A status the client made for a call that did not reach the
            // service carries the transport error (as its message, again).
            let transport = std::error::Error::source(&status).map(|source| {
                let causes = chain(source);
                match causes.strip_prefix(status.message()) {
                    Some(rest) if !status.message().is_empty() => format!("{}{rest}", status.message()),
                    _ => format!("{}: {causes}", status.message()),
                }
            });
            Err(anyhow::Error::new(CallFailed {
                status,
                text,
                transport,
            }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_office_refusal_names_both_offices() {
        let hint = office_hint(
            "this application belongs to office PC-60, not to the caller's office",
            Some("PC-30"),
            false,
        );
        assert_eq!(
            hint.as_deref(),
            Some("the dossier belongs to another office (PC-60); this token's office is PC-30 (--office)")
        );
        let hint = office_hint("a clerk lists only their own office's queue", Some("PC-30"), true);
        assert_eq!(
            hint.as_deref(),
            Some("the queue asked for is another office's; this token's office is PC-30 (from --token)")
        );
    }

    #[test]
    fn other_refusals_have_no_office_hint() {
        assert_eq!(office_hint("Approve is not allowed for role portal", None, false), None);
        assert_eq!(
            office_hint("the citizen acting is not this dossier's owner", Some("PC-30"), false),
            None
        );
    }

    #[test]
    fn a_token_of_an_unaccepted_key_is_hinted_with_its_kid() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let token = vrs_kit::token::mint(&key, "iss", "auditor-1", &[vrs_kit::token::Role::Auditor], None, 60);
        let kid = token_kid(&token).expect("a kid");
        assert_eq!(kid, vrs_kit::token::key_id(&key.verifying_key()));
        assert_eq!(token_kid("not a token"), None);
        let refused = "token signed by a key this service does not accept";
        let hint = key_hint(refused, Some(&kid), false).expect("a hint");
        assert!(hint.contains(&kid) && hint.contains("--issuer-key"), "{hint}");
        let hint = key_hint(refused, Some(&kid), true).expect("a hint");
        assert!(hint.contains("current token"), "{hint}");
        assert_eq!(key_hint("token expired", Some(&kid), false), None);
    }

    #[test]
    fn the_office_of_a_token_is_read() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let token = vrs_kit::token::mint(
            &key,
            "iss",
            "clerk-1",
            &[vrs_kit::token::Role::Clerk],
            Some("PC-60"),
            60,
        );
        assert_eq!(token_office(&token).as_deref(), Some("PC-60"));
        assert_eq!(token_office("not a token"), None);
    }

    #[test]
    fn an_address_needs_its_scheme() {
        let err = Target::new("127.0.0.1:50051", Some("none")).err().expect("refused");
        assert!(
            err.to_string().contains("--addr must start with http:// or https://"),
            "{err}"
        );
        assert!(Target::new("http://127.0.0.1:50051", Some("none")).is_ok());
        assert!(Target::new("HTTP://127.0.0.1:50051", Some("none")).is_ok());
        let err = Target::new("https://127.0.0.1:50051", Some("none"))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("--ca none"), "{err}");
    }

    #[test]
    fn known_transport_failures_have_a_hint() {
        let tls = Target {
            addr: "https://127.0.0.1:50051".into(),
            trust: Trust::Ca(PathBuf::from("/x/var/tls/ca.pem")),
        };
        let plain = Target {
            addr: "http://127.0.0.1:50051".into(),
            trust: Trust::PlainAsked,
        };
        let hint = |t: &Target, causes: &str| t.hint(causes).unwrap_or_default();
        assert!(
            hint(
                &plain,
                "transport error: tcp connect error: Connection refused (os error 111)"
            )
            .contains("is vrs-stack running?")
        );
        assert!(
            hint(&tls, "transport error: invalid peer certificate: UnknownIssuer")
                .contains("the server's certificate is not signed by the CA in /x/var/tls/ca.pem")
        );
        assert!(
            hint(
                &tls,
                "transport error: received corrupt message of type InvalidContentType"
            )
            .contains("does not speak TLS")
        );
        assert!(
            hint(
                &plain,
                "transport error: connection error: stream closed because of a broken pipe"
            )
            .contains("may expect TLS")
        );
        assert_eq!(tls.hint("something else"), None);
    }

    #[test]
    fn a_cause_chain_says_each_cause_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "transport error",
            Some(Box::new(E(
                "transport error",
                Some(Box::new(E("Connection refused (os error 111)", None))),
            ))),
        );
        assert_eq!(chain(&e), "transport error: Connection refused (os error 111)");
    }
}
