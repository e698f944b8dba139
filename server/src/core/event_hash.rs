//! Content hashes, reference hashes and event ids (server-server API, "Calculating the content
//! hash" and "Calculating the reference hash"; room versions' "Event IDs").

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD},
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{
    canonical_json::{self, CanonicalJsonError},
    redaction::{self, RedactionError},
    room_version::{EventIdFormat, RoomVersion},
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventHashError {
    #[error("event is not a JSON object")]
    NotAnObject,
    #[error(transparent)]
    Canonical(#[from] CanonicalJsonError),
    #[error(transparent)]
    Redaction(#[from] RedactionError),
    #[error("room version {0} events carry their own `event_id`, and this one has none")]
    MissingEventId(&'static str),
}

fn without(event: &Value, keys: &[&str]) -> Result<Value, EventHashError> {
    let mut object = event
        .as_object()
        .ok_or(EventHashError::NotAnObject)?
        .clone();
    for key in keys {
        object.remove(*key);
    }
    Ok(Value::Object(object))
}

/// SHA-256 over the canonical event without `unsigned`, `signatures` and `hashes`.
pub fn content_hash(event: &Value) -> Result<[u8; 32], EventHashError> {
    let stripped = without(event, &["unsigned", "signatures", "hashes"])?;
    Ok(Sha256::digest(canonical_json::canonicalize(&stripped)?.as_bytes()).into())
}

/// The content hash as it appears in `hashes.sha256` (standard unpadded base64).
pub fn content_hash_base64(event: &Value) -> Result<String, EventHashError> {
    Ok(STANDARD_NO_PAD.encode(content_hash(event)?))
}

/// SHA-256 over the canonical redacted event without `signatures` and `unsigned`.
pub fn reference_hash(event: &Value, version: &RoomVersion) -> Result<[u8; 32], EventHashError> {
    let redacted = redaction::redact(event, &version.redaction)?;
    let stripped = without(&redacted, &["signatures", "unsigned"])?;
    Ok(Sha256::digest(canonical_json::canonicalize(&stripped)?.as_bytes()).into())
}

/// The event's id: carried in the event for v1–v2, derived from the reference hash after.
pub fn event_id(event: &Value, version: &RoomVersion) -> Result<String, EventHashError> {
    match version.event_id_format {
        EventIdFormat::ServerGenerated => event
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(EventHashError::MissingEventId(version.id)),
        EventIdFormat::ReferenceHashBase64 => Ok(format!(
            "${}",
            STANDARD_NO_PAD.encode(reference_hash(event, version)?)
        )),
        EventIdFormat::ReferenceHashUrlSafe => Ok(format!(
            "${}",
            URL_SAFE_NO_PAD.encode(reference_hash(event, version)?)
        )),
    }
}
