//! The filter language of `/sync` and `/messages`: which rooms, which events, how many, and
//! lazy-loaded members. Filters arrive as JSON (stored or inline) and are read leniently:
//! a field of the wrong shape is ignored rather than failing the sync.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::storage::StoredEvent;

/// Events per room per sync when the client's filter does not say.
pub const DEFAULT_TIMELINE_LIMIT: i64 = 10;
/// The most events per room one sync returns, whatever the filter asks.
const MAX_TIMELINE_LIMIT: i64 = 100;

/// A `RoomEventFilter` (and the plain `EventFilter` fields it extends).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub limit: Option<i64>,
    types: Option<Vec<String>>,
    not_types: Vec<String>,
    senders: Option<Vec<String>>,
    not_senders: Vec<String>,
    rooms: RoomList,
    contains_url: Option<bool>,
    pub lazy_load_members: bool,
    /// Counts per thread in `/sync` (read from the timeline filter).
    pub unread_thread_notifications: bool,
}

/// `rooms` and `not_rooms`, as both filter levels have them.
#[derive(Debug, Clone, Default)]
struct RoomList {
    rooms: Option<Vec<String>>,
    not_rooms: Vec<String>,
}

impl RoomList {
    fn from_json(value: &Value) -> Self {
        Self {
            rooms: strings(value, "rooms"),
            not_rooms: strings(value, "not_rooms").unwrap_or_default(),
        }
    }

    fn allows(&self, room_id: &str) -> bool {
        !self.not_rooms.iter().any(|r| r == room_id)
            && self
                .rooms
                .as_ref()
                .is_none_or(|rooms| rooms.iter().any(|r| r == room_id))
    }
}

/// A list of strings at `key`; `None` when absent or not a list, non-strings skipped.
fn strings(value: &Value, key: &str) -> Option<Vec<String>> {
    value.get(key).and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

/// A whole sync filter.
#[derive(Debug, Clone, Default)]
pub struct SyncFilterDef {
    rooms: RoomList,
    pub timeline: EventFilter,
    pub state: EventFilter,
    pub ephemeral: EventFilter,
    pub room_account_data: EventFilter,
    pub account_data: EventFilter,
    pub presence: EventFilter,
    /// `event_fields`: the paths of the fields each room event keeps; `None` keeps them all.
    pub event_fields: Option<Vec<Vec<String>>>,
    pub event_format: EventFormat,
}

/// `event_format`: how room events are served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventFormat {
    /// The client-server event format.
    #[default]
    Client,
    /// The event as servers exchange it (the PDU, signatures and hashes included).
    Federation,
}

