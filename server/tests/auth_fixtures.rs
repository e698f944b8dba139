//! Runs every case in `fixtures/auth/*.json` through the auth rules of each room version it
//! names. A rejection must name the rule the case expects; every case is checked twice: against
//! the full state, and against the auth events selected from that state.
//!
//! Fixture events are terse: the harness fills in `room_id` (v12: the create event's), a
//! default `event_id` and `prev_events`, and for v12 removes creators from `users` in power
//! levels (where they may not appear) unless the case is `"raw": true`. An allowed case names
//! the rule it exercises in `rule` and any other rules it passes in `passes`; every rule some
//! case is rejected by must also be passed by some case.

use std::path::Path;

use rechain_server::core::{
    auth::{self, StateMap},
    event::Pdu,
    room_version::RoomVersion,
};
use serde_json::{Value, json};

const ALICE: &str = "@alice:example.org";

fn base_state(version: &RoomVersion) -> Vec<Value> {
    let member = |id: &str, user: &str| {
        json!({"event_id": id, "type": "m.room.member", "sender": user, "state_key": user,
               "content": {"membership": "join"}})
    };
    vec![
        json!({"event_id": "$create", "type": "m.room.create", "sender": ALICE, "state_key": "",
               "content": {"creator": ALICE, "room_version": version.id}}),
        member("$alice_join", ALICE),
        json!({"event_id": "$pl", "type": "m.room.power_levels", "sender": ALICE, "state_key": "",
               "content": {"users": {ALICE: 100, "@mod:example.org": 50, "@mod2:example.org": 50,
                                     "@bob:example.org": 10},
                           "users_default": 0, "events": {"m.room.power_levels": 100},
                           "events_default": 0, "state_default": 50, "ban": 50, "kick": 50,
                           "redact": 50, "invite": 0}}),
        json!({"event_id": "$jr", "type": "m.room.join_rules", "sender": ALICE, "state_key": "",
               "content": {"join_rule": "public"}}),
        member("$mod_join", "@mod:example.org"),
        member("$mod2_join", "@mod2:example.org"),
        member("$bob_join", "@bob:example.org"),
    ]
}

fn room_id(version: &RoomVersion) -> &'static str {
    if version.auth.room_id_is_create_event_id {
        "!create"
    } else {
        "!room:example.org"
    }
}

/// Completes a terse fixture event for `version`.
fn complete(mut event: Value, version: &RoomVersion, creators: &[String], raw: bool) -> Value {
    let object = event.as_object_mut().unwrap();
    let is_v12_create =
        version.auth.room_id_is_create_event_id && object["type"] == "m.room.create";
    match object.get("room_id") {
        Some(Value::Null) => {
            object.remove("room_id");
        }
        Some(_) => {}
        None if is_v12_create => {}
        None => {
            object.insert("room_id".into(), json!(room_id(version)));
        }
    }
    object
        .entry("event_id")
        .or_insert(json!("$event:example.org"));
    object.entry("prev_events").or_insert(json!(["$bob_join"]));
    if version.auth.creators_have_infinite_power
        && !raw
        && object["type"] == "m.room.power_levels"
        && let Some(users) = object
            .get_mut("content")
            .and_then(|c| c.get_mut("users"))
            .and_then(Value::as_object_mut)
    {
        users.retain(|user, _| !creators.contains(user));
    }
    event
}

fn in_versions(spec: &str, version: &RoomVersion) -> bool {
    let n: u32 = version.id.parse().unwrap();
    spec.split(',').any(|part| {
        let part = part.trim();
        if part == "all" {
            true
        } else if let Some(from) = part.strip_suffix('+') {
            n >= from.parse::<u32>().unwrap()
        } else if let Some((a, b)) = part.split_once('-') {
            (a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()).contains(&n)
        } else {
            n == part.parse::<u32>().unwrap()
        }
    })
}

fn signed_by(event: &Pdu, server: &str) -> bool {
    event
        .json
        .get("signatures")
        .and_then(|s| s.get(server))
        .is_some()
}

struct Outcome {
    rule: Option<&'static str>,
    via_auth_events_allowed: bool,
}

