//! Contributor tools behind `rechain` subcommands. Each takes text in and gives text out, so
//! `main.rs` only reads files and prints.

pub mod state_resolve;
