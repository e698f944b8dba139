//! REChain's black-box conformance suite for Matrix homeservers.
//!
//! Cases (in `cases/`) are plain async functions tagged with the spec section and operation
//! they test, collected by [`cases::all`]. The same cases run three ways: `cargo test -p
//! rechain-conformance` (against an in-process REChain), the `rechain-conformance` binary
//! (against any homeserver by URL), and CI. Every response is validated against the spec's
//! OpenAPI schema for its operation ([`client`], [`spec`]).
//!
//! Invariant: this crate knows nothing about REChain's internals; it speaks HTTP only, so it
//! can judge any server.

pub mod case;
pub mod cases;
pub mod client;
pub mod crypto;
pub mod deviations;
pub mod report;
pub mod runner;
pub mod spec;