fn run_case(case: &Value, version: &RoomVersion) -> Outcome {
    let raw = case["raw"].as_bool().unwrap_or(false);
    let mut events: Vec<Value> = if case["base"] == "create_only" {
        base_state(version).into_iter().take(1).collect()
    } else {
        base_state(version)
    };
    let key = |e: &Value| {
        (
            e["type"].as_str().unwrap().to_owned(),
            e["state_key"].as_str().unwrap().to_owned(),
        )
    };
    for extra in case["state"].as_array().into_iter().flatten() {
        events.retain(|e| key(e) != key(extra));
        events.push(extra.clone());
    }
    for removed in case["remove"].as_array().into_iter().flatten() {
        let removed = (
            removed[0].as_str().unwrap().to_owned(),
            removed[1].as_str().unwrap().to_owned(),
        );
        events.retain(|e| key(e) != removed);
    }
    let create = events
        .iter()
        .find(|e| e["type"] == "m.room.create")
        .unwrap()
        .clone();
    let mut creators = vec![create["sender"].as_str().unwrap().to_owned()];
    creators.extend(
        create["content"]["additional_creators"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned),
    );
    let state_pdus: Vec<Pdu> = events
        .into_iter()
        .map(|e| Pdu::from_trusted_json(complete(e, version, &creators, false), version).unwrap())
        .collect();
    let event = Pdu::from_trusted_json(
        complete(case["event"].clone(), version, &creators, raw),
        version,
    )
    .unwrap();
    let state = StateMap::from_events(&state_pdus);

    let rule = auth::check(version, &event, &state, &signed_by)
        .err()
        .map(|e| e.rule);

    let create_pdu = state_pdus.iter().find(|p| p.event_type == "m.room.create");
    let selected: Vec<&Pdu> = auth::auth_types_for_event(version, &event)
        .iter()
        .filter_map(|(t, k)| auth::StateView::get(&state, t, k))
        .collect();
    let via_auth_events_allowed = auth::check_with_auth_events(
        version,
        &event,
        &selected,
        create_pdu,
        &|_| false,
        &signed_by,
    )
    .is_ok();
    Outcome {
        rule,
        via_auth_events_allowed,
    }
}

