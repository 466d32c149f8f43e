//! Integration tests of the registration service: the real service, the real
//! agency servers and a real database, over loopback gRPC. One test binary
//! (link time). Every test in a `both_databases!` block runs on SQLite and on
//! PostgreSQL; see `helpers::Backend`.

mod helpers;

mod authz;
mod beacon_faults;
mod browser;
mod browser_kit;
mod budget;
mod console_browser;
mod console_site;
mod crash;
mod db_faults;
mod draw;
mod insider;
mod lifecycle;
mod limits;
mod multiprocess;
mod outage;
mod portal_sync;
mod queue;
mod restore;
mod revocation;
mod rotation_data_key;
mod rotation_issuer;
mod rotation_log_key;
mod shutdown;
mod submit;
mod tls;
mod transparency_site;
mod validation;
