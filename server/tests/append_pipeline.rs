//! The append pipeline under concurrent sends: events are built one after another and
//! committed in groups, and what comes out must be what one-at-a-time appends would give — a
//! single chain, auth against events still waiting to commit, one event per transaction id.

mod common;

use std::{collections::HashSet, sync::Arc};

use rechain_server::{
    app,
    service::{ErrorKind, Services, accounts::AuthedUser, rooms::CreateRoomParams},
};
use serde_json::json;

async fn services() -> (Arc<Services>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = app::build_state(common::test_config(dir.path()))
        .await
        .unwrap();
    (state.services, dir)
}

async fn user(services: &Services, localpart: &str) -> AuthedUser {
    let user_id = services
        .accounts
        .create_user(localpart, None, false)
        .await
        .unwrap();
    AuthedUser {
        user_id,
        device_id: "DEV".into(),
        is_guest: false,
        client_ip: None,
    }
}

/// A public room of `creator` that `members` have joined.
async fn room(services: &Services, creator: &AuthedUser, members: &[&AuthedUser]) -> String {
    let params = CreateRoomParams {
        preset: Some("public_chat".into()),
        ..CreateRoomParams::default()
    };
    let room = services.rooms.create_room(creator, params).await.unwrap();
    for member in members {
        let id = member.user_id.to_string();
        services
            .rooms
            .set_membership(member, &room, &id, "join", None)
            .await
            .unwrap();
    }
    room
}

fn message(body: &str) -> serde_json::Value {
    json!({"msgtype": "m.text", "body": body})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_form_one_chain() {
    let (services, _dir) = services().await;
    let alice = user(&services, "alice").await;
    let bob = user(&services, "bob").await;
    let carol = user(&services, "carol").await;
    let room = room(&services, &alice, &[&bob, &carol]).await;
    let senders = [alice.clone(), bob.clone(), carol.clone()];
    let sends: Vec<_> = (0..60)
        .map(|i| {
            let services = services.clone();
            let sender = senders[i % 3].clone();
            let room = room.clone();
            tokio::spawn(async move {
                services
                    .rooms
                    .send(
                        &sender,
                        &room,
                        "m.room.message",
                        None,
                        message(&format!("m{i}")),
                        Some(format!("t{i}")),
                    )
                    .await
            })
        })
        .collect();
    let mut sent = HashSet::new();
    for send in sends {
        sent.insert(send.await.unwrap().unwrap());
    }
    assert_eq!(sent.len(), 60, "one event per send");

    let rooms = &services.stores.rooms;
    let head = rooms.room_head(&room).await.unwrap();
    assert_eq!(head.extremities.len(), 1, "no fork: {:?}", head.extremities);
    let events = rooms.room_events_after(&room, 0, 1000).await.unwrap();
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].json["prev_events"],
            json!([pair[0].event_id]),
            "each event follows the one committed before it"
        );
    }
    let messages: HashSet<String> = events
        .iter()
        .filter(|e| e.json["type"] == "m.room.message")
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(messages, sent);
    // Each member is notified of the 40 messages the two others sent.
    let head = services.stores.rooms.max_stream_ordering().await.unwrap();
    let unread = services
        .stores
        .notifications
        .unread_counts(&room, bob.user_id.as_str(), head)
        .await
        .unwrap()
        .total();
    assert_eq!(unread.notifications, 40);
}

