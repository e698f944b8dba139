//! Named state-resolution scenarios (`fixtures/state_res/scenarios/*.json`), each built into
//! full PDUs and resolved by `rechain state resolve` in both of its modes: walking the DAG, and
//! resolving state sets (the states after the final event's `prev_events`, or the sets the
//! scenario gives).
//!
//! A scenario names events by short ids and joins them with `edges`, lists of ids from newest
//! to oldest (each cites the next in `prev_events`). Every scenario starts from the same room:
//! CREATE, IMA (Alice joins), IPOWER (Alice 100), IJR (public), IMB, IMC, IMZ (Bob, Charlie,
//! Zara join), START; END is the final message. Timestamps follow declaration order. Auth
//! events are selected from the state before each event, as a server would.
//!
//! `expect_by_version` overrides the expectation for one room version (with the reason in
//! `why`), `expect_state_sets` for the state-sets mode only.
//!
//! The built inputs for room versions 11 and 12 are committed under
//! `fixtures/state_res/generated/`, so the CLI can be tried on them; this test fails if they
//! are stale (`REC_UPDATE_FIXTURES=1` rewrites them).

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use rechain_server::{
    core::{
        auth,
        event::{Pdu, state_key},
        room_version::RoomVersion,
        state_res::{self, StateIds},
    },
    tools::state_resolve,
};
use serde_json::{Value, json};

const SERVER: &str = "example.com";

fn user(name: &str) -> String {
    if name.starts_with('@') {
        name.to_owned()
    } else {
        format!("@{name}:{SERVER}")
    }
}

fn event_id(short: &str) -> String {
    format!("${short}:{SERVER}")
}

struct Spec {
    id: String,
    sender: String,
    event_type: String,
    state_key: Option<String>,
    content: Value,
    ts: Option<i64>,
}

fn initial_events() -> Vec<Spec> {
    let spec = |id: &str, sender: &str, t: &str, key: Option<&str>, content: Value| Spec {
        id: id.to_owned(),
        sender: user(sender),
        event_type: t.to_owned(),
        state_key: key.map(user_or_empty),
        content,
        ts: None,
    };
    let join = json!({"membership": "join"});
    vec![
        spec(
            "CREATE",
            "alice",
            "m.room.create",
            Some(""),
            json!({"creator": user("alice")}),
        ),
        spec("IMA", "alice", "m.room.member", Some("alice"), join.clone()),
        spec(
            "IPOWER",
            "alice",
            "m.room.power_levels",
            Some(""),
            json!({"users": {user("alice"): 100}}),
        ),
        spec(
            "IJR",
            "alice",
            "m.room.join_rules",
            Some(""),
            json!({"join_rule": "public"}),
        ),
        spec("IMB", "bob", "m.room.member", Some("bob"), join.clone()),
        spec(
            "IMC",
            "charlie",
            "m.room.member",
            Some("charlie"),
            join.clone(),
        ),
        spec("IMZ", "zara", "m.room.member", Some("zara"), join),
        spec("START", "zara", "m.room.message", None, json!({})),
        spec("END", "zara", "m.room.message", None, json!({})),
    ]
}

fn user_or_empty(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        user(key)
    }
}

