//! Accounts and sessions: registration (with user-interactive auth), login, access tokens,
//! logout.
//!
//! Access tokens are 32 random bytes, URL-safe base64, prefixed `rct_`; only their SHA-256 is
//! stored. Passwords are hashed with Argon2id on the blocking pool, never on a runtime worker.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::Rng as _;
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId, UserId};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{Error, ErrorKind, clock::now_ms};
use crate::{
    config::{Config, RegistrationMode},
    storage::{self, Device, NewUser, Stores},
};

/// The caller of an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthedUser {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub is_guest: bool,
    /// The address the request came from, for per-IP limits (set by the HTTP layer).
    pub client_ip: Option<std::net::IpAddr>,
}

/// A new session: what `/register` and `/login` answer with.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub access_token: String,
    /// Set when the client asked for a refreshable session.
    pub refresh_token: Option<String>,
    /// When the access token expires (refreshable sessions only).
    pub expires_in: Option<Duration>,
}

/// Where a new session's device comes from and whether it may be refreshed.
#[derive(Debug, Clone, Default)]
pub struct DeviceRequest {
    pub device_id: Option<OwnedDeviceId>,
    pub display_name: Option<String>,
    pub refreshable: bool,
}

pub struct RegisterRequest {
    pub username: Option<String>,
    pub password: Option<String>,
    pub device_id: Option<OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub inhibit_login: bool,
    pub refresh_token: bool,
    pub guest: bool,
    /// A guest's access token: the registration upgrades that guest to a full account.
    pub guest_access_token: Option<String>,
    pub auth: Option<UiaStage>,
}

impl RegisterRequest {
    /// The device the new account's first session is opened on.
    fn device(&self) -> DeviceRequest {
        DeviceRequest {
            device_id: self.device_id.clone(),
            display_name: self.initial_device_display_name.clone(),
            refreshable: self.refresh_token,
        }
    }
}

/// One completed stage of user-interactive auth, as the client sent it.
pub enum UiaStage {
    Dummy {
        session: Option<String>,
    },
    RegistrationToken {
        token: String,
        session: Option<String>,
    },
    /// `m.login.password`: `user` is the identifier the client gave (localpart or user id).
    Password {
        user: String,
        password: String,
        session: Option<String>,
    },
    Other {
        kind: String,
        session: Option<String>,
    },
}

impl UiaStage {
    fn session(&self) -> Option<&str> {
        match self {
            UiaStage::Dummy { session }
            | UiaStage::RegistrationToken { session, .. }
            | UiaStage::Password { session, .. }
            | UiaStage::Other { session, .. } => session.as_deref(),
        }
    }
}

pub enum RegisterOutcome {
    LoggedIn(Session),
    /// `inhibit_login`: the account exists, no session was opened.
    Registered(OwnedUserId),
}

const UIA_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 60);
const LOGIN_TOKEN_LIFETIME: Duration = Duration::from_secs(120);

/// Unused login tokens (by hash) with the user each logs in and when it lapses. In memory:
/// they live two minutes, and a restart costs only a retry.
#[derive(Default)]
struct LoginTokens {
    tokens: Mutex<HashMap<String, (OwnedUserId, Instant)>>,
}

impl LoginTokens {
    fn insert(&self, hash: String, user_id: OwnedUserId) {
        let mut tokens = self.tokens.lock().expect("login tokens poisoned");
        let now = Instant::now();
        tokens.retain(|_, (_, until)| *until > now);
        tokens.insert(hash, (user_id, now + LOGIN_TOKEN_LIFETIME));
    }

    fn take(&self, hash: &str) -> Option<OwnedUserId> {
        let mut tokens = self.tokens.lock().expect("login tokens poisoned");
        let (user_id, until) = tokens.remove(hash)?;
        (until > Instant::now()).then_some(user_id)
    }
}
const UIA_SESSION_LIMIT: usize = 10_000;

struct UiaSession {
    completed: Vec<&'static str>,
    created: Instant,
}

