//! Typing notifications: in memory, per room, expiring on their own. Each change bumps a
//! serial that sync tokens carry, so a sync reports a room's typing list when it changed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::notifier::Notifier;

/// The longest a client may claim to be typing for in one request.
pub const MAX_TYPING_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct RoomTyping {
    users: HashMap<String, Instant>,
    /// The serial of the room's last change.
    changed: i64,
}

#[derive(Default)]
struct Inner {
    serial: i64,
    rooms: HashMap<String, RoomTyping>,
}

pub struct TypingService {
    inner: Mutex<Inner>,
    notifier: Arc<Notifier>,
}

impl TypingService {
    pub fn new(notifier: Arc<Notifier>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            notifier,
        }
    }

    /// Starts (for `timeout`) or stops `user` typing in `room`.
    pub fn set_typing(&self, room: &str, user: &str, typing: Option<Duration>) {
        let mut inner = self.inner.lock().expect("typing poisoned");
        let now = Instant::now();
        let serial = inner.serial + 1;
        let entry = inner.rooms.entry(room.to_owned()).or_default();
        let changed = match typing {
            Some(timeout) => entry
                .users
                .insert(user.to_owned(), now + timeout.min(MAX_TYPING_TIMEOUT))
                .is_none(),
            None => entry.users.remove(user).is_some(),
        };
        // Renewing a timeout changes nothing a client sees.
        if changed {
            entry.changed = serial;
            inner.serial = serial;
            drop(inner);
            self.notifier.wake();
        }
    }

    /// The current serial, after expiring timed-out typists (an expiry is a change too).
    pub fn serial(&self) -> i64 {
        let mut inner = self.inner.lock().expect("typing poisoned");
        let now = Instant::now();
        let mut serial = inner.serial;
        for room in inner.rooms.values_mut() {
            let before = room.users.len();
            room.users.retain(|_, until| *until > now);
            if room.users.len() != before {
                serial += 1;
                room.changed = serial;
            }
        }
        inner
            .rooms
            .retain(|_, r| !r.users.is_empty() || r.changed == serial);
        inner.serial = serial;
        serial
    }

    /// Who is typing in `room`, when that changed after `since` (always, on an initial sync,
    /// when anyone is). Sorted user ids.
    pub fn changes(&self, room: &str, since: Option<i64>) -> Option<Vec<String>> {
        let inner = self.inner.lock().expect("typing poisoned");
        let entry = inner.rooms.get(room)?;
        let report = match since {
            Some(since) => entry.changed > since,
            None => !entry.users.is_empty(),
        };
        report.then(|| {
            let mut users: Vec<String> = entry.users.keys().cloned().collect();
            users.sort();
            users
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_reported_once_per_change_and_expires() {
        let typing = TypingService::new(Arc::new(Notifier::default()));
        let start = typing.serial();
        typing.set_typing("!r", "@a:x", Some(Duration::from_secs(30)));
        let after = typing.serial();
        assert!(after > start);
        assert_eq!(
            typing.changes("!r", Some(start)),
            Some(vec!["@a:x".to_owned()])
        );
        assert_eq!(typing.changes("!r", Some(after)), None, "nothing new since");
        typing.set_typing("!r", "@a:x", Some(Duration::from_secs(30)));
        assert_eq!(typing.serial(), after, "renewing is not a change");
        typing.set_typing("!r", "@a:x", Some(Duration::from_millis(1)));
        typing.set_typing("!r", "@a:x", None);
        let stopped = typing.serial();
        assert_eq!(typing.changes("!r", Some(after)), Some(vec![]));
        typing.set_typing("!r", "@b:x", Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        let expired = typing.serial();
        assert!(expired > stopped + 1, "the expiry counts as a change");
        assert_eq!(typing.changes("!r", Some(stopped + 1)), Some(vec![]));
    }
}