#[test]
fn every_auth_fixture_case_matches_in_every_listed_room_version() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/auth");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut rules_positive = std::collections::BTreeSet::new();
    let mut rules_negative = std::collections::BTreeSet::new();
    for path in files {
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let rule = case["rule"].as_str().unwrap().to_owned();
            let expect_allow = case["expect"] == "allow";
            if expect_allow {
                rules_positive.insert(rule.clone());
                for also in case["passes"].as_array().into_iter().flatten() {
                    rules_positive.insert(also.as_str().unwrap().to_owned());
                }
            } else {
                rules_negative.insert(rule.clone());
            }
            for version in RoomVersion::ALL
                .iter()
                .filter(|v| in_versions(case["versions"].as_str().unwrap(), v))
            {
                runs += 1;
                let outcome = run_case(case, version);
                let ok = match (expect_allow, outcome.rule) {
                    (true, None) => true,
                    (false, Some(got)) => got == rule,
                    _ => false,
                };
                if !ok {
                    failures.push(format!(
                        "{}: {name} (v{}): expected {}, got {:?}",
                        path.file_name().unwrap().to_string_lossy(),
                        version.id,
                        if expect_allow {
                            "allow".to_owned()
                        } else {
                            format!("reject by {rule}")
                        },
                        outcome.rule
                    ));
                } else if outcome.via_auth_events_allowed != expect_allow {
                    failures.push(format!(
                        "{name} (v{}): checking against the selected auth events disagrees",
                        version.id
                    ));
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
    assert!(runs > 500, "only {runs} runs");
    // Every rule that a case rejects by also has a case that passes it.
    let missing: Vec<_> = rules_negative.difference(&rules_positive).collect();
    assert!(
        missing.is_empty(),
        "rules with no positive case: {missing:?}"
    );
}

/// The rules about an event's own `auth_events` (duplicates, selection, rejection, room,
/// presence of the create event), on a message from Bob in the base room.
mod auth_event_rules {
    use super::*;

    struct Room {
        version: RoomVersion,
        pdus: Vec<Pdu>,
    }

    impl Room {
        fn new(version: RoomVersion) -> Self {
            let pdus = base_state(&version)
                .into_iter()
                .map(|e| {
                    Pdu::from_trusted_json(
                        complete(e, &version, &[ALICE.to_owned()], false),
                        &version,
                    )
                    .unwrap()
                })
                .collect();
            Self { version, pdus }
        }

        fn get(&self, id: &str) -> &Pdu {
            self.pdus.iter().find(|p| p.event_id == id).unwrap()
        }

        fn message(&self) -> Pdu {
            let json = complete(
                json!({"type": "m.room.message", "sender": "@bob:example.org", "content": {}}),
                &self.version,
                &[],
                false,
            );
            Pdu::from_trusted_json(json, &self.version).unwrap()
        }

        fn check(&self, auth: &[&str], rejected: &[&str]) -> Result<(), &'static str> {
            let event = self.message();
            let auth: Vec<&Pdu> = auth.iter().map(|id| self.get(id)).collect();
            let rejected: Vec<String> = rejected.iter().map(|s| (*s).to_owned()).collect();
            auth::check_with_auth_events(
                &self.version,
                &event,
                &auth,
                Some(self.get("$create")),
                &|id| rejected.iter().any(|r| r == id),
                &signed_by,
            )
            .map_err(|e| e.rule)
        }
    }

    fn full(version: &RoomVersion) -> Vec<&'static str> {
        if version.auth.room_id_is_create_event_id {
            vec!["$pl", "$bob_join"]
        } else {
            vec!["$create", "$pl", "$bob_join"]
        }
    }

    #[test]
    fn correctly_selected_auth_events_allow_the_message() {
        for version in RoomVersion::ALL {
            let room = Room::new(version);
            assert_eq!(room.check(&full(&version), &[]), Ok(()), "v{}", version.id);
        }
    }

    #[test]
    fn duplicate_auth_event_is_rejected() {
        for version in RoomVersion::ALL {
            let room = Room::new(version);
            let mut auth = full(&version);
            auth.push("$pl");
            assert_eq!(
                room.check(&auth, &[]),
                Err("auth_events.duplicate"),
                "v{}",
                version.id
            );
        }
    }

    #[test]
    fn auth_event_the_selection_does_not_name_is_rejected() {
        for version in RoomVersion::ALL {
            let room = Room::new(version);
            let mut auth = full(&version);
            auth.push("$jr");
            assert_eq!(
                room.check(&auth, &[]),
                Err("auth_events.not_selected"),
                "v{}",
                version.id
            );
        }
    }

    #[test]
    fn v12_create_event_among_auth_events_is_rejected() {
        let room = Room::new(RoomVersion::V12);
        assert_eq!(
            room.check(&["$create", "$pl", "$bob_join"], &[]),
            Err("auth_events.not_selected")
        );
    }

    #[test]
    fn rejected_auth_event_is_rejected() {
        for version in RoomVersion::ALL {
            let room = Room::new(version);
            assert_eq!(
                room.check(&full(&version), &["$pl"]),
                Err("auth_events.rejected"),
                "v{}",
                version.id
            );
        }
    }

    #[test]
    fn missing_create_auth_event_is_rejected_before_v12() {
        for version in RoomVersion::ALL
            .iter()
            .filter(|v| !v.auth.room_id_is_create_event_id)
        {
            let room = Room::new(*version);
            assert_eq!(
                room.check(&["$pl", "$bob_join"], &[]),
                Err("auth_events.no_create"),
                "v{}",
                version.id
            );
        }
    }

    #[test]
    fn auth_event_from_another_room_is_rejected() {
        for version in RoomVersion::ALL {
            let mut room = Room::new(version);
            let pl = room.pdus.iter_mut().find(|p| p.event_id == "$pl").unwrap();
            pl.room_id = Some("!elsewhere:example.org".to_owned());
            assert_eq!(
                room.check(&full(&version), &[]),
                Err("auth_events.other_room"),
                "v{}",
                version.id
            );
        }
    }

    #[test]
    fn missing_sender_membership_among_auth_events_rejects_the_message() {
        for version in RoomVersion::ALL {
            let room = Room::new(version);
            let auth: Vec<&str> = full(&version)
                .into_iter()
                .filter(|id| *id != "$bob_join")
                .collect();
            assert_eq!(
                room.check(&auth, &[]),
                Err("sender.not_joined"),
                "v{}",
                version.id
            );
        }
    }
}
