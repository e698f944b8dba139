//! REChain, a Matrix homeserver.
//!
//! Layering (see `docs/ARCHITECTURE.md`): `http -> service -> storage` traits, with `core`
//! under everything and `storage::diesel` implementing the traits. `app` wires them together.

pub mod app;
pub mod cache;
pub mod config;
pub mod core;
pub mod fuzzing;
pub mod http;
pub mod service;
pub mod storage;
pub mod telemetry;
pub mod tools;
