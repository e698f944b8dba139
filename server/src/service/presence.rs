//! Presence: who is online, idle or away, kept in memory per process.
//!
//! Presence is what melts homeservers: every heartbeat of every user can fan out to everyone
//! who shares a room with them. Here nothing is pushed. An update only records the user's
//! state and bumps a serial; a sync asks for the changes since its token among the users it
//! shares rooms with, and sees each user at most once, in their latest state (updates in
//! between coalesce). Only a change a client could see (state, status message, currently
//! active) wakes waiting syncs; the periodic "still here" of `set_presence` does not.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::{Error, ErrorKind, notifier::Notifier, text::truncate_utf8};
use crate::storage::Stores;

/// After this long without activity an online user is reported `unavailable`.
const IDLE_AFTER: Duration = Duration::from_secs(5 * 60);
/// The longest status message kept.
const MAX_STATUS_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Online,
    Unavailable,
    Offline,
}

impl State {
    pub fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "online" => Ok(Self::Online),
            "unavailable" => Ok(Self::Unavailable),
            "offline" => Ok(Self::Offline),
            other => Err(Error::new(
                ErrorKind::InvalidParam,
                format!("Unknown presence {other:?}"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Unavailable => "unavailable",
            Self::Offline => "offline",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    status_msg: Option<String>,
    last_active: Instant,
    /// The serial of the last change a client could see.
    changed: i64,
}

#[derive(Default)]
struct Inner {
    serial: i64,
    users: HashMap<String, Entry>,
}

pub struct PresenceService {
    inner: Mutex<Inner>,
    notifier: Arc<Notifier>,
    stores: Option<Stores>,
}

impl PresenceService {
    pub fn new(stores: Stores, notifier: Arc<Notifier>) -> Self {
        Self {
            inner: Mutex::default(),
            notifier,
            stores: Some(stores),
        }
    }

    /// `GET /presence/{userId}/status`: for the user themselves and for those who share a
    /// room with them.
    pub async fn get(&self, requester: &str, target: &str) -> Result<Value, Error> {
        if requester != target && !self.share_a_room(requester, target).await? {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You do not share a room with this user",
            ));
        }
        Ok(self.status(target))
    }

    async fn share_a_room(&self, a: &str, b: &str) -> Result<bool, Error> {
        let Some(stores) = &self.stores else {
            return Ok(false);
        };
        for room in stores.rooms.rooms_with_membership(a, "join").await? {
            if stores
                .rooms
                .room_member(&room, b)
                .await?
                .is_some_and(|(m, _)| m == "join")
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Sets a user's presence. `status_msg` of `None` keeps the current message.
    pub fn set(&self, user_id: &str, state: State, status_msg: Option<Option<String>>) {
        let status_msg = status_msg.map(|m| m.map(|m| truncate_utf8(m, MAX_STATUS_BYTES)));
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("presence poisoned");
        let next = inner.serial + 1;
        let visible_change = match inner.users.get_mut(user_id) {
            Some(entry) => {
                let before = (entry.state, entry.status_msg.clone(), is_active(entry, now));
                entry.state = state;
                if let Some(msg) = status_msg {
                    entry.status_msg = msg;
                }
                if state == State::Online {
                    entry.last_active = now;
                }
                let changed =
                    before != (entry.state, entry.status_msg.clone(), is_active(entry, now));
                if changed {
                    entry.changed = next;
                }
                changed
            }
            None => {
                inner.users.insert(
                    user_id.to_owned(),
                    Entry {
                        state,
                        status_msg: status_msg.flatten(),
                        last_active: now,
                        changed: next,
                    },
                );
                true
            }
        };
        if visible_change {
            inner.serial = next;
            drop(inner);
            self.notifier.wake();
        }
    }

    /// `PUT /presence/{userId}/status`: only for oneself.
    pub fn set_status(
        &self,
        requester: &str,
        target: &str,
        presence: &str,
        status_msg: Option<String>,
    ) -> Result<(), Error> {
        if requester != target {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You may only set your own presence",
            ));
        }
        self.set(target, State::parse(presence)?, Some(status_msg));
        Ok(())
    }

    /// Records activity (a sync with `set_presence` unset or `online`): online, and active now.
    pub fn touch(&self, user_id: &str) {
        self.set(user_id, State::Online, None);
    }

    /// What a sync's `set_presence` does: omitted or `online` marks the user online and
    /// active, `unavailable` idle, `offline` leaves their presence alone.
    pub fn on_sync(&self, user_id: &str, set_presence: Option<&str>) -> Result<(), Error> {
        match set_presence.map(State::parse).transpose()? {
            None | Some(State::Online) => self.touch(user_id),
            Some(State::Unavailable) => self.set(user_id, State::Unavailable, None),
            Some(State::Offline) => {}
        }
        Ok(())
    }

    pub fn serial(&self) -> i64 {
        self.inner.lock().expect("presence poisoned").serial
    }

    /// A user's presence as `GET /presence/{userId}/status` returns it.
    pub fn status(&self, user_id: &str) -> Value {
        let inner = self.inner.lock().expect("presence poisoned");
        match inner.users.get(user_id) {
            Some(entry) => content(entry, Instant::now()),
            None => json!({ "presence": "offline" }),
        }
    }

    /// The users whose presence changed after serial `since`.
    pub fn changed_since(&self, since: i64) -> Vec<String> {
        let inner = self.inner.lock().expect("presence poisoned");
        inner
            .users
            .iter()
            .filter(|(_, entry)| entry.changed > since)
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// `m.presence` events of those of `users` whose presence changed after serial `since`.
    pub fn changes_since(&self, since: i64, users: &[String]) -> Vec<Value> {
        let inner = self.inner.lock().expect("presence poisoned");
        let now = Instant::now();
        users
            .iter()
            .filter_map(|user| {
                let entry = inner.users.get(user)?;
                (entry.changed > since).then(|| {
                    json!({
                        "type": "m.presence",
                        "sender": user,
                        "content": content(entry, now),
                    })
                })
            })
            .collect()
    }
}

fn is_active(entry: &Entry, now: Instant) -> bool {
    entry.state == State::Online && now.duration_since(entry.last_active) < IDLE_AFTER
}

fn content(entry: &Entry, now: Instant) -> Value {
    let idle = now.duration_since(entry.last_active);
    // An online user who has done nothing for a while is reported as away.
    let state = if entry.state == State::Online && idle >= IDLE_AFTER {
        State::Unavailable
    } else {
        entry.state
    };
    let mut out = json!({
        "presence": state.as_str(),
        "last_active_ago": idle.as_millis() as u64,
        "currently_active": is_active(entry, now),
    });
    if let Some(msg) = &entry.status_msg {
        out["status_msg"] = json!(msg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> PresenceService {
        PresenceService {
            inner: Mutex::default(),
            notifier: Arc::new(Notifier::default()),
            stores: None,
        }
    }

    #[test]
    fn unknown_users_are_offline() {
        assert_eq!(service().status("@a:x")["presence"], "offline");
    }

    #[test]
    fn updates_between_syncs_coalesce_into_the_latest() {
        let p = service();
        let since = p.serial();
        p.set("@a:x", State::Online, Some(Some("lunch".into())));
        p.set("@a:x", State::Unavailable, None);
        let changes = p.changes_since(since, &["@a:x".to_owned(), "@b:x".to_owned()]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["content"]["presence"], "unavailable");
        assert_eq!(changes[0]["content"]["status_msg"], "lunch");
        assert!(p.changes_since(p.serial(), &["@a:x".to_owned()]).is_empty());
    }

    #[test]
    fn staying_online_is_not_a_change() {
        let p = service();
        p.touch("@a:x");
        let serial = p.serial();
        p.touch("@a:x");
        p.touch("@a:x");
        assert_eq!(p.serial(), serial, "heartbeats do not move the stream");
        p.set("@a:x", State::Offline, None);
        assert!(p.serial() > serial);
    }

    #[test]
    fn only_users_asked_about_are_reported() {
        let p = service();
        p.touch("@stranger:x");
        assert!(p.changes_since(0, &["@friend:x".to_owned()]).is_empty());
    }

    #[test]
    fn long_status_messages_are_cut() {
        let p = service();
        p.set("@a:x", State::Online, Some(Some("é".repeat(1000))));
        let status = p.status("@a:x");
        let msg = status["status_msg"].as_str().unwrap();
        assert!(msg.len() <= MAX_STATUS_BYTES && msg.chars().all(|c| c == 'é'));
    }
}
