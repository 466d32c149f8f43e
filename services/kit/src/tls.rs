//! Mutual TLS between services (DESIGN §6).
//!
//! Every service holds a certificate signed by one CA and trusts only that CA:
//! agencies and the beacon refuse any client without such a certificate, and
//! the registration service knows the portal by its certificate's common name.
//! Locally, [`LocalPki`] generates the CA and the certificates at run or test
//! time (nothing is committed); in Kubernetes they are Secrets mounted as files.
//! An empty [`TlsConfig`] means plaintext, for a developer's single machine.
//!
//! Every server configuration built here ([`TlsConfig::server`], which
//! [`crate::grpc::GrpcServer::with_tls`] uses, and [`https_server_config`])
//! follows its files without a restart: on a handshake, at most once a second,
//! it looks at the certificate, key and client-CA files (modification time,
//! size, inode: a `stat`, no read) and, when one changed, reads and checks
//! them again. New connections then get the new certificate, and client
//! certificates are verified against the new CA file; connections already
//! open keep the session they have. Files that do not parse, or a key that
//! does not match the certificate (a rotation half written), are logged and
//! ignored: the server keeps the last good certificate, never none. A
//! rotation therefore replaces the files (best by rename, as Kubernetes does
//! for a Secret), and is complete for new connections within about a second
//! of the last write. To change CA without refusing anyone, the CA file lists
//! both CAs while the certificates are re-issued.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, TryLockError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// PEM files of a service's TLS identity and of the CA it trusts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TlsConfig {
    /// The CA that signs every service's certificate. Empty: no TLS.
    pub ca_file: String,
    /// This service's certificate and key (as a server, and as a client of others).
    pub cert_file: String,
    pub key_file: String,
}

/// Whether a server demands a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Agencies and the beacon: only our services may call.
    Required,
    /// The registration API: clerks' CLIs present tokens, not certificates.
    Optional,
}

fn read(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// The one crypto provider of the workspace: ring, as tonic's and sqlx's TLS.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.ca_file.is_empty()
    }

    fn identity(&self) -> anyhow::Result<Option<Identity>> {
        if self.cert_file.is_empty() {
            return Ok(None);
        }
        Ok(Some(Identity::from_pem(read(&self.cert_file)?, read(&self.key_file)?)))
    }

    /// The server side (ALPN `h2`, for gRPC), or `None` for plaintext. The
    /// certificate, key and CA files are followed as the module says: a
    /// replaced certificate is served to new connections within a second.
    /// Fails now if they cannot be used now.
    pub fn server(&self, auth: ClientAuth) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        if !self.enabled() {
            return Ok(None);
        }
        if self.cert_file.is_empty() {
            anyhow::bail!("tls.ca_file is set but tls.cert_file is not");
        }
        let mut config = reloading_server_config(
            Path::new(&self.cert_file),
            Path::new(&self.key_file),
            Some((Path::new(&self.ca_file), auth)),
        )?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Some(Arc::new(config)))
    }

    /// An endpoint for `url`: over TLS with our certificate when enabled (an
    /// `http://` URL is then taken as `https://`), plaintext otherwise.
    pub fn endpoint(&self, url: &str) -> anyhow::Result<Endpoint> {
        if !self.enabled() {
            return Ok(Endpoint::from_shared(url.to_owned())?);
        }
        let url = match url.strip_prefix("http://") {
            Some(rest) => format!("https://{rest}"),
            None => url.to_owned(),
        };
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&self.ca_file)?));
        if let Some(id) = self.identity()? {
            tls = tls.identity(id);
        }
        Ok(Endpoint::from_shared(url)?.tls_config(tls)?)
    }
}

/// How often, at most, a server looks at its TLS files again.
const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(1);

/// What tells one version of a file from the next without reading it:
/// modification time, size and inode (a rename puts a new one in place);
/// `None` when the file cannot be looked at.
type Stamp = Option<(Option<SystemTime>, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok(), meta.len(), inode))
}

