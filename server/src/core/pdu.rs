//! Format checks on a PDU before anything else looks at it: size limits (client-server spec,
//! "Size limits"), required fields and their JSON types, identifier grammar, reference counts
//! (server-server spec: at most 20 `prev_events` and 10 `auth_events`) and the per-version
//! event shape. Each failure says what was wrong.

use serde_json::{Map, Value};

use super::{canonical_json, room_version::RoomVersion};

pub const MAX_PDU_BYTES: usize = 65_536;
pub const MAX_ID_BYTES: usize = 255;
pub const MAX_PREV_EVENTS: usize = 20;
pub const MAX_AUTH_EVENTS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("event is not a JSON object")]
    NotAnObject,
    #[error("event is {0} bytes as canonical JSON; the limit is {MAX_PDU_BYTES}")]
    TooLarge(usize),
    #[error("not canonical JSON: {0}")]
    NotCanonical(String),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{0}` has the wrong JSON type")]
    WrongType(&'static str),
    #[error("field `{0}` is over {MAX_ID_BYTES} bytes")]
    TooLong(&'static str),
    #[error("field `{field}` is not a valid identifier: {reason}")]
    InvalidId { field: &'static str, reason: String },
    #[error("{0} prev_events; at most {MAX_PREV_EVENTS} are allowed")]
    TooManyPrevEvents(usize),
    #[error("{0} auth_events; at most {MAX_AUTH_EVENTS} are allowed")]
    TooManyAuthEvents(usize),
    #[error("depth must be a non-negative integer")]
    BadDepth,
    #[error("room version 12 create events have no room_id")]
    CreateWithRoomId,
}

/// Checks the format of `event` for room `version`.
pub fn check_format(event: &Value, version: &RoomVersion) -> Result<(), PduError> {
    let object = event.as_object().ok_or(PduError::NotAnObject)?;
    let size = canonical_json::canonicalize(event)
        .map_err(|e| PduError::NotCanonical(e.to_string()))?
        .len();
    if size > MAX_PDU_BYTES {
        return Err(PduError::TooLarge(size));
    }

    let event_type = string(object, "type")?;
    limit("type", event_type)?;
    if let Some(state_key) = object.get("state_key") {
        limit(
            "state_key",
            state_key.as_str().ok_or(PduError::WrongType("state_key"))?,
        )?;
    }
    let sender = string(object, "sender")?;
    limit("sender", sender)?;
    ruma::UserId::parse(sender).map_err(|e| PduError::InvalidId {
        field: "sender",
        reason: e.to_string(),
    })?;

    let is_v12_create = version.auth.room_id_is_create_event_id && event_type == "m.room.create";
    match (object.get("room_id"), is_v12_create) {
        (Some(_), true) => return Err(PduError::CreateWithRoomId),
        (None, true) => {}
        (None, false) => return Err(PduError::Missing("room_id")),
        (Some(room_id), false) => {
            let room_id = room_id.as_str().ok_or(PduError::WrongType("room_id"))?;
            limit("room_id", room_id)?;
            ruma::RoomId::parse(room_id).map_err(|e| PduError::InvalidId {
                field: "room_id",
                reason: e.to_string(),
            })?;
        }
    }

    if !version.event_refs_are_ids {
        let event_id = string(object, "event_id")?;
        limit("event_id", event_id)?;
        ruma::EventId::parse(event_id).map_err(|e| PduError::InvalidId {
            field: "event_id",
            reason: e.to_string(),
        })?;
    }

    if !object.get("origin_server_ts").is_some_and(Value::is_i64) {
        return Err(missing_or_wrong(object, "origin_server_ts"));
    }
    if !object.get("content").is_some_and(Value::is_object) {
        return Err(missing_or_wrong(object, "content"));
    }
    match object.get("depth") {
        None => return Err(PduError::Missing("depth")),
        Some(depth) if depth.as_i64().is_some_and(|d| d >= 0) => {}
        Some(_) => return Err(PduError::BadDepth),
    }
    let hashes_ok = object
        .get("hashes")
        .and_then(Value::as_object)
        .and_then(|h| h.get("sha256"))
        .is_some_and(Value::is_string);
    if !hashes_ok {
        return Err(missing_or_wrong(object, "hashes"));
    }
    if !object.get("signatures").is_some_and(Value::is_object) {
        return Err(missing_or_wrong(object, "signatures"));
    }

    let prev = references(object, "prev_events", version)?;
    if prev > MAX_PREV_EVENTS {
        return Err(PduError::TooManyPrevEvents(prev));
    }
    let auth = references(object, "auth_events", version)?;
    if auth > MAX_AUTH_EVENTS {
        return Err(PduError::TooManyAuthEvents(auth));
    }
    Ok(())
}

fn string<'a>(object: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, PduError> {
    object
        .get(field)
        .ok_or(PduError::Missing(field))?
        .as_str()
        .ok_or(PduError::WrongType(field))
}

fn missing_or_wrong(object: &Map<String, Value>, field: &'static str) -> PduError {
    if object.contains_key(field) {
        PduError::WrongType(field)
    } else {
        PduError::Missing(field)
    }
}

fn limit(field: &'static str, value: &str) -> Result<(), PduError> {
    if value.len() > MAX_ID_BYTES {
        Err(PduError::TooLong(field))
    } else {
        Ok(())
    }
}

/// Checks a list of event references and returns its length. v1–v2 reference events as
/// `[event_id, {"sha256": hash}]` pairs; later versions by id alone.
fn references(
    object: &Map<String, Value>,
    field: &'static str,
    version: &RoomVersion,
) -> Result<usize, PduError> {
    let list = object
        .get(field)
        .ok_or(PduError::Missing(field))?
        .as_array()
        .ok_or(PduError::WrongType(field))?;
    for item in list {
        let id = if version.event_refs_are_ids {
            item.as_str()
        } else {
            item.as_array()
                .filter(|pair| pair.len() == 2 && pair[1].is_object())
                .and_then(|pair| pair[0].as_str())
        }
        .ok_or(PduError::WrongType(field))?;
        ruma::EventId::parse(id).map_err(|e| PduError::InvalidId {
            field,
            reason: e.to_string(),
        })?;
    }
    Ok(list.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v11_message() -> Value {
        json!({
            "type": "m.room.message",
            "room_id": "!room:example.org",
            "sender": "@alice:example.org",
            "origin_server_ts": 1_700_000_000_000_i64,
            "content": {"body": "hi", "msgtype": "m.text"},
            "depth": 5,
            "prev_events": ["$prev"],
            "auth_events": ["$a", "$b", "$c"],
            "hashes": {"sha256": "abc"},
            "signatures": {"example.org": {"ed25519:1": "sig"}},
        })
    }

    #[test]
    fn well_formed_event_passes() {
        check_format(&v11_message(), &RoomVersion::V11).unwrap();
    }

    #[test]
    fn oversized_event_is_rejected_with_its_size() {
        let mut event = v11_message();
        event["content"]["body"] = Value::from("x".repeat(MAX_PDU_BYTES));
        assert!(
            matches!(check_format(&event, &RoomVersion::V11), Err(PduError::TooLarge(n)) if n > MAX_PDU_BYTES)
        );
    }

    #[test]
    fn long_type_and_state_key_are_rejected() {
        let mut event = v11_message();
        event["type"] = Value::from("t".repeat(256));
        assert_eq!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::TooLong("type"))
        );
        let mut event = v11_message();
        event["state_key"] = Value::from("s".repeat(256));
        assert_eq!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::TooLong("state_key"))
        );
        event["state_key"] = Value::from("s".repeat(255));
        check_format(&event, &RoomVersion::V11).unwrap();
    }

    #[test]
    fn too_many_references_are_rejected() {
        let mut event = v11_message();
        event["prev_events"] = json!((0..21).map(|i| format!("$p{i}")).collect::<Vec<_>>());
        assert_eq!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::TooManyPrevEvents(21))
        );
        let mut event = v11_message();
        event["auth_events"] = json!((0..11).map(|i| format!("$a{i}")).collect::<Vec<_>>());
        assert_eq!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::TooManyAuthEvents(11))
        );
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        for field in [
            "type",
            "sender",
            "room_id",
            "origin_server_ts",
            "content",
            "depth",
            "hashes",
            "signatures",
            "prev_events",
            "auth_events",
        ] {
            let mut event = v11_message();
            event.as_object_mut().unwrap().remove(field);
            assert_eq!(
                check_format(&event, &RoomVersion::V11),
                Err(PduError::Missing(field)),
                "{field}"
            );
        }
        let mut event = v11_message();
        event["content"] = json!("text");
        assert_eq!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::WrongType("content"))
        );
        event = v11_message();
        event["depth"] = json!(-1);
        assert_eq!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::BadDepth)
        );
    }

    #[test]
    fn bad_identifiers_are_rejected() {
        let mut event = v11_message();
        event["sender"] = json!("alice");
        assert!(matches!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::InvalidId {
                field: "sender",
                ..
            })
        ));
        let mut event = v11_message();
        event["prev_events"] = json!(["not-an-id"]);
        assert!(matches!(
            check_format(&event, &RoomVersion::V11),
            Err(PduError::InvalidId {
                field: "prev_events",
                ..
            })
        ));
    }

    #[test]
    fn v1_events_need_an_event_id_and_reference_pairs() {
        let mut event = v11_message();
        assert_eq!(
            check_format(&event, &RoomVersion::V1),
            Err(PduError::Missing("event_id"))
        );
        event["event_id"] = json!("$abc:example.org");
        assert_eq!(
            check_format(&event, &RoomVersion::V1),
            Err(PduError::WrongType("prev_events"))
        );
        event["prev_events"] = json!([["$prev:example.org", {"sha256": "x"}]]);
        event["auth_events"] = json!([["$a:example.org", {"sha256": "y"}]]);
        check_format(&event, &RoomVersion::V1).unwrap();
    }

    #[test]
    fn v12_create_events_have_no_room_id() {
        let mut create = v11_message();
        create["type"] = json!("m.room.create");
        create["state_key"] = json!("");
        create["prev_events"] = json!([]);
        create["auth_events"] = json!([]);
        assert_eq!(
            check_format(&create, &RoomVersion::V12),
            Err(PduError::CreateWithRoomId)
        );
        create.as_object_mut().unwrap().remove("room_id");
        check_format(&create, &RoomVersion::V12).unwrap();
        assert_eq!(
            check_format(&create, &RoomVersion::V11),
            Err(PduError::Missing("room_id"))
        );
    }
}
