use async_trait::async_trait;
use serde_json::Value;

use super::Error;

/// One backup version's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupVersion {
    pub version: i64,
    pub algorithm: String,
    pub auth_data: Value,
    /// Moves whenever the backup's keys change.
    pub etag: i64,
    pub count: i64,
}

/// One backed-up room key; `session_data` is encrypted by the client.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupKey {
    pub room_id: String,
    pub session_id: String,
    pub first_message_index: i64,
    pub forwarded_count: i64,
    pub is_verified: bool,
    pub session_data: Value,
}

/// What writing keys into a backup came to.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupWrite {
    /// Written (or kept, where the stored key was better): the backup's etag and key count.
    Done { etag: i64, count: i64 },
    /// The version exists but is not the latest; writes go only to the latest.
    NotCurrent { current: i64 },
    /// No such (undeleted) version.
    NoSuchVersion,
}

/// Which keys a read or delete covers: the whole backup, one room, or one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupScope {
    pub room_id: Option<String>,
    pub session_id: Option<String>,
}

#[async_trait]
pub trait KeyBackupStore: Send + Sync {
    /// Creates the user's next backup version (numbers are never reused); returns it.
    async fn create_backup(
        &self,
        user_id: &str,
        algorithm: &str,
        auth_data: Value,
    ) -> Result<i64, Error>;
    /// The version asked for, or the latest when `None`; deleted versions are absent.
    async fn backup_version(
        &self,
        user_id: &str,
        version: Option<i64>,
    ) -> Result<Option<BackupVersion>, Error>;
    /// Replaces a version's `auth_data`; `false` when there is no such version.
    async fn update_backup(
        &self,
        user_id: &str,
        version: i64,
        auth_data: Value,
    ) -> Result<bool, Error>;
    /// Deletes a version and its keys; `false` when there never was such a version (one
    /// deleted before counts as found: the spec asks for a repeated delete to succeed).
    async fn delete_backup(&self, user_id: &str, version: i64) -> Result<bool, Error>;
    /// Writes keys into the latest version, in one transaction: a key already stored for the
    /// same session stays when `keep_stored(stored, new)` says so.
    async fn put_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        keys: Vec<BackupKey>,
        keep_stored: for<'a, 'b> fn(&'a BackupKey, &'b BackupKey) -> bool,
    ) -> Result<BackupWrite, Error>;
    /// The keys in `scope`; `None` when there is no such version.
    async fn backup_keys(
        &self,
        user_id: &str,
        version: i64,
        scope: BackupScope,
    ) -> Result<Option<Vec<BackupKey>>, Error>;
    /// Deletes the keys in `scope` from any undeleted version.
    async fn delete_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        scope: BackupScope,
    ) -> Result<BackupWrite, Error>;
}
