//! Rate limits over HTTP: 429 `M_LIMIT_EXCEEDED` with `retry_after_ms` and `Retry-After`.

mod common;

use rechain_server::config::{Bucket, RegistrationMode};
use serde_json::json;

#[tokio::test]
async fn repeated_logins_are_limited_with_a_retry_hint() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.rate_limits.enabled = true;
    config.rate_limits.login = Bucket {
        per_second: 0.1,
        burst: 2,
    };
    let server = common::start(config).await;
    let addr = server.client_addr;
    let results = tokio::task::spawn_blocking(move || {
        let attempt = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "nobody"}, "password": "x"});
        (0..3).map(|_| common::http::post_json(addr, "/_matrix/client/v3/login", &attempt)).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(results[0].0, 403);
    assert_eq!(results[1].0, 403);
    let (status, head, body) = &results[2];
    assert_eq!(*status, 429, "{body}");
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    let retry_ms = body["retry_after_ms"].as_u64().unwrap();
    assert!((9_000..=10_000).contains(&retry_ms), "{retry_ms}");
    assert!(head.contains("retry-after: 10"), "{head}");
    server.shutdown().await;
}

#[tokio::test]
async fn registration_attempts_are_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.registration.mode = RegistrationMode::Open;
    config.rate_limits.enabled = true;
    config.rate_limits.registration = Bucket {
        per_second: 0.1,
        burst: 1,
    };
    let server = common::start(config).await;
    let addr = server.client_addr;
    let statuses = tokio::task::spawn_blocking(move || {
        let mut statuses = Vec::new();
        for name in ["ra", "rb"] {
            let (_, _, challenge) = common::http::post_json(addr, "/_matrix/client/v3/register", &json!({"username": name, "password": "pw"}));
            statuses.push(challenge["session"].is_string());
            let body = json!({"username": name, "password": "pw", "auth": {"type": "m.login.dummy", "session": challenge["session"]}});
            statuses.push(common::http::post_json(addr, "/_matrix/client/v3/register", &body).0 == 200);
        }
        statuses
    })
    .await
    .unwrap();
    // The auth-less first round is never limited; the second completed registration is.
    assert_eq!(statuses, vec![true, true, true, false]);
    server.shutdown().await;
}

/// Limits on, open registration that the tests' own sign-ups do not exhaust.
fn limited_with_free_registration(dir: &std::path::Path) -> rechain_server::config::Config {
    let mut config = common::test_config(dir);
    config.registration.mode = RegistrationMode::Open;
    config.rate_limits.enabled = true;
    config.rate_limits.registration = Bucket {
        per_second: 100.0,
        burst: 100,
    };
    config
}

#[tokio::test]
async fn room_creation_and_joins_are_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = limited_with_free_registration(dir.path());
    config.rate_limits.room_creation = Bucket {
        per_second: 0.01,
        burst: 2,
    };
    config.rate_limits.joins = Bucket {
        per_second: 0.01,
        burst: 1,
    };
    let server = common::start(config).await;
    let addr = server.client_addr;
    tokio::task::spawn_blocking(move || {
        let alice = common::http::register(addr, "limited_alice");
        let bob = common::http::register(addr, "limited_bob");
        let create = |token: &str| {
            let path = format!("/_matrix/client/v3/createRoom?access_token={token}");
            common::http::post_json(addr, &path, &json!({"preset": "public_chat"}))
        };
        let first = create(&alice);
        assert_eq!(first.0, 200, "{}", first.2);
        assert_eq!(create(&alice).0, 200);
        let refused = create(&alice);
        assert_eq!(refused.0, 429, "{}", refused.2);
        assert_eq!(refused.2["errcode"], "M_LIMIT_EXCEEDED");
        // Each user has their own bucket.
        assert_eq!(create(&bob).0, 200);

        let room = first.2["room_id"].as_str().unwrap().to_owned();
        let join = |token: &str| {
            let path = format!("/_matrix/client/v3/rooms/{room}/join?access_token={token}");
            common::http::post_json(addr, &path, &json!({})).0
        };
        assert_eq!(join(&bob), 200);
        assert_eq!(join(&bob), 429);
    })
    .await
    .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn sending_is_also_limited_per_address_across_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = limited_with_free_registration(dir.path());
    config.rate_limits.message = Bucket {
        per_second: 0.01,
        burst: 2,
    };
    config.rate_limits.per_ip_multiplier = 2;
    let server = common::start(config).await;
    let addr = server.client_addr;
    tokio::task::spawn_blocking(move || {
        let users: Vec<String> = ["ip_a", "ip_b", "ip_c"]
            .iter()
            .map(|name| common::http::register(addr, name))
            .collect();
        let path = format!("/_matrix/client/v3/createRoom?access_token={}", users[0]);
        let created = common::http::post_json(addr, &path, &json!({"preset": "public_chat"}));
        let room = created.2["room_id"].as_str().unwrap().to_owned();
        for token in &users[1..] {
            let path = format!("/_matrix/client/v3/rooms/{room}/join?access_token={token}");
            assert_eq!(common::http::post_json(addr, &path, &json!({})).0, 200);
        }
        let send = |token: &str, txn: &str| {
            let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}");
            let body = br#"{"msgtype": "m.text", "body": "hi"}"#;
            common::http::request(
                addr,
                "PUT",
                &path,
                Some(token),
                Some("application/json"),
                body,
            )
            .0
        };
        // Two users spend the address's four tokens between them, each within their own two.
        for (user, txn) in [(0, "a1"), (0, "a2"), (1, "b1"), (1, "b2")] {
            assert_eq!(send(&users[user], txn), 200, "{txn}");
        }
        // A third account from the same address is refused, its own bucket untouched.
        assert_eq!(send(&users[2], "c1"), 429);
    })
    .await
    .unwrap();
    server.shutdown().await;
}