/// A message built right after a power-levels change cites it as an auth event before it
/// has committed; the build reads it from the pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_authorised_against_events_still_waiting_to_commit() {
    let (services, _dir) = services().await;
    let alice = user(&services, "alice").await;
    let bob = user(&services, "bob").await;
    let room = room(&services, &alice, &[&bob]).await;
    for round in 0..20 {
        let levels = json!({"users": {bob.user_id.as_str(): round}});
        let (change, said) = tokio::join!(
            services.rooms.send(
                &alice,
                &room,
                "m.room.power_levels",
                Some(""),
                levels,
                Some(format!("pl{round}")),
            ),
            services.rooms.send(
                &bob,
                &room,
                "m.room.message",
                None,
                message("hi"),
                Some(format!("m{round}")),
            ),
        );
        change.unwrap();
        said.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_transaction_send_one_event() {
    let (services, _dir) = services().await;
    let alice = user(&services, "alice").await;
    let room = room(&services, &alice, &[]).await;
    let tries: Vec<_> = (0..10)
        .map(|_| {
            let services = services.clone();
            let alice = alice.clone();
            let room = room.clone();
            tokio::spawn(async move {
                services
                    .rooms
                    .send(
                        &alice,
                        &room,
                        "m.room.message",
                        None,
                        message("once"),
                        Some("same".into()),
                    )
                    .await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for attempt in tries {
        ids.insert(attempt.await.unwrap().unwrap());
    }
    assert_eq!(ids.len(), 1, "every retry answers with the first event");
    let events = services
        .stores
        .rooms
        .room_events_after(&room, 0, 1000)
        .await
        .unwrap();
    let bodies = events
        .iter()
        .filter(|e| e.json["content"]["body"] == "once")
        .count();
    assert_eq!(bodies, 1);
}

/// A group that fails to commit fails every send in it and every send built on it, leaves
/// nothing of them behind, and the next sends build on what the database holds. The failure
/// is a trigger refusing one event type, installed beside the running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_group_fails_what_was_built_on_it_and_nothing_else_is_lost() {
    use diesel::{Connection as _, connection::SimpleConnection as _, sqlite::SqliteConnection};

    let (services, dir) = services().await;
    let alice = user(&services, "alice").await;
    let bob = user(&services, "bob").await;
    let room = room(&services, &alice, &[&bob]).await;
    let db = dir.path().join("rechain.db");
    SqliteConnection::establish(db.to_str().unwrap())
        .unwrap()
        .batch_execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events
             WHEN NEW.event_type = 'm.poison'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();

    // Alone, a refused event fails its own send and the room goes on from before it.
    let refused = services
        .rooms
        .send(
            &alice,
            &room,
            "m.poison",
            None,
            json!({}),
            Some("p0".into()),
        )
        .await;
    assert!(refused.is_err(), "the refused event was acknowledged");
    let after = services
        .rooms
        .send(&bob, &room, "m.room.message", None, message("after"), None)
        .await
        .unwrap();

    // Among concurrent sends, every fifth is refused: whatever shares its group or was built
    // on it fails too, everything acknowledged is stored, and nothing else is.
    let sends: Vec<_> = (0..30)
        .map(|i| {
            let services = services.clone();
            let sender = if i % 2 == 0 {
                alice.clone()
            } else {
                bob.clone()
            };
            let room = room.clone();
            let event_type = if i % 5 == 0 {
                "m.poison"
            } else {
                "m.room.message"
            };
            tokio::spawn(async move {
                let sent = services
                    .rooms
                    .send(
                        &sender,
                        &room,
                        event_type,
                        None,
                        message(&format!("c{i}")),
                        Some(format!("c{i}")),
                    )
                    .await;
                (event_type, sent)
            })
        })
        .collect();
    let mut acknowledged = HashSet::from([after]);
    for send in sends {
        match send.await.unwrap() {
            ("m.poison", sent) => assert!(sent.is_err(), "a refused event was acknowledged"),
            (_, Ok(event_id)) => {
                acknowledged.insert(event_id);
            }
            (_, Err(_)) => {}
        }
    }
    let last = services
        .rooms
        .send(&alice, &room, "m.room.message", None, message("last"), None)
        .await
        .unwrap();
    acknowledged.insert(last);

    let rooms = &services.stores.rooms;
    let events = rooms.room_events_after(&room, 0, 1000).await.unwrap();
    let stored: HashSet<String> = events
        .iter()
        .filter(|e| e.json["type"] == "m.room.message")
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(
        stored, acknowledged,
        "stored messages are the acknowledged ones"
    );
    assert!(events.iter().all(|e| e.json["type"] != "m.poison"));
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].json["prev_events"],
            json!([pair[0].event_id]),
            "nothing stored cites an event that failed"
        );
    }
    let head = rooms.room_head(&room).await.unwrap();
    assert_eq!(head.extremities.len(), 1);
}

/// Room versions are kept once read; a room that does not exist is not found, every time,
/// and its failure leaves sends to a real room alone.
#[tokio::test]
async fn a_send_to_an_unknown_room_is_not_found() {
    let (services, _dir) = services().await;
    let alice = user(&services, "alice").await;
    let real = room(&services, &alice, &[]).await;
    for attempt in 0..2 {
        let refused = services
            .rooms
            .send(
                &alice,
                "!nowhere:localhost",
                "m.room.message",
                None,
                message("lost"),
                Some(format!("u{attempt}")),
            )
            .await
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NotFound, "attempt {attempt}");
        services
            .rooms
            .send(&alice, &real, "m.room.message", None, message("kept"), None)
            .await
            .unwrap();
    }
}
