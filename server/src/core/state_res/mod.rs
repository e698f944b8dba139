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

use std::{
    cmp::Ordering,
    collections::{BTreeMap, HashMap},
};

pub use graph::EventSource;

use super::{
    event::{CREATE_KEY, Pdu, StateKey},
    room_version::{RoomVersion, StateResolution},
};

/// A room state: event ids by (type, state_key).
pub type StateIds = BTreeMap<StateKey, String>;

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
    match version.state_resolution {
        StateResolution::V1 => {
            for id in state_sets.iter().flat_map(|s| s.values()) {
                require(events, id)?;
            }
            Ok(v1::resolve(version, state_sets, events))
        }
        StateResolution::V2 | StateResolution::V2_1 => v2::resolve(version, state_sets, events),
    }
}

fn require<'a>(events: &'a dyn EventSource, id: &str) -> Result<&'a Pdu, StateResError> {
    events
        .event(id)
        .ok_or_else(|| StateResError::MissingEvent(id.to_owned()))
}

/// The conflicted keys, each with every event any state set has for it.
type Conflicted = BTreeMap<StateKey, Vec<String>>;

/// The state sets split by [`split_conflicts`].
struct Split<'a> {
    /// The keys with the same event in every set.
    unconflicted: StateIds,
    /// The event ids of `unconflicted`, borrowed from the first state set.
    unconflicted_ids: Vec<&'a str>,
    conflicted: Conflicted,
}

/// Splits the state sets into the unconflicted map (same event for the key in every set) and
/// the conflicted keys with every event any set has for them.
///
/// The sets are sorted maps, so their keys (short ones inline) are merged in one pass that
/// only collects which values each key has; the values, separate heap strings, are compared
/// afterwards in a short loop whose reads the processor can overlap. The unconflicted map is
/// the first set's clone without the conflicted keys, which copies the tree without comparing
/// its keys again.
fn split_conflicts(state_sets: &[StateIds]) -> Split<'_> {
    let n = state_sets.len();
    let mut iters: Vec<_> = state_sets.iter().map(|s| s.iter().peekable()).collect();
    // Per key: the key, and how many of `values` (in set order) belong to it.
    let mut rows: Vec<(&StateKey, usize)> =
        Vec::with_capacity(state_sets.first().map_or(0, StateIds::len));
    let mut values: Vec<&String> = Vec::with_capacity(rows.capacity() * n);
    let mut holders: Vec<usize> = Vec::with_capacity(n);
    loop {
        holders.clear();
        let mut smallest: Option<&StateKey> = None;
        for (j, it) in iters.iter_mut().enumerate() {
            let Some(&(key, _)) = it.peek() else { continue };
            match smallest.map(|s| key.cmp(s)) {
                None | Some(Ordering::Less) => {
                    smallest = Some(key);
                    holders.clear();
                    holders.push(j);
                }
                Some(Ordering::Equal) => holders.push(j),
                Some(Ordering::Greater) => {}
            }
        }
        let Some(key) = smallest else { break };
        for &j in &holders {
            values.extend(iters[j].next().map(|(_, v)| v));
        }
        rows.push((key, holders.len()));
    }

    let mut unconflicted_ids = Vec::with_capacity(rows.len());
    let mut conflicted = Conflicted::new();
    let mut at = 0;
    for (key, held) in rows {
        let ids = &values[at..at + held];
        at += held;
        let first = ids[0];
        if held == n && ids[1..].iter().all(|v| *v == first) {
            unconflicted_ids.push(first.as_str());
        } else {
            let mut ids: Vec<String> = ids.iter().map(|v| (*v).clone()).collect();
            ids.sort_unstable();
            ids.dedup();
            conflicted.insert(key.clone(), ids);
        }
    }
    let mut unconflicted = state_sets.first().cloned().unwrap_or_default();
    for key in conflicted.keys() {
        unconflicted.remove(key);
    }
    Split {
        unconflicted,
        unconflicted_ids,
        conflicted,
    }
}

/// The room's create event: from the state sets (v1–v11), or from the room id (v12, whose room
/// id is the create event's id with `!`).
fn find_create<'a>(
    version: &RoomVersion,
    state_sets: &[StateIds],
    events: &'a dyn EventSource,
) -> Option<&'a Pdu> {
    if let Some(create) = state_sets
        .iter()
        .find_map(|s| s.get(&CREATE_KEY))
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
