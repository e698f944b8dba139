//! The pure event core: canonical JSON, hashing and signing.
//!
//! Invariant: nothing here does I/O or knows about tokio, diesel, warp, storage or services.
//! Every function is deterministic in its inputs (key generation takes its randomness from the
//! caller). `ci/check-layers.sh` enforces the absence of those imports.

pub mod canonical_json;
pub mod signing;
