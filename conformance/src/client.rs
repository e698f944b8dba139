//! A validating HTTP client for cases: requests name their spec operation, and every response
//! is checked against that operation's documented statuses and response schema. A violation
//! fails the case with the JSON pointer of the mismatch.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::Method;
use serde_json::Value;

use crate::{case::CaseError, spec::Spec};

/// Everything a case needs to talk to the server under test.
#[derive(Clone)]
pub struct Ctx {
    pub base_url: String,
    http: reqwest::Client,
    /// Registration token to use when the server requires one.
    pub registration_token: Option<String>,
    /// Operations this case has exercised (for the coverage report).
    exercised: Arc<Mutex<BTreeSet<(String, String)>>>,
}

impl Ctx {
    pub fn new(base_url: &str, registration_token: Option<String>) -> Result<Self, String> {
        // reqwest is built without a default crypto provider; ring is the one in the graph.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
            registration_token,
            exercised: Arc::default(),
        })
    }

    /// A fresh context for one case: same server, its own record of exercised operations.
    pub fn for_case(&self) -> Self {
        Self {
            exercised: Arc::default(),
            ..self.clone()
        }
    }

    pub fn exercised(&self) -> BTreeSet<(String, String)> {
        self.exercised.lock().expect("poisoned").clone()
    }

    /// A request to a spec operation; the response will be validated against it.
    pub fn op(&self, method: Method, template: &'static str) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, template.to_owned(), true)
    }

    /// Registers a fresh user through the standard API (user-interactive auth with
    /// `m.login.dummy`, or `m.login.registration_token` when a token was given) and returns
    /// its session. Skips the case when the server does not allow registration.
    pub async fn register_user(&self, prefix: &str) -> Result<UserSession, CaseError> {
        let username = format!("{prefix}{}", rand::random::<u32>());
        let password = format!("pw-{}", rand::random::<u64>());
        let body = serde_json::json!({"username": username, "password": password});
        let first = self
            .op(Method::POST, "/_matrix/client/v3/register")
            .json(&body)
            .send()
            .await?;
        if first.status == 403 {
            return Err(CaseError::Skip(
                "the server does not allow registration".to_owned(),
            ));
        }
        if first.status == 200 {
            return UserSession::from_response(&first, password);
        }
        let challenge = first.json()?.clone();
        let session = challenge["session"].as_str().unwrap_or_default().to_owned();
        let stages: Vec<String> = challenge["flows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["stages"].as_array())
            .filter(|stages| stages.len() == 1)
            .filter_map(|stages| stages[0].as_str().map(str::to_owned))
            .collect();
        let auth = if stages.iter().any(|s| s == "m.login.dummy") {
            serde_json::json!({"type": "m.login.dummy", "session": session})
        } else if let (true, Some(token)) = (
            stages.iter().any(|s| s == "m.login.registration_token"),
            &self.registration_token,
        ) {
            serde_json::json!({"type": "m.login.registration_token", "token": token, "session": session})
        } else {
            return Err(CaseError::Skip(format!(
                "no registration flow this suite can complete: {stages:?}"
            )));
        };
        let mut body = body;
        body["auth"] = auth;
        let done = self
            .op(Method::POST, "/_matrix/client/v3/register")
            .json(&body)
            .send()
            .await?
            .expect_status(200)?;
        UserSession::from_response(&done, password)
    }

    /// Logs the user in again with their password: a new device and token.
    pub async fn login_again(&self, user: &UserSession) -> Result<UserSession, CaseError> {
        let body = serde_json::json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user.user_id},
            "password": user.password,
        });
        let response = self
            .op(Method::POST, "/_matrix/client/v3/login")
            .json(&body)
            .send()
            .await?
            .expect_status(200)?;
        UserSession::from_response(&response, user.password.clone())
    }

    /// The errcode `GET /account/whoami` answers with this token (`None` when it works).
    pub async fn whoami_errcode(&self, token: &str) -> Result<Option<String>, CaseError> {
        let response = self
            .op(Method::GET, "/_matrix/client/v3/account/whoami")
            .token(token)
            .send()
            .await?;
        Ok(response.errcode().map(str::to_owned))
    }

    /// A request outside the spec's operations (unknown paths, operations endpoints); only the
    /// standard error body is checked, when there is one.
    pub fn raw(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, path.to_owned(), false)
    }
}

pub struct RequestBuilder {
    ctx: Ctx,
    method: Method,
    template: String,
    validate: bool,
    /// Whether a documented response's body is checked against its schema.
    check_schema: bool,
    args: Vec<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(Vec<u8>, String)>,
    access_token: Option<String>,
}

impl RequestBuilder {
    fn new(ctx: Ctx, method: Method, template: String, validate: bool) -> Self {
        Self {
            ctx,
            method,
            template,
            validate,
            check_schema: true,
            args: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            access_token: None,
        }
    }

    /// Checks only the status and error shape, not the body's schema: for requests whose
    /// answer the spec lets the server trim below the schema (a filter's `event_fields` may
    /// drop fields the event schemas mark required).
    pub fn without_schema(mut self) -> Self {
        self.check_schema = false;
        self
    }

    /// The next path parameter, in template order; it is percent-encoded here.
    pub fn arg(mut self, value: &str) -> Self {
        self.args.push(value.to_owned());
        self
    }

    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn header(mut self, key: &str, value: &str) -> Self {
        self.headers.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some((body.to_string().into_bytes(), "application/json".to_owned()));
        self
    }

