//! Store contract tests: written once against the traits, run on SQLite always and on
//! PostgreSQL when `REC_TEST_POSTGRES_URL` is set (each test gets a database of its own, dropped
//! afterwards). A set but unreachable URL fails the test rather than skipping it.

use ::diesel::{Connection as _, PgConnection, RunQueryDsl as _};
use ruma::{OwnedUserId, user_id};

use super::{Backend, Database};
use crate::{
    config::DatabaseUrl,
    storage::{ErrorKind, NewUser, Stores},
};

struct TestDatabase {
    stores: Stores,
    db: Database,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg_drop
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = ::diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("test.db"));
    let db = Database::open(&url, 0).unwrap();
    TestDatabase {
        stores: db.clone().into_stores(),
        db,
        backend: Backend::Sqlite,
        _dir: Some(dir),
        pg_drop: None,
    }
}

fn postgres(admin_url: &str) -> TestDatabase {
    let name = format!(
        "rechain_test_{}_{:016x}",
        std::process::id(),
        rand::random::<u64>()
    );
    let mut admin = PgConnection::establish(admin_url)
        .unwrap_or_else(|e| panic!("REC_TEST_POSTGRES_URL={admin_url} is unreachable: {e}"));
    ::diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap();
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, ""), |(b, q)| (b, q));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    let mut url = format!("{prefix}/{name}");
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    let db = Database::open(&DatabaseUrl::Postgres(url), 4).unwrap();
    TestDatabase {
        stores: db.clone().into_stores(),
        db,
        backend: Backend::Postgres,
        _dir: None,
        pg_drop: Some((admin_url.to_owned(), name)),
    }
}

fn backends() -> Vec<TestDatabase> {
    let mut all = vec![sqlite()];
    if let Ok(url) = std::env::var("REC_TEST_POSTGRES_URL")
        && !url.is_empty()
    {
        all.push(postgres(&url));
    }
    all
}

fn new_user(id: &str) -> NewUser {
    NewUser {
        user_id: OwnedUserId::try_from(id).unwrap(),
        password_hash: Some("$argon2id$fake".to_owned()),
        is_guest: false,
        is_admin: false,
        created_ts: 1_700_000_000_000,
    }
}

