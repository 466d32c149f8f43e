//! `vrs-stack`: the whole system in one process on embedded defaults — the
//! identity, tax, customs and Vietnam Register stand-ins and the local
//! randomness beacon on their default ports, the registration service on 127.0.0.1:50051 with SQLite under
//! `var/`, and the public draw-transparency site on http://127.0.0.1:8090.
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
