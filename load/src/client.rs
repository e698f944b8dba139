//! The few client-server API calls the scenarios make, over one shared connection pool.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    registration_token: Option<String>,
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct User {
    pub localpart: String,
    pub token: String,
}

pub const PASSWORD: &str = "rechain-load password";

impl Client {
    pub fn new(base: &str, registration_token: Option<String>) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            registration_token,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| path.to_owned())?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let (status, body) = self.call(method, path, token, body).await?;
        if status != 200 {
            bail!("{path} answered {status}: {body}");
        }
        Ok(body)
    }

    /// Registers `localpart` through user-interactive auth (dummy or registration token).
    pub async fn register(&self, localpart: &str) -> Result<User> {
        let path = "/_matrix/client/v3/register";
        let mut body = json!({ "username": localpart, "password": PASSWORD });
        let (status, challenge) = self
            .call(reqwest::Method::POST, path, None, Some(&body))
            .await?;
        let session = match status {
            200 => return user_from(localpart, &challenge),
            401 => challenge["session"].clone(),
            _ => bail!("register answered {status}: {challenge}"),
        };
        body["auth"] = match &self.registration_token {
            Some(token) => {
                json!({"type": "m.login.registration_token", "token": token, "session": session})
            }
            None => json!({"type": "m.login.dummy", "session": session}),
        };
        let session = self
            .ok(reqwest::Method::POST, path, None, Some(&body))
            .await?;
        user_from(localpart, &session)
    }

    /// A new device for an existing user: a client that has never synced.
    pub async fn login(&self, user: &User) -> Result<User> {
        let body = json!({"type": "m.login.password",
                          "identifier": {"type": "m.id.user", "user": user.localpart},
                          "password": PASSWORD});
        let session = self
            .ok(
                reqwest::Method::POST,
                "/_matrix/client/v3/login",
                None,
                Some(&body),
            )
            .await?;
        user_from(&user.localpart, &session)
    }

    pub async fn create_room(&self, user: &User, body: Value) -> Result<String> {
        let created = self
            .ok(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(&user.token),
                Some(&body),
            )
            .await?;
        created["room_id"]
            .as_str()
            .map(str::to_owned)
            .context("createRoom returned no room_id")
    }

    pub async fn join(&self, user: &User, room: &str) -> Result<()> {
        let path = format!("/_matrix/client/v3/join/{}", encode(room));
        self.ok(
            reqwest::Method::POST,
            &path,
            Some(&user.token),
            Some(&json!({})),
        )
        .await?;
        Ok(())
    }

    /// Sends a text message; its event id.
    pub async fn send(&self, user: &User, room: &str, txn: &str, body: &str) -> Result<String> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            encode(room)
        );
        let sent = self
            .ok(
                reqwest::Method::PUT,
                &path,
                Some(&user.token),
                Some(&json!({"msgtype": "m.text", "body": body})),
            )
            .await?;
        sent["event_id"]
            .as_str()
            .map(str::to_owned)
            .context("send returned no event_id")
    }

    /// `GET /rooms/{room}/messages` backwards from `from` (the newest events without it).
    pub async fn messages(
        &self,
        user: &User,
        room: &str,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Value> {
        let mut path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit={limit}",
            encode(room)
        );
        if let Some(from) = from {
            path.push_str(&format!("&from={}", encode(from)));
        }
        self.ok(reqwest::Method::GET, &path, Some(&user.token), None)
            .await
    }

    /// `GET /sync`; the whole response.
    pub async fn sync(
        &self,
        user: &User,
        since: Option<&str>,
        timeout_ms: u64,
        filter: Option<&Value>,
    ) -> Result<Value> {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str(&format!("&since={}", encode(since)));
        }
        if let Some(filter) = filter {
            path.push_str(&format!("&filter={}", encode(&filter.to_string())));
        }
        self.ok(reqwest::Method::GET, &path, Some(&user.token), None)
            .await
    }
}

fn user_from(localpart: &str, session: &Value) -> Result<User> {
    Ok(User {
        localpart: localpart.to_owned(),
        token: session["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned(),
    })
}

/// Percent-encodes everything outside the unreserved set.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
