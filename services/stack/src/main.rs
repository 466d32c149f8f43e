//! `vrs-stack`: the whole system in one process on embedded defaults — the
//! identity, tax, customs and Vietnam Register stand-ins and the local
//! randomness beacon on their default ports, the registration service on 127.0.0.1:50051 with SQLite under
//! `var/`, the public draw-transparency site on http://127.0.0.1:8090, the
//! clerks' console on http://127.0.0.1:8091 and, for signing in to it, a
//! stand-in of the police identity provider on http://127.0.0.1:8092 (its
//! accounts and their passwords in `var/idp-accounts.toml`).
//! Nothing else needs to be installed or running.
//!
//! Each part reads its usual configuration (`VRS_IDENTITY__*`,
//! `VRS_REGISTRATION__*`, `DATABASE_URL`…); `--config FILE` applies to the
//! registration service.
//!
//! Every connection between the parts is mutual TLS, with a local CA and one
//! certificate per service under `var/tls/` (a `portal` certificate too, for
//! a portal under development), unless a service's `tls` is configured
//! already.
//!
//! Rotation ([`LocalPki`]): the CA (`ca.pem`, and `ca.key` with mode 0600) is
//! kept from one start to the next while it is valid for 30 more days, so a
//! client that pinned `var/tls/ca.pem` (`vrsctl --ca`, `grpcurl -cacert`)
//! keeps working across restarts; at each start only a certificate that is
//! missing, does not match its key or the CA, or expires within 30 days is
//! issued again. To rotate a service's certificate, replace its `NAME.pem`
//! and `NAME.key` (or delete them and restart): the running servers serve
//! the new files within a second, no restart needed. To get a new CA, delete
//! `var/tls/` and restart; clients must then take the new `ca.pem`.

use std::sync::Arc;

use tokio::task::JoinSet;
use vrs_kit::tls::{LocalPki, TlsConfig};
use vrs_kit::world::World;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = vrs_kit::telemetry::init("vrs-stack");
    let config_file = vrs_kit::config::file_from_args()?;
    let shutdown = vrs_kit::shutdown::on_signal();
    let world: Arc<World> = World::standard();
    let mut tasks = JoinSet::new();
    let pki = LocalPki::open(std::path::Path::new("var/tls"))?;
    let tls = |configured: TlsConfig, name: &str| -> anyhow::Result<TlsConfig> {
        if configured.enabled() {
            Ok(configured)
        } else {
            pki.ensure(name)
        }
    };
    pki.ensure("portal")?;

    let mut c: identity::Config = vrs_kit::config::load("identity", None)?;
    c.tls = tls(c.tls, "identity")?;
    let (server, _) = identity::build(&c, world.clone()).await?;
    tasks.spawn(server.serve(shutdown.clone()));
    let mut c: tax::Config = vrs_kit::config::load("tax", None)?;
    c.tls = tls(c.tls, "tax")?;
    let (server, _) = tax::build(&c, world.clone()).await?;
    tasks.spawn(server.serve(shutdown.clone()));
    let mut c: customs::Config = vrs_kit::config::load("customs", None)?;
    c.tls = tls(c.tls, "customs")?;
    let (server, _) = customs::build(&c, world.clone()).await?;
    tasks.spawn(server.serve(shutdown.clone()));
    let mut c: register::Config = vrs_kit::config::load("register", None)?;
    c.tls = tls(c.tls, "register")?;
    let (server, _) = register::build(&c, world.clone()).await?;
    tasks.spawn(server.serve(shutdown.clone()));

    let mut c: beacon::Config = vrs_kit::config::load("beacon", None)?;
    c.tls = tls(c.tls, "beacon")?;
    let beacon_server = beacon::build(&c).await?;
    tasks.spawn(beacon_server.serve(shutdown.clone()));

    let mut cfg = registration::config::Config::load(config_file.as_deref())?;
    cfg.tls = tls(cfg.tls, "registration")?;
    let app = registration::app::Application::build(&cfg).await?;
    tracing::info!(addr = %app.local_addr(), database = %registration::store::database_url::redact(&cfg.database.url), "registration service ready; try `cargo run -p vrsctl -- sample`");
    let registration_addr = app.local_addr();
    tasks.spawn(app.run(shutdown.clone()));

    // The public draw-transparency site, a client of the log API like anyone's browser.
    let mut t: transparency::Config = vrs_kit::config::load("transparency", None)?;
    t.registration_url = format!("http://{registration_addr}");
    if !t.tls.enabled() {
        t.tls = pki.trust_only();
    }
    let site = transparency::Site::build(&t).await?;
    tracing::info!(url = %format!("http://{}", site.local_addr()), "transparency site ready: open it in a browser (receipt checker at /verify)");
    tasks.spawn(site.serve(shutdown.clone()));

    // The police identity provider's stand-in signs with the issuer key the
    // registration service verifies, for the console's staff accounts.
    let mut i: idp::Config = vrs_kit::config::load("idp", None)?;
    if cfg.auth.issuer_public_key.trim().is_empty() {
        i.signing_key_file = cfg.auth.issuer_seed_file.clone();
    }
    i.access_token_issuer = cfg.auth.issuer.clone();
    let mut provider = idp::Provider::build(&i).await?;
    // The clerks' console, a client of the registration API and of the provider.
    let mut c: console::Config = vrs_kit::config::load("console", None)?;
    c.registration_url = format!("http://{registration_addr}");
    if !c.tls.enabled() {
        c.tls = pki.trust_only();
    }
    c.oidc.issuer_url = provider.issuer_url();
    if c.oidc.client_secret.is_empty() {
        // A confidential client with a secret made for this run.
        c.oidc.client_secret = hex::encode(vrs_kit::keys::random_seed()?);
    }
    let console = console::Console::build(&c).await?;
    provider.add_client(idp::Client {
        client_id: c.oidc.client_id.clone(),
        client_secret: c.oidc.client_secret.clone(),
        redirect_uris: vec![format!("{}/auth/callback", console.public_url())],
    })?;
    tracing::info!(url = %provider.issuer_url(), accounts = %i.accounts_file, "identity provider stand-in ready: the staff accounts and their passwords are in its accounts file");
    tracing::info!(url = %console.public_url(), "clerks' console ready: open it in a browser and sign in with an account of the accounts file");
    tasks.spawn(provider.serve(shutdown.clone()));
    tasks.spawn(console.serve(shutdown.clone()));

    // The first part to stop (by error or by the shutdown signal) stops the rest.
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = ?e, "a service stopped with an error");
            result = Err(e);
        }
        shutdown.cancel();
    }
    result
}