pub struct AccountService {
    server_name: OwnedServerName,
    mode: RegistrationMode,
    tokens: Vec<String>,
    stores: Stores,
    uia: Mutex<HashMap<String, UiaSession>>,
    guest_access: bool,
    access_token_lifetime: Duration,
    login_tokens: Option<LoginTokens>,
}

impl AccountService {
    /// `GET /register/m.login.registration_token/validity`: whether `token` would pass the
    /// registration-token stage now. With registration off, every token is refused outright.
    pub fn registration_token_is_valid(&self, token: &str) -> Result<bool, Error> {
        if self.mode == RegistrationMode::Disabled {
            return Err(Error::new(ErrorKind::Forbidden, "Registration is disabled"));
        }
        Ok(self.tokens.iter().any(|t| t == token))
    }

    pub fn new(config: &Config, stores: Stores) -> Self {
        Self {
            server_name: config.server_name.clone(),
            mode: config.registration.mode,
            tokens: config.registration.tokens.clone(),
            stores,
            uia: Mutex::new(HashMap::new()),
            guest_access: config.registration.guest_access,
            access_token_lifetime: Duration::from_secs(
                config.sessions.access_token_lifetime_seconds,
            ),
            login_tokens: config.sessions.login_tokens.then(LoginTokens::default),
        }
    }

