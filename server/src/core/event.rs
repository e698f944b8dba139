//! A PDU parsed once into the fields the core reads, with the original JSON kept beside it.

use compact_str::CompactString;
use serde_json::Value;

use super::{
    event_hash,
    pdu::{self, PduError},
    room_version::RoomVersion,
};

/// A (event type, state key) pair. Both parts are kept inline when short (up to 24 bytes, as
/// most event types and user ids are), so comparing and copying the keys of a large room's
/// state reads the map's own nodes instead of chasing a heap pointer per string.
pub type StateKey = (CompactString, CompactString);

/// The state key of `(event_type, state_key)`.
pub fn state_key(event_type: &str, state_key: &str) -> StateKey {
    (event_type.into(), state_key.into())
}

/// Keys the core looks up by name.
pub const CREATE_KEY: StateKey = (
    CompactString::const_new("m.room.create"),
    CompactString::const_new(""),
);
pub const POWER_LEVELS_KEY: StateKey = (
    CompactString::const_new("m.room.power_levels"),
    CompactString::const_new(""),
);

#[derive(Debug, Clone, PartialEq)]
pub struct Pdu {
    pub event_id: String,
    /// Absent only on room version 12 create events.
    pub room_id: Option<String>,
    pub sender: String,
    pub event_type: String,
    pub state_key: Option<String>,
    pub content: Value,
    pub prev_events: Vec<String>,
    pub auth_events: Vec<String>,
    pub origin_server_ts: i64,
    pub depth: i64,
    /// The event a redaction redacts: top-level `redacts` before v11, `content.redacts` after.
    pub redacts: Option<String>,
    /// The full event as received.
    pub json: Value,
}

impl Pdu {
    /// Checks the format and computes the event id as the room version prescribes.
    pub fn parse(json: Value, version: &RoomVersion) -> Result<Self, PduError> {
        pdu::check_format(&json, version)?;
        let event_id = event_hash::event_id(&json, version)
            .map_err(|e| PduError::NotCanonical(e.to_string()))?;
        Self::from_json_with_id(json, event_id, version)
    }

    /// Builds a PDU whose `event_id` field is trusted (fixtures, the `state resolve` tool).
    /// Fields missing from the JSON take neutral defaults; `type`, `sender` and `event_id` are
    /// required.
    pub fn from_trusted_json(json: Value, version: &RoomVersion) -> Result<Self, PduError> {
        let event_id = json
            .get("event_id")
            .and_then(Value::as_str)
            .ok_or(PduError::Missing("event_id"))?
            .to_owned();
        Self::from_json_with_id(json, event_id, version)
    }

    /// Builds a PDU whose id is already known (an event read back from storage, whose JSON
    /// carries no `event_id` from room version 3 on).
    pub fn from_json_with_known_id(
        json: Value,
        event_id: String,
        version: &RoomVersion,
    ) -> Result<Self, PduError> {
        Self::from_json_with_id(json, event_id, version)
    }

    fn from_json_with_id(
        json: Value,
        event_id: String,
        version: &RoomVersion,
    ) -> Result<Self, PduError> {
        let str_field = |name: &'static str| -> Result<String, PduError> {
            json.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(PduError::Missing(name))
        };
        let refs = |name: &str| -> Vec<String> {
            json.get(name)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| {
                            item.as_str()
                                .or_else(|| item.get(0).and_then(Value::as_str))
                        })
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let content = json
            .get("content")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let redacts = if version.redaction.keep_redaction_redacts {
            content
                .get("redacts")
                .and_then(Value::as_str)
                .map(str::to_owned)
        } else {
            json.get("redacts")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(Self {
            event_id,
            room_id: json
                .get("room_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            sender: str_field("sender")?,
            event_type: str_field("type")?,
            state_key: json
                .get("state_key")
                .and_then(Value::as_str)
                .map(str::to_owned),
            prev_events: refs("prev_events"),
            auth_events: refs("auth_events"),
            origin_server_ts: json
                .get("origin_server_ts")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            depth: json.get("depth").and_then(Value::as_i64).unwrap_or(0),
            redacts,
            content,
            json,
        })
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// `content.membership` of a member event.
    pub fn membership(&self) -> Option<&str> {
        self.content.get("membership").and_then(Value::as_str)
    }

    /// The (type, state_key) this state event sets.
    pub fn state_key_pair(&self) -> Option<(&str, &str)> {
        self.state_key
            .as_deref()
            .map(|k| (self.event_type.as_str(), k))
    }
}

/// The server name part of a user, room or event id (`@u:example.org` → `example.org`).
pub fn server_of(id: &str) -> Option<&str> {
    id.split_once(':').map(|(_, server)| server)
}
