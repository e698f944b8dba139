//! Registration in each mode, over HTTP: disabled refuses, token mode needs a configured token.

mod common;

use rechain_server::config::RegistrationMode;
use serde_json::{Value, json};

async fn post_async(addr: std::net::SocketAddr, path: &'static str, body: Value) -> (u16, Value) {
    let (status, _, json) =
        tokio::task::spawn_blocking(move || common::http::post_json(addr, path, &body))
            .await
            .unwrap();
    (status, json)
}

const REGISTER: &str = "/_matrix/client/v3/register";

#[tokio::test]
async fn disabled_registration_is_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(common::test_config(dir.path())).await;
    let (status, body) = post_async(
        server.client_addr,
        REGISTER,
        json!({"username": "eve", "password": "pw"}),
    )
    .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    // With registration off, no token is worth checking.
    let addr = server.client_addr;
    let (status, body) = tokio::task::spawn_blocking(move || {
        common::http::get(
            addr,
            "/_matrix/client/v1/register/m.login.registration_token/validity?token=x",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 403, "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn token_registration_needs_a_configured_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.registration.mode = RegistrationMode::Token;
    config.registration.tokens = vec!["let-me-in".to_owned()];
    let server = common::start(config).await;
    let addr = server.client_addr;

    let (status, challenge) =
        post_async(addr, REGISTER, json!({"username": "tia", "password": "pw"})).await;
    assert_eq!(status, 401, "{challenge}");
    assert_eq!(
        challenge["flows"],
        json!([{"stages": ["m.login.registration_token"]}])
    );
    let session = challenge["session"].as_str().unwrap().to_owned();

    let wrong = json!({"username": "tia", "password": "pw",
        "auth": {"type": "m.login.registration_token", "token": "guess", "session": session}});
    let (status, body) = post_async(addr, REGISTER, wrong).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_FORBIDDEN")),
        "{body}"
    );
    assert_eq!(
        body["session"],
        json!(session),
        "the session survives a failed stage"
    );

    let dummy = json!({"username": "tia", "password": "pw", "auth": {"type": "m.login.dummy", "session": session}});
    let (status, _) = post_async(addr, REGISTER, dummy).await;
    assert_eq!(status, 401, "m.login.dummy does not satisfy token mode");

    let right = json!({"username": "tia", "password": "pw",
        "auth": {"type": "m.login.registration_token", "token": "let-me-in", "session": session}});
    let (status, body) = post_async(addr, REGISTER, right).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "@tia:localhost");

    // The validity endpoint knows the configured token and only it.
    let validity = |token: &'static str| async move {
        let path = format!(
            "/_matrix/client/v1/register/m.login.registration_token/validity?token={token}"
        );
        tokio::task::spawn_blocking(move || common::http::get(addr, &path))
            .await
            .unwrap()
    };
    let (status, body) = validity("let-me-in").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"valid\":true"), "{body}");
    let (status, body) = validity("guess").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"valid\":false"), "{body}");

    // A completed session cannot be replayed for another account.
    let replay = json!({"username": "tib", "password": "pw",
        "auth": {"type": "m.login.registration_token", "token": "let-me-in", "session": session}});
    let (status, _) = post_async(addr, REGISTER, replay).await;
    assert_eq!(status, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn access_tokens_are_not_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.registration.mode = RegistrationMode::Open;
    let server = common::start(config).await;
    let addr = server.client_addr;
    let (_, challenge) =
        post_async(addr, REGISTER, json!({"username": "sam", "password": "pw"})).await;
    let body = json!({"username": "sam", "password": "pw", "auth": {"type": "m.login.dummy", "session": challenge["session"]}});
    let (status, session) = post_async(addr, REGISTER, body).await;
    assert_eq!(status, 200);
    let token = session["access_token"].as_str().unwrap().to_owned();
    server.shutdown().await;
    let db = std::fs::read(dir.path().join("rechain.db")).unwrap();
    let wal = std::fs::read(dir.path().join("rechain.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token found in the database"
        );
    }
    let password_hash_present = [&db, &wal]
        .iter()
        .any(|b| b.windows(9).any(|w| w == b"$argon2id"));
    assert!(password_hash_present, "password stored as an Argon2id hash");
}
