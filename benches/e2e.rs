//! End-to-end benchmarks through the service layer on a real SQLite database in a temporary
//! directory (no HTTP): one message from send to committed, the initial sync of a user in
//! 100 rooms, and that user's incremental sync when one of the rooms has news. A change that slows the send path or sync assembly shows up here before it
//! shows up in `rechain-load`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rechain_server::{
    app,
    config::Config,
    service::{Services, accounts::AuthedUser, filter::SyncFilterDef, rooms::CreateRoomParams},
};
use serde_json::json;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    services: std::sync::Arc<Services>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.data_dir = dir.path().to_path_buf();
    config.rate_limits.enabled = false;
    let state = runtime.block_on(app::build_state(config)).unwrap();
    Fixture {
        runtime,
        services: state.services,
        _dir: dir,
    }
}

fn user(fixture: &Fixture, localpart: &str) -> AuthedUser {
    let user_id = fixture
        .runtime
        .block_on(
            fixture
                .services
                .accounts
                .create_user(localpart, None, false),
        )
        .unwrap();
    AuthedUser {
        user_id,
        device_id: "BENCH".into(),
        is_guest: false,
        client_ip: None,
    }
}

fn room(fixture: &Fixture, creator: &AuthedUser, members: &[AuthedUser]) -> String {
    fixture.runtime.block_on(async {
        let rooms = &fixture.services.rooms;
        let params = CreateRoomParams {
            preset: Some("public_chat".into()),
            ..CreateRoomParams::default()
        };
        let room = rooms.create_room(creator, params).await.unwrap();
        for member in members {
            let id = member.user_id.as_str();
            rooms
                .set_membership(member, &room, id, "join", None)
                .await
                .unwrap();
        }
        room
    })
}

fn send(c: &mut Criterion) {
    let fixture = fixture();
    let alice = user(&fixture, "alice");
    let mut group = c.benchmark_group("send_to_committed");
    for members in [2usize, 100] {
        let others: Vec<AuthedUser> = (1..members)
            .map(|i| user(&fixture, &format!("m{members}x{i}")))
            .collect();
        let room = room(&fixture, &alice, &others);
        let mut n = 0u64;
        group.bench_function(format!("{members}_members"), |b| {
            b.iter(|| {
                n += 1;
                fixture
                    .runtime
                    .block_on(fixture.services.rooms.send(
                        &alice,
                        &room,
                        "m.room.message",
                        None,
                        json!({"msgtype": "m.text", "body": "bench"}),
                        Some(format!("t{n}")),
                    ))
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn initial_sync(c: &mut Criterion) {
    let fixture = fixture();
    let bob = user(&fixture, "bob");
    let carol = user(&fixture, "carol");
    for i in 0..100 {
        let room = room(&fixture, &carol, std::slice::from_ref(&bob));
        fixture.runtime.block_on(async {
            for j in 0..10 {
                fixture
                    .services
                    .rooms
                    .send(
                        &carol,
                        &room,
                        "m.room.message",
                        None,
                        json!({"msgtype": "m.text", "body": format!("{i}/{j}")}),
                        None,
                    )
                    .await
                    .unwrap();
            }
        });
    }
    let filter = SyncFilterDef::default();
    // Serialised too: part of a response is written out from the event cache only then.
    c.bench_function("initial_sync/100_rooms", |b| {
        b.iter(|| {
            let response = fixture
                .runtime
                .block_on(
                    fixture
                        .services
                        .sync
                        .sync(&bob, None, Duration::ZERO, false, &filter),
                )
                .unwrap();
            serde_json::to_vec(&response).unwrap()
        })
    });
}

/// The sync a client's long-poll makes most often: one new message in one of the user's 100
/// rooms since its token. Every iteration asks the same question of the same data.
fn incremental_sync(c: &mut Criterion) {
    let fixture = fixture();
    let bob = user(&fixture, "bob");
    let carol = user(&fixture, "carol");
    let rooms: Vec<String> = (0..100)
        .map(|_| room(&fixture, &carol, std::slice::from_ref(&bob)))
        .collect();
    let filter = SyncFilterDef::default();
    let sync = |since: Option<&str>| {
        fixture
            .runtime
            .block_on(
                fixture
                    .services
                    .sync
                    .sync(&bob, since, Duration::ZERO, false, &filter),
            )
            .unwrap()
    };
    let since = sync(None).body()["next_batch"].as_str().unwrap().to_owned();
    fixture
        .runtime
        .block_on(fixture.services.rooms.send(
            &carol,
            &rooms[50],
            "m.room.message",
            None,
            json!({"msgtype": "m.text", "body": "news"}),
            None,
        ))
        .unwrap();
    let joined = |response: &rechain_server::service::sync::SyncResponse| {
        response.body()["rooms"]["join"]
            .as_object()
            .map_or(0, |rooms| rooms.len())
    };
    assert_eq!(joined(&sync(Some(&since))), 1, "only the room with news");
    c.bench_function("incremental_sync/1_of_100_rooms", |b| {
        b.iter(|| serde_json::to_vec(&sync(Some(&since))).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = send, initial_sync, incremental_sync
}
criterion_main!(benches);
