//! The console's pages and forms, one module per job.

pub mod auth;
pub mod certificate;
pub mod dossier;
pub mod queue;
pub mod supervisor;