/// Builds the scenario's PDUs for `version`.
fn build(scenario: &Value, version: &RoomVersion) -> HashMap<String, Pdu> {
    let mut specs = initial_events();
    for e in scenario["events"].as_array().unwrap() {
        specs.push(Spec {
            id: e["id"].as_str().unwrap().to_owned(),
            sender: user(e["sender"].as_str().unwrap()),
            event_type: e["type"].as_str().unwrap().to_owned(),
            state_key: e["state_key"].as_str().map(str::to_owned),
            content: e["content"].clone(),
            ts: e["ts"].as_i64(),
        });
    }
    let mut prev: HashMap<String, Vec<String>> = HashMap::new();
    let chain = [
        "START", "IMZ", "IMC", "IMB", "IJR", "IPOWER", "IMA", "CREATE",
    ];
    let mut edges: Vec<Vec<&str>> = vec![chain.to_vec()];
    for edge in scenario["edges"].as_array().unwrap() {
        edges.push(
            edge.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect(),
        );
    }
    for edge in &edges {
        for pair in edge.windows(2) {
            let list = prev.entry(pair[0].to_owned()).or_default();
            if !list.contains(&pair[1].to_owned()) {
                list.push(pair[1].to_owned());
            }
        }
    }
    let creators = [user("alice")];
    let room_id = if version.auth.room_id_is_create_event_id {
        format!("!CREATE:{SERVER}")
    } else {
        format!("!room:{SERVER}")
    };

    let by_id: HashMap<&str, (usize, &Spec)> = specs
        .iter()
        .enumerate()
        .map(|(n, s)| (s.id.as_str(), (n, s)))
        .collect();
    let mut built: HashMap<String, Pdu> = HashMap::new();
    let mut state_after: HashMap<String, StateIds> = HashMap::new();
    let mut depth: HashMap<String, i64> = HashMap::new();
    let mut remaining: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|id| {
                prev.get(*id)
                    .into_iter()
                    .flatten()
                    .all(|p| state_after.contains_key(p))
            })
            .expect("edges form a DAG rooted at CREATE");
        let short = remaining.remove(ready);
        let (n, spec) = by_id[short];
        let prevs = prev.get(short).cloned().unwrap_or_default();
        let prev_states: Vec<StateIds> = prevs.iter().map(|p| state_after[p].clone()).collect();
        let before = state_res::resolve(version, &prev_states, &built).unwrap();
        let mut content = spec.content.clone();
        if version.auth.creators_have_infinite_power
            && spec.event_type == "m.room.power_levels"
            && let Some(users) = content.get_mut("users").and_then(Value::as_object_mut)
        {
            users.retain(|u, _| !creators.contains(u));
        }
        let mut json = json!({
            "event_id": event_id(short),
            "type": spec.event_type,
            "sender": spec.sender,
            "content": content,
            "prev_events": prevs.iter().map(|p| event_id(p)).collect::<Vec<_>>(),
            "depth": prevs.iter().map(|p| depth[p]).max().unwrap_or(0) + 1,
            "origin_server_ts": spec.ts.unwrap_or(n as i64 + 1),
            "hashes": {"sha256": "not checked by this tool"},
            "signatures": {SERVER: {}},
        });
        if let Some(key) = &spec.state_key {
            json["state_key"] = json!(user_or_empty(key));
        }
        if !(version.auth.room_id_is_create_event_id && spec.event_type == "m.room.create") {
            json["room_id"] = json!(room_id);
        }
        let draft = Pdu::from_trusted_json(json.clone(), version).unwrap();
        let auth: Vec<String> = auth::auth_types_for_event(version, &draft)
            .into_iter()
            .filter_map(|key| before.get(&key).cloned())
            .collect();
        json["auth_events"] = json!(auth);
        let pdu = Pdu::from_trusted_json(json, version).unwrap();
        let mut after = before;
        if let Some(key) = &pdu.state_key {
            after.insert(state_key(&pdu.event_type, key), pdu.event_id.clone());
        }
        depth.insert(short.to_owned(), pdu.depth);
        state_after.insert(short.to_owned(), after);
        built.insert(pdu.event_id.clone(), pdu);
    }
    built
}