/// A certificate chain and its private key from PEM files, checked to match.
fn load_identity(cert_file: &Path, key_file: &Path, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("reading {}", cert_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate chain", cert_file.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("{}: not a PEM private key", key_file.display()))?;
    let key = CertifiedKey::from_der(certs, key, provider).with_context(|| {
        format!(
            "{} and {} are not a certificate and its key",
            cert_file.display(),
            key_file.display()
        )
    })?;
    Ok(Arc::new(key))
}

/// The CA certificates of a PEM file: at least one, each usable.
fn load_roots(ca_file: &Path) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).with_context(|| format!("reading {}", ca_file.display()))? {
        let cert = cert.with_context(|| format!("{}: not a PEM certificate", ca_file.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("{}: not a usable CA certificate", ca_file.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", ca_file.display());
    }
    Ok(roots)
}

/// A verifier of client certificates against the CAs of a PEM file.
fn load_client_verifier(
    ca_file: &Path,
    auth: ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let roots = load_roots(ca_file)?;
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = match auth {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder
        .build()
        .with_context(|| format!("{}: no client certificate verifier", ca_file.display()))
}

/// A server's TLS material read from files, and read again when they change
/// (see the module). It is both the certificate resolver and the client
/// certificate verifier of the server's rustls configuration.
struct ReloadingTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    /// The CA file client certificates are verified against, if any.
    client_ca: Option<(PathBuf, ClientAuth)>,
    provider: Arc<CryptoProvider>,
    /// What handshakes use now; replaced whole, only by a good reload.
    current: RwLock<Current>,
    /// When the files were last looked at, and what they were then. A
    /// handshake that finds it locked does not wait: another is checking.
    seen: Mutex<Seen>,
}

#[derive(Clone)]
struct Current {
    key: Arc<CertifiedKey>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

struct Seen {
    checked: Instant,
    identity: [Stamp; 2],
    client_ca: Stamp,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_ca", &self.client_ca)
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    fn load(cert_file: &Path, key_file: &Path, client_ca: Option<(&Path, ClientAuth)>) -> anyhow::Result<Self> {
        let provider = provider();
        // Stamps first: a file written while it is read is read again.
        let seen = Seen {
            checked: Instant::now(),
            identity: [stamp(cert_file), stamp(key_file)],
            client_ca: client_ca.and_then(|(ca_file, _)| stamp(ca_file)),
        };
        let key = load_identity(cert_file, key_file, &provider)?;
        let verifier = match client_ca {
            Some((ca_file, auth)) => Some(load_client_verifier(ca_file, auth, &provider)?),
            None => None,
        };
        Ok(ReloadingTls {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            client_ca: client_ca.map(|(ca_file, auth)| (ca_file.to_owned(), auth)),
            provider,
            current: RwLock::new(Current { key, verifier }),
            seen: Mutex::new(seen),
        })
    }

    fn current(&self) -> Current {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        self.current()
            .verifier
            .ok_or_else(|| rustls::Error::General("no client certificate verifier".into()))
    }

    /// Reloads what changed since the last look, at most once per
    /// [`RELOAD_CHECK_EVERY`]; keeps the current material on any failure.
    fn refresh(&self) {
        let mut seen = match self.seen.try_lock() {
            Ok(seen) => seen,
            Err(TryLockError::WouldBlock) => return,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        if seen.checked.elapsed() < RELOAD_CHECK_EVERY {
            return;
        }
        seen.checked = Instant::now();
        let identity = [stamp(&self.cert_file), stamp(&self.key_file)];
        if identity != seen.identity {
            seen.identity = identity;
            match load_identity(&self.cert_file, &self.key_file, &self.provider) {
                Ok(key) => {
                    self.current.write().unwrap_or_else(PoisonError::into_inner).key = key;
                    tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    let error = format!("{e:#}");
                    tracing::warn!(cert_file = %self.cert_file.display(), %error, "TLS certificate files changed but cannot be used; still serving the previous certificate");
                }
            }
        }
        if let Some((ca_file, auth)) = &self.client_ca {
            let client_ca = stamp(ca_file);
            if client_ca != seen.client_ca {
                seen.client_ca = client_ca;
                match load_client_verifier(ca_file, *auth, &self.provider) {
                    Ok(verifier) => {
                        self.current.write().unwrap_or_else(PoisonError::into_inner).verifier = Some(verifier);
                        tracing::info!(ca_file = %ca_file.display(), "TLS client CA reloaded");
                    }
                    Err(e) => {
                        let error = format!("{e:#}");
                        tracing::warn!(ca_file = %ca_file.display(), %error, "TLS client CA file changed but cannot be used; still verifying against the previous one");
                    }
                }
            }
        }
    }
}

impl ResolvesServerCert for ReloadingTls {
    /// Called first in every full handshake, before any client certificate
    /// is asked for: the one place that looks at the files.
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.current().key)
    }
}

impl ClientCertVerifier for ReloadingTls {
    fn offer_client_auth(&self) -> bool {
        self.verifier().is_ok_and(|v| v.offer_client_auth())
    }

    fn client_auth_mandatory(&self) -> bool {
        self.verifier().is_ok_and(|v| v.client_auth_mandatory())
    }

    /// No hints: they would have to outlive a reload. With an empty list a
    /// client sends the certificate it has (RFC 8446 §4.3.2, RFC 5246 §7.4.4).
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()?.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier()
            .map(|v| v.supported_verify_schemes())
            .unwrap_or_default()
    }
}

/// A rustls server configuration (ring) that serves the certificate in
/// `cert_file` and verifies clients against `client_ca`, following the files.
fn reloading_server_config(
    cert_file: &Path,
    key_file: &Path,
    client_ca: Option<(&Path, ClientAuth)>,
) -> anyhow::Result<rustls::ServerConfig> {
    let tls = Arc::new(ReloadingTls::load(cert_file, key_file, client_ca)?);
    let builder = rustls::ServerConfig::builder_with_provider(tls.provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        Some(_) => builder.with_client_cert_verifier(tls.clone()),
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_cert_resolver(tls))
}

/// The common name in the subject of the client certificate the caller
/// presented (already verified against our CA by the TLS layer), if any.
pub fn peer_common_name<T>(req: &tonic::Request<T>) -> Option<String> {
    let certs = req.peer_certs()?;
    let leaf = certs.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// A CA and the certificates it signs, for local runs and tests.
///
/// The directory holds `ca.pem` and `ca.key` (mode 0600), then `NAME.pem`
/// and `NAME.key` (mode 0600) for each certificate issued. Files are written
/// whole and renamed into place, so a server following them (see the module)
/// never reads one half written.
///
/// Rotation, as `vrs-stack` does it: [`LocalPki::open`] keeps the CA found in
/// the directory, so clients that pinned `ca.pem` keep trusting the servers
/// across restarts, and [`LocalPki::ensure`] re-issues only a certificate
/// that is missing, no longer matches its key or the CA, or expires within
/// [`LocalPki::RENEW_BEFORE`]. To rotate a server's certificate, replace its
/// files (re-issue them, or delete them and restart): running servers serve
/// the new one within a second. To get a new CA, delete the directory: every
/// certificate is then issued again, and every client must be given the new
/// `ca.pem`.
pub struct LocalPki {
    dir: PathBuf,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA certificate, to check that a certificate kept was signed by it.
    ca_der: CertificateDer<'static>,
    ca_file: PathBuf,
}

/// The CA's parameters. [`LocalPki::open`] rebuilds its issuer from them and
/// the kept key, so they must not change (or the CA is generated again).
fn ca_params() -> anyhow::Result<rcgen::CertificateParams> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "VRS local CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Writes `contents` to a new file beside `path` with `mode` (on Unix), then
/// renames it over `path`: a reader sees the old file or the new, whole.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut tmp = path.file_name().unwrap_or_default().to_owned();
    tmp.push(".tmp");
    let tmp = path.with_file_name(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    std::io::Write::write_all(&mut file, contents).with_context(|| format!("writing {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// `now` plus `ahead`, as rustls's certificate verifiers take it.
fn unix_time_in(ahead: Duration) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(UnixTime::now().as_secs()) + ahead)
}

impl LocalPki {
    /// How long a CA or a certificate must still be valid to be kept.
    pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

    /// A fresh CA (ECDSA P-256), its certificate written to `dir/ca.pem` and
    /// its key to `dir/ca.key` (mode 0600), replacing any CA there.
    pub fn generate(dir: &Path) -> anyhow::Result<LocalPki> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let params = ca_params()?;
        let key = rcgen::KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let ca_file = dir.join("ca.pem");
        // The key first: a CA certificate without its key is not kept by `open`.
        write_file(&dir.join("ca.key"), key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&ca_file, cert.pem().as_bytes(), 0o644)?;
        Ok(LocalPki {
            dir: dir.to_owned(),
            ca: rcgen::Issuer::new(params, key),
            ca_der: cert.der().clone(),
            ca_file,
        })
    }

    /// The CA in `dir` when there is one, with its key, valid for at least
    /// [`Self::RENEW_BEFORE`] more; otherwise a fresh one, as [`Self::generate`]
    /// (which logs why). See the type for the rotation this allows.
    pub fn open(dir: &Path) -> anyhow::Result<LocalPki> {
        match Self::load(dir) {
            Ok(pki) => Ok(pki),
            Err(e) => {
                let reason = format!("{e:#}");
                if dir.join("ca.pem").exists() {
                    tracing::warn!(dir = %dir.display(), %reason, "not keeping the local CA: generating a new one; clients must trust the new ca.pem");
                } else {
                    tracing::info!(dir = %dir.display(), "generating a local CA");
                }
                Self::generate(dir)
            }
        }
    }

    fn load(dir: &Path) -> anyhow::Result<LocalPki> {
        let ca_file = dir.join("ca.pem");
        let key_file = dir.join("ca.key");
        let ca_der = CertificateDer::from_pem_file(&ca_file)
            .with_context(|| format!("{}: not a PEM certificate", ca_file.display()))?;
        let key = rcgen::KeyPair::from_pem(
            &std::fs::read_to_string(&key_file).with_context(|| format!("reading {}", key_file.display()))?,
        )
        .with_context(|| format!("{}: not a PEM private key", key_file.display()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(ca_der.as_ref())
            .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", ca_file.display()))?;
        let not_after = cert.validity().not_after.timestamp();
        if not_after < unix_time_in(Self::RENEW_BEFORE).as_secs() as i64 {
            anyhow::bail!(
                "{} expires within {} days",
                ca_file.display(),
                Self::RENEW_BEFORE.as_secs() / 86400
            );
        }
        let pki = LocalPki {
            dir: dir.to_owned(),
            ca: rcgen::Issuer::new(ca_params()?, key),
            ca_der,
            ca_file,
        };
        // The issuer is rebuilt from our parameters and the key: what it signs
        // must chain to the certificate in ca.pem (same name, same key).
        let (probe, _) = pki.sign("probe")?;
        pki.verify(probe.der(), UnixTime::now()).with_context(|| {
            format!(
                "{} and {} are not the CA this tool made",
                pki.ca_file.display(),
                key_file.display()
            )
        })?;
        Ok(pki)
    }

    /// A certificate for `name` and its new key, in memory.
    fn sign(&self, name: &str) -> anyhow::Result<(rcgen::Certificate, rcgen::KeyPair)> {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned(), "localhost".into(), "127.0.0.1".into()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        Ok((cert, key))
    }

    /// Whether `leaf` is signed by this CA and valid at `at`.
    fn verify(&self, leaf: &CertificateDer<'_>, at: UnixTime) -> anyhow::Result<()> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone())?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?;
        verifier.verify_client_cert(leaf, &[], at)?;
        Ok(())
    }

    fn files(&self, name: &str) -> TlsConfig {
        TlsConfig {
            ca_file: self.ca_file.display().to_string(),
            cert_file: self.dir.join(format!("{name}.pem")).display().to_string(),
            key_file: self.dir.join(format!("{name}.key")).display().to_string(),
        }
    }

    /// A new certificate for `name` (its common name, and a DNS name beside
    /// `localhost` and 127.0.0.1), usable as server and as client, replacing
    /// any there. The key file is written with mode 0600.
    pub fn issue(&self, name: &str) -> anyhow::Result<TlsConfig> {
        let (cert, key) = self.sign(name)?;
        let tls = self.files(name);
        write_file(Path::new(&tls.key_file), key.serialize_pem().as_bytes(), 0o600)?;
        write_file(Path::new(&tls.cert_file), cert.pem().as_bytes(), 0o644)?;
        Ok(tls)
    }

    /// `name`'s certificate and key as they are in the directory when they
    /// match, are signed by this CA and are valid for at least
    /// [`Self::RENEW_BEFORE`] more; otherwise a new one, as [`Self::issue`].
    pub fn ensure(&self, name: &str) -> anyhow::Result<TlsConfig> {
        let tls = self.files(name);
        let kept = load_identity(Path::new(&tls.cert_file), Path::new(&tls.key_file), &provider()).and_then(|key| {
            self.verify(key.end_entity_cert()?, unix_time_in(Self::RENEW_BEFORE))
                .context("not signed by the CA, or expiring")
        });
        match kept {
            Ok(()) => Ok(tls),
            Err(e) => {
                let reason = format!("{e:#}");
                tracing::info!(name, %reason, "issuing a certificate");
                self.issue(name)
            }
        }
    }

    /// Only the CA: for a client that authenticates otherwise (a clerk's token).
    pub fn trust_only(&self) -> TlsConfig {
        TlsConfig {
            ca_file: self.ca_file.display().to_string(),
            ..Default::default()
        }
    }
}

/// The rustls configuration of an HTTPS client (the outbox's POSTs to the
/// portal): the public web roots (Mozilla's, compiled in, so an image needs no
/// system bundle), plus the CAs in `extra_ca_file` when it is not empty (a
/// portal under development, a private CA). The crypto provider is ring, the
/// one the workspace's gRPC and database TLS use.
pub fn https_client_config(extra_ca_file: &str) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = if extra_ca_file.is_empty() {
        rustls::RootCertStore::empty()
    } else {
        load_roots(Path::new(extra_ca_file))?
    };
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The rustls configuration of an HTTPS server with this certificate and key
/// (PEM files), for the portal stand-in and other test servers. It follows
/// the files as the module says.
pub fn https_server_config(cert_file: &str, key_file: &str) -> anyhow::Result<rustls::ServerConfig> {
    reloading_server_config(Path::new(cert_file), Path::new(key_file), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(path: &str) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn a_directory_opened_twice_keeps_its_ca_and_its_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalPki::open(dir.path()).unwrap();
        let issued = first.ensure("svc").unwrap();
        let (ca, cert, key) = (pem(&issued.ca_file), pem(&issued.cert_file), pem(&issued.key_file));

        let second = LocalPki::open(dir.path()).unwrap();
        let kept = second.ensure("svc").unwrap();
        assert_eq!(kept, issued);
        assert_eq!(pem(&kept.ca_file), ca, "the CA was replaced");
        assert_eq!(
            (pem(&kept.cert_file), pem(&kept.key_file)),
            (cert, key),
            "the certificate was re-issued"
        );
        // What the second signs, the first's CA certificate accepts, and back.
        let newer = second.issue("other").unwrap();
        let newer = load_identity(Path::new(&newer.cert_file), Path::new(&newer.key_file), &provider()).unwrap();
        first.verify(newer.end_entity_cert().unwrap(), UnixTime::now()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pki = LocalPki::open(dir.path()).unwrap();
        let tls = pki.ensure("svc").unwrap();
        for key in [dir.path().join("ca.key"), PathBuf::from(&tls.key_file)] {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
    }

    #[test]
    fn a_ca_without_its_key_or_expiring_is_replaced_and_its_certificates_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalPki::open(dir.path()).unwrap();
        let issued = first.ensure("svc").unwrap();
        let (ca, cert) = (pem(&issued.ca_file), pem(&issued.cert_file));

        std::fs::remove_file(dir.path().join("ca.key")).unwrap();
        let second = LocalPki::open(dir.path()).unwrap();
        assert_ne!(pem(&issued.ca_file), ca, "a CA without its key was kept");
        second.ensure("svc").unwrap();
        assert_ne!(pem(&issued.cert_file), cert, "a certificate of the old CA was kept");

        // Same name and key, but expired: not kept either.
        let ca = pem(&issued.ca_file);
        let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.path().join("ca.key")).unwrap()).unwrap();
        let mut params = ca_params().unwrap();
        params.not_after = rcgen::date_time_ymd(2000, 1, 1);
        std::fs::write(&issued.ca_file, params.self_signed(&key).unwrap().pem()).unwrap();
        LocalPki::open(dir.path()).unwrap();
        let replaced = pem(&issued.ca_file);
        assert!(replaced != ca && !replaced.is_empty(), "an expired CA was kept");
    }

    #[test]
    fn a_certificate_expiring_soon_or_not_matching_its_key_is_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let pki = LocalPki::open(dir.path()).unwrap();
        let tls = pki.ensure("svc").unwrap();

        // Our key and CA, valid for `days` more days.
        let key = rcgen::KeyPair::from_pem(&pem(&tls.key_file)).unwrap();
        let valid_for = |days: i64| {
            let mut params = rcgen::CertificateParams::new(vec!["svc".to_owned()]).unwrap();
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let end = chrono::Utc::now() + chrono::Duration::days(days);
            params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
            params.signed_by(&key, &pki.ca).unwrap().pem()
        };
        use chrono::Datelike;
        let later = valid_for(60);
        std::fs::write(&tls.cert_file, &later).unwrap();
        pki.ensure("svc").unwrap();
        assert_eq!(
            pem(&tls.cert_file),
            later,
            "a certificate valid for 60 more days was re-issued"
        );
        let expiring = valid_for(10);
        std::fs::write(&tls.cert_file, &expiring).unwrap();
        pki.ensure("svc").unwrap();
        assert_ne!(
            pem(&tls.cert_file),
            expiring,
            "a certificate expiring in ten days was kept"
        );

        // Another key.
        let cert = pem(&tls.cert_file);
        std::fs::write(&tls.key_file, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        pki.ensure("svc").unwrap();
        assert_ne!(
            pem(&tls.cert_file),
            cert,
            "a certificate was kept with a key not its own"
        );
        load_identity(Path::new(&tls.cert_file), Path::new(&tls.key_file), &provider()).unwrap();
    }
}