#[tokio::test]
async fn created_user_is_read_back_with_every_field() {
    for t in backends() {
        let mut user = new_user("@alice:example.org");
        user.is_admin = true;
        t.stores.users.create_user(user).await.unwrap();
        let got = t
            .stores
            .users
            .get_user(user_id!("@alice:example.org"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.user_id, "@alice:example.org", "{:?}", t.backend);
        assert_eq!(got.password_hash.as_deref(), Some("$argon2id$fake"));
        assert!(got.is_admin && !got.is_guest && !got.deactivated);
        assert_eq!(got.created_ts, 1_700_000_000_000);
    }
}

#[tokio::test]
async fn missing_user_is_none() {
    for t in backends() {
        assert_eq!(
            t.stores
                .users
                .get_user(user_id!("@nobody:example.org"))
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn duplicate_user_is_a_conflict() {
    for t in backends() {
        t.stores
            .users
            .create_user(new_user("@bob:example.org"))
            .await
            .unwrap();
        let err = t
            .stores
            .users
            .create_user(new_user("@bob:example.org"))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict, "{:?}: {err}", t.backend);
        assert_eq!(t.stores.users.count_users().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn deactivation_clears_the_password_and_reports_missing_users() {
    for t in backends() {
        t.stores
            .users
            .create_user(new_user("@carol:example.org"))
            .await
            .unwrap();
        assert!(
            t.stores
                .users
                .deactivate_user(user_id!("@carol:example.org"))
                .await
                .unwrap()
        );
        let got = t
            .stores
            .users
            .get_user(user_id!("@carol:example.org"))
            .await
            .unwrap()
            .unwrap();
        assert!(got.deactivated);
        assert_eq!(got.password_hash, None);
        assert!(
            !t.stores
                .users
                .deactivate_user(user_id!("@dan:example.org"))
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn concurrent_writes_all_land() {
    for t in backends() {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let users = t.stores.users.clone();
                tokio::spawn(async move {
                    users
                        .create_user(new_user(&format!("@u{i}:example.org")))
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(
            t.stores.users.count_users().await.unwrap(),
            32,
            "{:?}",
            t.backend
        );
    }
}

#[tokio::test]
async fn health_ping_succeeds_and_pool_state_is_reported() {
    for t in backends() {
        t.stores.health.ping().await.unwrap();
        let state = t.stores.health.pool_state();
        assert!(state.max_size >= 1 && state.connections <= state.max_size);
        let expected = match t.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        assert_eq!(t.stores.health.backend_name(), expected);
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for t in backends() {
        assert_eq!(t.db.run_migrations().unwrap(), Vec::<String>::new());
    }
}

#[tokio::test]
async fn data_survives_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("reopen.db"));
    {
        let db = Database::open(&url, 0).unwrap();
        let stores = db.into_stores();
        stores
            .users
            .create_user(new_user("@erin:example.org"))
            .await
            .unwrap();
    }
    let stores = Database::open(&url, 0).unwrap().into_stores();
    assert!(
        stores
            .users
            .get_user(user_id!("@erin:example.org"))
            .await
            .unwrap()
            .is_some()
    );
}

#[test]
fn unreachable_postgres_is_reported_not_hung() {
    let url = DatabaseUrl::Postgres("postgres://nobody@127.0.0.1:1/none".to_owned());
    let err = Database::open(&url, 1)
        .err()
        .expect("port 1 has no PostgreSQL");
    assert_eq!(err.kind, ErrorKind::Unavailable);
}

fn device(user: &str, id: &str) -> crate::storage::Device {
    crate::storage::Device {
        user_id: OwnedUserId::try_from(user).unwrap(),
        device_id: id.into(),
        display_name: Some("phone".to_owned()),
        created_ts: 5,
        last_seen_ts: None,
        last_seen_ip: None,
    }
}

#[tokio::test]
async fn device_with_token_is_found_by_token_hash() {
    for t in backends() {
        t.stores
            .devices
            .create_device_with_token(device("@a:x", "DEV1"), "h1".into(), Some(99))
            .await
            .unwrap();
        let owner = t.stores.devices.find_token("h1").await.unwrap().unwrap();
        assert_eq!(
            (
                owner.user_id.as_str(),
                owner.device_id.as_str(),
                owner.expires_ts
            ),
            ("@a:x", "DEV1", Some(99))
        );
        assert_eq!(t.stores.devices.find_token("nope").await.unwrap(), None);
        let got = t
            .stores
            .devices
            .get_device(user_id!("@a:x"), "DEV1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.display_name.as_deref(), Some("phone"));
    }
}

/// Token lookups are cached (`token_cache`): each path that ends a session or changes what a
/// token opens must be seen by the very next lookup, even right after one that was answered.
#[tokio::test]
async fn a_token_looked_up_just_before_its_session_ends_is_refused_after() {
    for t in backends() {
        let devices = &t.stores.devices;
        let looked_up_twice = |hash: &'static str| {
            let devices = devices.clone();
            async move {
                let first = devices.find_token(hash).await.unwrap().unwrap();
                assert_eq!(devices.find_token(hash).await.unwrap(), Some(first.clone()));
                first
            }
        };
        devices
            .create_device_with_token(device("@a:x", "D1"), "h1".into(), None)
            .await
            .unwrap();
        looked_up_twice("h1").await;
        devices.delete_device(user_id!("@a:x"), "D1").await.unwrap();
        assert_eq!(devices.find_token("h1").await.unwrap(), None, "logout");

        devices
            .create_device_with_token(device("@a:x", "D2"), "h2".into(), None)
            .await
            .unwrap();
        looked_up_twice("h2").await;
        devices.delete_all_devices(user_id!("@a:x")).await.unwrap();
        assert_eq!(devices.find_token("h2").await.unwrap(), None, "logout/all");

        devices
            .create_device_with_token(device("@a:x", "D3"), "h3".into(), Some(10))
            .await
            .unwrap();
        devices
            .add_refresh_token("r3".into(), "h3".into(), 1)
            .await
            .unwrap();
        looked_up_twice("h3").await;
        devices
            .rotate_refresh_token("r3", "h4".into(), Some(20), "r4".into(), 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(devices.find_token("h3").await.unwrap(), None, "refresh");

        let mut guest = new_user("@guest:x");
        guest.is_guest = true;
        t.stores.users.create_user(guest).await.unwrap();
        devices
            .create_device_with_token(device("@guest:x", "G"), "hg".into(), None)
            .await
            .unwrap();
        assert!(looked_up_twice("hg").await.is_guest);
        assert!(
            t.stores
                .users
                .upgrade_guest(user_id!("@guest:x"), None)
                .await
                .unwrap()
        );
        let upgraded = devices.find_token("hg").await.unwrap().unwrap();
        assert!(!upgraded.is_guest, "a guest's upgrade is seen at once");
    }
}

#[tokio::test]
async fn logging_in_again_on_a_device_keeps_it_and_adds_a_token() {
    for t in backends() {
        let devices = &t.stores.devices;
        devices
            .create_device_with_token(device("@a:x", "DEV1"), "h1".into(), None)
            .await
            .unwrap();
        devices
            .create_device_with_token(device("@a:x", "DEV1"), "h2".into(), None)
            .await
            .unwrap();
        assert_eq!(
            devices.list_devices(user_id!("@a:x")).await.unwrap().len(),
            1
        );
        assert!(devices.find_token("h1").await.unwrap().is_some());
        assert!(devices.find_token("h2").await.unwrap().is_some());
        let err = devices
            .create_device_with_token(device("@a:x", "DEV2"), "h2".into(), None)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict, "a token hash is issued once");
    }
}

#[tokio::test]
async fn deleting_a_device_revokes_only_its_tokens() {
    for t in backends() {
        let devices = &t.stores.devices;
        devices
            .create_device_with_token(device("@a:x", "DEV1"), "h1".into(), None)
            .await
            .unwrap();
        devices
            .create_device_with_token(device("@a:x", "DEV2"), "h2".into(), None)
            .await
            .unwrap();
        devices
            .create_device_with_token(device("@b:x", "DEV1"), "h3".into(), None)
            .await
            .unwrap();
        assert!(
            devices
                .delete_device(user_id!("@a:x"), "DEV1")
                .await
                .unwrap()
        );
        assert!(
            !devices
                .delete_device(user_id!("@a:x"), "DEV1")
                .await
                .unwrap()
        );
        assert_eq!(devices.find_token("h1").await.unwrap(), None);
        assert!(devices.find_token("h2").await.unwrap().is_some());
        assert!(
            devices.find_token("h3").await.unwrap().is_some(),
            "another user's device is untouched"
        );
        assert_eq!(
            devices.delete_all_devices(user_id!("@a:x")).await.unwrap(),
            1
        );
        assert_eq!(devices.find_token("h2").await.unwrap(), None);
        assert!(devices.find_token("h3").await.unwrap().is_some());
        let listed = devices.list_devices(user_id!("@b:x")).await.unwrap();
        assert_eq!(listed.len(), 1);
    }
}

#[tokio::test]
async fn device_rename_and_password_change_touch_only_their_row() {
    for t in backends() {
        let devices = &t.stores.devices;
        devices
            .create_device_with_token(device("@a:x", "DEV1"), "h1".into(), None)
            .await
            .unwrap();
        devices
            .create_device_with_token(device("@b:x", "DEV1"), "h2".into(), None)
            .await
            .unwrap();
        assert!(
            devices
                .set_display_name(user_id!("@a:x"), "DEV1", Some("laptop".into()))
                .await
                .unwrap()
        );
        assert!(
            !devices
                .set_display_name(user_id!("@a:x"), "NOPE", None)
                .await
                .unwrap()
        );
        let a = devices
            .get_device(user_id!("@a:x"), "DEV1")
            .await
            .unwrap()
            .unwrap();
        let b = devices
            .get_device(user_id!("@b:x"), "DEV1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.display_name.as_deref(), b.display_name.as_deref()),
            (Some("laptop"), Some("phone"))
        );

        t.stores.users.create_user(new_user("@a:x")).await.unwrap();
        assert!(
            t.stores
                .users
                .set_password_hash(user_id!("@a:x"), Some("new".into()))
                .await
                .unwrap()
        );
        assert!(
            !t.stores
                .users
                .set_password_hash(user_id!("@zz:x"), None)
                .await
                .unwrap()
        );
        let user = t
            .stores
            .users
            .get_user(user_id!("@a:x"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.password_hash.as_deref(), Some("new"));
    }
}

#[tokio::test]
async fn profile_fields_are_set_replaced_listed_and_deleted() {
    for t in backends() {
        let profiles = &t.stores.profiles;
        let alice = user_id!("@alice:x");
        profiles
            .set_profile_field(alice, "displayname", serde_json::json!("Alice"))
            .await
            .unwrap();
        profiles
            .set_profile_field(alice, "displayname", serde_json::json!("Alice B"))
            .await
            .unwrap();
        profiles
            .set_profile_field(alice, "m.tz", serde_json::json!("Europe/Paris"))
            .await
            .unwrap();
        profiles
            .set_profile_field(user_id!("@bob:x"), "displayname", serde_json::json!("Bob"))
            .await
            .unwrap();
        let profile = profiles.get_profile(alice).await.unwrap();
        assert_eq!(profile.len(), 2);
        assert_eq!(profile["displayname"], "Alice B");
        assert_eq!(
            profiles.get_profile_field(alice, "m.tz").await.unwrap(),
            Some(serde_json::json!("Europe/Paris"))
        );
        assert!(profiles.delete_profile_field(alice, "m.tz").await.unwrap());
        assert!(!profiles.delete_profile_field(alice, "m.tz").await.unwrap());
        assert_eq!(
            profiles.get_profile_field(alice, "m.tz").await.unwrap(),
            None
        );
        assert_eq!(
            profiles
                .get_profile_field(user_id!("@bob:x"), "displayname")
                .await
                .unwrap(),
            Some(serde_json::json!("Bob"))
        );
    }
}

fn room_event(
    id: &str,
    event_type: &str,
    state_key: Option<&str>,
    membership: Option<&str>,
    depth: i64,
) -> crate::storage::NewEvent {
    crate::storage::NewEvent {
        event_id: id.to_owned(),
        room_id: "!r:x".to_owned(),
        depth,
        event_type: event_type.to_owned(),
        state_key: state_key.map(str::to_owned),
        sender: "@a:x".to_owned(),
        origin_server_ts: depth,
        membership: membership.map(str::to_owned),
        redacts: None,
        relation: None,
        notifications: Default::default(),
        json: match membership {
            Some(m) => serde_json::json!({"type": event_type, "content": {"membership": m}}),
            None => serde_json::json!({"type": event_type, "content": {}}),
        },
    }
}

/// A version-12 room created by @a:x.
async fn create_room(rooms: &std::sync::Arc<dyn crate::storage::RoomStore>, room_id: &str) {
    rooms
        .create_room(crate::storage::Room {
            room_id: room_id.into(),
            room_version: "12".into(),
            creator: "@a:x".into(),
            created_ts: 1,
        })
        .await
        .unwrap();
}

/// The latest committed position: what a sync's `now` would be.
async fn head(rooms: &std::sync::Arc<dyn crate::storage::RoomStore>) -> i64 {
    rooms.max_stream_ordering().await.unwrap()
}

/// A member event by `user` setting their membership.
fn membership_event(
    id: &str,
    user: &str,
    membership: &str,
    depth: i64,
) -> crate::storage::NewEvent {
    let mut event = room_event(id, "m.room.member", Some(user), Some(membership), depth);
    event.sender = user.to_owned();
    event
}

/// Only `user`'s push rules decided anything about the event.
fn notifying_only(user: &str, highlight: bool) -> crate::storage::Notifications {
    use crate::storage::{Notifications, Notify, PushAction};
    Notifications {
        everyone: Notify::No,
        exceptions: vec![PushAction {
            user_id: user.to_owned(),
            notify: if highlight {
                Notify::Highlight
            } else {
                Notify::Yes
            },
        }],
    }
}

#[tokio::test]
async fn the_rooms_with_events_in_a_span_are_found_unless_the_span_holds_too_many() {
    for t in backends() {
        let rooms = &t.stores.rooms;
        let mut positions = Vec::new();
        for (room, id) in [("!a:x", "$a1"), ("!b:x", "$b1"), ("!a:x", "$a2")] {
            if rooms.get_room(room).await.unwrap().is_none() {
                create_room(rooms, room).await;
            }
            let mut event = room_event(id, "m.room.message", None, None, 1);
            event.room_id = room.into();
            positions.push(rooms.append_event(event, vec![], None).await.unwrap());
        }
        let (p1, p2, p3) = (positions[0], positions[1], positions[2]);
        let found = |after, up_to, limit| async move {
            rooms
                .rooms_with_events_between(after, up_to, limit)
                .await
                .unwrap()
                .map(|set| {
                    let mut rooms: Vec<String> = set.into_iter().collect();
                    rooms.sort();
                    rooms
                })
        };
        assert_eq!(
            found(0, p3, 10).await,
            Some(vec!["!a:x".into(), "!b:x".into()])
        );
        assert_eq!(found(p1, p2, 10).await, Some(vec!["!b:x".into()]));
        assert_eq!(found(p2, p3, 10).await, Some(vec!["!a:x".into()]));
        assert_eq!(found(p3, p3 + 5, 10).await, Some(vec![]));
        assert_eq!(
            found(0, p3, 3).await.map(|r| r.len()),
            Some(2),
            "three events, limit three"
        );
        assert_eq!(found(0, p3, 2).await, None, "more events than the limit");
    }
}

#[tokio::test]
async fn appended_events_move_state_extremities_and_stream_order() {
    use crate::storage::TxnKey;
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!r:x").await;
        assert_eq!(rooms.max_stream_ordering().await.unwrap(), 0);
        assert_eq!(
            t.stores.streams.stream_heads().await.unwrap(),
            crate::storage::StreamHeads::default()
        );
        let s1 = rooms
            .append_event(
                room_event("$c", "m.room.create", Some(""), None, 1),
                vec![],
                None,
            )
            .await
            .unwrap();
        let s2 = rooms
            .append_event(
                room_event("$j", "m.room.member", Some("@a:x"), Some("join"), 2),
                vec!["$c".into()],
                None,
            )
            .await
            .unwrap();
        let txn = TxnKey {
            user_id: "@a:x".into(),
            device_id: "D".into(),
            txn_id: "t1".into(),
        };
        let s3 = rooms
            .append_event(
                room_event("$m", "m.room.message", None, None, 3),
                vec!["$j".into()],
                Some(txn.clone()),
            )
            .await
            .unwrap();
        assert!(s1 < s2 && s2 < s3, "{s1} {s2} {s3}");
        assert_eq!(rooms.max_stream_ordering().await.unwrap(), s3);
        assert_eq!(t.stores.streams.stream_heads().await.unwrap().events, s3);

        let head = rooms.room_head("!r:x").await.unwrap();
        assert_eq!(head.extremities, vec![("$m".to_owned(), 3)]);
        let mut state = head.state.clone();
        state.sort();
        assert_eq!(
            state,
            vec![
                ("m.room.create".to_owned(), String::new(), "$c".to_owned()),
                (
                    "m.room.member".to_owned(),
                    "@a:x".to_owned(),
                    "$j".to_owned()
                ),
            ]
        );
        assert_eq!(
            rooms.rooms_with_membership("@a:x", "join").await.unwrap(),
            vec!["!r:x".to_owned()]
        );
        assert_eq!(
            rooms.room_member("!r:x", "@a:x").await.unwrap(),
            Some(("join".to_owned(), "$j".to_owned()))
        );
        assert_eq!(rooms.room_member("!r:x", "@b:x").await.unwrap(), None);
        assert_eq!(
            rooms.event_for_txn(&txn).await.unwrap().as_deref(),
            Some("$m")
        );

        // Leaving replaces the member row; the transaction id cannot be reused.
        rooms
            .append_event(
                room_event("$l", "m.room.member", Some("@a:x"), Some("leave"), 4),
                vec!["$m".into()],
                None,
            )
            .await
            .unwrap();
        assert!(
            rooms
                .rooms_with_membership("@a:x", "join")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            rooms.room_member("!r:x", "@a:x").await.unwrap(),
            Some(("leave".to_owned(), "$l".to_owned()))
        );
        let reuse = rooms
            .append_event(
                room_event("$m2", "m.room.message", None, None, 5),
                vec!["$l".into()],
                Some(txn),
            )
            .await
            .unwrap_err();
        assert_eq!(reuse.kind, ErrorKind::Conflict);
        assert!(
            rooms.get_event("$m2").await.unwrap().is_none(),
            "a failed append leaves nothing behind"
        );
        let mut redaction = room_event("$r", "m.room.redaction", None, None, 6);
        redaction.redacts = Some("$m".to_owned());
        rooms
            .append_event(redaction, vec!["$l".into()], None)
            .await
            .unwrap();
        assert_eq!(
            rooms
                .redactions_of(vec!["$m".into(), "$j".into()])
                .await
                .unwrap(),
            vec![("$m".to_owned(), "$r".to_owned())]
        );
        let stored = rooms.get_event("$m").await.unwrap().unwrap();
        assert_eq!(
            (stored.room_id.as_str(), stored.stream_ordering),
            ("!r:x", s3)
        );
    }
}

#[tokio::test]
async fn filters_are_kept_per_user() {
    for t in backends() {
        let filters = &t.stores.filters;
        filters
            .save_filter(
                "@a:x",
                "1",
                serde_json::json!({"room": {"timeline": {"limit": 5}}}),
            )
            .await
            .unwrap();
        assert_eq!(
            filters.get_filter("@a:x", "1").await.unwrap().unwrap()["room"]["timeline"]["limit"],
            5
        );
        assert_eq!(
            filters.get_filter("@b:x", "1").await.unwrap(),
            None,
            "another user's filter id"
        );
        assert_eq!(
            filters
                .save_filter("@a:x", "1", serde_json::json!({}))
                .await
                .unwrap_err()
                .kind,
            ErrorKind::Conflict
        );
    }
}

#[tokio::test]
async fn receipts_replace_per_kind_and_stream_in_order() {
    use crate::storage::Receipt;
    for t in backends() {
        let receipts = &t.stores.receipts;
        let receipt = |user: &str, kind: &str, event: &str| Receipt {
            room_id: "!r:x".into(),
            user_id: user.into(),
            receipt_type: kind.into(),
            thread_id: String::new(),
            event_id: event.into(),
            ts: 7,
            stream_id: 0,
        };
        let a = receipts
            .put_receipt(receipt("@a:x", "m.read", "$1"))
            .await
            .unwrap();
        let b = receipts
            .put_receipt(receipt("@a:x", "m.read", "$2"))
            .await
            .unwrap();
        let c = receipts
            .put_receipt(receipt("@b:x", "m.read.private", "$1"))
            .await
            .unwrap();
        assert!(a < b && b < c);
        let all = receipts.receipts_after("!r:x", 0).await.unwrap();
        assert_eq!(all.len(), 2, "a's first receipt was replaced");
        assert_eq!(all[0].event_id, "$2");
        assert_eq!(receipts.receipts_after("!r:x", b).await.unwrap().len(), 1);
        assert_eq!(t.stores.streams.stream_heads().await.unwrap().receipts, c);
    }
}

#[tokio::test]
async fn account_data_replaces_per_type_and_room_and_streams_in_order() {
    for t in backends() {
        let data = &t.stores.account_data;
        let a = data
            .put_account_data("@a:x", "", "m.direct", &serde_json::json!({"v": 1}))
            .await
            .unwrap();
        let b = data
            .put_account_data("@a:x", "!r:x", "m.tag", &serde_json::json!({"tags": {}}))
            .await
            .unwrap();
        let c = data
            .put_account_data("@a:x", "", "m.direct", &serde_json::json!({"v": 2}))
            .await
            .unwrap();
        data.put_account_data("@b:x", "", "m.direct", &serde_json::json!({"v": 3}))
            .await
            .unwrap();
        assert!(a < b && b < c);
        assert_eq!(
            data.get_account_data("@a:x", "", "m.direct").await.unwrap(),
            Some(serde_json::json!({"v": 2}))
        );
        assert_eq!(
            data.get_account_data("@a:x", "!r:x", "m.direct")
                .await
                .unwrap(),
            None,
            "global and room data are apart"
        );
        let changed = data.account_data_after("@a:x", a).await.unwrap();
        let kinds: Vec<_> = changed
            .iter()
            .map(|d| (d.room_id.as_str(), d.data_type.as_str()))
            .collect();
        assert_eq!(kinds, vec![("!r:x", "m.tag"), ("", "m.direct")]);
        assert!(t.stores.streams.stream_heads().await.unwrap().account_data > c);
        let mut direct = data.users_with_account_data("m.direct").await.unwrap();
        direct.sort();
        assert_eq!(direct, vec!["@a:x", "@b:x"]);
        assert!(
            data.users_with_account_data("m.tag")
                .await
                .unwrap()
                .is_empty(),
            "room data is not global data"
        );
    }
}

#[tokio::test]
async fn aliases_are_unique_listed_per_room_and_deleted() {
    use crate::storage::RoomAlias;
    for t in backends() {
        let aliases = &t.stores.aliases;
        let alias = |name: &str, room: &str| RoomAlias {
            alias: name.into(),
            room_id: room.into(),
            creator: "@a:x".into(),
        };
        aliases.create_alias(alias("#b:x", "!r:x")).await.unwrap();
        aliases.create_alias(alias("#a:x", "!r:x")).await.unwrap();
        assert_eq!(
            aliases
                .create_alias(alias("#a:x", "!other:x"))
                .await
                .unwrap_err()
                .kind,
            ErrorKind::Conflict
        );
        assert_eq!(
            aliases.get_alias("#a:x").await.unwrap(),
            Some(alias("#a:x", "!r:x"))
        );
        assert_eq!(
            aliases.aliases_of_room("!r:x").await.unwrap(),
            vec!["#a:x".to_owned(), "#b:x".to_owned()]
        );
        assert!(aliases.delete_alias("#a:x").await.unwrap());
        assert!(!aliases.delete_alias("#a:x").await.unwrap());
        assert_eq!(aliases.get_alias("#a:x").await.unwrap(), None);
    }
}

#[tokio::test]
async fn rooms_are_published_and_unpublished_idempotently() {
    for t in backends() {
        let directory = &t.stores.directory;
        directory.set_published("!b:x", true).await.unwrap();
        directory.set_published("!a:x", true).await.unwrap();
        directory.set_published("!a:x", true).await.unwrap();
        assert!(directory.is_published("!a:x").await.unwrap());
        assert_eq!(
            directory.published_rooms().await.unwrap(),
            vec!["!a:x".to_owned(), "!b:x".to_owned()]
        );
        directory.set_published("!a:x", false).await.unwrap();
        directory.set_published("!a:x", false).await.unwrap();
        assert!(!directory.is_published("!a:x").await.unwrap());
        assert_eq!(
            directory.published_rooms().await.unwrap(),
            vec!["!b:x".to_owned()]
        );
    }
}

#[tokio::test]
async fn media_reservations_are_filled_once_and_thumbnails_kept_once() {
    use crate::storage::{MediaContentRef, MediaRecord, ThumbnailRecord};
    for t in backends() {
        let media = &t.stores.media;
        let reserved = |id: &str, expires: i64| MediaRecord {
            media_id: id.into(),
            uploader: "@a:x".into(),
            content_type: None,
            filename: None,
            sha256: None,
            size: 0,
            created_ts: 1,
            expires_ts: Some(expires),
        };
        media.create_media(reserved("m1", 100)).await.unwrap();
        media.create_media(reserved("m2", 50)).await.unwrap();
        assert_eq!(
            media
                .create_media(reserved("m1", 100))
                .await
                .unwrap_err()
                .kind,
            ErrorKind::Conflict
        );
        assert_eq!(media.count_pending_media("@a:x", 60).await.unwrap(), 1);
        assert_eq!(media.count_pending_media("@a:x", 10).await.unwrap(), 2);
        assert_eq!(media.count_pending_media("@b:x", 10).await.unwrap(), 0);
        let content = |hash: &str| MediaContentRef {
            content_type: Some("text/plain".into()),
            filename: Some("f.txt".into()),
            sha256: hash.into(),
            size: 3,
        };
        assert!(media.fill_media("m1", content("aa")).await.unwrap());
        assert!(!media.fill_media("m1", content("bb")).await.unwrap());
        assert!(!media.fill_media("missing", content("bb")).await.unwrap());
        let stored = media.get_media("m1").await.unwrap().unwrap();
        assert_eq!(stored.sha256.as_deref(), Some("aa"));
        assert_eq!(stored.expires_ts, None, "filled media no longer expires");
        assert_eq!(media.count_pending_media("@a:x", 10).await.unwrap(), 1);
        assert_eq!(media.get_media("missing").await.unwrap(), None);

        let thumb = |hash: &str| ThumbnailRecord {
            media_id: "m1".into(),
            width: 32,
            height: 32,
            method: "crop".into(),
            content_type: "image/png".into(),
            sha256: hash.into(),
            size: 10,
        };
        media.put_thumbnail(thumb("t1")).await.unwrap();
        media.put_thumbnail(thumb("t2")).await.unwrap();
        assert_eq!(
            media.get_thumbnail("m1", 32, 32, "crop").await.unwrap(),
            Some(thumb("t1")),
            "the first thumbnail stays"
        );
        assert_eq!(
            media.get_thumbnail("m1", 32, 32, "scale").await.unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn state_at_a_position_and_the_history_of_one_key() {
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!r:x").await;
        let mut orderings = Vec::new();
        let mut prev: Vec<String> = vec![];
        for (depth, (id, kind, key, membership)) in [
            ("$c", "m.room.create", Some(""), None),
            ("$j", "m.room.member", Some("@a:x"), Some("join")),
            ("$t1", "m.room.topic", Some(""), None),
            ("$m", "m.room.message", None, None),
            ("$l", "m.room.member", Some("@a:x"), Some("leave")),
            ("$t2", "m.room.topic", Some(""), None),
            ("$jb", "m.room.member", Some("@b:x"), Some("join")),
        ]
        .into_iter()
        .enumerate()
        {
            let ordering = rooms
                .append_event(
                    room_event(id, kind, key, membership, depth as i64 + 1),
                    prev.clone(),
                    None,
                )
                .await
                .unwrap();
            orderings.push(ordering);
            prev = vec![id.to_owned()];
        }
        let ids = |events: Vec<crate::storage::StoredEvent>| {
            let mut ids: Vec<String> = events.into_iter().map(|e| e.event_id).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(rooms.state_at("!r:x", orderings[3]).await.unwrap()),
            vec!["$c", "$j", "$t1"],
            "state after the message"
        );
        assert_eq!(
            ids(rooms.state_at("!r:x", i64::MAX).await.unwrap()),
            vec!["$c", "$jb", "$l", "$t2"],
            "current state"
        );
        let only = |user: &str| Some(vec![user.to_owned()]);
        assert_eq!(
            ids(rooms
                .state_at_with_members("!r:x", i64::MAX, only("@b:x"))
                .await
                .unwrap()),
            vec!["$c", "$jb", "$t2"],
            "current state with one member's event"
        );
        assert_eq!(
            ids(rooms
                .state_at_with_members("!r:x", orderings[3], only("@b:x"))
                .await
                .unwrap()),
            vec!["$c", "$t1"],
            "past state with one member's event: they had none yet"
        );
        assert!(rooms.state_at("!r:x", 0).await.unwrap().is_empty());
        let history = rooms
            .state_history("!r:x", "m.room.member", "@a:x")
            .await
            .unwrap();
        assert_eq!(
            history
                .iter()
                .map(|e| (e.event_id.as_str(), e.stream_ordering))
                .collect::<Vec<_>>(),
            vec![("$j", orderings[1]), ("$l", orderings[4])]
        );
        assert!(
            rooms
                .state_history("!other:x", "m.room.member", "@a:x")
                .await
                .unwrap()
                .is_empty()
        );
        let listed = |events: &[crate::storage::StoredEvent]| {
            events
                .iter()
                .map(|e| (e.event_id.clone(), e.stream_ordering))
                .collect::<Vec<_>>()
        };
        let (topics, member) = rooms
            .state_histories("!r:x", ("m.room.topic", ""), ("m.room.member", "@a:x"))
            .await
            .unwrap();
        assert_eq!(
            listed(&topics),
            [("$t1".into(), orderings[2]), ("$t2".into(), orderings[5])]
        );
        assert_eq!(
            listed(&member),
            listed(&history),
            "each key's own, oldest first"
        );
        let (none, member_b) = rooms
            .state_histories("!r:x", ("m.room.name", ""), ("m.room.member", "@b:x"))
            .await
            .unwrap();
        assert!(none.is_empty());
        assert_eq!(listed(&member_b), [("$jb".into(), orderings[6])]);
    }
}

#[tokio::test]
async fn state_refs_name_each_key_with_its_redaction_and_events_are_read_by_id() {
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!r:x").await;
        let mut prev: Vec<String> = vec![];
        let mut orderings = Vec::new();
        for (depth, (id, kind, key, membership)) in [
            ("$c", "m.room.create", Some(""), None),
            ("$j", "m.room.member", Some("@a:x"), Some("join")),
            ("$t1", "m.room.topic", Some(""), None),
            ("$jb", "m.room.member", Some("@b:x"), Some("join")),
            ("$r", "m.room.redaction", None, None),
            ("$r2", "m.room.redaction", None, None),
        ]
        .into_iter()
        .enumerate()
        {
            let mut event = room_event(id, kind, key, membership, depth as i64 + 1);
            // Both redactions redact the topic: a listing still names the key once.
            if kind == "m.room.redaction" {
                event.redacts = Some("$t1".into());
            }
            orderings.push(rooms.append_event(event, prev.clone(), None).await.unwrap());
            prev = vec![id.to_owned()];
        }
        let listing = |refs: Vec<crate::storage::StateRef>| {
            refs.into_iter()
                .map(|r| {
                    (
                        r.event_type,
                        r.state_key,
                        r.event_id,
                        r.redacted_by.is_some(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let row = |t: &str, k: &str, id: &str, redacted: bool| {
            (t.to_owned(), k.to_owned(), id.to_owned(), redacted)
        };
        assert_eq!(
            listing(rooms.state_refs_at("!r:x", i64::MAX, None).await.unwrap()),
            vec![
                row("m.room.create", "", "$c", false),
                row("m.room.member", "@a:x", "$j", false),
                row("m.room.member", "@b:x", "$jb", false),
                row("m.room.topic", "", "$t1", true),
            ],
            "current state, by type and key"
        );
        assert_eq!(
            listing(
                rooms
                    .state_refs_at("!r:x", orderings[2], Some(vec!["@b:x".into()]))
                    .await
                    .unwrap()
            ),
            vec![
                row("m.room.create", "", "$c", false),
                row("m.room.topic", "", "$t1", true),
            ],
            "a past position, with one member who had not joined yet"
        );
        assert_eq!(
            listing(
                rooms
                    .state_refs_at("!r:x", i64::MAX, Some(vec!["@b:x".into()]))
                    .await
                    .unwrap()
            ),
            vec![
                row("m.room.create", "", "$c", false),
                row("m.room.member", "@b:x", "$jb", false),
                row("m.room.topic", "", "$t1", true),
            ],
            "current state, with one member"
        );
        assert_eq!(
            listing(
                rooms
                    .state_refs_at("!r:x", orderings[1], None)
                    .await
                    .unwrap()
            ),
            vec![
                row("m.room.create", "", "$c", false),
                row("m.room.member", "@a:x", "$j", false),
            ],
            "a past position, every member"
        );
        let refs = rooms.state_refs_at("!r:x", i64::MAX, None).await.unwrap();
        let topic = refs.iter().find(|r| r.event_id == "$t1").unwrap();
        assert!(matches!(topic.redacted_by.as_deref(), Some("$r" | "$r2")));
        assert_eq!(topic.stream_ordering, orderings[2]);

        let mut found = rooms
            .events_by_ids(vec!["$jb".into(), "$nope".into(), "$c".into()])
            .await
            .unwrap();
        found.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        assert_eq!(
            found
                .iter()
                .map(|e| (
                    e.event_id.as_str(),
                    e.stream_ordering,
                    e.json["type"].as_str()
                ))
                .collect::<Vec<_>>(),
            vec![
                ("$c", orderings[0], Some("m.room.create")),
                ("$jb", orderings[3], Some("m.room.member")),
            ]
        );
        assert!(rooms.events_by_ids(vec![]).await.unwrap().is_empty());
    }
}

/// The relations migration fills its table from events stored before it existed; its SQL is
/// written once per backend, so both are run here on real rows.
#[tokio::test]
async fn relations_of_events_stored_before_the_relations_table_are_backfilled() {
    use ::diesel::connection::SimpleConnection as _;
    use diesel_migrations::MigrationHarness as _;

    use super::{DbConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    for t in backends() {
        let db = t.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.pool.get().unwrap();
            // Back to just before the relations migration, however many came after it.
            const RELATIONS_MIGRATION: &str = "20261126000013";
            for _ in 0..100 {
                let reverted = match &mut *conn {
                    DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS),
                    DbConnection::Postgres(c) => c.revert_last_migration(POSTGRES_MIGRATIONS),
                }
                .unwrap()
                .to_string();
                if reverted == RELATIONS_MIGRATION {
                    break;
                }
            }
            conn.batch_execute(
                r#"INSERT INTO events (event_id, room_id, stream_ordering, depth, event_type, state_key, sender, origin_server_ts, json) VALUES
                ('$target', '!r:x', 1, 1, 'm.room.message', NULL, '@a:x', 10, '{"type":"m.room.message","content":{"body":"hi"}}'),
                ('$like', '!r:x', 2, 2, 'm.reaction', NULL, '@b:x', 20, '{"type":"m.reaction","content":{"m.relates_to":{"rel_type":"m.annotation","event_id":"$target","key":"+1"}}}'),
                ('$reply', '!r:x', 3, 3, 'm.room.message', NULL, '@b:x', 30, '{"type":"m.room.message","content":{"m.relates_to":{"m.in_reply_to":{"event_id":"$target"}}}}'),
                ('$gone', '!r:x', 4, 4, 'm.reaction', NULL, '@b:x', 40, '{"type":"m.reaction","content":{"m.relates_to":{"rel_type":"m.annotation","event_id":"$target","key":"-1"}}}'),
                ('$odd', '!r:x', 5, 5, 'm.room.message', NULL, '@b:x', 50, '{"type":"m.room.message","content":{"m.relates_to":"not an object"}}'),
                ('$red', '!r:x', 6, 6, 'm.room.redaction', NULL, '@b:x', 60, '{"type":"m.room.redaction","redacts":"$gone","content":{}}');
                INSERT INTO redactions (event_id, redacts) VALUES ('$red', '$gone');"#,
            )
            .unwrap();
        })
        .await
        .unwrap();
        t.db.run_migrations().unwrap();
        let rows = t
            .stores
            .relations
            .relations_to(vec!["$target".into()])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(
            (
                row.event_id.as_str(),
                row.rel_type.as_str(),
                row.aggregation_key.as_deref(),
                row.sender.as_str(),
                row.origin_server_ts,
                row.stream_ordering
            ),
            ("$like", "m.annotation", Some("+1"), "@b:x", 20, 2)
        );
    }
}

#[tokio::test]
async fn unread_counts_are_push_actions_after_the_latest_read_receipt() {
    use crate::storage::{Receipt, UnreadCounts};
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!r:x").await;
        let join = membership_event("$join", "@b:x", "join", 1);
        rooms.append_event(join, vec![], None).await.unwrap();
        let mut prev: Vec<String> = vec!["$join".into()];
        for (depth, (id, highlight)) in [("$1", false), ("$2", true), ("$3", false)]
            .into_iter()
            .enumerate()
        {
            let mut event = room_event(id, "m.room.message", None, None, depth as i64 + 2);
            event.notifications = notifying_only("@b:x", highlight);
            rooms.append_event(event, prev.clone(), None).await.unwrap();
            prev = vec![id.to_owned()];
        }
        let counts = |user: &'static str| {
            let notifications = t.stores.notifications.clone();
            async move {
                notifications
                    .unread_counts("!r:x", user, head(rooms).await)
                    .await
                    .unwrap()
                    .total()
            }
        };
        assert_eq!(
            counts("@b:x").await,
            UnreadCounts {
                notifications: 3,
                highlights: 1
            }
        );
        assert_eq!(counts("@a:x").await, UnreadCounts::default());
        let receipt = |kind: &str, event: &str| Receipt {
            room_id: "!r:x".into(),
            user_id: "@b:x".into(),
            receipt_type: kind.into(),
            thread_id: String::new(),
            event_id: event.into(),
            ts: 1,
            stream_id: 0,
        };
        t.stores
            .receipts
            .put_receipt(receipt("m.read.private", "$2"))
            .await
            .unwrap();
        assert_eq!(
            counts("@b:x").await,
            UnreadCounts {
                notifications: 1,
                highlights: 0
            },
            "a private receipt reads too"
        );
        // An older public receipt does not move the position back.
        t.stores
            .receipts
            .put_receipt(receipt("m.read", "$1"))
            .await
            .unwrap();
        assert_eq!(counts("@b:x").await.notifications, 1);
    }
}

#[tokio::test]
async fn reports_are_kept_in_order_with_what_they_name() {
    use crate::storage::Report;
    for t in backends() {
        let report = |room: Option<&str>, event: Option<&str>, user: Option<&str>| Report {
            reporter: "@a:x".into(),
            room_id: room.map(str::to_owned),
            event_id: event.map(str::to_owned),
            user_id: user.map(str::to_owned),
            reason: "why".into(),
            ts: 5,
        };
        let first = report(Some("!r:x"), Some("$e"), None);
        let second = report(None, None, Some("@b:x"));
        t.stores.reports.add_report(first.clone()).await.unwrap();
        t.stores.reports.add_report(second.clone()).await.unwrap();
        assert_eq!(
            t.stores.reports.reports().await.unwrap(),
            vec![first, second]
        );
    }
}

#[tokio::test]
async fn refresh_tokens_stay_valid_until_their_successor_is_used() {
    for t in backends() {
        let devices = &t.stores.devices;
        devices
            .create_device_with_token(device("@a:x", "D1"), "access1".into(), Some(10))
            .await
            .unwrap();
        devices
            .add_refresh_token("refresh1".into(), "access1".into(), 1)
            .await
            .unwrap();
        let rotate = |old: &'static str, access: &'static str, refresh: &'static str| {
            let devices = devices.clone();
            async move {
                devices
                    .rotate_refresh_token(old, access.into(), Some(20), refresh.into(), 2)
                    .await
                    .unwrap()
            }
        };
        let owner = rotate("refresh1", "access2", "refresh2")
            .await
            .expect("a known refresh token rotates");
        assert_eq!(owner.device_id.as_str(), "D1");
        assert_eq!(devices.find_token("access1").await.unwrap(), None);
        let fresh = devices.find_token("access2").await.unwrap().unwrap();
        assert_eq!(fresh.expires_ts, Some(20));
        assert!(
            fresh.retires_refresh,
            "a refreshed token's first use is pending"
        );

        // The answer was lost: the same token again replaces the unused successor pair.
        assert!(rotate("refresh1", "access2b", "refresh2b").await.is_some());
        assert_eq!(devices.find_token("access2").await.unwrap(), None);
        assert!(
            rotate("refresh2", "x", "y").await.is_none(),
            "the replaced successor"
        );
        // Using the new access token retires the old refresh token.
        devices.retire_refreshed("access2b").await.unwrap();
        assert!(
            !devices
                .find_token("access2b")
                .await
                .unwrap()
                .unwrap()
                .retires_refresh
        );
        assert!(
            rotate("refresh1", "x", "y").await.is_none(),
            "the new access token was used"
        );

        // Using the new refresh token retires the old one too.
        assert!(rotate("refresh2b", "access3", "refresh3").await.is_some());
        assert!(rotate("refresh3", "access4", "refresh4").await.is_some());
        assert!(
            rotate("refresh2b", "x", "y").await.is_none(),
            "the new refresh token was used"
        );

        devices.delete_device(user_id!("@a:x"), "D1").await.unwrap();
        assert!(
            rotate("refresh4", "x", "y").await.is_none(),
            "logging the device out ends its refresh token"
        );
    }
}

#[tokio::test]
async fn to_device_messages_queue_once_per_transaction_and_go_when_acknowledged() {
    use crate::storage::ToDeviceMessage;
    for t in backends() {
        let store = &t.stores.to_device;
        let message = |n: i64| ToDeviceMessage {
            user_id: "@b:x".into(),
            device_id: "D".into(),
            sender: "@a:x".into(),
            event_type: "m.test".into(),
            content: serde_json::json!({ "n": n }),
        };
        assert!(
            store
                .queue_to_device("@a:x", "A", "t1", vec![message(1), message(2)])
                .await
                .unwrap()
        );
        assert!(
            !store
                .queue_to_device("@a:x", "A", "t1", vec![message(3)])
                .await
                .unwrap(),
            "a reused transaction id queues nothing"
        );
        let queued = store.to_device_after("@b:x", "D", 0, 10).await.unwrap();
        assert_eq!(queued.len(), 2);
        assert_eq!(queued[0].content, serde_json::json!({"n": 1}));
        assert!(
            store
                .to_device_after("@b:x", "OTHER", 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .ack_to_device("@b:x", "D", queued[0].stream_id)
            .await
            .unwrap();
        let left = store.to_device_after("@b:x", "D", 0, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].content, serde_json::json!({"n": 2}));
        let head = || async { t.stores.streams.stream_heads().await.unwrap().to_device };
        assert_eq!(head().await, left[0].stream_id);
        store
            .ack_to_device("@b:x", "D", left[0].stream_id)
            .await
            .unwrap();
        assert_eq!(head().await, 0, "nothing queued");
        // A message queued after the queue emptied is numbered past every earlier one, so a
        // token at the old head does not hide it.
        store
            .queue_to_device("@a:x", "A", "t2", vec![message(4)])
            .await
            .unwrap();
        assert!(head().await > left[0].stream_id);
    }
}

#[tokio::test]
async fn one_time_keys_are_claimed_once_and_the_fallback_key_last() {
    use crate::storage::StoredKey;
    for t in backends() {
        let keys = &t.stores.keys;
        let key = |id: &str| StoredKey {
            algorithm: "signed_curve25519".into(),
            key_id: id.into(),
            key: serde_json::json!({ "key": id }),
        };
        keys.add_one_time_keys("@b:x", "D", vec![key("a"), key("b")])
            .await
            .unwrap();
        // A repeated key id keeps the first upload.
        keys.add_one_time_keys(
            "@b:x",
            "D",
            vec![StoredKey {
                key: serde_json::json!({"key": "changed"}),
                ..key("a")
            }],
        )
        .await
        .unwrap();
        keys.put_fallback_keys("@b:x", "D", vec![key("fb")])
            .await
            .unwrap();
        let other = |id: &str| StoredKey {
            algorithm: "other_algorithm".into(),
            ..key(id)
        };
        keys.add_one_time_keys("@b:x", "D", vec![other("o")])
            .await
            .unwrap();
        keys.put_fallback_keys("@b:x", "D", vec![other("ofb")])
            .await
            .unwrap();
        let counts = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(a, n)| (a.to_string(), *n))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let both = counts(&[("other_algorithm", 1), ("signed_curve25519", 2)]);
        assert_eq!(keys.one_time_key_counts("@b:x", "D").await.unwrap(), both);
        assert_eq!(
            keys.key_counts_for_sync("@b:x", "D").await.unwrap(),
            (
                both,
                vec!["other_algorithm".to_owned(), "signed_curve25519".to_owned()]
            )
        );
        let mut handed = Vec::new();
        for _ in 0..4 {
            let claimed = keys
                .claim_key("@b:x", "D", "signed_curve25519")
                .await
                .unwrap();
            handed.push(claimed.map(|k| k.key["key"].as_str().unwrap().to_owned()));
        }
        assert_eq!(
            handed,
            vec![
                Some("a".to_owned()),
                Some("b".to_owned()),
                Some("fb".to_owned()),
                Some("fb".to_owned())
            ],
            "the fallback key is reused once one-time keys run out"
        );
        assert_eq!(
            keys.key_counts_for_sync("@b:x", "D").await.unwrap(),
            (
                counts(&[("other_algorithm", 1)]),
                vec!["other_algorithm".to_owned()]
            ),
            "no signed_curve25519 key left unclaimed, its fallback key handed out"
        );
        assert_eq!(
            keys.key_counts_for_sync("@b:x", "NONE").await.unwrap(),
            (counts(&[]), vec![])
        );
        assert_eq!(
            keys.claim_key("@b:x", "OTHER", "signed_curve25519")
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn a_token_says_whether_its_owner_is_a_guest() {
    for t in backends() {
        let mut guest = new_user("@guest:x");
        guest.is_guest = true;
        t.stores.users.create_user(guest).await.unwrap();
        t.stores
            .users
            .create_user(new_user("@member:x"))
            .await
            .unwrap();
        let devices = &t.stores.devices;
        devices
            .create_device_with_token(device("@guest:x", "G"), "guest-token".into(), None)
            .await
            .unwrap();
        devices
            .create_device_with_token(device("@member:x", "M"), "member-token".into(), None)
            .await
            .unwrap();
        assert!(
            devices
                .find_token("guest-token")
                .await
                .unwrap()
                .unwrap()
                .is_guest
        );
        assert!(
            !devices
                .find_token("member-token")
                .await
                .unwrap()
                .unwrap()
                .is_guest
        );
    }
}

async fn device_head(t: &TestDatabase) -> i64 {
    t.stores.streams.stream_heads().await.unwrap().device_lists
}

#[tokio::test]
async fn device_list_changes_follow_keys_signatures_and_deleted_devices() {
    use crate::storage::{KeySignature, StoredKey};
    use serde_json::json;
    for t in backends() {
        let keys = &t.stores.keys;
        assert_eq!(device_head(&t).await, 0);
        assert!(
            keys.put_device_keys("@a:x", "D1", json!({"keys": {"ed25519:D1": "k"}}))
                .await
                .unwrap()
        );
        assert!(
            !keys
                .put_device_keys("@a:x", "D1", json!({"keys": {"ed25519:D1": "k"}}))
                .await
                .unwrap(),
            "the same keys again change nothing"
        );
        let after_keys = device_head(&t).await;
        assert_eq!(
            keys.device_list_changes(0, after_keys).await.unwrap(),
            vec!["@a:x".to_owned()]
        );

        keys.put_cross_signing_keys(
            "@b:x",
            [("master".to_owned(), json!({"keys": {"ed25519:M1": "M1"}}))].into(),
        )
        .await
        .unwrap();
        keys.add_key_signatures(vec![KeySignature {
            target_user_id: "@b:x".into(),
            target_key_id: "M1".into(),
            signer_user_id: "@b:x".into(),
            signer_key_id: "ed25519:D9".into(),
            signature: "sig".into(),
        }])
        .await
        .unwrap();
        assert_eq!(keys.key_signatures("@b:x").await.unwrap().len(), 1);
        let after_signing = device_head(&t).await;
        assert_eq!(
            keys.device_list_changes(after_keys, after_signing)
                .await
                .unwrap(),
            vec!["@b:x".to_owned()]
        );
        // A new master key drops the signatures on the old one.
        keys.put_cross_signing_keys(
            "@b:x",
            [("master".to_owned(), json!({"keys": {"ed25519:M2": "M2"}}))].into(),
        )
        .await
        .unwrap();
        assert!(keys.key_signatures("@b:x").await.unwrap().is_empty());
        assert_eq!(
            keys.cross_signing_keys("@b:x").await.unwrap()["master"]["keys"]["ed25519:M2"],
            "M2"
        );

        // Deleting a device takes its keys and queued messages with it.
        let devices = &t.stores.devices;
        devices
            .create_device_with_token(device("@a:x", "D1"), "t1".into(), None)
            .await
            .unwrap();
        let key = StoredKey {
            algorithm: "signed_curve25519".into(),
            key_id: "k".into(),
            key: json!({"key": "k"}),
        };
        keys.add_one_time_keys("@a:x", "D1", vec![key])
            .await
            .unwrap();
        let before_delete = device_head(&t).await;
        assert!(devices.delete_device(user_id!("@a:x"), "D1").await.unwrap());
        assert!(
            keys.device_keys("@a:x", vec![]).await.unwrap().is_empty(),
            "device keys go with the device"
        );
        assert!(
            keys.one_time_key_counts("@a:x", "D1")
                .await
                .unwrap()
                .is_empty()
        );
        let after_delete = device_head(&t).await;
        assert_eq!(
            keys.device_list_changes(before_delete, after_delete)
                .await
                .unwrap(),
            vec!["@a:x".to_owned()]
        );
    }
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_a_key_twice() {
    use crate::storage::StoredKey;
    for t in backends() {
        let keys = t.stores.keys.clone();
        let batch = (0..10)
            .map(|i| StoredKey {
                algorithm: "signed_curve25519".into(),
                key_id: format!("k{i}"),
                key: serde_json::json!({ "key": i }),
            })
            .collect();
        keys.add_one_time_keys("@c:x", "D", batch).await.unwrap();
        let claims: Vec<_> = (0..16)
            .map(|_| {
                let keys = keys.clone();
                tokio::spawn(async move { keys.claim_key("@c:x", "D", "signed_curve25519").await })
            })
            .collect();
        let mut handed = Vec::new();
        for claim in claims {
            if let Some(key) = claim.await.unwrap().unwrap() {
                handed.push(key.key_id);
            }
        }
        handed.sort();
        let before = handed.len();
        handed.dedup();
        assert_eq!(
            before,
            handed.len(),
            "a key went to two claimers: {handed:?}"
        );
        assert_eq!(handed.len(), 10, "every key handed out once");
    }
}

#[tokio::test]
async fn key_backups_write_only_the_latest_version_and_never_reuse_numbers() {
    use crate::storage::{BackupKey, BackupScope, BackupWrite};
    use serde_json::json;
    fn keep_lower_index(stored: &BackupKey, new: &BackupKey) -> bool {
        stored.first_message_index <= new.first_message_index
    }
    let key = |session: &str, index: i64| BackupKey {
        room_id: "!r:x".into(),
        session_id: session.into(),
        first_message_index: index,
        forwarded_count: 0,
        is_verified: false,
        session_data: json!({ "i": index }),
    };
    let all = || BackupScope {
        room_id: None,
        session_id: None,
    };
    for t in backends() {
        let backups = &t.stores.key_backups;
        assert_eq!(backups.backup_version("@a:x", None).await.unwrap(), None);
        let v1 = backups
            .create_backup("@a:x", "alg", json!({"k": 1}))
            .await
            .unwrap();
        let written = backups
            .put_backup_keys("@a:x", v1, vec![key("s", 5), key("t", 1)], keep_lower_index)
            .await
            .unwrap();
        assert_eq!(written, BackupWrite::Done { etag: 1, count: 2 });
        backups
            .put_backup_keys("@a:x", v1, vec![key("s", 9)], keep_lower_index)
            .await
            .unwrap();
        backups
            .put_backup_keys("@a:x", v1, vec![key("t", 0)], keep_lower_index)
            .await
            .unwrap();
        let stored = backups
            .backup_keys("@a:x", v1, all())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored
                .iter()
                .map(|k| (k.session_id.as_str(), k.first_message_index))
                .collect::<Vec<_>>(),
            vec![("s", 5), ("t", 0)],
            "the stored key stays unless the rule prefers the new one"
        );

        let v2 = backups
            .create_backup("@a:x", "alg", json!({}))
            .await
            .unwrap();
        assert_eq!(
            backups
                .put_backup_keys("@a:x", v1, vec![key("u", 0)], keep_lower_index)
                .await
                .unwrap(),
            BackupWrite::NotCurrent { current: v2 }
        );
        assert_eq!(
            backups
                .put_backup_keys("@b:x", v2, vec![key("u", 0)], keep_lower_index)
                .await
                .unwrap(),
            BackupWrite::NoSuchVersion,
            "versions are per user"
        );
        assert!(backups.delete_backup("@a:x", v2).await.unwrap());
        assert_eq!(
            backups
                .backup_version("@a:x", None)
                .await
                .unwrap()
                .unwrap()
                .version,
            v1
        );
        let v3 = backups
            .create_backup("@a:x", "alg", json!({}))
            .await
            .unwrap();
        assert!(v3 > v2, "a deleted version's number is not reused");
        assert!(
            backups
                .backup_keys("@a:x", v2, all())
                .await
                .unwrap()
                .is_none()
        );
        let cleared = backups
            .delete_backup_keys(
                "@a:x",
                v1,
                BackupScope {
                    room_id: Some("!r:x".into()),
                    session_id: Some("s".into()),
                },
            )
            .await
            .unwrap();
        assert!(matches!(cleared, BackupWrite::Done { count: 1, .. }));
    }
}

#[tokio::test]
async fn push_actions_for_a_crowd_are_all_written() {
    use crate::storage::{Notifications, Notify, PushAction};
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!crowd:x").await;
        let checked = ["@u0:x", "@u199:x", "@u200:x", "@u449:x"];
        let mut prev = vec![];
        for (depth, user) in checked.iter().enumerate() {
            let mut join = membership_event(&format!("$j{depth}"), user, "join", depth as i64 + 1);
            join.room_id = "!crowd:x".into();
            rooms.append_event(join, prev, None).await.unwrap();
            prev = vec![format!("$j{depth}")];
        }
        // More exceptions than one insert batch holds, and not a multiple of it.
        let mut event = room_event("$crowd", "m.room.message", None, None, 10);
        event.room_id = "!crowd:x".into();
        event.notifications = Notifications {
            everyone: Notify::No,
            exceptions: (0..450)
                .map(|i| PushAction {
                    user_id: format!("@u{i}:x"),
                    notify: if i % 100 == 0 {
                        Notify::Highlight
                    } else {
                        Notify::Yes
                    },
                })
                .collect(),
        };
        rooms.append_event(event, prev, None).await.unwrap();
        for (user, highlights) in [("@u0:x", 1), ("@u199:x", 0), ("@u200:x", 1), ("@u449:x", 0)] {
            let counts = t
                .stores
                .notifications
                .unread_counts("!crowd:x", user, head(rooms).await)
                .await
                .unwrap()
                .total();
            assert_eq!(
                (counts.notifications, counts.highlights),
                (1, highlights),
                "{user}"
            );
        }
    }
}

#[tokio::test]
async fn concurrent_stream_writes_get_distinct_positions_in_commit_order() {
    use crate::storage::Receipt;
    for t in backends() {
        let writes: Vec<_> = (0..16)
            .map(|i| {
                let receipts = t.stores.receipts.clone();
                tokio::spawn(async move {
                    receipts
                        .put_receipt(Receipt {
                            room_id: "!r:x".into(),
                            user_id: format!("@u{i}:x"),
                            receipt_type: "m.read".into(),
                            thread_id: String::new(),
                            event_id: "$e".into(),
                            ts: 1,
                            stream_id: 0,
                        })
                        .await
                })
            })
            .collect();
        let mut positions = Vec::new();
        for write in writes {
            positions.push(write.await.unwrap().unwrap());
        }
        positions.sort();
        assert_eq!(
            positions,
            (1..=16).collect::<Vec<i64>>(),
            "one position each"
        );
        assert_eq!(t.stores.streams.stream_heads().await.unwrap().receipts, 16);
    }
}

#[tokio::test]
async fn threaded_receipts_read_only_their_own_timeline() {
    use crate::storage::{Notifications, Notify, Receipt, Relation, UnreadCounts};
    // The same counts whether @b is notified as one of everyone or on their own.
    for (t, broadcast) in backends()
        .into_iter()
        .map(|t| (t, false))
        .chain(backends().into_iter().map(|t| (t, true)))
    {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!r:x").await;
        // $root and $m2 in the main timeline; $t1, $t2 and the reaction $r1 to $t1 in $root's
        // thread; $u1 in $other's; the reaction $r0 to the root itself in the main timeline.
        let join = membership_event("$join", "@b:x", "join", 1);
        rooms.append_event(join, vec![], None).await.unwrap();
        let mut prev: Vec<String> = vec!["$join".into()];
        for (depth, (id, relation)) in [
            ("$root", None),
            ("$t1", Some(("$root", "m.thread"))),
            ("$r1", Some(("$t1", "m.annotation"))),
            ("$r0", Some(("$root", "m.annotation"))),
            ("$m2", None),
            ("$t2", Some(("$root", "m.thread"))),
            ("$u1", Some(("$other", "m.thread"))),
        ]
        .into_iter()
        .enumerate()
        {
            let mut event = room_event(id, "m.room.message", None, None, depth as i64 + 2);
            event.relation = relation.map(|(target, rel_type)| Relation {
                relates_to: target.into(),
                rel_type: rel_type.into(),
                aggregation_key: None,
            });
            event.notifications = if broadcast {
                Notifications {
                    everyone: if id == "$t2" {
                        Notify::Highlight
                    } else {
                        Notify::Yes
                    },
                    exceptions: vec![],
                }
            } else {
                notifying_only("@b:x", id == "$t2")
            };
            rooms.append_event(event, prev.clone(), None).await.unwrap();
            prev = vec![id.to_owned()];
        }
        let unread = || {
            let notifications = t.stores.notifications.clone();
            let rooms = rooms.clone();
            async move {
                let up_to = head(&rooms).await;
                notifications
                    .unread_counts("!r:x", "@b:x", up_to)
                    .await
                    .unwrap()
            }
        };
        let n = |notifications, highlights| UnreadCounts {
            notifications,
            highlights,
        };
        let before = unread().await;
        assert_eq!(before.main, n(3, 0));
        assert_eq!(before.threads["$root"], n(3, 1));
        assert_eq!(before.threads["$other"], n(1, 0));
        assert_eq!(before.total(), n(7, 1));

        let receipt = |thread: &str, event: &str| Receipt {
            room_id: "!r:x".into(),
            user_id: "@b:x".into(),
            receipt_type: "m.read".into(),
            thread_id: thread.into(),
            event_id: event.into(),
            ts: 1,
            stream_id: 0,
        };
        let put = |r: Receipt| {
            let receipts = t.stores.receipts.clone();
            async move { receipts.put_receipt(r).await.unwrap() }
        };
        // Reading the thread to its end clears it and nothing else.
        put(receipt("$root", "$t2")).await;
        let after_thread = unread().await;
        assert_eq!(after_thread.main, n(3, 0), "the main timeline is untouched");
        assert!(!after_thread.threads.contains_key("$root"));
        assert_eq!(after_thread.threads["$other"], n(1, 0));
        // A main-timeline receipt reads the main timeline only.
        put(receipt("main", "$m2")).await;
        let after_main = unread().await;
        assert_eq!(after_main.main, n(0, 0));
        assert_eq!(after_main.threads["$other"], n(1, 0));
        // An unthreaded receipt reads everything before it, in every timeline.
        put(receipt("", "$u1")).await;
        assert_eq!(unread().await, Default::default());
    }
}

#[tokio::test]
async fn one_broadcast_counts_for_every_member_joined_at_the_time_but_its_sender() {
    use crate::storage::{Notifications, Notify, PushAction, Receipt};
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!r:x").await;
        let message = |id: &str, sender: &str, everyone: Notify, exceptions: &[(&str, Notify)]| {
            let mut event = room_event(id, "m.room.message", None, None, 0);
            event.sender = sender.to_owned();
            event.notifications = Notifications {
                everyone,
                exceptions: exceptions
                    .iter()
                    .map(|(user, notify)| PushAction {
                        user_id: (*user).to_owned(),
                        notify: *notify,
                    })
                    .collect(),
            };
            event
        };
        let events = [
            membership_event("$ja", "@a:x", "join", 0),
            membership_event("$jb", "@b:x", "join", 0),
            membership_event("$jc", "@c:x", "join", 0),
            // @c's rules silence this one for them.
            message("$m1", "@a:x", Notify::Yes, &[("@c:x", Notify::No)]),
            membership_event("$jd", "@d:x", "join", 0),
            // A highlight for everyone but @b, whose rules only notify.
            message("$m2", "@a:x", Notify::Highlight, &[("@b:x", Notify::Yes)]),
            message("$m3", "@b:x", Notify::Yes, &[]),
            // @c leaves and comes back: their count starts again at the second join, which
            // a later display-name change (a join after a join) does not move.
            membership_event("$lc", "@c:x", "leave", 0),
            membership_event("$jc2", "@c:x", "join", 0),
            membership_event("$nc", "@c:x", "join", 0),
            message("$m4", "@a:x", Notify::Yes, &[]),
        ];
        let mut prev: Vec<String> = vec![];
        for (depth, mut event) in events.into_iter().enumerate() {
            event.depth = depth as i64 + 1;
            let id = event.event_id.clone();
            rooms.append_event(event, prev, None).await.unwrap();
            prev = vec![id];
        }
        let counts = |user: &'static str| {
            let notifications = t.stores.notifications.clone();
            async move {
                let c = notifications
                    .unread_counts("!r:x", user, head(rooms).await)
                    .await
                    .unwrap()
                    .total();
                (c.notifications, c.highlights)
            }
        };
        assert_eq!(
            counts("@a:x").await,
            (1, 0),
            "only $m3: the rest are @a's own"
        );
        assert_eq!(
            counts("@b:x").await,
            (3, 0),
            "$m1, $m2 (not highlighted), $m4"
        );
        assert_eq!(counts("@c:x").await, (1, 0), "only $m4, since the rejoin");
        assert_eq!(counts("@d:x").await, (3, 1), "$m2, $m3, $m4 since the join");
        assert_eq!(counts("@e:x").await, (0, 0), "never joined");
        t.stores
            .receipts
            .put_receipt(Receipt {
                room_id: "!r:x".into(),
                user_id: "@d:x".into(),
                receipt_type: "m.read".into(),
                thread_id: String::new(),
                event_id: "$m3".into(),
                ts: 1,
                stream_id: 0,
            })
            .await
            .unwrap();
        assert_eq!(counts("@d:x").await, (1, 0), "the receipt read $m2 and $m3");

        // Counted again after more events: each count extends the tally of the one before
        // (the rows after it only), and must come out as a count from scratch would.
        let more = [
            message("$m5", "@a:x", Notify::Yes, &[("@d:x", Notify::No)]),
            message("$m6", "@a:x", Notify::Highlight, &[("@b:x", Notify::Yes)]),
        ];
        for (depth, mut event) in more.into_iter().enumerate() {
            event.depth = depth as i64 + 20;
            let id = event.event_id.clone();
            rooms.append_event(event, prev, None).await.unwrap();
            prev = vec![id];
        }
        assert_eq!(counts("@a:x").await, (1, 0), "still only $m3");
        assert_eq!(counts("@b:x").await, (5, 0), "$m5 and $m6, not highlighted");
        assert_eq!(counts("@c:x").await, (3, 1), "$m4, $m5, $m6 highlighted");
        assert_eq!(counts("@d:x").await, (2, 1), "$m4 and $m6; $m5 silenced");
    }
}

#[tokio::test]
async fn a_group_of_appends_commits_whole_or_not_at_all() {
    use crate::storage::{Append, ErrorKind, TxnKey};
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!r:x").await;
        let append = |id: &str, depth: i64, prev: &[&str], txn: Option<&str>| Append {
            event: room_event(id, "m.room.message", None, None, depth),
            prev_events: prev.iter().map(|p| (*p).to_owned()).collect(),
            txn: txn.map(|txn| TxnKey {
                user_id: "@a:x".into(),
                device_id: "D".into(),
                txn_id: txn.into(),
            }),
        };
        let positions = rooms
            .append_events(vec![
                append("$1", 1, &[], Some("t1")),
                append("$2", 2, &["$1"], None),
                append("$3", 3, &["$2"], Some("t3")),
            ])
            .await
            .unwrap();
        assert_eq!(positions[1], positions[0] + 1);
        assert_eq!(positions[2], positions[0] + 2);
        let head = rooms.room_head("!r:x").await.unwrap();
        assert_eq!(head.extremities, vec![("$3".to_owned(), 3)]);

        // The second append reuses a transaction id: the whole group is refused.
        let refused = rooms
            .append_events(vec![
                append("$4", 4, &["$3"], Some("t4")),
                append("$5", 5, &["$4"], Some("t1")),
            ])
            .await
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Conflict);
        assert!(rooms.get_event("$4").await.unwrap().is_none());
        let head = rooms.room_head("!r:x").await.unwrap();
        assert_eq!(head.extremities, vec![("$3".to_owned(), 3)]);
    }
}

/// A group is written table by table (multi-row inserts, extremities moved once per room);
/// the result must be what appending its events one by one gives: forks keep both tips,
/// a state key set twice keeps the later event, every transaction id is kept.
#[tokio::test]
async fn a_group_leaves_what_appending_one_by_one_leaves() {
    use crate::storage::{Append, TxnKey};
    let appends = |room: &str| -> Vec<Append> {
        let event = |id: &str, event_type: &str, state_key: Option<&str>, depth: i64| {
            let mut e = room_event(&format!("${room}{id}"), event_type, state_key, None, depth);
            e.room_id = format!("!{room}:x");
            e
        };
        let append = |e: crate::storage::NewEvent, prev: &[&str], txn: Option<&str>| Append {
            event: e,
            prev_events: prev.iter().map(|p| format!("${room}{p}")).collect(),
            txn: txn.map(|t| TxnKey {
                user_id: "@a:x".into(),
                device_id: "D".into(),
                txn_id: format!("{room}{t}"),
            }),
        };
        vec![
            append(event("c", "m.room.create", Some(""), 1), &[], None),
            append(event("t1", "m.room.topic", Some(""), 2), &["c"], Some("1")),
            // A fork: both cite t1, so both are extremities until something cites them.
            append(event("m1", "m.room.message", None, 3), &["t1"], Some("2")),
            append(event("t2", "m.room.topic", Some(""), 3), &["t1"], Some("3")),
            append(event("n1", "m.room.name", Some(""), 4), &["t2"], None),
        ]
    };
    for t in backends() {
        let rooms = &t.stores.rooms;
        create_room(rooms, "!g:x").await;
        create_room(rooms, "!s:x").await;
        let positions = rooms.append_events(appends("g")).await.unwrap();
        assert!(
            positions.windows(2).all(|w| w[1] == w[0] + 1),
            "{positions:?}"
        );
        for a in appends("s") {
            rooms.append_events(vec![a]).await.unwrap();
        }
        let normalise = |room: &str, head: crate::storage::RoomHead| {
            let strip = |id: String| id.replacen(&format!("${room}"), "$", 1);
            let mut extremities: Vec<_> = head
                .extremities
                .into_iter()
                .map(|(id, depth)| (strip(id), depth))
                .collect();
            extremities.sort();
            let mut state: Vec<_> = head
                .state
                .into_iter()
                .map(|(t, k, id)| (t, k, strip(id)))
                .collect();
            state.sort();
            (extremities, state)
        };
        let group = normalise("g", rooms.room_head("!g:x").await.unwrap());
        let single = normalise("s", rooms.room_head("!s:x").await.unwrap());
        assert_eq!(group, single);
        assert_eq!(
            group.0,
            vec![("$m1".to_owned(), 3), ("$n1".to_owned(), 4)],
            "the fork's message and the name are the tips"
        );
        assert!(
            group
                .1
                .contains(&("m.room.topic".into(), String::new(), "$t2".into()))
        );
        for (txn, event) in [("g1", "$gt1"), ("g2", "$gm1"), ("g3", "$gt2")] {
            let key = TxnKey {
                user_id: "@a:x".into(),
                device_id: "D".into(),
                txn_id: txn.into(),
            };
            assert_eq!(
                rooms.event_for_txn(&key).await.unwrap().as_deref(),
                Some(event)
            );
        }
    }
}

/// Work with direct storage keeps a blocking-pool thread while it waits for SQLite's write
/// gate; the slot limit keeps threads free for the plain writes it may wait behind. With only
/// two blocking threads beyond the slots, 40 direct works and 40 plain writes at once must all
/// finish (without the limit, the direct works fill every thread and wait on a write that
/// needs one).
#[test]
fn direct_storage_leaves_the_pool_room_for_the_writes_it_waits_on() {
    use crate::storage::{DIRECT_SLOTS, is_direct, with_direct_storage};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(DIRECT_SLOTS + 2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let t = sqlite();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..40 {
            let rooms = t.stores.rooms.clone();
            tasks.spawn(async move {
                with_direct_storage(async move {
                    assert!(is_direct());
                    create_room(&rooms, &format!("!d{i}:x")).await;
                    assert!(rooms.get_room(&format!("!d{i}:x")).await.unwrap().is_some());
                })
                .await
                .unwrap();
            });
            let rooms = t.stores.rooms.clone();
            tasks.spawn(async move { create_room(&rooms, &format!("!p{i}:x")).await });
        }
        let all = async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("every write finishes");
        assert!(!is_direct(), "only the work's own thread is direct");
    });
}

/// One read gives the user's current membership in every room, as the per-membership reads
/// give it room by room; other users' memberships and earlier ones are not in it.
#[tokio::test]
async fn memberships_of_lists_each_room_with_the_current_membership() {
    for t in backends() {
        let rooms = &t.stores.rooms;
        let cases = [
            ("!d:x", "join"),
            ("!a:x", "invite"),
            ("!c:x", "knock"),
            ("!b:x", "leave"),
        ];
        for (room, membership) in cases {
            create_room(rooms, room).await;
            // The user joined first everywhere; the last membership is the current one.
            for (depth, (user, m)) in [("@u:x", "join"), ("@other:x", "join"), ("@u:x", membership)]
                .into_iter()
                .enumerate()
            {
                let mut event = membership_event(&format!("${room}{depth}"), user, m, 1);
                event.room_id = room.to_owned();
                rooms.append_event(event, vec![], None).await.unwrap();
            }
        }
        let all = rooms.memberships_of("@u:x").await.unwrap();
        assert_eq!(
            all,
            vec![
                ("!a:x".to_owned(), "invite".to_owned()),
                ("!b:x".to_owned(), "leave".to_owned()),
                ("!c:x".to_owned(), "knock".to_owned()),
                ("!d:x".to_owned(), "join".to_owned()),
            ]
        );
        for membership in ["join", "invite", "knock", "leave"] {
            let one: Vec<String> = all
                .iter()
                .filter(|(_, m)| m == membership)
                .map(|(r, _)| r.clone())
                .collect();
            assert_eq!(
                one,
                rooms
                    .rooms_with_membership("@u:x", membership)
                    .await
                    .unwrap()
            );
        }
        assert_eq!(rooms.memberships_of("@nobody:x").await.unwrap(), vec![]);
    }
}

/// Presence is shown to those sharing a joined room: of the candidates, only members joined
/// now to a room the user is joined to now.
#[tokio::test]
async fn co_members_among_keeps_only_those_joined_where_the_user_is() {
    for t in backends() {
        let rooms = &t.stores.rooms;
        let memberships = [
            ("!r1:x", "@a:x", "join"),
            ("!r1:x", "@b:x", "join"),
            ("!r1:x", "@e:x", "invite"),
            ("!r2:x", "@a:x", "join"),
            ("!r2:x", "@c:x", "join"),
            ("!r2:x", "@c:x", "leave"),
            ("!r3:x", "@d:x", "join"),
            // @a was in r3 once; a past membership shares nothing.
            ("!r3:x", "@a:x", "join"),
            ("!r3:x", "@a:x", "leave"),
        ];
        for room in ["!r1:x", "!r2:x", "!r3:x"] {
            create_room(rooms, room).await;
        }
        for (n, (room, user, membership)) in memberships.into_iter().enumerate() {
            let mut event = membership_event(&format!("$m{n}"), user, membership, 1);
            event.room_id = room.to_owned();
            rooms.append_event(event, vec![], None).await.unwrap();
        }
        let candidates = ["@a:x", "@b:x", "@c:x", "@d:x", "@e:x", "@zz:x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            rooms
                .co_members_among("@a:x", candidates.clone())
                .await
                .unwrap(),
            vec!["@a:x".to_owned(), "@b:x".to_owned()]
        );
        assert_eq!(
            rooms.co_members_among("@d:x", candidates).await.unwrap(),
            vec!["@d:x".to_owned()]
        );
    }
}

/// Connections are not pinged on checkout (a round trip per store call on PostgreSQL), so a
/// connection the server closed must be dropped by the pool once it fails: after PostgreSQL
/// ends every backend of the pool, each pooled connection may fail one call, as unavailable,
/// and then calls succeed again on new ones.
#[test]
fn connections_the_database_closed_are_replaced() {
    let Some(admin_url) = std::env::var("REC_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let t = postgres(&admin_url);
        let name = t.pg_drop.as_ref().unwrap().1.clone();
        // Fill the pool: four calls at once hold four connections.
        let calls = (0..4).map(|_| t.stores.rooms.max_stream_ordering());
        for result in futures_util::future::join_all(calls).await {
            result.unwrap();
        }
        let mut admin = PgConnection::establish(&admin_url).unwrap();
        ::diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .execute(&mut admin)
        .unwrap();
        let mut failures = 0;
        for _ in 0..12 {
            if let Err(e) = t.stores.rooms.max_stream_ordering().await {
                // Unavailable (503): the client may retry, and nothing was half done.
                assert_eq!(e.kind, ErrorKind::Unavailable, "{e:?}");
                failures += 1;
            }
        }
        assert!(
            failures <= 4,
            "{failures} calls failed after the backends ended"
        );
        for _ in 0..4 {
            t.stores.rooms.max_stream_ordering().await.unwrap();
        }
    });
}