/// The state sets for the state-sets mode: the scenario's own, or the states after END's
/// `prev_events` (recomputed by walking the DAG).
fn state_sets(
    scenario: &Value,
    version: &RoomVersion,
    events: &HashMap<String, Pdu>,
) -> Vec<Vec<String>> {
    if let Some(sets) = scenario["state_sets"].as_array() {
        return sets
            .iter()
            .map(|s| {
                s.as_array()
                    .unwrap()
                    .iter()
                    .map(|id| event_id(id.as_str().unwrap()))
                    .collect()
            })
            .collect();
    }
    let walk = state_res::dag::walk(version, events).unwrap();
    events[&event_id("END")]
        .prev_events
        .iter()
        .map(|p| walk.state_after[p].values().cloned().collect())
        .collect()
}

fn inputs(scenario: &Value, version: &RoomVersion) -> (Value, Value) {
    let events = build(scenario, version);
    let mut list: Vec<&Pdu> = events.values().collect();
    list.sort_by_key(|p| (p.depth, p.origin_server_ts, p.event_id.clone()));
    let jsons: Vec<Value> = list.iter().map(|p| p.json.clone()).collect();
    let dag = json!({"room_version": version.id, "events": jsons, "dag": true});
    let sets = json!({"room_version": version.id, "events": jsons, "state_sets": state_sets(scenario, version, &events)});
    (dag, sets)
}

fn expectation<'a>(scenario: &'a Value, version: &RoomVersion, mode: &str) -> &'a Value {
    if let Some(e) = scenario["expect_by_version"].get(version.id) {
        return e;
    }
    if mode == "sets"
        && let Some(e) = scenario["expect_state_sets"].get(version.id)
    {
        return e;
    }
    &scenario["expect"]
}

/// Checks the tool's output against `present` (each event is the state for its key) and
/// `absent` (no key maps to the event).
fn check(output: &Value, expect: &Value) -> Result<(), String> {
    let state: BTreeMap<String, String> = output["state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event_id"].as_str().unwrap().to_owned(),
                format!("{}|{}", e["type"], e["state_key"]),
            )
        })
        .collect();
    for id in expect["present"].as_array().unwrap() {
        let id = event_id(id.as_str().unwrap());
        if !state.contains_key(&id) {
            return Err(format!(
                "{id} is not in the resolved state {:?}",
                state.keys().collect::<Vec<_>>()
            ));
        }
    }
    for id in expect["absent"].as_array().unwrap() {
        let id = event_id(id.as_str().unwrap());
        if state.contains_key(&id) {
            return Err(format!("{id} is in the resolved state"));
        }
    }
    Ok(())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/state_res")
}

fn scenarios() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_scenario_resolves_as_expected_in_both_modes() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for (name, scenario) in scenarios() {
        for v in scenario["room_versions"].as_array().unwrap() {
            let version = RoomVersion::from_id(v.as_str().unwrap()).unwrap();
            let (dag, sets) = inputs(&scenario, &version);
            for (mode, input) in [("dag", &dag), ("sets", &sets)] {
                runs += 1;
                let output = state_resolve::run(&input.to_string()).unwrap();
                if let Err(e) = check(&output, expectation(&scenario, &version, mode)) {
                    failures.push(format!("{name} v{} ({mode}): {e}", version.id));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn generated_cli_inputs_are_current() {
    let dir = root().join("generated");
    let update = std::env::var_os("REC_UPDATE_FIXTURES").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, scenario) in scenarios() {
        for v in scenario["room_versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
        {
            if v != "11" && v != "12" {
                continue;
            }
            let version = RoomVersion::from_id(v).unwrap();
            let (mut dag, mut sets) = inputs(&scenario, &version);
            dag["expected"] = expectation(&scenario, &version, "dag").clone();
            dag["description"] = scenario["description"].clone();
            sets["expected"] = expectation(&scenario, &version, "sets").clone();
            sets["description"] = scenario["description"].clone();
            for (mode, value) in [("dag", dag), ("sets", sets)] {
                let path = dir.join(format!("{name}.v{v}.{mode}.json"));
                let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
                if update {
                    std::fs::write(&path, text).unwrap();
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    stale.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale (run with REC_UPDATE_FIXTURES=1): {stale:?}"
    );
}
