//! Mutual TLS between services (DESIGN §6).
//!
//! Every service holds a certificate signed by one CA and trusts only that CA:
//! agencies and the beacon refuse any client without such a certificate, and
//! the registration service knows the portal by its certificate's common name.
//! Locally, [`LocalPki`] generates the CA and the certificates at run or test
//! time (nothing is committed); in Kubernetes they are Secrets mounted as files.
//! An empty [`TlsConfig`] means plaintext, for a developer's single machine.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

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

    /// The server side, or `None` for plaintext.
    pub fn server(&self, auth: ClientAuth) -> anyhow::Result<Option<ServerTlsConfig>> {
        if !self.enabled() {
            return Ok(None);
        }
        let identity = self
            .identity()?
            .ok_or_else(|| anyhow::anyhow!("tls.ca_file is set but tls.cert_file is not"))?;
        Ok(Some(
            ServerTlsConfig::new()
                .identity(identity)
                .client_ca_root(Certificate::from_pem(read(&self.ca_file)?))
                .client_auth_optional(auth == ClientAuth::Optional),
        ))
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

/// The common name in the subject of the client certificate the caller
/// presented (already verified against our CA by the TLS layer), if any.
pub fn peer_common_name<T>(req: &tonic::Request<T>) -> Option<String> {
    let certs = req.peer_certs()?;
    let leaf = certs.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// A CA and the certificates it signs, generated for local runs and tests.
pub struct LocalPki {
    dir: PathBuf,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    ca_file: PathBuf,
}

impl LocalPki {
    /// A fresh CA (ECDSA P-256), its certificate written to `dir/ca.pem`.
    pub fn generate(dir: &Path) -> anyhow::Result<LocalPki> {
        std::fs::create_dir_all(dir)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "VRS local CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate()?)?;
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem())?;
        Ok(LocalPki {
            dir: dir.to_owned(),
            ca,
            ca_file,
        })
    }

    /// A certificate for `name` (its common name, and a DNS name beside
    /// `localhost` and 127.0.0.1), usable as server and as client. The key
    /// file is written with mode 0600.
    pub fn issue(&self, name: &str) -> anyhow::Result<TlsConfig> {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned(), "localhost".into(), "127.0.0.1".into()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        let cert_file = self.dir.join(format!("{name}.pem"));
        let key_file = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, cert.pem())?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        std::io::Write::write_all(&mut opts.open(&key_file)?, key.serialize_pem().as_bytes())?;
        Ok(TlsConfig {
            ca_file: self.ca_file.display().to_string(),
            cert_file: cert_file.display().to_string(),
            key_file: key_file.display().to_string(),
        })
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
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if !extra_ca_file.is_empty() {
        let pem = std::fs::read(extra_ca_file).with_context(|| format!("reading the CA file {extra_ca_file}"))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.with_context(|| format!("{extra_ca_file}: not a PEM certificate"))?;
            roots
                .add(cert)
                .with_context(|| format!("{extra_ca_file}: not a usable CA certificate"))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!("{extra_ca_file} holds no PEM certificate");
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The rustls configuration of an HTTPS server with this certificate and key
/// (PEM files), for the portal stand-in and other test servers.
pub fn https_server_config(cert_file: &str, key_file: &str) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("reading {cert_file}"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{cert_file}: not a PEM certificate chain"))?;
    let key = PrivateKeyDer::from_pem_file(key_file).with_context(|| format!("{key_file}: not a PEM private key"))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not match")
}
