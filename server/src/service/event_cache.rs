//! State events in the form `/sync` sends them, serialised once and shared between responses.
//!
//! A first sync of a 500-member room sends 500 member events, and every first sync of that
//! room sends the same ones. Parsing each stored PDU, converting it to the client format and
//! serialising it again was most of such a sync's time, so the finished JSON is kept here by
//! event id.
//!
//! Invariant: an entry is the client form (without `room_id`) of the event's stored JSON,
//! which is written once and never changed, so an entry never goes stale. Redaction is the
//! one thing that changes how an event is shown: callers look up only events they know to be
//! unredacted, and redacted ones take the slow path every time.
//!
//! The cache is bounded by bytes with two generations: entries go into the current one; when
//! it is full it becomes the previous one (whose entries are dropped) and a hit there moves
//! the entry back into the current one. That keeps what is used and forgets the rest without
//! a per-entry list.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde::Serialize;
use serde_json::{Value, value::RawValue};

use crate::storage::StoredEvent;

/// The default bound: some 20,000 member events.
pub const DEFAULT_BUDGET_BYTES: usize = 8 << 20;

/// One event's client form, serialised, with what state filters ask of it.
#[derive(Debug)]
pub struct SyncForm {
    pub event_type: String,
    pub sender: Option<String>,
    /// Whether `content.url` is a string (the filters' `contains_url`).
    pub has_url: bool,
    pub json: Box<RawValue>,
}

impl SyncForm {
    /// The form of a stored, unredacted event.
    pub fn of(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        Self::new(&event.json, &event.event_id, &event.room_id)
    }

    /// The form of an unredacted event given by its PDU.
    pub fn new(pdu: &Value, event_id: &str, room_id: &str) -> Result<Self, serde_json::Error> {
        let client = super::sync::sync_form(pdu, event_id, room_id);
        Ok(Self {
            event_type: str_field(pdu, "type"),
            sender: pdu["sender"].as_str().map(str::to_owned),
            has_url: pdu["content"]["url"].is_string(),
            json: serde_json::value::to_raw_value(&client)?,
        })
    }

    fn bytes(&self) -> usize {
        // The strings' contents, plus a rough allowance for the entry's own allocations.
        self.json.get().len()
            + self.event_type.len()
            + self.sender.as_ref().map_or(0, String::len)
            + 128
    }
}

fn str_field(json: &Value, key: &str) -> String {
    json[key].as_str().unwrap_or_default().to_owned()
}

/// An event as a response carries it: serialised earlier, or built for this response.
#[derive(Debug)]
pub enum EventJson {
    Cached(Arc<SyncForm>),
    Built(Value),
}

impl Serialize for EventJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EventJson::Cached(form) => form.json.serialize(serializer),
            EventJson::Built(value) => value.serialize(serializer),
        }
    }
}

pub struct EventCache {
    budget: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<String, Arc<SyncForm>>,
    current_bytes: usize,
    previous: HashMap<String, Arc<SyncForm>>,
}

impl Default for EventCache {
    fn default() -> Self {
        Self::with_budget(DEFAULT_BUDGET_BYTES)
    }
}

impl EventCache {
    /// A cache holding at most about `budget` bytes of events.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            budget,
            generations: Mutex::new(Generations::default()),
        }
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic elsewhere while holding the lock leaves maps that are still consistent.
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, event_id: &str) -> Option<Arc<SyncForm>> {
        let mut generations = self.generations();
        if let Some(form) = generations.current.get(event_id) {
            return Some(form.clone());
        }
        let (event_id, form) = generations.previous.remove_entry(event_id)?;
        let dropped = self.insert_locked(&mut generations, event_id, form.clone());
        drop(generations);
        drop(dropped);
        Some(form)
    }

    pub fn insert(&self, event_id: String, form: Arc<SyncForm>) {
        let mut generations = self.generations();
        let dropped = self.insert_locked(&mut generations, event_id, form);
        drop(generations);
        drop(dropped);
    }

    /// Returns the generation a rotation dropped, for the caller to free once it has let go
    /// of the lock (thousands of entries; lookups should not wait on that).
    #[must_use]
    fn insert_locked(
        &self,
        generations: &mut Generations,
        event_id: String,
        form: Arc<SyncForm>,
    ) -> HashMap<String, Arc<SyncForm>> {
        let bytes = form.bytes() + event_id.len();
        let mut dropped = HashMap::new();
        if generations.current_bytes + bytes > self.budget / 2 {
            let current = std::mem::take(&mut generations.current);
            dropped = std::mem::replace(&mut generations.previous, current);
            generations.current_bytes = 0;
        }
        generations.current_bytes += bytes;
        if let Some(old) = generations.current.insert(event_id, form) {
            generations.current_bytes -= old.bytes().min(generations.current_bytes);
        }
        dropped
    }

    /// Entries held, for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self.generations();
        generations.current.len() + generations.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn member(id: &str, user: &str) -> StoredEvent {
        StoredEvent {
            event_id: id.to_owned(),
            room_id: "!r:x".to_owned(),
            stream_ordering: 1,
            json: json!({
                "type": "m.room.member", "state_key": user, "sender": user,
                "room_id": "!r:x", "origin_server_ts": 5, "depth": 3,
                "content": {"membership": "join", "displayname": "A \"quoted\" name"},
                "unsigned": {"age_ts": 5},
                "hashes": {"sha256": "x"}, "signatures": {}, "auth_events": [], "prev_events": [],
            }),
        }
    }

    #[test]
    fn the_cached_form_is_the_sync_form() {
        let event = member("$a", "@a:x");
        let form = SyncForm::of(&event).unwrap();
        let parsed: Value = serde_json::from_str(form.json.get()).unwrap();
        assert_eq!(parsed, super::super::sync::sync_event(&event));
        assert!(parsed.get("room_id").is_none());
        assert_eq!(form.sender.as_deref(), Some("@a:x"));
        assert_eq!(form.event_type, "m.room.member");
        assert!(!form.has_url);
    }

    fn keep(cache: &EventCache, event: &StoredEvent) {
        let form = Arc::new(SyncForm::of(event).unwrap());
        cache.insert(event.event_id.clone(), form);
    }

    #[test]
    fn a_kept_form_is_shared_by_every_lookup() {
        let cache = EventCache::default();
        keep(&cache, &member("$a", "@a:x"));
        let first = cache.get("$a").unwrap();
        let second = cache.get("$a").unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert!(cache.get("$b").is_none());
    }

    #[test]
    fn the_budget_bounds_what_is_kept_and_used_entries_survive() {
        let one = SyncForm::of(&member("$0", "@u0:x")).unwrap().bytes() + 3;
        // Room for about four entries per generation.
        let cache = EventCache::with_budget(one * 9);
        for i in 0..40 {
            let event = member(&format!("${i}"), &format!("@u{i}:x"));
            keep(&cache, &event);
            // `$0` is used all along, so it is never the one forgotten.
            assert!(cache.get("$0").is_some(), "after {i}");
        }
        assert!(cache.len() <= 10, "{} entries", cache.len());
        assert!(cache.get("$1").is_none());
        assert!(cache.get("$39").is_some());
    }
}
