//! Domain types and rules, free of I/O.

pub mod answers;
pub mod checks;
pub mod declaration;
pub mod fees;
pub mod ids;
pub mod jurisdiction;
pub mod workflow;
