//! The state section of a first sync, which is served from the event cache where it can be:
//! what a cold cache, a warm one and the cache-free paths send must be the same events, and
//! filters, projections and redactions must apply to cached events as to the others.

mod common;

use std::time::Duration;

use rechain_server::service::{Services, filter::SyncFilterDef, rooms::CreateRoomParams};
use serde_json::{Value, json};

/// A public room of alice's with bob and carol in it, a topic, an avatar (whose content has a
/// URL), a redacted name, and a last message: returns the room id.
async fn populated_room(services: &Services) -> String {
    for name in ["alice", "bob", "carol"] {
        services
            .accounts
            .create_user(name, None, false)
            .await
            .unwrap();
    }
    let alice = common::session("@alice:localhost");
    let params = CreateRoomParams {
        preset: Some("public_chat".into()),
        ..CreateRoomParams::default()
    };
    let room = services.rooms.create_room(&alice, params).await.unwrap();
    for name in ["bob", "carol"] {
        let member = common::session(&format!("@{name}:localhost"));
        let id = member.user_id.to_string();
        services
            .rooms
            .set_membership(&member, &room, &id, "join", None)
            .await
            .unwrap();
    }
    let rooms = &services.rooms;
    let set = |kind: &'static str, content: Value| {
        let alice = alice.clone();
        let room = room.clone();
        async move {
            rooms
                .send(&alice, &room, kind, Some(""), content, None)
                .await
                .unwrap()
        }
    };
    set("m.room.topic", json!({"topic": "cached or not"})).await;
    set("m.room.avatar", json!({"url": "mxc://localhost/avatar"})).await;
    let name = set("m.room.name", json!({"name": "to be redacted"})).await;
    rooms
        .redact(&alice, &room, &name, Some("test".into()), None)
        .await
        .unwrap();
    rooms
        .send(
            &alice,
            &room,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "last"}),
            None,
        )
        .await
        .unwrap();
    room
}

/// The room's state section in alice's first sync with `filter`.
async fn state_section(services: &Services, room: &str, filter: Value) -> Vec<Value> {
    let filter = SyncFilterDef::from_json(&filter);
    let response = services
        .sync
        .sync(
            &common::session("@alice:localhost"),
            None,
            Duration::ZERO,
            false,
            &filter,
        )
        .await
        .unwrap()
        .to_value();
    response["rooms"]["join"][room]["state"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn one_event_timeline() -> Value {
    json!({"room": {"timeline": {"limit": 1}}})
}

#[tokio::test]
async fn a_cold_cache_a_warm_one_and_the_uncached_format_send_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let services_before = common::services(dir.path()).await;
    let room = populated_room(&services_before).await;
    // Filled as the events were written.
    let warm = state_section(&services_before, &room, one_event_timeline()).await;
    drop(services_before);

    // A new process on the same data: nothing cached.
    let services = common::services(dir.path()).await;
    let cold = state_section(&services, &room, one_event_timeline()).await;
    let again = state_section(&services, &room, one_event_timeline()).await;
    assert_eq!(cold, warm);
    assert_eq!(again, warm);

    let kinds: Vec<(&str, &str)> = warm
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["state_key"].as_str().unwrap(),
            )
        })
        .collect();
    for wanted in [
        ("m.room.create", ""),
        ("m.room.member", "@bob:localhost"),
        ("m.room.topic", ""),
        ("m.room.avatar", ""),
        ("m.room.name", ""),
    ] {
        assert!(kinds.contains(&wanted), "{wanted:?} in {kinds:?}");
    }
    let name = warm.iter().find(|e| e["type"] == "m.room.name").unwrap();
    assert_eq!(name["content"], json!({}), "{name}");
    assert_eq!(
        name["unsigned"]["redacted_because"]["type"], "m.room.redaction",
        "{name}"
    );
    for event in &warm {
        assert!(event.get("room_id").is_none(), "{event}");
        assert!(event.get("signatures").is_none(), "{event}");
        assert!(event["event_id"].is_string(), "{event}");
    }

    // The projection path builds every event anew: apart from the fields it drops (it keeps
    // those the client-event schema requires), the same.
    let projected = state_section(
        &services,
        &room,
        json!({"event_fields": ["type", "state_key", "content"], "room": {"timeline": {"limit": 1}}}),
    )
    .await;
    let kept = [
        "type",
        "state_key",
        "content",
        "event_id",
        "sender",
        "origin_server_ts",
    ];
    let expected: Vec<Value> = warm
        .iter()
        .map(|e| {
            let fields = e.as_object().unwrap();
            Value::Object(
                fields
                    .iter()
                    .filter(|(k, _)| kept.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(projected, expected);
    assert!(projected.iter().all(|e| e.get("unsigned").is_none()));
}

#[tokio::test]
async fn state_filters_apply_to_cached_events() {
    let dir = tempfile::tempdir().unwrap();
    let services = common::services(dir.path()).await;
    let room = populated_room(&services).await;
    let ids = |events: Vec<Value>| -> Vec<(String, String)> {
        events
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_owned(),
                    e["state_key"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let with_url = state_section(
        &services,
        &room,
        json!({"room": {"timeline": {"limit": 1}, "state": {"contains_url": true}}}),
    )
    .await;
    assert_eq!(ids(with_url), vec![("m.room.avatar".into(), "".into())]);

    let members_not_by_bob = state_section(
        &services,
        &room,
        json!({"room": {"timeline": {"limit": 1}, "state": {
            "types": ["m.room.member"], "not_senders": ["@bob:localhost"]}}}),
    )
    .await;
    assert_eq!(
        ids(members_not_by_bob),
        vec![
            ("m.room.member".into(), "@alice:localhost".into()),
            ("m.room.member".into(), "@carol:localhost".into()),
        ]
    );

    let lazy = state_section(
        &services,
        &room,
        json!({"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": true}}}),
    )
    .await;
    let members: Vec<String> = ids(lazy)
        .into_iter()
        .filter(|(t, _)| t == "m.room.member")
        .map(|(_, k)| k)
        .collect();
    assert_eq!(members, vec!["@alice:localhost".to_owned()]);
}

#[tokio::test]
async fn the_federation_format_is_never_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let services = common::services(dir.path()).await;
    let room = populated_room(&services).await;
    let pdus = state_section(
        &services,
        &room,
        json!({"event_format": "federation", "room": {"timeline": {"limit": 1}}}),
    )
    .await;
    assert!(!pdus.is_empty());
    for pdu in &pdus {
        assert!(pdu["signatures"].is_object(), "{pdu}");
        assert!(pdu["auth_events"].is_array(), "{pdu}");
        // A version-12 create event names no room: the room id is derived from it.
        if pdu["type"] != "m.room.create" {
            assert_eq!(pdu["room_id"], room.as_str(), "{pdu}");
        }
    }
}
