//! Incremental syncs skip what they know did not change: rooms without events since the
//! token, receipts and account data whose streams stayed put, a to-device queue with nothing
//! past the device's position, and a whole build when no stream moved. Each skip must still
//! leave the response what it would be without it.

mod common;

use std::{collections::BTreeMap, time::Duration};

use rechain_server::{
    service::{
        Services, accounts::AuthedUser, filter::SyncFilterDef, rooms::CreateRoomParams,
        sync::SyncResponse,
    },
    storage::Device,
};
use serde_json::{Value, json};

/// Alice and bob, and `count` rooms of alice's that bob has joined.
async fn rooms_of_two(services: &Services, count: usize) -> (AuthedUser, AuthedUser, Vec<String>) {
    for name in ["alice", "bob"] {
        services
            .accounts
            .create_user(name, None, false)
            .await
            .unwrap();
    }
    let (alice, bob) = (
        common::session("@alice:localhost"),
        common::session("@bob:localhost"),
    );
    let mut rooms = Vec::new();
    for _ in 0..count {
        let params = CreateRoomParams {
            preset: Some("public_chat".into()),
            ..CreateRoomParams::default()
        };
        let room = services.rooms.create_room(&alice, params).await.unwrap();
        let id = bob.user_id.to_string();
        services
            .rooms
            .set_membership(&bob, &room, &id, "join", None)
            .await
            .unwrap();
        rooms.push(room);
    }
    (alice, bob, rooms)
}

async fn say(services: &Services, who: &AuthedUser, room: &str, body: &str) -> String {
    services
        .rooms
        .send(
            who,
            room,
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": body}),
            None,
        )
        .await
        .unwrap()
}

async fn sync(
    services: &Services,
    who: &AuthedUser,
    since: Option<&str>,
    timeout: Duration,
) -> SyncResponse {
    services
        .sync
        .sync(who, since, timeout, false, &SyncFilterDef::default())
        .await
        .unwrap()
}

fn next_batch(response: &SyncResponse) -> String {
    response.body()["next_batch"].as_str().unwrap().to_owned()
}

fn joined(response: &SyncResponse) -> Vec<String> {
    let mut rooms: Vec<String> = response.body()["rooms"]["join"]
        .as_object()
        .map(|rooms| rooms.keys().cloned().collect())
        .unwrap_or_default();
    rooms.sort();
    rooms
}

