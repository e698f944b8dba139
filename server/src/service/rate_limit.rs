//! Token-bucket rate limiting, in memory, per action and key (a user id or a client IP).
//!
//! Each process limits on its own; with several workers a client can get up to one burst per
//! worker. Buckets that have refilled are dropped when the map grows, so memory stays bounded
//! by the number of recently active keys.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use super::{Error, ErrorKind};
use crate::config::{Bucket, RateLimitConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Login,
    Registration,
    Message,
    Join,
    Invite,
    RoomCreation,
}

struct State {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    enabled: bool,
    config: RateLimitConfig,
    buckets: Mutex<HashMap<(Action, String), State>>,
}

/// Above this many tracked keys, full buckets are swept out.
const SWEEP_AT: usize = 50_000;

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            enabled: config.enabled,
            config: config.clone(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn bucket(&self, action: Action) -> Bucket {
        match action {
            Action::Login => self.config.login,
            Action::Registration => self.config.registration,
            Action::Message => self.config.message,
            Action::Join => self.config.joins,
            Action::Invite => self.config.invites,
            Action::RoomCreation => self.config.room_creation,
        }
    }

    /// Takes one token for `key`, or fails with `LimitExceeded` and the wait until the next
    /// token.
    pub fn check(&self, action: Action, key: &str) -> Result<(), Error> {
        self.check_at(action, key, Instant::now())
    }

    fn check_at(&self, action: Action, key: &str, now: Instant) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        let bucket = self.bucket(action);
        let burst = f64::from(bucket.burst);
        let mut buckets = self.buckets.lock().expect("rate limiter poisoned");
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|(a, _), s| {
                let b = self.bucket(*a);
                s.tokens + now.duration_since(s.updated).as_secs_f64() * b.per_second
                    < f64::from(b.burst)
            });
        }
        let state = buckets.entry((action, key.to_owned())).or_insert(State {
            tokens: burst,
            updated: now,
        });
        let refilled =
            state.tokens + now.duration_since(state.updated).as_secs_f64() * bucket.per_second;
        state.tokens = refilled.min(burst);
        state.updated = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = ((1.0 - state.tokens) / bucket.per_second * 1000.0).ceil() as u64;
            Err(Error::new(
                ErrorKind::LimitExceeded {
                    retry_after_ms: wait_ms.max(1),
                },
                "Too many requests",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(enabled: bool) -> RateLimiter {
        let mut config = RateLimitConfig::default();
        config.enabled = enabled;
        config.login = Bucket {
            per_second: 0.5,
            burst: 2,
        };
        RateLimiter::new(&config)
    }

    #[test]
    fn burst_then_refusal_with_the_wait_until_the_next_token() {
        let l = limiter(true);
        let t0 = Instant::now();
        l.check_at(Action::Login, "1.2.3.4", t0).unwrap();
        l.check_at(Action::Login, "1.2.3.4", t0).unwrap();
        let err = l.check_at(Action::Login, "1.2.3.4", t0).unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::LimitExceeded {
                retry_after_ms: 2000
            }
        );
        // Half a token later the wait is half as long; a full token later it passes.
        let err = l
            .check_at(Action::Login, "1.2.3.4", t0 + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::LimitExceeded {
                retry_after_ms: 1000
            }
        );
        l.check_at(Action::Login, "1.2.3.4", t0 + Duration::from_secs(2))
            .unwrap();
    }

    #[test]
    fn keys_and_actions_are_limited_separately() {
        let l = limiter(true);
        let t0 = Instant::now();
        for _ in 0..2 {
            l.check_at(Action::Login, "a", t0).unwrap();
        }
        assert!(l.check_at(Action::Login, "a", t0).is_err());
        l.check_at(Action::Login, "b", t0).unwrap();
        l.check_at(Action::Registration, "a", t0).unwrap();
    }

    #[test]
    fn disabled_limiter_allows_everything() {
        let l = limiter(false);
        let t0 = Instant::now();
        for _ in 0..100 {
            l.check_at(Action::Login, "a", t0).unwrap();
        }
    }

    #[test]
    fn each_action_uses_its_own_configured_bucket() {
        let mut config = RateLimitConfig::default();
        let bucket = |burst| Bucket {
            per_second: 0.001,
            burst,
        };
        (
            config.message,
            config.joins,
            config.invites,
            config.room_creation,
        ) = (bucket(1), bucket(2), bucket(3), bucket(4));
        let l = RateLimiter::new(&config);
        let t0 = Instant::now();
        for (action, burst) in [
            (Action::Message, 1),
            (Action::Join, 2),
            (Action::Invite, 3),
            (Action::RoomCreation, 4),
        ] {
            for _ in 0..burst {
                l.check_at(action, "@u:x", t0).unwrap();
            }
            assert!(l.check_at(action, "@u:x", t0).is_err(), "{action:?}");
        }
    }
}
