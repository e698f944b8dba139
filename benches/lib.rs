//! Shared helpers for the criterion benchmarks (see `core.rs`).
