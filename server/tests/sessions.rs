//! Access-token expiry for refreshable sessions: an expired token is a soft logout, and the
//! refresh token brings the session back.

mod common;

use rechain_server::config::RegistrationMode;
use serde_json::{Value, json};

fn whoami(addr: std::net::SocketAddr, token: &str) -> (u16, Value) {
    let (status, _, body) = common::http::request(
        addr,
        "GET",
        "/_matrix/client/v3/account/whoami",
        Some(token),
        None,
        b"",
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_expired_access_token_is_a_soft_logout_until_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.registration.mode = RegistrationMode::Open;
    config.sessions.access_token_lifetime_seconds = 1;
    let server = common::start(config).await;
    let addr = server.client_addr;
    let results = tokio::task::spawn_blocking(move || {
        let body = json!({"username": "soft", "password": "pw", "refresh_token": true,
                          "auth": {"type": "m.login.dummy"}});
        let (status, _, session) =
            common::http::post_json(addr, "/_matrix/client/v3/register", &body);
        assert_eq!(status, 200, "{session}");
        let access = session["access_token"].as_str().unwrap().to_owned();
        let refresh = session["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(session["expires_in_ms"], json!(1000));
        let fresh = whoami(addr, &access);
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let expired = whoami(addr, &access);
        let (status, _, refreshed) = common::http::post_json(
            addr,
            "/_matrix/client/v3/refresh",
            &json!({ "refresh_token": refresh }),
        );
        assert_eq!(status, 200, "{refreshed}");
        let renewed = whoami(addr, refreshed["access_token"].as_str().unwrap());
        (fresh, expired, renewed)
    })
    .await
    .unwrap();
    let (fresh, expired, renewed) = results;
    assert_eq!(fresh.0, 200);
    assert_eq!(expired.0, 401);
    assert_eq!(expired.1["errcode"], "M_UNKNOWN_TOKEN");
    assert_eq!(expired.1["soft_logout"], true);
    assert_eq!(renewed.0, 200, "{}", renewed.1);
    server.shutdown().await;
}
