//! Data-driven tests of the event core over the JSON fixtures in `fixtures/`.

use std::path::{Path, PathBuf};

use rechain_server::core::{redaction, room_version::RoomVersion};
use ruma::{CanonicalJsonValue, RoomVersionId};
use serde_json::Value;

fn fixtures(dir: &str) -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, value)
        })
        .collect()
}

/// `fixtures/core/redaction/*.json`: cases where REChain and ruma disagree, each with the
/// reason REChain's answer is the one kept. Fails if either side's answer changes.
#[test]
fn redaction_divergence_fixtures_hold() {
    let cases = fixtures("core/redaction");
    assert!(!cases.is_empty());
    for (path, case) in cases {
        let version = RoomVersion::from_id(case["room_version"].as_str().unwrap()).unwrap();
        let ours = redaction::redact(&case["event"], &version.redaction).unwrap();
        assert_eq!(ours, case["expected"], "{}", path.display());
        let rules = RoomVersionId::try_from(version.id)
            .unwrap()
            .rules()
            .unwrap();
        let CanonicalJsonValue::Object(object) =
            CanonicalJsonValue::try_from(case["event"].clone()).unwrap()
        else {
            panic!("{}: event is not an object", path.display());
        };
        let theirs = ruma::canonical_json::redact(object, &rules.redaction, None).unwrap();
        assert_eq!(
            Value::from(CanonicalJsonValue::Object(theirs)),
            case["ruma"],
            "{}",
            path.display()
        );
    }
}

/// `fixtures/core/vectors/`: redaction and event ids for every room version, from an
/// independent implementation of the spec text (`generate.py`).
#[test]
fn redaction_vectors_hold_for_every_room_version() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/core/vectors/redaction.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 100);
    for case in cases {
        let version = RoomVersion::from_id(case["room_version"].as_str().unwrap()).unwrap();
        let ours = redaction::redact(&case["event"], &version.redaction).unwrap();
        assert_eq!(ours, case["redacted"], "{} v{}", case["name"], version.id);
    }
}

#[test]
fn event_id_vectors_hold_for_every_room_version() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/core/vectors/event_ids.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 80);
    for case in cases {
        let version = RoomVersion::from_id(case["room_version"].as_str().unwrap()).unwrap();
        let ours = rechain_server::core::event_hash::event_id(&case["event"], &version).unwrap();
        assert_eq!(
            ours,
            case["event_id"].as_str().unwrap(),
            "{} v{}",
            case["name"],
            version.id
        );
    }
}
