//! State resolution: v1 (room version 1), v2 (versions 2–11) and v2.1 (version 12, MSC4297).
//!
//! Input: the state maps to resolve (event ids by (type, state_key)) and a source holding every
//! event they name and every event in those events' auth chains. Output: one state map.
//! Events are interned to dense indices for the run, so the graph work (auth chains, sorting)
//! touches integers, not strings.

pub mod dag;
mod graph;
mod v1;
mod v2;

use std::collections::{BTreeMap, HashMap};

pub use graph::EventSource;

use super::{
    event::Pdu,
    room_version::{RoomVersion, StateResolution},
};

/// A room state: event ids by (type, state_key).
pub type StateIds = BTreeMap<(String, String), String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateResError {
    #[error("event {0} is named in a state set but not available")]
    MissingEvent(String),
}

/// Resolves `state_sets` with the algorithm of `version`.
pub fn resolve(
    version: &RoomVersion,
    state_sets: &[StateIds],
    events: &dyn EventSource,
) -> Result<StateIds, StateResError> {
    match state_sets {
        [] => return Ok(StateIds::new()),
        [only] => return Ok(only.clone()),
        _ => {}
    }
    for id in state_sets.iter().flat_map(|s| s.values()) {
        if events.event(id).is_none() {
            return Err(StateResError::MissingEvent(id.clone()));
        }
    }
    match version.state_resolution {
        StateResolution::V1 => Ok(v1::resolve(version, state_sets, events)),
        StateResolution::V2 | StateResolution::V2_1 => Ok(v2::resolve(version, state_sets, events)),
    }
}

/// Splits the state sets into the unconflicted map (same event for the key in every set) and
/// the conflicted keys with every event any set has for them. The sets are sorted maps, so
/// they are walked together in one pass.
fn split_conflicts(state_sets: &[StateIds]) -> (StateIds, BTreeMap<(String, String), Vec<String>>) {
    let mut iters: Vec<_> = state_sets.iter().map(|s| s.iter().peekable()).collect();
    let mut unconflicted = Vec::new();
    let mut conflicted: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut values: Vec<Option<&String>> = Vec::with_capacity(state_sets.len());
    while let Some(key) = iters
        .iter_mut()
        .filter_map(|it| it.peek().map(|(k, _)| *k))
        .min()
    {
        values.clear();
        for it in &mut iters {
            values.push(it.next_if(|(k, _)| *k == key).map(|(_, v)| v));
        }
        let first = values[0];
        if first.is_some() && values.iter().all(|v| *v == first) {
            unconflicted.push((key.clone(), first.cloned().unwrap_or_default()));
        } else {
            let mut ids: Vec<String> = values.iter().flatten().map(|v| (*v).clone()).collect();
            ids.sort_unstable();
            ids.dedup();
            conflicted.insert(key.clone(), ids);
        }
    }
    // Built from keys in order, which BTreeMap turns into a map in linear time.
    (unconflicted.into_iter().collect(), conflicted)
}

/// The room's create event: from the state sets (v1–v11), or from the room id (v12, whose room
/// id is the create event's id with `!`).
fn find_create<'a>(
    version: &RoomVersion,
    state_sets: &[StateIds],
    events: &'a dyn EventSource,
) -> Option<&'a Pdu> {
    let key = ("m.room.create".to_owned(), String::new());
    if let Some(create) = state_sets
        .iter()
        .find_map(|s| s.get(&key))
        .and_then(|id| events.event(id))
    {
        return Some(create);
    }
    if version.auth.room_id_is_create_event_id {
        let any = state_sets
            .iter()
            .flat_map(|s| s.values())
            .find_map(|id| events.event(id))?;
        let room_id = any.room_id.as_deref()?;
        return events.event(&format!("${}", room_id.strip_prefix('!')?));
    }
    None
}

/// Signatures are verified when an event is received, before it can reach state resolution;
/// here "signed by" only asks whether the event carries that server's signature.
pub(crate) fn carries_signature_of(pdu: &Pdu, server: &str) -> bool {
    pdu.json
        .get("signatures")
        .and_then(|s| s.get(server))
        .is_some()
}

impl EventSource for HashMap<String, Pdu> {
    fn event(&self, id: &str) -> Option<&Pdu> {
        self.get(id)
    }
}
