//! The verifiable plate draw, exactly as `contracts/draw/SPEC.md` specifies it.
//!
//! This crate is the reference implementation of the specification and has no
//! I/O: the registration service uses it to produce log entries, draws and
//! receipts; `vrsctl verify-receipt` and `vrsctl audit` use it to check them.
//!
//! - [`encoding`]: the byte encoding of log entries.
//! - [`entry`]: the log entries (pool changes, draw commits, draw results).
//! - [`sampler`]: seed derivation, the ChaCha20 stream and the unbiased bounded sampler.
//! - [`draw`]: the draw rule: candidates from the commit's set, the first one not taken.
//! - [`pool`]: pool identity, the withheld patterns, and the ordered available set.
//! - [`merkle`]: RFC 6962 tree hashing, inclusion and consistency proofs.
//! - [`note`]: C2SP signed-note checkpoints with Ed25519.
//! - [`beacon`]: verification (and, for the local beacon, production) of BLS beacon rounds.
//! - [`audit`]: replay of the whole log, for the service's own state (and its resolver)
//!   and for auditors.
//! - [`receipt`]: the receipt a citizen keeps and its offline verification.

pub mod audit;
pub mod beacon;
pub mod draw;
pub mod encoding;
pub mod entry;
pub mod merkle;
pub mod note;
pub mod pool;
pub mod receipt;
pub mod sampler;
