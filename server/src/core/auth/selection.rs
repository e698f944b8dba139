//! Auth events selection (server-server spec): which state an event's `auth_events` name.

use serde_json::Value;

use crate::core::{event::Pdu, room_version::RoomVersion};

/// The (type, state_key) pairs whose current events authorise `event`.
pub fn auth_types_for_event(version: &RoomVersion, event: &Pdu) -> Vec<(String, String)> {
    if event.event_type == "m.room.create" {
        return Vec::new();
    }
    let mut types = Vec::with_capacity(6);
    if !version.auth.room_id_is_create_event_id {
        types.push(("m.room.create".to_owned(), String::new()));
    }
    types.push(("m.room.power_levels".to_owned(), String::new()));
    types.push(("m.room.member".to_owned(), event.sender.clone()));
    if event.event_type == "m.room.member"
        && let Some(target) = &event.state_key
    {
        if *target != event.sender {
            types.push(("m.room.member".to_owned(), target.clone()));
        }
        let membership = event.membership();
        if matches!(membership, Some("join" | "invite" | "knock")) {
            types.push(("m.room.join_rules".to_owned(), String::new()));
        }
        if membership == Some("invite")
            && let Some(token) = event
                .content
                .get("third_party_invite")
                .and_then(|t| t.get("signed"))
                .and_then(|s| s.get("token"))
                .and_then(Value::as_str)
        {
            types.push(("m.room.third_party_invite".to_owned(), token.to_owned()));
        }
        if membership == Some("join")
            && version.auth.restricted_join_rule
            && let Some(via) = event
                .content
                .get("join_authorised_via_users_server")
                .and_then(Value::as_str)
            && via != event.sender
        {
            types.push(("m.room.member".to_owned(), via.to_owned()));
        }
    }
    types
}
