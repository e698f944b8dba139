//! Walking a room's DAG from its create event: the state before each event is the resolution of
//! the states after its `prev_events`; each event is checked against its auth events and the
//! state before it, and a rejected event changes no state. The room's state is the resolution
//! of the states after its forward extremities.

use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use super::{EventSource, StateIds, StateResError, resolve};
use crate::core::{
    auth::{self, StateMap},
    event::{Pdu, state_key},
    room_version::RoomVersion,
};

#[derive(Debug, Clone, Default)]
pub struct DagWalk {
    /// The state after each accepted or rejected event.
    pub state_after: HashMap<String, StateIds>,
    /// Why each rejected event was rejected.
    pub rejected: HashMap<String, String>,
    /// Events no other event names in `prev_events`, sorted.
    pub extremities: Vec<String>,
    /// The resolution of the states after the extremities.
    pub state: StateIds,
}

/// Walks every event of `events` in causal order (ties: depth, timestamp, id). Events whose
/// `prev_events` are not all present are reported as rejected.
pub fn walk(
    version: &RoomVersion,
    events: &HashMap<String, Pdu>,
) -> Result<DagWalk, StateResError> {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut waiting: HashMap<&str, usize> = HashMap::new();
    let mut out = DagWalk::default();
    for pdu in events.values() {
        let known: Vec<&str> = pdu
            .prev_events
            .iter()
            .map(String::as_str)
            .filter(|p| events.contains_key(*p))
            .collect();
        if known.len() != pdu.prev_events.len() {
            out.rejected.insert(
                pdu.event_id.clone(),
                "some prev_events are unknown".to_owned(),
            );
        }
        waiting.insert(pdu.event_id.as_str(), known.len());
        for p in known {
            children.entry(p).or_default().push(pdu.event_id.as_str());
        }
    }
    let order_key = |id: &str| {
        let pdu = &events[id];
        std::cmp::Reverse((pdu.depth, pdu.origin_server_ts, pdu.event_id.clone()))
    };
    let mut ready: BinaryHeap<_> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| (order_key(id), *id))
        .collect();
    let signed_by = super::carries_signature_of;
    let create = events
        .values()
        .find(|p| p.event_type == "m.room.create" && p.prev_events.is_empty());

    while let Some((_, id)) = ready.pop() {
        let pdu = &events[id];
        let prev_states: Vec<StateIds> = pdu
            .prev_events
            .iter()
            .filter_map(|p| out.state_after.get(p).cloned())
            .collect();
        let before = resolve(version, &prev_states, events as &dyn EventSource)?;
        if !out.rejected.contains_key(id)
            && let Err(reason) = check(
                version,
                pdu,
                &before,
                events,
                create,
                &out.rejected,
                &signed_by,
            )
        {
            out.rejected.insert(id.to_owned(), reason);
        }
        let mut after = before;
        if !out.rejected.contains_key(id)
            && let Some(key) = &pdu.state_key
        {
            after.insert(state_key(&pdu.event_type, key), pdu.event_id.clone());
        }
        out.state_after.insert(id.to_owned(), after);
        for child in children.get(id).into_iter().flatten() {
            let left = waiting.get_mut(child).expect("every event is counted");
            *left -= 1;
            if *left == 0 {
                ready.push((order_key(child), child));
            }
        }
    }

    let referenced: HashSet<&str> = events
        .values()
        .flat_map(|p| p.prev_events.iter().map(String::as_str))
        .collect();
    let extremities: BTreeSet<&str> = out
        .state_after
        .keys()
        .map(String::as_str)
        .filter(|id| !referenced.contains(id))
        .collect();
    out.extremities = extremities.iter().map(|s| (*s).to_owned()).collect();
    let states: Vec<StateIds> = out
        .extremities
        .iter()
        .map(|id| out.state_after[id].clone())
        .collect();
    out.state = resolve(version, &states, events as &dyn EventSource)?;
    Ok(out)
}

/// Auth against the event's own auth events (when all are known) and the state before it.
fn check(
    version: &RoomVersion,
    pdu: &Pdu,
    before: &StateIds,
    events: &HashMap<String, Pdu>,
    create: Option<&Pdu>,
    rejected: &HashMap<String, String>,
    signed_by: &dyn Fn(&Pdu, &str) -> bool,
) -> Result<(), String> {
    let auth_events: Vec<&Pdu> = pdu
        .auth_events
        .iter()
        .filter_map(|a| events.get(a))
        .collect();
    if auth_events.len() == pdu.auth_events.len() {
        auth::check_with_auth_events(
            version,
            pdu,
            &auth_events,
            create,
            &|id| rejected.contains_key(id),
            signed_by,
        )
        .map_err(|e| format!("against its auth events: {e}"))?;
    }
    let mut state = StateMap::new();
    for id in before.values() {
        if let Some(event) = events.get(id) {
            state.insert(event);
        }
    }
    if let Some(create) = create
        && auth::StateView::create(&state).is_none()
    {
        state.insert(create);
    }
    auth::check(version, pdu, &state, signed_by)
        .map_err(|e| format!("against the state before it: {e}"))
}