fn bodies(response: &SyncResponse, room: &str) -> Vec<String> {
    response.body()["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn only_rooms_with_news_are_listed_and_their_events_all_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let services = common::services(dir.path()).await;
    let (alice, bob, rooms) = rooms_of_two(&services, 5).await;
    let since = next_batch(&sync(&services, &bob, None, Duration::ZERO).await);
    say(&services, &alice, &rooms[1], "one").await;
    say(&services, &alice, &rooms[3], "three").await;
    say(&services, &alice, &rooms[1], "one again").await;

    let response = sync(&services, &bob, Some(&since), Duration::ZERO).await;
    let mut expected = vec![rooms[1].clone(), rooms[3].clone()];
    expected.sort();
    assert_eq!(joined(&response), expected);
    assert_eq!(bodies(&response, &rooms[1]), ["one", "one again"]);
    assert_eq!(bodies(&response, &rooms[3]), ["three"]);
    assert_eq!(
        response.body()["rooms"]["join"][&rooms[1]]["unread_notifications"]["notification_count"],
        2
    );

    // A receipt is news for its room even with no event in it since the token.
    let since = next_batch(&response);
    let read = say(&services, &alice, &rooms[0], "read me").await;
    let since_read = next_batch(&sync(&services, &bob, Some(&since), Duration::ZERO).await);
    services
        .rooms
        .post_receipt(&bob, &rooms[0], "m.read", &read, None)
        .await
        .unwrap();
    let response = sync(&services, &bob, Some(&since_read), Duration::ZERO).await;
    assert_eq!(joined(&response), [rooms[0].clone()]);
    let ephemeral = &response.body()["rooms"]["join"][&rooms[0]]["ephemeral"]["events"];
    assert_eq!(ephemeral[0]["type"], "m.receipt", "{ephemeral}");
    assert!(bodies(&response, &rooms[0]).is_empty());
}

/// A token further behind than one statement is allowed to scan: each room is asked on its
/// own, and nothing is missed.
#[tokio::test]
async fn a_token_far_behind_still_gets_every_room_with_news() {
    let dir = tempfile::tempdir().unwrap();
    let services = common::services(dir.path()).await;
    let (alice, bob, rooms) = rooms_of_two(&services, 3).await;
    let since = next_batch(&sync(&services, &bob, None, Duration::ZERO).await);
    for i in 0..1010 {
        say(&services, &alice, &rooms[0], &format!("busy {i}")).await;
    }
    // Past the first thousand events since the token: a scan cut short would miss it.
    say(&services, &alice, &rooms[2], "late").await;
    let response = sync(&services, &bob, Some(&since), Duration::ZERO).await;
    let mut expected = vec![rooms[0].clone(), rooms[2].clone()];
    expected.sort();
    assert_eq!(joined(&response), expected);
    assert_eq!(bodies(&response, &rooms[2]), ["late"]);
    let busy = &response.body()["rooms"]["join"][&rooms[0]]["timeline"];
    assert_eq!(busy["limited"], true);
    assert_eq!(bodies(&response, &rooms[0]).last().unwrap(), "busy 1009");
}

/// A long-poll whose token is at every stream's head waits without building a response,
/// then wakes for a to-device message to its device, and for nothing addressed elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_long_poll_wakes_for_its_to_device_message() {
    let dir = tempfile::tempdir().unwrap();
    let services = common::services(dir.path()).await;
    let (alice, bob, _rooms) = rooms_of_two(&services, 1).await;
    for device in ["DEV", "OTHER"] {
        let device = Device {
            user_id: bob.user_id.clone(),
            device_id: device.into(),
            display_name: None,
            created_ts: 1,
            last_seen_ts: None,
            last_seen_ip: None,
        };
        let token = format!("hash-of-{}", device.device_id);
        services
            .stores
            .devices
            .create_device_with_token(device, token, None)
            .await
            .unwrap();
    }
    let since = next_batch(&sync(&services, &bob, None, Duration::ZERO).await);

    // Nothing moves: the poll ends at its timeout with an empty response at the same token.
    let idle = sync(&services, &bob, Some(&since), Duration::from_millis(200)).await;
    assert_eq!(next_batch(&idle), since);
    assert!(idle.body().get("rooms").is_none() && idle.body().get("to_device").is_none());
    assert!(idle.body().get("device_one_time_keys_count").is_some());

    let waiting = {
        let (services, bob, since) = (services.clone(), bob.clone(), since.clone());
        tokio::spawn(
            async move { sync(&services, &bob, Some(&since), Duration::from_secs(20)).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let to = |user: &str, device: &str| {
        BTreeMap::from([(
            user.to_owned(),
            BTreeMap::from([(device.to_owned(), json!({"n": 1}))]),
        )])
    };
    // Another device's message moves the queue's head, but gives bob's device nothing.
    services
        .to_device
        .send(&alice, "m.test", "t1", to("@bob:localhost", "OTHER"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "answered for another device's message"
    );
    services
        .to_device
        .send(&alice, "m.test", "t2", to("@bob:localhost", "DEV"))
        .await
        .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the poll wakes")
        .unwrap();
    let messages: &Value = &woken.body()["to_device"]["events"];
    assert_eq!(messages.as_array().map(Vec::len), Some(1), "{messages}");
    assert_eq!(messages[0]["content"]["n"], 1);

    // Acknowledged by the next token, the message is not given again.
    let after = sync(&services, &bob, Some(&next_batch(&woken)), Duration::ZERO).await;
    assert!(after.body().get("to_device").is_none());
}