impl EventFilter {
    pub fn from_json(value: &Value) -> Self {
        Self {
            limit: value.get("limit").and_then(Value::as_i64),
            types: strings(value, "types"),
            not_types: strings(value, "not_types").unwrap_or_default(),
            senders: strings(value, "senders"),
            not_senders: strings(value, "not_senders").unwrap_or_default(),
            rooms: RoomList::from_json(value),
            contains_url: value.get("contains_url").and_then(Value::as_bool),
            lazy_load_members: value
                .get("lazy_load_members")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            unread_thread_notifications: value
                .get("unread_thread_notifications")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// Whether an event of `event_type` from `sender` passes the type and sender lists.
    pub fn allows(&self, event_type: &str, sender: Option<&str>) -> bool {
        if self.not_types.iter().any(|t| type_matches(t, event_type)) {
            return false;
        }
        if let Some(types) = &self.types
            && !types.iter().any(|t| type_matches(t, event_type))
        {
            return false;
        }
        if let Some(sender) = sender {
            if self.not_senders.iter().any(|s| s == sender) {
                return false;
            }
            if let Some(senders) = &self.senders
                && !senders.iter().any(|s| s == sender)
            {
                return false;
            }
        }
        true
    }

    /// Whether a stored room event passes (rooms, types, senders, `contains_url`).
    pub fn allows_event(&self, event: &StoredEvent) -> bool {
        let json = &event.json;
        self.allows_described(
            &event.room_id,
            json["type"].as_str().unwrap_or_default(),
            json["sender"].as_str(),
            json["content"].get("url").is_some_and(Value::is_string),
        )
    }

    /// [`EventFilter::allows_event`] for an event known by what the filter looks at: its
    /// room, type, sender, and whether `content.url` is a string.
    pub fn allows_described(
        &self,
        room_id: &str,
        event_type: &str,
        sender: Option<&str>,
        has_url: bool,
    ) -> bool {
        self.rooms.allows(room_id)
            && self.allows(event_type, sender)
            && self.contains_url.is_none_or(|wanted| has_url == wanted)
    }

    /// Whether the filter can drop events (beyond limiting how many).
    pub fn is_restrictive(&self) -> bool {
        self.types.is_some()
            || !self.not_types.is_empty()
            || self.senders.is_some()
            || !self.not_senders.is_empty()
            || self.contains_url.is_some()
    }

    /// The timeline limit: the filter's, within bounds, or the default.
    pub fn timeline_limit(&self) -> i64 {
        self.limit
            .map(|l| l.clamp(1, MAX_TIMELINE_LIMIT))
            .unwrap_or(DEFAULT_TIMELINE_LIMIT)
    }
}

impl SyncFilterDef {
    pub fn from_json(value: &Value) -> Self {
        let room = &value["room"];
        Self {
            rooms: RoomList::from_json(room),
            timeline: EventFilter::from_json(&room["timeline"]),
            state: EventFilter::from_json(&room["state"]),
            ephemeral: EventFilter::from_json(&room["ephemeral"]),
            room_account_data: EventFilter::from_json(&room["account_data"]),
            account_data: EventFilter::from_json(&value["account_data"]),
            presence: EventFilter::from_json(&value["presence"]),
            event_fields: strings(value, "event_fields")
                .map(|fields| fields.iter().map(|f| field_path(f)).collect()),
            event_format: match value["event_format"].as_str() {
                Some("federation") => EventFormat::Federation,
                _ => EventFormat::Client,
            },
        }
    }

    /// The event as `event_fields` asks for it (unchanged when the filter names none).
    pub fn project(&self, event: &Value) -> Value {
        match &self.event_fields {
            Some(paths) => project_fields(event, paths),
            None => event.clone(),
        }
    }

    /// Whether the room appears in the sync at all.
    pub fn allows_room(&self, room_id: &str) -> bool {
        self.rooms.allows(room_id)
    }
}

/// A dotted `event_fields` entry split into its keys; `\.` is a literal dot and `\\` a
/// literal backslash.
fn field_path(field: &str) -> Vec<String> {
    let mut keys = vec![String::new()];
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    keys.last_mut().expect("never empty").push(next);
                }
            }
            '.' => keys.push(String::new()),
            other => keys.last_mut().expect("never empty").push(other),
        }
    }
    keys
}

/// Fields every client event keeps whatever `event_fields` says: the spec's event schema
/// requires them, and it lets servers return more fields than were asked for.
const REQUIRED_FIELDS: &[&str] = &[
    "type",
    "event_id",
    "sender",
    "origin_server_ts",
    "state_key",
];

/// The fields at `paths` of `event`, plus [`REQUIRED_FIELDS`] and `content` (whole unless
/// some path selects within it); paths that lead nowhere are skipped.
fn project_fields(event: &Value, paths: &[Vec<String>]) -> Value {
    let mut out = Value::Object(serde_json::Map::new());
    for field in REQUIRED_FIELDS {
        if let Some(value) = event.get(*field) {
            out[*field] = value.clone();
        }
    }
    let content_selected = paths
        .iter()
        .any(|p| p.first().is_some_and(|k| k == "content"));
    if let Some(content) = event.get("content") {
        // Without the selected fields, content is still there (the schema requires it).
        out["content"] = if content_selected {
            Value::Object(serde_json::Map::new())
        } else {
            content.clone()
        };
    }
    for path in paths {
        let Some(found) = path.iter().try_fold(event, |v, key| v.get(key)) else {
            continue;
        };
        let mut slot = &mut out;
        for key in &path[..path.len() - 1] {
            if !slot.get(key).is_some_and(Value::is_object) {
                slot[key] = Value::Object(serde_json::Map::new());
            }
            slot = &mut slot[key];
        }
        slot[&path[path.len() - 1]] = found.clone();
    }
    out
}

/// Lazy loading: the members whose member events go with `timeline`, its senders and the
/// user themselves (for `RoomStore::state_at_with_members`, which then reads no others).
/// Members already sent in an earlier sync are not tracked, so they are sent again whatever
/// `include_redundant_members` says: redundant, never missing, as the spec allows.
pub fn lazy_members(timeline: &[StoredEvent], user_id: &str) -> Vec<String> {
    let members: BTreeSet<&str> = timeline
        .iter()
        .filter_map(|e| e.json["sender"].as_str())
        .chain(std::iter::once(user_id))
        .collect();
    members.into_iter().map(str::to_owned).collect()
}

