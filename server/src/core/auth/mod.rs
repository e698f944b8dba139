//! The authorisation rules of every room version, each rejection with the rule it broke.
//!
//! Two entry points: [`check_with_auth_events`] applies the rules about an event's own
//! `auth_events` and then the rest against the state those auth events give; [`check`] applies
//! the rules against any state (the state before the event, current state for soft-fail, or
//! the partial state of state resolution's iterative auth checks).

mod power_levels;
mod rules;
mod selection;

pub use power_levels::{Level, PowerLevels};
pub use rules::check;
pub use selection::{EventParts, auth_types_for, auth_types_for_event};

use super::{event::Pdu, room_version::RoomVersion};

/// Why an event was rejected: the rule (a stable, dotted name) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {reason}")]
pub struct AuthError {
    pub rule: &'static str,
    pub reason: String,
}

impl AuthError {
    pub fn new(rule: &'static str, reason: impl Into<String>) -> Self {
        Self {
            rule,
            reason: reason.into(),
        }
    }
}

/// A room state as the rules read it: the event at (type, state_key), if any.
pub trait StateView {
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu>;

    fn create(&self) -> Option<&Pdu> {
        self.get("m.room.create", "")
    }
}

impl StateView for std::collections::HashMap<(String, String), Pdu> {
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu> {
        // Allocation-free lookups need a borrowed key type; state maps on hot paths use
        // `StateMap` below instead.
        std::collections::HashMap::get(self, &(event_type.to_owned(), state_key.to_owned()))
    }
}

/// A state map of borrowed events keyed by (type, state_key). State resolution builds one per
/// event it checks, so the maps hash with foldhash (seeded per process) rather than SipHash.
#[derive(Debug, Default, Clone)]
pub struct StateMap<'a> {
    entries: foldhash::HashMap<&'a str, foldhash::HashMap<&'a str, &'a Pdu>>,
}

impl<'a> StateMap<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a state event, replacing any at the same (type, state_key). Non-state events are
    /// ignored.
    pub fn insert(&mut self, pdu: &'a Pdu) {
        if let Some(state_key) = pdu.state_key.as_deref() {
            self.entries
                .entry(pdu.event_type.as_str())
                .or_default()
                .insert(state_key, pdu);
        }
    }

    pub fn from_events(events: impl IntoIterator<Item = &'a Pdu>) -> Self {
        let mut map = Self::new();
        for pdu in events {
            map.insert(pdu);
        }
        map
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a Pdu> + '_ {
        self.entries
            .values()
            .flat_map(|by_key| by_key.values().copied())
    }
}

impl StateView for StateMap<'_> {
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu> {
        self.entries.get(event_type)?.get(state_key).copied()
    }
}

/// Checks `event` against its own `auth_events` (rules on duplicates, selection, rejection and
/// room) and then against the state they form. For room version 12, `create` is the room's
/// create event, which is never among the auth events; for earlier versions it is ignored.
pub fn check_with_auth_events(
    version: &RoomVersion,
    event: &Pdu,
    auth_events: &[&Pdu],
    create: Option<&Pdu>,
    is_rejected: &dyn Fn(&str) -> bool,
    signed_by: &dyn Fn(&Pdu, &str) -> bool,
) -> Result<(), AuthError> {
    if event.event_type == "m.room.create" {
        return check(version, event, &StateMap::new(), signed_by);
    }
    let allowed = auth_types_for_event(version, event);
    let mut seen = std::collections::HashSet::new();
    for auth in auth_events {
        let Some(key) = auth.state_key_pair() else {
            return Err(AuthError::new(
                "auth_events.not_state",
                format!("{} is not a state event", auth.event_id),
            ));
        };
        if !seen.insert(key) {
            return Err(AuthError::new(
                "auth_events.duplicate",
                format!("two auth events for ({}, {:?})", key.0, key.1),
            ));
        }
        if !allowed.iter().any(|(t, k)| t == key.0 && k == key.1) {
            return Err(AuthError::new(
                "auth_events.not_selected",
                format!(
                    "({}, {:?}) is not an auth event for this event",
                    key.0, key.1
                ),
            ));
        }
        if is_rejected(&auth.event_id) {
            return Err(AuthError::new(
                "auth_events.rejected",
                format!("auth event {} was rejected", auth.event_id),
            ));
        }
        if auth.room_id.is_some() && auth.room_id != event.room_id {
            return Err(AuthError::new(
                "auth_events.other_room",
                format!("auth event {} is in another room", auth.event_id),
            ));
        }
    }
    let mut state = StateMap::from_events(auth_events.iter().copied());
    if version.auth.room_id_is_create_event_id {
        if let Some(create) = create {
            state.insert(create);
        }
    } else if state.create().is_none() {
        return Err(AuthError::new(
            "auth_events.no_create",
            "no m.room.create among the auth events",
        ));
    }
    check(version, event, &state, signed_by)
}
