//! Account data: per-user JSON, global or per room, and room tags (kept as the room's `m.tag`
//! account data, as clients read them from sync).
//!
//! `m.ignored_user_list` is read here for the read paths that hide ignored users' events.
//!
//! Only the owner may read or write their account data. `m.fully_read` and `m.push_rules` are
//! managed by the server through their own APIs, so this API refuses to set them.

use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::{Error, ErrorKind, accounts::AuthedUser, notifier::Notifier};
use crate::storage::{StoredEvent, Stores};
use std::{collections::HashSet, sync::Arc};

const SERVER_MANAGED: &[&str] = &["m.fully_read", "m.push_rules"];
const TAGS: &str = "m.tag";
const IGNORED_USERS: &str = "m.ignored_user_list";

pub struct AccountDataService {
    stores: Stores,
    notifier: Arc<Notifier>,
    // Stream ids are the maximum plus one, taken inside the write: writes must not overlap.
    write_lock: Mutex<()>,
}

impl AccountDataService {
    pub fn new(stores: Stores, notifier: Arc<Notifier>) -> Self {
        Self {
            stores,
            notifier,
            write_lock: Mutex::new(()),
        }
    }

    /// Sets global (`room_id` empty) or room account data of the caller.
    pub async fn set(
        &self,
        user: &AuthedUser,
        owner: &str,
        room_id: &str,
        data_type: &str,
        content: Value,
    ) -> Result<(), Error> {
        require_owner(user, owner)?;
        if SERVER_MANAGED.contains(&data_type) {
            return Err(Error::new(
                ErrorKind::ServerManagedData,
                format!("Cannot set {data_type} through this API"),
            ));
        }
        if data_type == IGNORED_USERS && !content["ignored_users"].is_object() {
            return Err(Error::new(
                ErrorKind::BadJson,
                "m.ignored_user_list needs an ignored_users object",
            ));
        }
        self.put(owner, room_id, data_type, &content).await
    }

    /// Replaces the user's push rules (`m.push_rules`, managed by the push service).
    pub async fn set_push_rules(&self, owner: &str, content: &Value) -> Result<(), Error> {
        self.put(owner, "", "m.push_rules", content).await
    }

    /// Moves the `m.fully_read` marker; the caller has checked the event is readable.
    pub async fn set_fully_read(
        &self,
        owner: &str,
        room_id: &str,
        event_id: &str,
    ) -> Result<(), Error> {
        self.put(
            owner,
            room_id,
            "m.fully_read",
            &json!({ "event_id": event_id }),
        )
        .await
    }

    pub async fn get(
        &self,
        user: &AuthedUser,
        owner: &str,
        room_id: &str,
        data_type: &str,
    ) -> Result<Value, Error> {
        require_owner(user, owner)?;
        self.stores
            .account_data
            .get_account_data(owner, room_id, data_type)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Account data not found"))
    }

    /// The room's tags as `{"tags": {...}}`, empty when none were set.
    pub async fn tags(
        &self,
        user: &AuthedUser,
        owner: &str,
        room_id: &str,
    ) -> Result<Value, Error> {
        require_owner(user, owner)?;
        self.current_tags(owner, room_id).await
    }

    /// Adds or replaces one tag; `info` is the tag's object (`order` and any other fields).
    pub async fn set_tag(
        &self,
        user: &AuthedUser,
        owner: &str,
        room_id: &str,
        tag: &str,
        info: Map<String, Value>,
    ) -> Result<(), Error> {
        self.change_tags(user, owner, room_id, |tags| {
            tags.insert(tag.to_owned(), Value::Object(info));
        })
        .await
    }

    pub async fn delete_tag(
        &self,
        user: &AuthedUser,
        owner: &str,
        room_id: &str,
        tag: &str,
    ) -> Result<(), Error> {
        self.change_tags(user, owner, room_id, |tags| {
            tags.remove(tag);
        })
        .await
    }

    async fn change_tags(
        &self,
        user: &AuthedUser,
        owner: &str,
        room_id: &str,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<(), Error> {
        require_owner(user, owner)?;
        // Read and write under the lock, so two tag changes cannot lose one another.
        let _guard = self.write_lock.lock().await;
        let mut content = self.current_tags(owner, room_id).await?;
        if let Some(tags) = content["tags"].as_object_mut() {
            change(tags);
        }
        self.put_locked(owner, room_id, TAGS, &content).await
    }

    async fn current_tags(&self, owner: &str, room_id: &str) -> Result<Value, Error> {
        let stored = self
            .stores
            .account_data
            .get_account_data(owner, room_id, TAGS)
            .await?;
        Ok(match stored {
            Some(content) if content["tags"].is_object() => content,
            _ => json!({ "tags": {} }),
        })
    }

    async fn put(
        &self,
        owner: &str,
        room_id: &str,
        data_type: &str,
        content: &Value,
    ) -> Result<(), Error> {
        let _guard = self.write_lock.lock().await;
        self.put_locked(owner, room_id, data_type, content).await
    }

    async fn put_locked(
        &self,
        owner: &str,
        room_id: &str,
        data_type: &str,
        content: &Value,
    ) -> Result<(), Error> {
        self.stores
            .account_data
            .put_account_data(owner, room_id, data_type, content)
            .await?;
        self.notifier.wake();
        Ok(())
    }
}

/// The users `user_id` ignores, from their `m.ignored_user_list` account data.
pub async fn ignored_users(stores: &Stores, user_id: &str) -> Result<HashSet<String>, Error> {
    let list = stores
        .account_data
        .get_account_data(user_id, "", IGNORED_USERS)
        .await?;
    Ok(list
        .as_ref()
        .and_then(|content| content["ignored_users"].as_object())
        .map(|users| users.keys().cloned().collect())
        .unwrap_or_default())
}

/// Whether an ignored sender hides this event: message-like events only, as state still
/// shapes the room the user sees.
pub fn hidden_by_ignore(ignored: &HashSet<String>, event: &StoredEvent) -> bool {
    event.json.get("state_key").is_none()
        && event.json["sender"]
            .as_str()
            .is_some_and(|sender| ignored.contains(sender))
}

fn require_owner(user: &AuthedUser, owner: &str) -> Result<(), Error> {
    if user.user_id.as_str() == owner {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Forbidden,
            "Account data belongs to its user alone",
        ))
    }
}
