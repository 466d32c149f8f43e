//! Servers follow their certificate files (issue 12, item 6): a certificate
//! and key replaced on disk are what new connections get, without a restart;
//! connections already open carry on; files that cannot be used are ignored,
//! the last good certificate still served; a replaced client-CA file is what
//! client certificates are verified against.
//!
//! The properties are polled for (a server looks at its files at most once a
//! second, on a handshake), never assumed after a fixed sleep; only "keeps
//! serving" watches for a set time, longer than that second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use vrs_kit::grpc::GrpcServer;
use vrs_kit::tls::{ClientAuth, LocalPki, TlsConfig};

/// How long a rotation may take to be seen (the server looks every second).
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a server is watched to keep its certificate: over two looks.
const WATCH: Duration = Duration::from_millis(2500);

fn leaf(cert_file: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(cert_file)
        .expect("a PEM certificate")
        .to_vec()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).expect("readable")
}

/// The certificate a new TLS connection to `addr` is served, trusting
/// `client.ca_file` and presenting `client`'s certificate if it has one.
/// A fresh client configuration each time: no session is resumed.
async fn served(addr: SocketAddr, client: &TlsConfig) -> anyhow::Result<Vec<u8>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&client.ca_file)? {
        roots.add(cert?)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = if client.cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = CertificateDer::pem_file_iter(&client.cert_file)?.collect::<Result<Vec<_>, _>>()?;
        builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(&client.key_file)?)?
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let connect = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("localhost")?, tcp);
    let tls = tokio::time::timeout(Duration::from_secs(5), connect).await??;
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .ok_or_else(|| anyhow::anyhow!("no server certificate"))?;
    Ok(certs[0].to_vec())
}

