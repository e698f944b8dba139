//! Replays every committed fuzz corpus file through its fuzz body, and feeds the same bodies
//! random bytes, so CI exercises the fuzz targets on stable Rust without libFuzzer.

use std::path::PathBuf;

use proptest::prelude::*;
use rechain_server::fuzzing;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

fn replay(target: &str, body: fn(&[u8])) {
    let files = corpus(target);
    assert!(files.len() >= 5, "corpus for {target} is nearly empty");
    for (path, data) in files {
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(outcome.is_ok(), "{target}: {} panics", path.display());
    }
}

#[test]
fn canonical_json_corpus_replays_without_panics() {
    replay("canonical_json", fuzzing::canonical_json);
}

#[test]
fn config_toml_corpus_replays_without_panics() {
    replay("config_toml", fuzzing::config_toml);
}

#[test]
fn pdu_corpus_replays_without_panics() {
    replay("pdu", fuzzing::pdu);
}

#[test]
fn auth_corpus_replays_without_panics() {
    replay("auth", fuzzing::auth);
}

#[test]
fn state_resolve_corpus_replays_without_panics() {
    replay("state_resolve", fuzzing::state_resolve);
}

proptest! {
    #[test]
    fn canonical_json_accepts_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::canonical_json(&data);
    }

    #[test]
    fn pdu_accepts_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::pdu(&data);
    }

    #[test]
    fn config_toml_accepts_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::config_toml(&data);
    }
}
