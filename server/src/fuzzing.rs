//! Fuzz bodies as plain functions, so the same code runs under cargo-fuzz (`fuzz/`), under
//! proptest, and over the committed corpora in `cargo test` (`tests/fuzz_corpora.rs`).
//! Each must accept any bytes without panicking.

/// Canonical JSON on arbitrary text: either an error, or a fixed point of canonicalisation.
pub fn canonical_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(canonical) = crate::core::canonical_json::canonicalize_str(text) {
        let again = crate::core::canonical_json::canonicalize_str(&canonical)
            .expect("canonical output must parse again");
        assert_eq!(again, canonical, "canonicalisation must be idempotent");
    }
}

/// The config parser on arbitrary text: an error or a config that passes validation.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = crate::config::Config::from_toml(text) {
        config.validate().expect("a parsed config is valid");
    }
}

/// A PDU through every room version's format checks, id computation and redaction.
pub fn pdu(data: &[u8]) {
    use crate::core::{event::Pdu, event_hash, pdu, redaction, room_version::RoomVersion};
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for version in RoomVersion::ALL {
        let _ = pdu::check_format(&value, &version);
        let _ = event_hash::event_id(&value, &version);
        let _ = event_hash::content_hash(&value);
        if let Ok(redacted) = redaction::redact(&value, &version.redaction) {
            // Redaction is idempotent.
            assert_eq!(
                redaction::redact(&redacted, &version.redaction).ok(),
                Some(redacted)
            );
        }
        if let Ok(parsed) = Pdu::parse(value.clone(), &version) {
            assert!(parsed.event_id.starts_with('$'));
        }
    }
}

/// The auth rules on an event and a state, both from JSON:
/// `{"event": PDU, "state": [PDU, …]}`; events need only `type`, `sender` and `event_id`.
pub fn auth(data: &[u8]) {
    use crate::core::{
        auth::{self, StateMap},
        event::Pdu,
        room_version::RoomVersion,
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for version in RoomVersion::ALL {
        let Ok(event) = Pdu::from_trusted_json(value["event"].clone(), &version) else {
            return;
        };
        let state: Vec<Pdu> = value["state"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Pdu::from_trusted_json(e.clone(), &version).ok())
            .collect();
        let map = StateMap::from_events(&state);
        let signed_by = |pdu: &Pdu, server: &str| pdu.json["signatures"].get(server).is_some();
        let _ = auth::check(&version, &event, &map, &signed_by);
        let refs: Vec<&Pdu> = state.iter().collect();
        let _ = auth::check_with_auth_events(
            &version,
            &event,
            &refs,
            state.first(),
            &|_| false,
            &signed_by,
        );
    }
}

/// `rechain state resolve` on arbitrary input: state sets or a DAG walk over fuzzed events.
pub fn state_resolve(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::tools::state_resolve::run(text);
}
