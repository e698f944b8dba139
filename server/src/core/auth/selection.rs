//! Auth events selection (server-server spec): which state an event's `auth_events` name.

use serde_json::Value;

use crate::core::{
    event::{CREATE_KEY, POWER_LEVELS_KEY, Pdu, StateKey, state_key},
    room_version::RoomVersion,
};

/// The (type, state_key) pairs whose current events authorise `event`.
pub fn auth_types_for_event(version: &RoomVersion, event: &Pdu) -> Vec<StateKey> {
    auth_types_for(
        version,
        &EventParts {
            event_type: &event.event_type,
            state_key: event.state_key.as_deref(),
            sender: &event.sender,
            content: &event.content,
        },
    )
}

/// What auth-event selection reads of an event: enough to choose before the event exists
/// (a server building its own event learns its auth events this way, then builds it once).
pub struct EventParts<'a> {
    pub event_type: &'a str,
    pub state_key: Option<&'a str>,
    pub sender: &'a str,
    pub content: &'a Value,
}

/// [`auth_types_for_event`] for an event given by its parts.
pub fn auth_types_for(version: &RoomVersion, event: &EventParts<'_>) -> Vec<StateKey> {
    if event.event_type == "m.room.create" {
        return Vec::new();
    }
    let mut types = Vec::with_capacity(6);
    if !version.auth.room_id_is_create_event_id {
        types.push(CREATE_KEY);
    }
    types.push(POWER_LEVELS_KEY);
    types.push(state_key("m.room.member", event.sender));
    if event.event_type == "m.room.member"
        && let Some(target) = event.state_key
    {
        if target != event.sender {
            types.push(state_key("m.room.member", target));
        }
        let membership = event.content.get("membership").and_then(Value::as_str);
        if matches!(membership, Some("join" | "invite" | "knock")) {
            types.push(state_key("m.room.join_rules", ""));
        }
        if membership == Some("invite")
            && let Some(token) = event
                .content
                .get("third_party_invite")
                .and_then(|t| t.get("signed"))
                .and_then(|s| s.get("token"))
                .and_then(Value::as_str)
        {
            types.push(state_key("m.room.third_party_invite", token));
        }
        if membership == Some("join")
            && version.auth.restricted_join_rule
            && let Some(via) = event
                .content
                .get("join_authorised_via_users_server")
                .and_then(Value::as_str)
            && via != event.sender
        {
            types.push(state_key("m.room.member", via));
        }
    }
    types
}
