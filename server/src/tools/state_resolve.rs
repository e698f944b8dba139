//! `rechain state resolve FILE`: resolve state maps, or walk a whole DAG, from a JSON file.
//!
//! Input: `{"room_version": "11", "events": [PDU, …], "state_sets": [["$a", "$b"], …]}`, or
//! `"dag": true` instead of `state_sets`. Every event carries its `event_id`, which is trusted;
//! hashes and signatures are not checked. Output:
//! `{"state": [{"type", "state_key", "event_id"}, …], "rejected": ["$id", …], "reasons": {…}}`,
//! the state sorted by type then state key.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::{
    event::{Pdu, state_key},
    room_version::RoomVersion,
    state_res::{self, StateIds, dag},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    room_version: String,
    events: Vec<Value>,
    #[serde(default)]
    state_sets: Option<Vec<Vec<String>>>,
    #[serde(default)]
    dag: bool,
    /// Ignored: lets fixture files carry their expected result beside the input.
    #[serde(default)]
    #[allow(dead_code)]
    expected: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<Value>,
}

/// Runs the tool on the input text and returns the output JSON.
pub fn run(text: &str) -> Result<Value, String> {
    let input: Input = serde_json::from_str(text).map_err(|e| format!("input: {e}"))?;
    let version = RoomVersion::from_id(&input.room_version)
        .ok_or_else(|| format!("unknown room version {:?}", input.room_version))?;
    let mut events: HashMap<String, Pdu> = HashMap::new();
    for (n, json) in input.events.into_iter().enumerate() {
        let pdu =
            Pdu::from_trusted_json(json, &version).map_err(|e| format!("events[{n}]: {e}"))?;
        if events.insert(pdu.event_id.clone(), pdu).is_some() {
            return Err(format!("events[{n}]: duplicate event id"));
        }
    }
    let (state, rejected) = match (input.state_sets, input.dag) {
        (Some(_), true) => {
            return Err("give either state_sets or \"dag\": true, not both".to_owned());
        }
        (None, false) => return Err("give state_sets or \"dag\": true".to_owned()),
        (Some(sets), false) => {
            let sets = sets
                .iter()
                .enumerate()
                .map(|(n, ids)| state_map(n, ids, &events))
                .collect::<Result<Vec<_>, _>>()?;
            let state = state_res::resolve(&version, &sets, &events).map_err(|e| e.to_string())?;
            (state, HashMap::new())
        }
        (None, true) => {
            let walk = dag::walk(&version, &events).map_err(|e| e.to_string())?;
            (walk.state, walk.rejected)
        }
    };
    let state: Vec<Value> = state
        .iter()
        .map(|((t, k), id)| json!({"type": t, "state_key": k, "event_id": id}))
        .collect();
    let mut rejected_ids: Vec<&String> = rejected.keys().collect();
    rejected_ids.sort();
    Ok(json!({"state": state, "rejected": rejected_ids, "reasons": rejected}))
}

fn state_map(n: usize, ids: &[String], events: &HashMap<String, Pdu>) -> Result<StateIds, String> {
    let mut map = StateIds::new();
    for id in ids {
        let pdu = events
            .get(id)
            .ok_or_else(|| format!("state_sets[{n}]: {id} is not among the events"))?;
        let key = pdu
            .state_key
            .as_deref()
            .ok_or_else(|| format!("state_sets[{n}]: {id} is not a state event"))?;
        if map
            .insert(state_key(&pdu.event_type, key), id.clone())
            .is_some()
        {
            return Err(format!("state_sets[{n}]: two events for the key of {id}"));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::run;

    fn event(id: &str, event_type: &str, state_key: Option<&str>) -> serde_json::Value {
        let mut json = json!({"event_id": id, "room_id": "!r:x", "sender": "@a:x",
                              "type": event_type, "content": {}, "auth_events": [],
                              "prev_events": [], "depth": 1, "origin_server_ts": 1});
        if let Some(key) = state_key {
            json["state_key"] = json!(key);
        }
        json
    }

    fn resolve_sets(sets: serde_json::Value) -> Result<serde_json::Value, String> {
        let input = json!({"room_version": "11", "state_sets": sets, "events": [
            event("$c", "m.room.create", Some("")),
            event("$t1", "m.room.topic", Some("")),
            event("$t2", "m.room.topic", Some("")),
            event("$m", "m.room.message", None),
        ]});
        run(&input.to_string())
    }

    #[test]
    fn state_sets_naming_bad_events_are_refused_with_the_set_and_the_event() {
        assert_eq!(
            resolve_sets(json!([["$c"], ["$c", "$nope"]])),
            Err("state_sets[1]: $nope is not among the events".to_owned())
        );
        assert_eq!(
            resolve_sets(json!([["$c", "$m"], ["$c"]])),
            Err("state_sets[0]: $m is not a state event".to_owned())
        );
        assert_eq!(
            resolve_sets(json!([["$c"], ["$t1", "$t2"]])),
            Err("state_sets[1]: two events for the key of $t2".to_owned())
        );
        assert!(resolve_sets(json!([["$c", "$t1"], ["$c", "$t1"]])).is_ok());
    }
}
