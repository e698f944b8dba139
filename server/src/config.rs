//! Typed server configuration.
//!
//! Every key has a default that works with no file at all. A file is parsed strictly: an
//! unknown key is an error, so a typo never silently falls back to a default. Errors name the
//! key (as a dotted path) and the reason, on one line.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use ruma::OwnedServerName;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server_name: OwnedServerName,
    pub data_dir: PathBuf,
    pub listen: ListenConfig,
    pub tls: TlsConfig,
    pub federation: FederationConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub registration: RegistrationConfig,
    pub sessions: SessionsConfig,
    pub rate_limits: RateLimitConfig,
    pub appservices: AppservicesConfig,
    pub limits: LimitsConfig,
    pub media: MediaConfig,
    pub well_known: WellKnownConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// Client API, plain HTTP (put a TLS-terminating proxy in front for public use).
    pub client: SocketAddr,
    /// Federation API, TLS. Not served yet: federation is a later milestone.
    pub federation: SocketAddr,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a request from one of these
    /// addresses is attributed (for per-IP rate limits) to the client the header names.
    /// Empty: every request is attributed to its peer address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain for the federation listener. Empty: not configured.
    pub cert: String,
    /// PEM private key for the federation listener. Empty: not configured.
    pub key: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Extra CA files trusted for outbound federation (tests, private deployments).
    pub trusted_ca: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`. Empty: `sqlite://<data_dir>/rechain.db`.
    pub url: String,
    /// Connections in the pool. 0: a default per backend (4 for SQLite, 16 for PostgreSQL).
    pub pool_size: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port/db`. Empty: no Redis.
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    Open,
    Token,
    #[default]
    Disabled,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    pub mode: RegistrationMode,
    /// Tokens accepted when `mode = "token"`.
    pub tokens: Vec<String>,
    /// Allow guest accounts (`/register?kind=guest`): no password, limited to reading and
    /// taking part in rooms that admit guests.
    pub guest_access: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// How long an access token lives when the client asked for a refresh token, in seconds.
    /// Sessions without refresh tokens do not expire.
    pub access_token_lifetime_seconds: u64,
    /// Let logged-in clients mint single-use `m.login.token`s (`/login/get_token`) to sign in
    /// another device.
    pub login_tokens: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Login attempts, per client IP and per account.
    pub login: Bucket,
    /// Registration attempts, per client IP.
    pub registration: Bucket,
    /// Events sent (messages, state, redactions), per user.
    pub message: Bucket,
    /// Room joins, per user.
    pub joins: Bucket,
    /// Invites sent, per user.
    pub invites: Bucket,
    /// Rooms created, per user.
    pub room_creation: Bucket,
    /// Sending, joins, invites and room creation are also limited per client IP, with the
    /// per-user bucket scaled by this factor (rate and burst): people behind one address
    /// share it. 0 turns these per-IP limits off. Behind a reverse proxy, list it in
    /// `listen.trusted_proxies`, or every user shares the proxy's address.
    pub per_ip_multiplier: u32,
}

/// A token bucket: `burst` actions at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppservicesConfig {
    /// Application-service registration YAML files.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted on the client API, in bytes.
    pub max_request_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Where uploaded files are kept. Empty: `<data_dir>/media`.
    pub store_path: String,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Reservations (`POST /_matrix/media/v1/create`) a user may hold without content.
    pub max_pending_uploads: u32,
    /// How long such a reservation waits for its content, in seconds.
    pub pending_expiry_seconds: u64,
    /// Largest image (width × height) the server decodes to make a thumbnail.
    pub max_thumbnail_pixels: u64,
    /// Serve downloads and thumbnails on the deprecated unauthenticated `/_matrix/media/*`
    /// paths too. `false` is the freeze the spec asks of servers since v1.12; older clients
    /// still use these paths.
    pub unauthenticated_downloads: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WellKnownConfig {
    /// `m.homeserver.base_url` served at `/.well-known/matrix/client`.
    /// Empty: `http://<listen.client>`.
    pub client: String,
    /// `m.server` served at `/.well-known/matrix/server`.
    /// Empty: `<server_name>:<port of listen.federation>`.
    pub server: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `rechain_server=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    pub format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: OwnedServerName::try_from("localhost").expect("valid server name"),
            data_dir: PathBuf::from("./data"),
            listen: ListenConfig::default(),
            tls: TlsConfig::default(),
            federation: FederationConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            registration: RegistrationConfig::default(),
            sessions: SessionsConfig::default(),
            rate_limits: RateLimitConfig::default(),
            appservices: AppservicesConfig::default(),
            limits: LimitsConfig::default(),
            media: MediaConfig::default(),
            well_known: WellKnownConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            client: SocketAddr::from(([127, 0, 0, 1], 8008)),
            federation: SocketAddr::from(([127, 0, 0, 1], 8448)),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            login: Bucket {
                per_second: 0.17,
                burst: 3,
            },
            registration: Bucket {
                per_second: 0.17,
                burst: 3,
            },
            message: Bucket {
                per_second: 0.2,
                burst: 10,
            },
            joins: Bucket {
                per_second: 0.1,
                burst: 10,
            },
            invites: Bucket {
                per_second: 0.05,
                burst: 5,
            },
            room_creation: Bucket {
                per_second: 0.05,
                burst: 5,
            },
            per_ip_multiplier: 10,
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            access_token_lifetime_seconds: 300,
            login_tokens: false,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 1024 * 1024,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            store_path: String::new(),
            max_upload_bytes: 50 * 1024 * 1024,
            max_pending_uploads: 10,
            pending_expiry_seconds: 24 * 60 * 60,
            max_thumbnail_pixels: 32_000_000,
            unauthenticated_downloads: true,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Json,
        }
    }
}

/// A configuration problem: the dotted key it concerns and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "config: {}", self.reason)
        } else {
            write!(f, "config key `{}`: {}", self.key, self.reason)
        }
    }
}

impl ConfigError {
    fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            reason: one_line(&reason.into()),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Which database a URL points at, with its connection string for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path".to_owned());
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(format!("`{url}` is neither sqlite://PATH nor postgres://…"))
        }
    }
}

impl Config {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::new("", format!("not valid TOML: {}", e.message())))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            ConfigError::new(&key, e.into_inner().message().to_owned())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a config file; a missing or unreadable file is an error, never a silent default.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        DatabaseUrl::parse(&self.database_url())
            .map_err(|reason| ConfigError::new("database.url", reason))?;
        let redis = &self.redis.url;
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return Err(ConfigError::new(
                "redis.url",
                "must start with redis:// or rediss://",
            ));
        }
        if self.tls.cert.is_empty() != self.tls.key.is_empty() {
            let key = if self.tls.cert.is_empty() {
                "tls.cert"
            } else {
                "tls.key"
            };
            return Err(ConfigError::new(
                key,
                "tls.cert and tls.key must be set together",
            ));
        }
        if self.registration.mode == RegistrationMode::Token && self.registration.tokens.is_empty()
        {
            return Err(ConfigError::new(
                "registration.tokens",
                "mode \"token\" needs at least one token",
            ));
        }
        for (key, bucket) in [
            ("rate_limits.login", self.rate_limits.login),
            ("rate_limits.registration", self.rate_limits.registration),
            ("rate_limits.message", self.rate_limits.message),
            ("rate_limits.joins", self.rate_limits.joins),
            ("rate_limits.invites", self.rate_limits.invites),
            ("rate_limits.room_creation", self.rate_limits.room_creation),
        ] {
            if !(bucket.per_second.is_finite() && bucket.per_second > 0.0) || bucket.burst == 0 {
                return Err(ConfigError::new(
                    key,
                    "per_second must be > 0 and burst at least 1",
                ));
            }
        }
        if self.limits.max_request_bytes < 1024 {
            return Err(ConfigError::new(
                "limits.max_request_bytes",
                "must be at least 1024",
            ));
        }
        if self.sessions.access_token_lifetime_seconds == 0 {
            return Err(ConfigError::new(
                "sessions.access_token_lifetime_seconds",
                "must be at least 1",
            ));
        }
        if self.media.max_upload_bytes == 0 {
            return Err(ConfigError::new(
                "media.max_upload_bytes",
                "must be at least 1",
            ));
        }
        if self.media.pending_expiry_seconds == 0 {
            return Err(ConfigError::new(
                "media.pending_expiry_seconds",
                "must be at least 1",
            ));
        }
        let client = &self.well_known.client;
        if !(client.is_empty() || client.starts_with("http://") || client.starts_with("https://")) {
            return Err(ConfigError::new(
                "well_known.client",
                "must be an http(s) URL",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::new("log.level", e.to_string()))?;
        Ok(())
    }

    /// The database URL in effect: the configured one, or SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("rechain.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The directory media content is kept in.
    pub fn media_store_path(&self) -> PathBuf {
        if self.media.store_path.is_empty() {
            self.data_dir.join("media")
        } else {
            PathBuf::from(&self.media.store_path)
        }
    }

    pub fn well_known_client_base_url(&self) -> String {
        if self.well_known.client.is_empty() {
            format!("http://{}", self.listen.client)
        } else {
            self.well_known.client.clone()
        }
    }

    pub fn well_known_server(&self) -> String {
        if self.well_known.server.is_empty() {
            format!("{}:{}", self.server_name, self.listen.federation.port())
        } else {
            self.well_known.server.clone()
        }
    }
}

/// The commented configuration printed by `rechain generate-config`: every option with its
/// default. A test checks that it parses to exactly `Config::default()`.
pub const SAMPLE_CONFIG: &str = r#"# REChain configuration. Every key is optional; the values shown are the defaults.

# The server's name: the part after the colon in @user:server_name. It cannot change later.
server_name = "localhost"

# Where the signing key, the SQLite database and media are kept. Created if missing.
data_dir = "./data"

[listen]
# Client-Server API, plain HTTP.
client = "127.0.0.1:8008"
# Server-Server API, TLS (served once federation exists).
federation = "127.0.0.1:8448"
# Reverse proxies whose X-Forwarded-For is believed (per-IP rate limits see the client
# behind them). Behind a proxy, list it here, e.g. ["127.0.0.1"].
trusted_proxies = []

[tls]
# PEM certificate chain and private key for the federation listener. Set both or neither.
cert = ""
key = ""

[federation]
# Extra CA files to trust for outbound federation (tests, private deployments).
trusted_ca = []

[database]
# "sqlite://PATH" or "postgres://user@host/db". Empty: sqlite://<data_dir>/rechain.db
url = ""
# Pool size. 0: 4 for SQLite, 16 for PostgreSQL.
pool_size = 0

[redis]
# Cache and cross-process notifications, e.g. "redis://127.0.0.1:6379/0". Empty: none.
url = ""

[registration]
# "open", "token" or "disabled".
mode = "disabled"
# Registration tokens accepted when mode = "token".
tokens = []
# Allow guest accounts (/register?kind=guest), limited to rooms that admit guests.
guest_access = false

[sessions]
# Lifetime of access tokens issued with a refresh token, in seconds (others never expire).
access_token_lifetime_seconds = 300
# Allow /login/get_token: a logged-in client mints a single-use m.login.token for another device.
login_tokens = false

[rate_limits]
enabled = true
# Token buckets: `burst` actions at once, refilled at `per_second`.
# Login attempts, per client IP and per account.
login = { per_second = 0.17, burst = 3 }
# Registration attempts, per client IP.
registration = { per_second = 0.17, burst = 3 }
# Events sent (messages, state, redactions), per user.
message = { per_second = 0.2, burst = 10 }
# Room joins, per user.
joins = { per_second = 0.1, burst = 10 }
# Invites sent, per user.
invites = { per_second = 0.05, burst = 5 }
# Rooms created, per user.
room_creation = { per_second = 0.05, burst = 5 }
# Sending, joins, invites and room creation are also limited per client IP, at this multiple
# of the per-user bucket; 0 turns those per-IP limits off.
per_ip_multiplier = 10

[appservices]
# Application-service registration YAML files.
files = []

[limits]
# Largest request body accepted on the client API, in bytes.
max_request_bytes = 1048576

[media]
# Where uploaded files are kept. Empty: <data_dir>/media
store_path = ""
# Largest upload accepted, in bytes.
max_upload_bytes = 52428800
# Reservations (POST /_matrix/media/v1/create) a user may hold before uploading their content.
max_pending_uploads = 10
# How long such a reservation waits for its content, in seconds.
pending_expiry_seconds = 86400
# Largest image (width x height) decoded to make a thumbnail.
max_thumbnail_pixels = 32000000
# Also serve downloads on the deprecated unauthenticated /_matrix/media/* paths.
# false freezes them, as the spec asks of servers since Matrix 1.12.
unauthenticated_downloads = true

[well_known]
# m.homeserver.base_url for /.well-known/matrix/client. Empty: http://<listen.client>
client = ""
# m.server for /.well-known/matrix/server. Empty: <server_name>:<federation port>
server = ""

[log]
# A tracing filter such as "info" or "rechain_server=debug,info". RUST_LOG overrides it.
level = "info"
# "json" (one object per line) or "pretty".
format = "json"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_config_parses_to_defaults() {
        let parsed = Config::from_toml(SAMPLE_CONFIG).unwrap();
        let default = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.server_name.as_str(), "localhost");
        assert_eq!(config.listen.client.to_string(), "127.0.0.1:8008");
        assert_eq!(config.database_url(), "sqlite://./data/rechain.db");
        assert_eq!(config.registration.mode, RegistrationMode::Disabled);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_path() {
        let err = Config::from_toml("[listen]\nclinet = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(err.key, "listen.clinet");
        assert!(err.reason.contains("unknown field"), "{err}");
    }

    #[test]
    fn bad_value_names_the_key_when_address_is_invalid() {
        let err = Config::from_toml("[listen]\nclient = \"nowhere\"\n").unwrap_err();
        assert_eq!(err.key, "listen.client");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn bad_value_names_the_key_when_server_name_is_invalid() {
        let err = Config::from_toml("server_name = \"not a name\"\n").unwrap_err();
        assert_eq!(err.key, "server_name");
    }

    #[test]
    fn bad_value_names_the_key_when_registration_mode_is_unknown() {
        let err = Config::from_toml("[registration]\nmode = \"sometimes\"\n").unwrap_err();
        assert_eq!(err.key, "registration.mode");
    }

    #[test]
    fn database_url_is_checked_when_scheme_is_unknown() {
        let err = Config::from_toml("[database]\nurl = \"mysql://x\"\n").unwrap_err();
        assert_eq!(err.key, "database.url");
    }

    #[test]
    fn token_mode_requires_tokens() {
        let err = Config::from_toml("[registration]\nmode = \"token\"\n").unwrap_err();
        assert_eq!(err.key, "registration.tokens");
    }

    #[test]
    fn tls_requires_cert_and_key_together() {
        let err = Config::from_toml("[tls]\ncert = \"a.pem\"\n").unwrap_err();
        assert_eq!(err.key, "tls.key");
    }

    #[test]
    fn syntax_error_is_one_line() {
        let err = Config::from_toml("server_name = \n").unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn database_url_parses_both_backends() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://x/y.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("x/y.db"))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://a@b/c"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
