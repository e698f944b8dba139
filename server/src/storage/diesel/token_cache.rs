//! Access tokens resolved recently, so that authenticating a request is not a query.
//!
//! **Invariant:** an entry never outlives a change this process made to access tokens, devices
//! or the users they belong to. Every such write calls [`TokenCache::invalidate`] once it has
//! returned (committed or not), and a lookup that read the database before that call cannot
//! store its now-stale answer after it: a reader notes the generation before its query and
//! stores only if no invalidation happened in between. Writes by another process (none today:
//! one server process owns its database) are bounded by [`TOKEN_TTL`].

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::storage::TokenOwner;

/// How long an entry may answer for the database; also the longest a token deleted by another
/// process could still open a session here.
pub(super) const TOKEN_TTL: Duration = Duration::from_secs(10);

/// Entries held at most; when full, the cache starts over (a burst of many sessions costs a
/// query each, as without the cache).
const TOKEN_CACHE_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(super) struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    entries: HashMap<String, (Instant, TokenOwner)>,
}

impl TokenCache {
    pub(super) fn get(&self, token_hash: &str) -> Option<TokenOwner> {
        let inner = self.lock();
        let (stored, owner) = inner.entries.get(token_hash)?;
        (stored.elapsed() < TOKEN_TTL).then(|| owner.clone())
    }

    /// The generation to pass to [`TokenCache::insert`]: read it before querying.
    pub(super) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Stores what a query begun at `generation` found, unless tokens changed since. A token
    /// whose first use still has work to do (`retires_refresh`) is not stored: that use must
    /// reach the database.
    pub(super) fn insert(&self, generation: u64, token_hash: String, owner: TokenOwner) {
        if owner.retires_refresh {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= TOKEN_CACHE_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(token_hash, (Instant::now(), owner));
    }

    pub(super) fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is only ever whole: a panic elsewhere while holding the lock leaves nothing
        // half-written, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedDeviceId, owned_user_id};

    use super::*;

    fn owner(retires_refresh: bool) -> TokenOwner {
        TokenOwner {
            user_id: owned_user_id!("@alice:example.org"),
            device_id: OwnedDeviceId::from("DEV"),
            expires_ts: None,
            is_guest: false,
            retires_refresh,
        }
    }

    #[test]
    fn an_answer_read_before_an_invalidation_is_not_stored() {
        let cache = TokenCache::default();
        let before = cache.generation();
        cache.invalidate();
        cache.insert(before, "h".into(), owner(false));
        assert_eq!(cache.get("h"), None);
        cache.insert(cache.generation(), "h".into(), owner(false));
        assert_eq!(cache.get("h"), Some(owner(false)));
        cache.invalidate();
        assert_eq!(cache.get("h"), None);
    }

    #[test]
    fn a_token_whose_first_use_retires_a_refresh_token_is_not_stored() {
        let cache = TokenCache::default();
        cache.insert(cache.generation(), "h".into(), owner(true));
        assert_eq!(cache.get("h"), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = TokenCache::default();
        for i in 0..=TOKEN_CACHE_ENTRIES {
            cache.insert(cache.generation(), i.to_string(), owner(false));
        }
        assert_eq!(cache.lock().entries.len(), 1);
        assert!(cache.get(&TOKEN_CACHE_ENTRIES.to_string()).is_some());
    }
}
