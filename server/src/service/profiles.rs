//! User profiles: `displayname`, `avatar_url`, `m.tz` and namespaced custom fields.
//!
//! Profiles are public to anyone who asks, as on most servers. A join copies the display name
//! and avatar into the member event; `RoomService::propagate_profile` carries later changes to
//! the rooms the user is in.

use std::collections::BTreeMap;

use ruma::UserId;
use serde_json::Value;

use super::{Error, ErrorKind, accounts::AuthedUser};
use crate::{core::canonical_json as canonical, storage::Stores};

/// The spec's limit on a whole profile, as canonical JSON.
pub const MAX_PROFILE_BYTES: usize = 64 * 1024;
pub const MAX_FIELD_NAME_BYTES: usize = 255;

pub struct ProfileService {
    stores: Stores,
}

impl ProfileService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// The whole profile; `NotFound` for users this server does not know.
    pub async fn get_profile(&self, user_id: &UserId) -> Result<BTreeMap<String, Value>, Error> {
        self.require_user(user_id).await?;
        Ok(self.stores.profiles.get_profile(user_id).await?)
    }

    pub async fn get_field(&self, user_id: &UserId, field: &str) -> Result<Value, Error> {
        self.require_user(user_id).await?;
        self.stores
            .profiles
            .get_profile_field(user_id, field)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Profile field not set"))
    }

    /// Sets a field of the caller's own profile.
    pub async fn set_field(
        &self,
        caller: &AuthedUser,
        user_id: &UserId,
        field: &str,
        value: Value,
    ) -> Result<(), Error> {
        self.require_own(caller, user_id)?;
        require_guest_may_change(caller, field)?;
        check_field(field, &value)?;
        let mut profile = self.stores.profiles.get_profile(user_id).await?;
        profile.insert(field.to_owned(), value.clone());
        let size = canonical::canonicalize(&serde_json::to_value(&profile).unwrap_or_default())
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > MAX_PROFILE_BYTES {
            return Err(Error::new(
                ErrorKind::ProfileTooLarge,
                "The profile would exceed 64 KiB",
            ));
        }
        Ok(self
            .stores
            .profiles
            .set_profile_field(user_id, field, value)
            .await?)
    }

    pub async fn delete_field(
        &self,
        caller: &AuthedUser,
        user_id: &UserId,
        field: &str,
    ) -> Result<(), Error> {
        self.require_own(caller, user_id)?;
        require_guest_may_change(caller, field)?;
        if field.len() > MAX_FIELD_NAME_BYTES {
            return Err(Error::new(
                ErrorKind::KeyTooLarge,
                "Profile field names are at most 255 bytes",
            ));
        }
        self.stores
            .profiles
            .delete_profile_field(user_id, field)
            .await?;
        Ok(())
    }

    fn require_own(&self, caller: &AuthedUser, user_id: &UserId) -> Result<(), Error> {
        if caller.user_id != user_id {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You can only change your own profile",
            ));
        }
        Ok(())
    }

    async fn require_user(&self, user_id: &UserId) -> Result<(), Error> {
        match self.stores.users.get_user(user_id).await? {
            Some(user) if !user.deactivated => Ok(()),
            _ => Err(Error::new(ErrorKind::NotFound, "Profile not found")),
        }
    }
}

/// The spec's grammar for custom field names: dot-separated lowercase segments, at least two,
/// each starting with a letter (`[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+`).
fn is_namespaced(name: &str) -> bool {
    let segments: Vec<&str> = name.split('.').collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The value types the spec fixes for its own fields; custom fields take any JSON.
fn check_field(field: &str, value: &Value) -> Result<(), Error> {
    if field.len() > MAX_FIELD_NAME_BYTES {
        return Err(Error::new(
            ErrorKind::KeyTooLarge,
            "Profile field names are at most 255 bytes",
        ));
    }
    let ok = match field {
        "displayname" | "m.tz" => value.is_string(),
        "avatar_url" => value.as_str().is_some_and(|v| v.starts_with("mxc://")),
        custom if is_namespaced(custom) => true,
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "Custom profile fields need a namespaced name such as com.example.field",
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::BadJson,
            format!("{field} has the wrong type"),
        ))
    }
}

/// Guests may change their display name and nothing else of their profile.
fn require_guest_may_change(caller: &AuthedUser, field: &str) -> Result<(), Error> {
    if caller.is_guest && field != "displayname" {
        return Err(Error::new(
            ErrorKind::GuestAccessForbidden,
            "Guests may only change their display name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_field_names_follow_the_namespaced_grammar() {
        for good in ["com.example.field", "org.a_b.c1", "a.b"] {
            assert!(is_namespaced(good), "{good}");
        }
        for bad in [
            "field",
            "Com.example",
            "com..x",
            "com.1x",
            ".a.b",
            "a.b.",
            "com.ex-ample",
        ] {
            assert!(!is_namespaced(bad), "{bad}");
        }
    }

    #[test]
    fn known_fields_have_their_types_checked() {
        assert!(check_field("displayname", &Value::from("A")).is_ok());
        assert!(check_field("displayname", &Value::from(5)).is_err());
        assert!(check_field("avatar_url", &Value::from("https://x/y.png")).is_err());
        assert!(check_field("avatar_url", &Value::from("mxc://x/y")).is_ok());
        assert_eq!(
            check_field(&"a.".repeat(200), &Value::Null)
                .unwrap_err()
                .kind,
            ErrorKind::KeyTooLarge
        );
    }
}