/// Connects until a connection is served `new`, for up to [`PATIENCE`]. Every
/// connection must succeed and be served `old` or `new`.
async fn until_served(addr: SocketAddr, client: &TlsConfig, old: &[u8], new: &[u8]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = served(addr, client)
            .await
            .expect("every connection succeeds during a rotation");
        if seen == new {
            return;
        }
        assert_eq!(seen, old, "served neither the old certificate nor the new one");
        assert!(
            Instant::now() < deadline,
            "still the old certificate {PATIENCE:?} after the rotation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every new connection for [`WATCH`] succeeds and is served `cert`.
async fn keeps_serving(addr: SocketAddr, client: &TlsConfig, cert: &[u8], why: &str) {
    let until = Instant::now() + WATCH;
    while Instant::now() < until {
        let seen = served(addr, client)
            .await
            .unwrap_or_else(|e| panic!("{why}: a connection failed: {e:#}"));
        assert_eq!(seen, cert, "{why}: the last good certificate is no longer served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A health check over a new connection, as `client`.
async fn healthy(addr: SocketAddr, client: &TlsConfig) -> anyhow::Result<()> {
    let call = async {
        let channel = client.endpoint(&format!("http://{addr}"))?.connect().await?;
        HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await?;
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), call).await?
}

/// A gRPC server (health only) on 127.0.0.1 with `tls`, clients' certificates required.
async fn start(tls: &TlsConfig) -> (SocketAddr, tonic_health::server::HealthReporter, CancellationToken) {
    let server = GrpcServer::bind("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("bind")
        .with_tls(tls, ClientAuth::Required)
        .expect("TLS configuration");
    let (addr, health, stop) = (server.local_addr(), server.health(), CancellationToken::new());
    tokio::spawn(server.serve(stop.clone()));
    (addr, health, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_server_serves_a_replaced_certificate_without_a_restart_and_ignores_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = LocalPki::generate(dir.path()).unwrap();
    let tls = pki.issue("agency").unwrap();
    let client = pki.issue("client").unwrap();
    let (addr, health, stop) = start(&tls).await;
    let a = leaf(&tls.cert_file);
    assert_eq!(served(addr, &client).await.unwrap(), a);

    // A stream opened before the rotation: it cannot survive a reconnection.
    health.set_service_status("rotation", ServingStatus::Serving).await;
    let channel = client
        .endpoint(&format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: "rotation".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );

    // Same names, same CA, a new key, written while the server runs.
    pki.issue("agency").unwrap();
    let b = leaf(&tls.cert_file);
    assert_ne!(a, b);
    until_served(addr, &client, &a, &b).await;
    healthy(addr, &client)
        .await
        .expect("a new connection trusts the new certificate");
    health.set_service_status("rotation", ServingStatus::NotServing).await;
    let next = tokio::time::timeout(PATIENCE, watch.message()).await;
    let next = next
        .expect("the stream opened before the rotation stalled")
        .expect("the stream opened before the rotation broke")
        .expect("the stream opened before the rotation ended");
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .expect("the channel opened before the rotation still answers");

    // Broken files are ignored: B is still served, to every new connection.
    let (cert_b, key_b) = (read(&tls.cert_file), read(&tls.key_file));
    std::fs::write(&tls.cert_file, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    keeps_serving(addr, &client, &b, "after a broken certificate file").await;
    std::fs::write(&tls.cert_file, "").unwrap();
    keeps_serving(addr, &client, &b, "after an empty certificate file").await;
    // A rotation half done: B's certificate with another key.
    std::fs::write(&tls.cert_file, &cert_b).unwrap();
    std::fs::write(&tls.key_file, read(&pki.issue("stranger").unwrap().key_file)).unwrap();
    keeps_serving(addr, &client, &b, "after a key that is not the certificate's").await;
    std::fs::write(&tls.key_file, &key_b).unwrap();

    // And the server still follows its files after all that.
    pki.issue("agency").unwrap();
    let c = leaf(&tls.cert_file);
    until_served(addr, &client, &b, &c).await;
    healthy(addr, &client).await.expect("health over the third certificate");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_server_verifies_clients_against_a_replaced_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = LocalPki::generate(dir.path()).unwrap();
    let tls = pki.issue("agency").unwrap();
    let (addr, _health, stop) = start(&tls).await;
    // Clients trust the server by a copy of the CA file: the server's is rewritten below.
    let trust = dir.path().join("trust.pem").display().to_string();
    std::fs::copy(&tls.ca_file, &trust).unwrap();
    let client = TlsConfig {
        ca_file: trust.clone(),
        ..pki.issue("client").unwrap()
    };
    healthy(addr, &client).await.expect("a client of our CA");

    // A client whose certificate another CA signed (it trusts ours for the server).
    let other = LocalPki::generate(&dir.path().join("other")).unwrap();
    let newcomer = TlsConfig {
        ca_file: trust,
        ..other.issue("newcomer").unwrap()
    };
    assert!(
        healthy(addr, &newcomer).await.is_err(),
        "a client certificate of another CA was accepted"
    );

    // The server's CA file now lists both CAs, as during a change of CA.
    let both = read(&tls.ca_file) + &read(&other.trust_only().ca_file);
    std::fs::write(&tls.ca_file, both).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while let Err(e) = healthy(addr, &newcomer).await {
        assert!(
            Instant::now() < deadline,
            "the other CA is still not trusted {PATIENCE:?} after the CA file listed it: {e:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    healthy(addr, &client).await.expect("a client of the first CA");

    // A broken CA file is ignored: both CAs are still trusted.
    std::fs::write(&tls.ca_file, "not a certificate").unwrap();
    let until = Instant::now() + WATCH;
    while Instant::now() < until {
        healthy(addr, &newcomer).await.expect("after a broken CA file");
        healthy(addr, &client).await.expect("after a broken CA file");
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_server_config_serves_a_replaced_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pki = LocalPki::generate(dir.path()).unwrap();
    let tls = pki.issue("portal").unwrap();
    let config = Arc::new(vrs_kit::tls::https_server_config(&tls.cert_file, &tls.key_file).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    let client = pki.trust_only();
    let a = leaf(&tls.cert_file);
    assert_eq!(served(addr, &client).await.unwrap(), a);
    pki.issue("portal").unwrap();
    let b = leaf(&tls.cert_file);
    until_served(addr, &client, &a, &b).await;
    std::fs::write(&tls.key_file, "garbage").unwrap();
    keeps_serving(addr, &client, &b, "after a broken key file").await;
    server.abort();
}
