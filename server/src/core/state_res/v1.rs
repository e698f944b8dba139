//! State resolution v1 (room version 1). Known to reset state; kept for the rooms that still
//! use it. Keys missing from some states are not conflicts here: the union of the states,
//! minus conflicting keys, is the starting point.

use std::collections::BTreeMap;

use sha1::{Digest as _, Sha1};

use super::{EventSource, StateIds};
use crate::core::{
    auth::{self, StateMap},
    event::{CREATE_KEY, Pdu, StateKey},
    room_version::RoomVersion,
};

pub fn resolve(
    version: &RoomVersion,
    state_sets: &[StateIds],
    source: &dyn EventSource,
) -> StateIds {
    let mut resolved = StateIds::new();
    let mut conflicted: BTreeMap<StateKey, Vec<&Pdu>> = BTreeMap::new();
    let mut keys: Vec<&StateKey> = state_sets.iter().flat_map(|s| s.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let mut ids: Vec<&String> = state_sets.iter().filter_map(|s| s.get(key)).collect();
        ids.sort_unstable();
        ids.dedup();
        if let [only] = ids[..] {
            resolved.insert(key.clone(), only.clone());
        } else {
            conflicted.insert(
                key.clone(),
                ids.into_iter().filter_map(|id| source.event(id)).collect(),
            );
        }
    }

    let order = [
        |k: &StateKey| k.0 == "m.room.power_levels" && k.1.is_empty(),
        |k: &StateKey| k.0 == "m.room.join_rules",
        |k: &StateKey| k.0 == "m.room.member",
    ];
    for is_pass in order {
        let keys: Vec<StateKey> = conflicted.keys().filter(|k| is_pass(k)).cloned().collect();
        let mut updates = Vec::new();
        for key in keys {
            let events = conflicted.remove(&key).unwrap_or_default();
            if let Some(winner) = resolve_auth_events(version, &events, &resolved, source) {
                updates.push((key, winner.event_id.clone()));
            }
        }
        resolved.extend(updates);
    }
    let mut updates = Vec::new();
    for (key, events) in conflicted {
        if let Some(winner) = resolve_normal_events(version, &events, &resolved, source) {
            updates.push((key, winner.event_id.clone()));
        }
    }
    resolved.extend(updates);
    resolved
}

/// Highest depth first, then lowest SHA-1 of the event id.
fn ordered<'a>(events: &[&'a Pdu]) -> Vec<&'a Pdu> {
    let mut keyed: Vec<(std::cmp::Reverse<i64>, [u8; 20], &Pdu)> = events
        .iter()
        .map(|e| {
            (
                std::cmp::Reverse(e.depth),
                Sha1::digest(e.event_id.as_bytes()).into(),
                *e,
            )
        })
        .collect();
    keyed.sort_by_key(|k| (k.0, k.1));
    keyed.into_iter().map(|k| k.2).collect()
}

fn allowed(
    version: &RoomVersion,
    event: &Pdu,
    state: &StateIds,
    extra: Option<&Pdu>,
    source: &dyn EventSource,
) -> bool {
    let mut view = StateMap::new();
    for key in auth::auth_types_for_event(version, event) {
        if let Some(pdu) = state.get(&key).and_then(|id| source.event(id)) {
            view.insert(pdu);
        }
    }
    if let Some(extra) = extra {
        view.insert(extra);
    }
    if auth::StateView::create(&view).is_none()
        && let Some(create) = state.get(&CREATE_KEY).and_then(|id| source.event(id))
    {
        view.insert(create);
    }
    let signed_by = super::carries_signature_of;
    auth::check(version, event, &view, &signed_by).is_ok()
}

/// Walks from the oldest event up, keeping each next one while it passes auth with the
/// previous one in place; returns the last that did.
fn resolve_auth_events<'a>(
    version: &RoomVersion,
    events: &[&'a Pdu],
    state: &StateIds,
    source: &dyn EventSource,
) -> Option<&'a Pdu> {
    let mut ascending = ordered(events);
    ascending.reverse();
    let mut previous = *ascending.first()?;
    for &event in &ascending[1..] {
        if allowed(version, event, state, Some(previous), source) {
            previous = event;
        } else {
            return Some(previous);
        }
    }
    Some(previous)
}

/// The highest, lowest-hash event that passes auth; the lowest if none does.
fn resolve_normal_events<'a>(
    version: &RoomVersion,
    events: &[&'a Pdu],
    state: &StateIds,
    source: &dyn EventSource,
) -> Option<&'a Pdu> {
    let ordered = ordered(events);
    ordered
        .iter()
        .copied()
        .find(|e| allowed(version, e, state, None, source))
        .or_else(|| ordered.last().copied())
}