    /// The registration flow this server offers (one stage).
    fn registration_stage(&self) -> &'static str {
        match self.mode {
            RegistrationMode::Token => "m.login.registration_token",
            _ => "m.login.dummy",
        }
    }

    /// Validates a requested localpart and builds the user id.
    pub fn user_id_for(&self, localpart: &str) -> Result<OwnedUserId, Error> {
        let valid = !localpart.is_empty()
            && localpart.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'));
        if !valid {
            return Err(Error::new(
                ErrorKind::InvalidUsername,
                "User names may contain only a-z, 0-9, and . _ = - / +",
            ));
        }
        let id = format!("@{localpart}:{}", self.server_name);
        if id.len() > 255 {
            return Err(Error::new(
                ErrorKind::InvalidUsername,
                "User id is longer than 255 bytes",
            ));
        }
        OwnedUserId::try_from(id).map_err(|e| Error::new(ErrorKind::InvalidUsername, e.to_string()))
    }

    /// Whether a user name is free. Answered whatever the registration mode: the spec documents
    /// no refusal here (Synapse refuses when registration is disabled; a client finds that out
    /// from `/register` instead).
    pub async fn username_available(&self, localpart: &str) -> Result<(), Error> {
        let user_id = self.user_id_for(localpart)?;
        if self.stores.users.get_user(&user_id).await?.is_some() {
            return Err(Error::new(ErrorKind::UserInUse, "User ID already taken"));
        }
        Ok(())
    }

    pub async fn register(&self, request: RegisterRequest) -> Result<RegisterOutcome, Error> {
        if request.guest {
            return self.register_guest(request).await;
        }
        if self.mode == RegistrationMode::Disabled {
            return Err(Error::new(ErrorKind::Forbidden, "Registration is disabled"));
        }
        if let Some(token) = request.guest_access_token.clone() {
            return self.upgrade_guest(request, &token).await;
        }
        let user_id = match &request.username {
            Some(name) => self.user_id_for(&name.to_lowercase())?,
            None => self.user_id_for(&random_localpart())?,
        };
        if self.stores.users.get_user(&user_id).await?.is_some() {
            return Err(Error::new(ErrorKind::UserInUse, "User ID already taken"));
        }
        self.complete_uia(request.auth.as_ref())?;
        let device = request.device();
        let password_hash = match request.password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        };
        let new_user = NewUser {
            user_id: user_id.clone(),
            password_hash,
            is_guest: false,
            is_admin: false,
            created_ts: now_ms(),
        };
        match self.stores.users.create_user(new_user).await {
            Ok(()) => {}
            Err(e) if e.kind == storage::ErrorKind::Conflict => {
                return Err(Error::new(ErrorKind::UserInUse, "User ID already taken"));
            }
            Err(e) => return Err(e.into()),
        }
        // New accounts start with their localpart as display name, as clients expect one.
        self.stores
            .profiles
            .set_profile_field(&user_id, "displayname", json!(user_id.localpart()))
            .await?;
        tracing::info!(%user_id, "registered");
        self.log_in_new_account(user_id, request.inhibit_login, device)
            .await
    }

    /// A guest becomes a full account, keeping its user id, rooms and data: the ordinary
    /// registration flow plus the guest's access token, and `username` naming the guest's own
    /// localpart (the spec's rule, so a stolen token alone cannot pick a new identity).
    async fn upgrade_guest(
        &self,
        request: RegisterRequest,
        token: &str,
    ) -> Result<RegisterOutcome, Error> {
        let forbidden = || Error::new(ErrorKind::Forbidden, "Not a guest's access token");
        let owner = self
            .stores
            .devices
            .find_token(&token_hash(token))
            .await?
            .filter(|owner| owner.is_guest)
            .ok_or_else(forbidden)?;
        let named = request
            .username
            .as_deref()
            .is_some_and(|name| name.to_lowercase() == owner.user_id.localpart());
        if !named {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "`username` must be the guest's own localpart",
            ));
        }
        self.complete_uia(request.auth.as_ref())?;
        let device = request.device();
        let password_hash = match request.password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        };
        if !self
            .stores
            .users
            .upgrade_guest(&owner.user_id, password_hash)
            .await?
        {
            return Err(forbidden());
        }
        tracing::info!(user_id = %owner.user_id, "guest upgraded to a full account");
        self.log_in_new_account(owner.user_id, request.inhibit_login, device)
            .await
    }

    /// The end of every registration: a session for the new account's first device, unless
    /// the client asked for none (`inhibit_login`).
    async fn log_in_new_account(
        &self,
        user_id: OwnedUserId,
        inhibit_login: bool,
        device: DeviceRequest,
    ) -> Result<RegisterOutcome, Error> {
        if inhibit_login {
            return Ok(RegisterOutcome::Registered(user_id));
        }
        let session = self.open_session(user_id, device).await?;
        Ok(RegisterOutcome::LoggedIn(session))
    }

    /// A guest account: a generated id, no password, no user-interactive auth, and a session
    /// at once. Independent of the registration mode; off unless `guest_access` is on.
    async fn register_guest(&self, request: RegisterRequest) -> Result<RegisterOutcome, Error> {
        if !self.guest_access {
            return Err(Error::new(ErrorKind::Forbidden, "Guest access is disabled"));
        }
        let user_id = self.user_id_for(&random_localpart())?;
        self.stores
            .users
            .create_user(NewUser {
                user_id: user_id.clone(),
                password_hash: None,
                is_guest: true,
                is_admin: false,
                created_ts: now_ms(),
            })
            .await?;
        tracing::info!(%user_id, "guest registered");
        // A guest always gets its session: without one the account could never be used.
        self.log_in_new_account(user_id, false, request.device())
            .await
    }

    /// Advances user-interactive auth for registration; `Ok` once the flow is complete.
    fn complete_uia(&self, stage: Option<&UiaStage>) -> Result<(), Error> {
        let required = self.registration_stage();
        let mut sessions = self.uia.lock().expect("uia sessions poisoned");
        sessions.retain(|_, s| s.created.elapsed() < UIA_SESSION_LIFETIME);
        let challenge = |session: &str, completed: &[&str]| {
            json!({
                "flows": [{"stages": [required]}],
                "params": {},
                "session": session,
                "completed": completed,
            })
        };
        let Some(stage) = stage else {
            let session = open_uia_session(&mut sessions)?;
            return Err(Error::new(ErrorKind::UserInteractive { failed: false }, "")
                .with_body(challenge(&session, &[])));
        };
        // A client may complete a one-stage flow in its first request, without a session
        // (matrix-nio does, for m.login.dummy); that opens one, as Synapse does.
        let session_id = match stage.session() {
            Some(id) => id.to_owned(),
            None => open_uia_session(&mut sessions)?,
        };
        let Some(session) = sessions.get_mut(&session_id) else {
            return Err(Error::new(
                ErrorKind::UserInteractive { failed: true },
                "Unknown or expired session",
            )
            .with_body(challenge(&session_id, &[])));
        };
        let passed = match stage {
            UiaStage::Dummy { .. } => required == "m.login.dummy",
            UiaStage::RegistrationToken { token, .. } => {
                required == "m.login.registration_token" && self.tokens.iter().any(|t| t == token)
            }
            UiaStage::Password { .. } | UiaStage::Other { .. } => false,
        };
        if !passed {
            let completed = session.completed.clone();
            return Err(Error::new(
                ErrorKind::UserInteractive { failed: true },
                "Authentication stage failed",
            )
            .with_body(challenge(&session_id, &completed)));
        }
        session.completed.push(required);
        sessions.remove(&session_id);
        Ok(())
    }

    /// Password login. `user` is a localpart or a full user id of this server.
    pub async fn login_with_password(
        &self,
        user: &str,
        password: String,
        device: DeviceRequest,
    ) -> Result<Session, Error> {
        let forbidden = || Error::new(ErrorKind::Forbidden, "Invalid username or password");
        let user_id = if user.starts_with('@') {
            OwnedUserId::try_from(user.to_lowercase()).map_err(|_| forbidden())?
        } else {
            self.user_id_for(&user.to_lowercase())
                .map_err(|_| forbidden())?
        };
        if user_id.server_name() != self.server_name {
            return Err(forbidden());
        }
        let Some(account) = self.stores.users.get_user(&user_id).await? else {
            // Spend the same effort as a real check so timing does not reveal which users exist.
            let _ = verify_password(password, DUMMY_HASH.to_owned()).await;
            return Err(forbidden());
        };
        if account.deactivated {
            return Err(Error::new(
                ErrorKind::UserDeactivated,
                "This account has been deactivated",
            ));
        }
        let Some(hash) = account.password_hash else {
            return Err(forbidden());
        };
        if !verify_password(password, hash).await? {
            return Err(forbidden());
        }
        self.open_session(user_id, device).await
    }

    async fn open_session(
        &self,
        user_id: OwnedUserId,
        request: DeviceRequest,
    ) -> Result<Session, Error> {
        let device_id = request
            .device_id
            .unwrap_or_else(|| OwnedDeviceId::from(random_device_id()));
        let access_token = format!("rct_{}", random_token(32));
        let now = now_ms();
        let expires_ts = request
            .refreshable
            .then(|| now + self.access_token_lifetime.as_millis() as i64);
        let device = Device {
            user_id: user_id.clone(),
            device_id: device_id.clone(),
            display_name: request.display_name,
            created_ts: now,
            last_seen_ts: None,
            last_seen_ip: None,
        };
        self.stores
            .devices
            .create_device_with_token(device, token_hash(&access_token), expires_ts)
            .await?;
        let refresh_token = if request.refreshable {
            let refresh = format!("rcr_{}", random_token(32));
            self.stores
                .devices
                .add_refresh_token(token_hash(&refresh), token_hash(&access_token), now)
                .await?;
            Some(refresh)
        } else {
            None
        };
        Ok(Session {
            user_id,
            device_id,
            access_token,
            expires_in: refresh_token.as_ref().map(|_| self.access_token_lifetime),
            refresh_token,
        })
    }

    /// `POST /refresh`: a new access token and refresh token for the session the refresh token
    /// belongs to; the old access token stops working at once. The old refresh token stays
    /// valid until the new access or refresh token is used (the spec's rule), so a client whose
    /// response was lost repeats the refresh instead of being logged out.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, Error> {
        let access_token = format!("rct_{}", random_token(32));
        let refresh = format!("rcr_{}", random_token(32));
        let now = now_ms();
        let expires_ts = now + self.access_token_lifetime.as_millis() as i64;
        let owner = self
            .stores
            .devices
            .rotate_refresh_token(
                &token_hash(refresh_token),
                token_hash(&access_token),
                Some(expires_ts),
                token_hash(&refresh),
                now,
            )
            .await?
            .ok_or_else(|| Error::new(ErrorKind::UnknownToken, "Unknown refresh token"))?;
        Ok(Session {
            user_id: owner.user_id,
            device_id: owner.device_id,
            access_token,
            refresh_token: Some(refresh),
            expires_in: Some(self.access_token_lifetime),
        })
    }

    /// Whether `/login/get_token` is offered.
    pub fn login_tokens_enabled(&self) -> bool {
        self.login_tokens.is_some()
    }

    /// `POST /login/get_token`: after the caller re-enters their password, a single-use token
    /// that logs another device in as them.
    pub async fn mint_login_token(
        &self,
        user: &AuthedUser,
        stage: Option<UiaStage>,
    ) -> Result<(String, Duration), Error> {
        let Some(tokens) = &self.login_tokens else {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "Login tokens are disabled on this server",
            ));
        };
        self.require_password(user, stage).await?;
        let token = format!("rcl_{}", random_token(24));
        tokens.insert(token_hash(&token), user.user_id.clone());
        Ok((token, LOGIN_TOKEN_LIFETIME))
    }

    /// `m.login.token` login: the token is consumed whether or not the login succeeds.
    pub async fn login_with_token(
        &self,
        token: &str,
        device: DeviceRequest,
    ) -> Result<Session, Error> {
        let user_id = self
            .login_tokens
            .as_ref()
            .and_then(|tokens| tokens.take(&token_hash(token)))
            .ok_or_else(|| Error::new(ErrorKind::Forbidden, "Invalid or expired login token"))?;
        let account = self.stores.users.get_user(&user_id).await?;
        if account.is_none_or(|a| a.deactivated) {
            return Err(Error::new(
                ErrorKind::UserDeactivated,
                "This account has been deactivated",
            ));
        }
        self.open_session(user_id, device).await
    }

    /// Resolves an access token to its session.
    pub async fn authenticate(&self, access_token: &str) -> Result<AuthedUser, Error> {
        let unknown = || Error::new(ErrorKind::UnknownToken, "Unknown access token");
        let owner = self
            .stores
            .devices
            .find_token(&token_hash(access_token))
            .await?
            .ok_or_else(unknown)?;
        if owner.retires_refresh {
            self.stores
                .devices
                .retire_refreshed(&token_hash(access_token))
                .await?;
        }
        if owner.expires_ts.is_some_and(|t| t <= now_ms()) {
            // The session lives on behind its refresh token: the client should refresh, not
            // throw its state away.
            return Err(Error::new(ErrorKind::UnknownToken, "Access token expired")
                .with_body(json!({ "soft_logout": true })));
        }
        Ok(AuthedUser {
            user_id: owner.user_id,
            device_id: owner.device_id,
            is_guest: owner.is_guest,
            client_ip: None,
        })
    }

    /// Ends the caller's session: its device and every token of that device.
    pub async fn logout(&self, user: &AuthedUser) -> Result<(), Error> {
        self.stores
            .devices
            .delete_device(&user.user_id, user.device_id.as_str())
            .await?;
        Ok(())
    }

    /// Ends every session of the caller's account.
    pub async fn logout_all(&self, user_id: &UserId) -> Result<(), Error> {
        self.stores.devices.delete_all_devices(user_id).await?;
        Ok(())
    }

    /// User-interactive auth with the account's password, for the sensitive operations of a
    /// logged-in user (deleting devices, changing the password, deactivating). `Ok` once the
    /// password was given correctly for a session this server issued.
    pub async fn require_password(
        &self,
        user: &AuthedUser,
        stage: Option<UiaStage>,
    ) -> Result<(), Error> {
        const STAGE: &str = "m.login.password";
        let challenge = |session: &str| json!({"flows": [{"stages": [STAGE]}], "params": {}, "session": session, "completed": []});
        let Some(stage) = stage else {
            let session = open_uia_session(&mut self.uia.lock().expect("uia sessions poisoned"))?;
            return Err(Error::new(ErrorKind::UserInteractive { failed: false }, "")
                .with_body(challenge(&session)));
        };
        let session_id = match stage.session() {
            Some(id) => id.to_owned(),
            None => open_uia_session(&mut self.uia.lock().expect("uia sessions poisoned"))?,
        };
        let known = self
            .uia
            .lock()
            .expect("uia sessions poisoned")
            .contains_key(&session_id);
        let failed = |message: &str| {
            Err(
                Error::new(ErrorKind::UserInteractive { failed: true }, message)
                    .with_body(challenge(&session_id)),
            )
        };
        if !known {
            return failed("Unknown or expired session");
        }
        let UiaStage::Password {
            user: identifier,
            password,
            ..
        } = stage
        else {
            return failed("This operation needs m.login.password");
        };
        let names_caller = identifier.to_lowercase() == user.user_id.as_str()
            || self
                .user_id_for(&identifier.to_lowercase())
                .is_ok_and(|id| id == user.user_id);
        if !names_caller {
            return failed("The password must be the caller's own");
        }
        let hash = self
            .stores
            .users
            .get_user(&user.user_id)
            .await?
            .and_then(|u| u.password_hash);
        let Some(hash) = hash else {
            return failed("This account has no password");
        };
        if !verify_password(password, hash).await? {
            return failed("Invalid password");
        }
        self.uia
            .lock()
            .expect("uia sessions poisoned")
            .remove(&session_id);
        Ok(())
    }

    pub async fn list_devices(&self, user: &AuthedUser) -> Result<Vec<Device>, Error> {
        Ok(self.stores.devices.list_devices(&user.user_id).await?)
    }

    /// One of the caller's devices; another user's device is as unknown as a missing one.
    pub async fn get_device(&self, user: &AuthedUser, device_id: &str) -> Result<Device, Error> {
        self.stores
            .devices
            .get_device(&user.user_id, device_id)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Unknown device"))
    }

    pub async fn rename_device(
        &self,
        user: &AuthedUser,
        device_id: &str,
        name: Option<String>,
    ) -> Result<(), Error> {
        if self
            .stores
            .devices
            .set_display_name(&user.user_id, device_id, name)
            .await?
        {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::NotFound, "Unknown device"))
        }
    }

    /// Deletes some of the caller's devices (and their tokens) after password auth. Unknown ids
    /// are ignored, as the spec asks for the bulk endpoint.
    pub async fn delete_devices(
        &self,
        user: &AuthedUser,
        device_ids: &[String],
        auth: Option<UiaStage>,
    ) -> Result<(), Error> {
        self.require_password(user, auth).await?;
        for device_id in device_ids {
            self.stores
                .devices
                .delete_device(&user.user_id, device_id)
                .await?;
        }
        Ok(())
    }

    /// Sets a new password after password auth; with `logout_devices`, every other session of
    /// the account ends.
    pub async fn change_password(
        &self,
        user: &AuthedUser,
        new_password: String,
        logout_devices: bool,
        auth: Option<UiaStage>,
    ) -> Result<(), Error> {
        self.require_password(user, auth).await?;
        if new_password.is_empty() {
            return Err(Error::new(
                ErrorKind::BadJson,
                "new_password must not be empty",
            ));
        }
        let hash = hash_password(new_password).await?;
        self.stores
            .users
            .set_password_hash(&user.user_id, Some(hash))
            .await?;
        if logout_devices {
            for device in self.stores.devices.list_devices(&user.user_id).await? {
                if device.device_id != user.device_id {
                    self.stores
                        .devices
                        .delete_device(&user.user_id, device.device_id.as_str())
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Deactivates the caller's account after password auth: no password, no sessions.
    pub async fn deactivate(&self, user: &AuthedUser, auth: Option<UiaStage>) -> Result<(), Error> {
        self.require_password(user, auth).await?;
        self.stores.users.deactivate_user(&user.user_id).await?;
        self.stores
            .devices
            .delete_all_devices(&user.user_id)
            .await?;
        tracing::info!(user_id = %user.user_id, "deactivated");
        Ok(())
    }

    /// Creates an account from the command line, regardless of the registration mode.
    pub async fn create_user(
        &self,
        localpart: &str,
        password: Option<String>,
        admin: bool,
    ) -> Result<OwnedUserId, Error> {
        let user_id = self.user_id_for(localpart)?;
        let password_hash = match password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let new_user = NewUser {
            user_id: user_id.clone(),
            password_hash,
            is_guest: false,
            is_admin: admin,
            created_ts: now_ms(),
        };
        match self.stores.users.create_user(new_user).await {
            Ok(()) => Ok(user_id),
            Err(e) if e.kind == storage::ErrorKind::Conflict => Err(Error::new(
                ErrorKind::UserInUse,
                format!("{user_id} already exists"),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// Starts a user-interactive auth session, dropping expired ones; refuses when too many are
/// open, so unauthenticated clients cannot grow the map without bound.
fn open_uia_session(sessions: &mut HashMap<String, UiaSession>) -> Result<String, Error> {
    sessions.retain(|_, s| s.created.elapsed() < UIA_SESSION_LIFETIME);
    if sessions.len() >= UIA_SESSION_LIMIT {
        return Err(Error::new(
            ErrorKind::LimitExceeded {
                retry_after_ms: 10_000,
            },
            "Too many authentication sessions in progress",
        ));
    }
    let session = random_token(16);
    sessions.insert(
        session.clone(),
        UiaSession {
            completed: Vec::new(),
            created: Instant::now(),
        },
    );
    Ok(session)
}

/// An Argon2id hash of a fixed password, verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=7168,t=5,p=1$c29tZXNhbHRzb21lc2FsdA$9dFGKOOd9L74nMnznMgYwWTRHI2yT8tT5FApxd/k8wE";

/// Argon2id with 7 MiB and five passes: one of OWASP's equivalent recommendations for Argon2id
/// (alongside 19 MiB with two passes), chosen because memory held per concurrent hash is what
/// bounds the server's peak resident size under a burst of logins. Stored hashes carry their
/// own parameters, so older ones still verify.
fn argon2() -> Argon2<'static> {
    let params = argon2::Params::new(7 * 1024, 5, 1, None).expect("valid Argon2 parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Password hashes running at once. Each Argon2 run holds 7 MiB and keeps a core busy: with
/// a hash per core, a burst of logins stalls every other request, and the hashes' memory is
/// the largest part of the server's peak (`docs/PERFORMANCE.md`).
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    tokio::sync::Semaphore::new(hashing_slots(cores))
});

/// Half the cores, at least one and at most four: the other half stays free for the rest of
/// the traffic during a burst of logins or registrations.
fn hashing_slots(cores: usize) -> usize {
    (cores / 2).clamp(1, 4)
}

async fn hashing_permit() -> Result<tokio::sync::SemaphorePermit<'static>, Error> {
    HASHING
        .acquire()
        .await
        .map_err(|e| Error::internal(format!("hashing permit: {e}")))
}

async fn hash_password(password: String) -> Result<String, Error> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

async fn verify_password(password: String, hash: String) -> Result<bool, Error> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&hash).map_err(|e| Error::internal(format!("stored hash: {e}")))?;
        Ok(argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

fn random_device_id() -> String {
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(b'A' + rng.random_range(0..26)))
        .collect()
}

fn random_localpart() -> String {
    let mut rng = rand::rng();
    let digits: String = (0..12)
        .map(|_| char::from(b'0' + rng.random_range(0..10)))
        .collect();
    format!("u{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_leaves_half_the_cores_to_other_requests() {
        let slots: Vec<usize> = [1, 2, 3, 4, 8, 16, 64].map(hashing_slots).to_vec();
        assert_eq!(slots, vec![1, 1, 1, 2, 4, 4, 4]);
    }

    #[test]
    fn dummy_hash_is_a_valid_argon2_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn dummy_hash_costs_what_a_real_one_does() {
        // Unknown users are answered after verifying against the dummy hash, so it must use
        // the parameters real hashes use, or timing would tell which users exist.
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
        let real = argon2().hash_password(b"a password", &salt).unwrap();
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.algorithm, real.algorithm);
    }

    #[test]
    fn token_hashes_are_stable_and_distinct() {
        assert_eq!(token_hash("a"), token_hash("a"));
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_ne!(random_token(32), random_token(32));
    }
}