    /// A body sent as is, for malformed-input cases.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = Some((bytes.into(), content_type.to_owned()));
        self
    }

    pub fn token(mut self, access_token: &str) -> Self {
        self.access_token = Some(access_token.to_owned());
        self
    }

    fn path(&self) -> Result<String, CaseError> {
        if !self.validate {
            return Ok(self.template.clone());
        }
        let mut args = self.args.iter();
        let mut out = Vec::new();
        for segment in self.template.split('/') {
            if segment.starts_with('{') && segment.ends_with('}') {
                let value = args.next().ok_or_else(|| {
                    CaseError::Fail(format!(
                        "case bug: no value for {segment} in {}",
                        self.template
                    ))
                })?;
                out.push(percent_encode(value));
            } else {
                out.push(segment.to_owned());
            }
        }
        Ok(out.join("/"))
    }

    pub async fn send(self) -> Result<Response, CaseError> {
        let operation = if self.validate {
            let op = Spec::get()
                .operation(self.method.as_str(), &self.template)
                .ok_or_else(|| {
                    CaseError::Fail(format!(
                        "case bug: {} {} is not an operation of the spec",
                        self.method, self.template
                    ))
                })?;
            Some(op)
        } else {
            None
        };
        let url = format!("{}{}", self.ctx.base_url, self.path()?);
        let mut request = self.ctx.http.request(self.method.clone(), &url);
        if !self.query.is_empty() {
            request = request.query(&self.query);
        }
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        if let Some(token) = &self.access_token {
            request = request.bearer_auth(token);
        }
        if let Some((bytes, content_type)) = self.body {
            request = request
                .header(http::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let response = request.send().await.map_err(|e| {
            // reqwest's own message hides the cause (reset, closed, timed out): name it.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            CaseError::Fail(format!("{} {url}: request failed: {message}", self.method))
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| CaseError::Fail(format!("{} {url}: reading body: {e}", self.method)))?;
        let is_json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let json = if is_json && !body.is_empty() {
            Some(serde_json::from_slice::<Value>(&body).map_err(|e| {
                CaseError::Fail(format!(
                    "{} {url}: Content-Type is JSON but the body is not: {e}",
                    self.method
                ))
            })?)
        } else {
            None
        };
        if let Some(op) = operation {
            self.ctx
                .exercised
                .lock()
                .expect("poisoned")
                .insert(op.key());
            let checked = json.as_ref().filter(|_| self.check_schema || status >= 400);
            let problems = op.check_response(status, checked);
            if !problems.is_empty() {
                let mut message = problems.join("; ");
                if status >= 400 {
                    message.push_str(&format!(" (body: {})", String::from_utf8_lossy(&body)));
                }
                return Err(CaseError::Fail(message));
            }
        } else if status >= 400 {
            check_error_body(status, json.as_ref(), self.method.as_str(), &url)?;
        }
        Ok(Response {
            status,
            headers,
            body: body.to_vec(),
            json,
        })
    }
}

/// Non-operation errors still must use the standard error shape.
fn check_error_body(
    status: u16,
    json: Option<&Value>,
    method: &str,
    url: &str,
) -> Result<(), CaseError> {
    let errcode = json.and_then(|j| j.get("errcode")).and_then(Value::as_str);
    let has_message = json
        .and_then(|j| j.get("error"))
        .is_some_and(Value::is_string);
    match errcode {
        Some(code) if crate::spec::is_errcode(code) && has_message => Ok(()),
        _ => Err(CaseError::Fail(format!(
            "{method} {url}: error {status} is not a standard error with errcode and error \
             (body: {json:?})"
        ))),
    }
}

fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A response that passed validation.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub json: Option<Value>,
}

impl Response {
    pub fn expect_status(self, expected: u16) -> Result<Self, CaseError> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(CaseError::Fail(format!(
                "expected status {expected}, got {} with body {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )))
        }
    }

    /// The JSON body, or a failure if there is none.
    pub fn json(&self) -> Result<&Value, CaseError> {
        self.json
            .as_ref()
            .ok_or_else(|| CaseError::Fail("response has no JSON body".to_owned()))
    }

    pub fn errcode(&self) -> Option<&str> {
        self.json.as_ref()?.get("errcode")?.as_str()
    }

    /// Fails unless this is a refusal (a 4xx). Where the spec names no errcode for the
    /// situation, any standard one will do: the validator has checked its shape already.
    pub fn expect_refusal(self, what: &str) -> Result<Self, CaseError> {
        if (400..500).contains(&self.status) {
            Ok(self)
        } else {
            Err(CaseError::Fail(format!(
                "{what}: expected a refusal (4xx), got {} with body {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )))
        }
    }

    /// Fails unless the errcode is one of `allowed` (the spec's text names each for this
    /// situation).
    pub fn expect_errcode_in(self, allowed: &[&str], what: &str) -> Result<Self, CaseError> {
        match self.errcode() {
            Some(code) if allowed.contains(&code) => Ok(self),
            other => Err(CaseError::Fail(format!(
                "{what}: expected one of {allowed:?}, got {other:?}"
            ))),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// A registered user's session.
#[derive(Debug, Clone)]
pub struct UserSession {
    pub user_id: String,
    pub access_token: String,
    pub device_id: String,
    pub password: String,
}

impl UserSession {
    fn from_response(response: &Response, password: String) -> Result<Self, CaseError> {
        let json = response.json()?;
        let field = |name: &str| {
            json[name].as_str().map(str::to_owned).ok_or_else(|| {
                CaseError::Fail(format!("registration response lacks {name}: {json}"))
            })
        };
        Ok(Self {
            user_id: field("user_id")?,
            access_token: field("access_token")?,
            device_id: field("device_id")?,
            password,
        })
    }

    /// The localpart of the user id.
    pub fn localpart(&self) -> &str {
        self.user_id
            .trim_start_matches('@')
            .split(':')
            .next()
            .unwrap_or_default()
    }
}