/// A type pattern: exact, or ending in `*` for a prefix.
fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn event_fields_keep_only_the_named_paths() {
        let event = json!({
            "type": "m.room.message", "sender": "@a:x", "event_id": "$e",
            "content": {"body": "hi", "msgtype": "m.text", "m.relates_to": {"rel_type": "x"}},
            "unsigned": {"age": 1},
            "dotted.key": 5,
        });
        let filter = SyncFilterDef::from_json(
            &json!({"event_fields": ["type", "content.body", "content.nothing", "dotted\\.key"]}),
        );
        assert_eq!(
            filter.project(&event),
            json!({"type": "m.room.message", "sender": "@a:x", "event_id": "$e",
                   "content": {"body": "hi"}, "dotted.key": 5}),
            "the schema's required fields stay; content keeps only what was asked for"
        );
        let no_content = SyncFilterDef::from_json(&json!({"event_fields": ["type"]}));
        assert_eq!(
            no_content.project(&event)["content"],
            event["content"],
            "content is required, so it stays whole unless a path selects within it"
        );
        assert!(no_content.project(&event).get("unsigned").is_none());
        assert_eq!(SyncFilterDef::from_json(&json!({})).project(&event), event);
        assert_eq!(
            field_path("a\\\\b.c"),
            vec!["a\\b".to_owned(), "c".to_owned()]
        );
    }

    fn event(kind: &str, sender: &str, content: Value) -> StoredEvent {
        StoredEvent {
            event_id: "$e".into(),
            room_id: "!r:x".into(),
            stream_ordering: 1,
            json: json!({"type": kind, "sender": sender, "content": content}),
        }
    }

    #[test]
    fn types_match_exactly_or_by_prefix_and_not_types_win() {
        let f =
            EventFilter::from_json(&json!({"types": ["m.room.*"], "not_types": ["m.room.member"]}));
        assert!(f.allows("m.room.message", None));
        assert!(!f.allows("m.room.member", None));
        assert!(!f.allows("m.reaction", None));
    }

    #[test]
    fn senders_and_not_senders_filter_by_sender() {
        let f = EventFilter::from_json(&json!({"not_senders": ["@spam:x"]}));
        assert!(f.allows("m.room.message", Some("@a:x")));
        assert!(!f.allows("m.room.message", Some("@spam:x")));
        let only = EventFilter::from_json(&json!({"senders": ["@a:x"]}));
        assert!(!only.allows("m.room.message", Some("@b:x")));
    }

    #[test]
    fn an_event_filter_room_list_drops_other_rooms_events() {
        let f = EventFilter::from_json(&json!({"not_rooms": ["!r:x"]}));
        assert!(!f.allows_event(&event("m.room.message", "@a:x", json!({}))));
        let only = EventFilter::from_json(&json!({"rooms": ["!other:x"]}));
        assert!(!only.allows_event(&event("m.room.message", "@a:x", json!({}))));
        assert!(EventFilter::default().allows_event(&event("m.room.message", "@a:x", json!({}))));
    }

    #[test]
    fn contains_url_selects_events_with_or_without_a_url() {
        let with = EventFilter::from_json(&json!({"contains_url": true}));
        let without = EventFilter::from_json(&json!({"contains_url": false}));
        let file = event("m.room.message", "@a:x", json!({"url": "mxc://x/y"}));
        let text = event("m.room.message", "@a:x", json!({"body": "hi"}));
        assert!(with.allows_event(&file) && !with.allows_event(&text));
        assert!(!without.allows_event(&file) && without.allows_event(&text));
    }

    #[test]
    fn room_lists_and_limits_are_read_from_a_sync_filter() {
        let f = SyncFilterDef::from_json(
            &json!({"room": {"not_rooms": ["!no:x"], "timeline": {"limit": 500}}}),
        );
        assert!(!f.allows_room("!no:x"));
        assert!(f.allows_room("!yes:x"));
        assert_eq!(f.timeline.timeline_limit(), MAX_TIMELINE_LIMIT);
        assert_eq!(
            SyncFilterDef::from_json(&json!({}))
                .timeline
                .timeline_limit(),
            DEFAULT_TIMELINE_LIMIT
        );
    }

    #[test]
    fn lazy_loading_asks_for_the_timeline_senders_and_the_user() {
        let timeline = vec![
            event("m.room.message", "@b:x", json!({})),
            event("m.room.message", "@a:x", json!({})),
            event("m.room.message", "@b:x", json!({})),
        ];
        assert_eq!(
            lazy_members(&timeline, "@me:x"),
            vec!["@a:x", "@b:x", "@me:x"]
        );
    }
}
