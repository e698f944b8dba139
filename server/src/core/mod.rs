//! The pure event core: room versions, canonical JSON, hashing, ids, redaction, signing and
//! PDU format checks.
//!
//! Invariant: nothing here does I/O or knows about tokio, diesel, warp, storage or services.
//! Every function is deterministic in its inputs (key generation takes its randomness from the
//! caller). `ci/check-layers.sh` enforces the absence of those imports.

pub mod auth;
pub mod canonical_json;
pub mod event;
pub mod event_hash;
pub mod pdu;
pub mod redaction;
pub mod room_version;
pub mod signing;
pub mod state_res;

#[cfg(test)]
mod oracle_tests;
