use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use super::Error;

/// A local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: OwnedUserId,
    /// A PHC-format hash; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub is_guest: bool,
    pub is_admin: bool,
    pub deactivated: bool,
    /// Milliseconds since the Unix epoch.
    pub created_ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub user_id: OwnedUserId,
    pub password_hash: Option<String>,
    pub is_guest: bool,
    pub is_admin: bool,
    pub created_ts: i64,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; `ErrorKind::Conflict` if the id is taken.
    async fn create_user(&self, user: NewUser) -> Result<(), Error>;
    async fn get_user(&self, user_id: &UserId) -> Result<Option<User>, Error>;
    /// Marks the account deactivated and removes its password hash. Returns false when the
    /// account does not exist.
    async fn deactivate_user(&self, user_id: &UserId) -> Result<bool, Error>;
    async fn count_users(&self) -> Result<u64, Error>;
    /// Replaces the password hash; false when the account does not exist.
    async fn set_password_hash(
        &self,
        user_id: &UserId,
        hash: Option<String>,
    ) -> Result<bool, Error>;
    /// Makes a guest account a full one with `hash` as its password, in one statement; false
    /// when the account is not (or no longer) a guest.
    async fn upgrade_guest(&self, user_id: &UserId, hash: Option<String>) -> Result<bool, Error>;
}
