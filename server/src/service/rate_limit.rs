//! Token-bucket rate limiting, in memory, per action and subject (a user or a client IP).
//!
//! Login and registration are limited per IP (login also per account name). Sending, joins,
//! invites and room creation are limited per user and per IP; an IP's bucket is the user's
//! times `per_ip_multiplier`, since several people may share an address, but one address
//! cycling through many accounts still meets a limit.
//!
//! Each process limits on its own; with several workers a client can get up to one burst per
//! worker. Buckets that have refilled are dropped when the map grows, so memory stays bounded
//! by the number of recently active keys.

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Instant};

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

/// Whom an action is charged to. Separate variants keep an account named like an address
/// (`1.2.3.4` is a valid localpart) out of that address's bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User(String),
    Ip(IpAddr),
}

struct State {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    enabled: bool,
    config: RateLimitConfig,
    buckets: Mutex<HashMap<(Action, Subject), State>>,
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

    fn bucket(&self, action: Action, subject: &Subject) -> Bucket {
        let per_user = match action {
            Action::Login => return self.config.login,
            Action::Registration => return self.config.registration,
            Action::Message => self.config.message,
            Action::Join => self.config.joins,
            Action::Invite => self.config.invites,
            Action::RoomCreation => self.config.room_creation,
        };
        match subject {
            Subject::User(_) => per_user,
            Subject::Ip(_) => {
                let factor = self.config.per_ip_multiplier.max(1);
                Bucket {
                    per_second: per_user.per_second * f64::from(factor),
                    burst: per_user.burst.saturating_mul(factor),
                }
            }
        }
    }

    /// Takes one token from the user's bucket, or fails with `LimitExceeded` and the wait
    /// until the next token.
    pub fn check(&self, action: Action, user: &str) -> Result<(), Error> {
        self.check_at(action, Subject::User(user.to_owned()), Instant::now())
    }

    /// As [`RateLimiter::check`], for the client's address.
    pub fn check_ip(&self, action: Action, ip: IpAddr) -> Result<(), Error> {
        self.check_at(action, Subject::Ip(ip), Instant::now())
    }

    /// Charges an action to the user and, when known, to the address it came from; the
    /// address is charged only if the user's bucket allowed the action.
    pub fn check_user_and_ip(
        &self,
        action: Action,
        user: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), Error> {
        self.check(action, user)?;
        match ip {
            Some(ip) if self.config.per_ip_multiplier > 0 => self.check_ip(action, ip),
            _ => Ok(()),
        }
    }

    fn check_at(&self, action: Action, subject: Subject, now: Instant) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        let bucket = self.bucket(action, &subject);
        let burst = f64::from(bucket.burst);
        let mut buckets = self.buckets.lock().expect("rate limiter poisoned");
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|(a, subject), s| {
                let b = self.bucket(*a, subject);
                s.tokens + now.duration_since(s.updated).as_secs_f64() * b.per_second
                    < f64::from(b.burst)
            });
        }
        let state = buckets.entry((action, subject)).or_insert(State {
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

    fn user(name: &str) -> Subject {
        Subject::User(name.to_owned())
    }

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
        l.check_at(Action::Login, user("1.2.3.4"), t0).unwrap();
        l.check_at(Action::Login, user("1.2.3.4"), t0).unwrap();
        let err = l.check_at(Action::Login, user("1.2.3.4"), t0).unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::LimitExceeded {
                retry_after_ms: 2000
            }
        );
        // Half a token later the wait is half as long; a full token later it passes.
        let err = l
            .check_at(Action::Login, user("1.2.3.4"), t0 + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::LimitExceeded {
                retry_after_ms: 1000
            }
        );
        l.check_at(Action::Login, user("1.2.3.4"), t0 + Duration::from_secs(2))
            .unwrap();
    }

    #[test]
    fn keys_and_actions_are_limited_separately() {
        let l = limiter(true);
        let t0 = Instant::now();
        for _ in 0..2 {
            l.check_at(Action::Login, user("a"), t0).unwrap();
        }
        assert!(l.check_at(Action::Login, user("a"), t0).is_err());
        l.check_at(Action::Login, user("b"), t0).unwrap();
        l.check_at(Action::Registration, user("a"), t0).unwrap();
    }

    #[test]
    fn disabled_limiter_allows_everything() {
        let l = limiter(false);
        let t0 = Instant::now();
        for _ in 0..100 {
            l.check_at(Action::Login, user("a"), t0).unwrap();
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
                l.check_at(action, user("@u:x"), t0).unwrap();
            }
            assert!(l.check_at(action, user("@u:x"), t0).is_err(), "{action:?}");
        }
    }

    #[test]
    fn an_address_gets_a_larger_bucket_shared_by_its_users() {
        let mut config = RateLimitConfig::default();
        config.message = Bucket {
            per_second: 0.001,
            burst: 2,
        };
        config.per_ip_multiplier = 3;
        let l = RateLimiter::new(&config);
        let t0 = Instant::now();
        let ip = Subject::Ip("10.0.0.1".parse().unwrap());
        // Three users from one address: each may send twice, the address six times.
        for n in 0..3 {
            for _ in 0..2 {
                l.check_at(Action::Message, user(&format!("@u{n}:x")), t0)
                    .unwrap();
                l.check_at(Action::Message, ip.clone(), t0).unwrap();
            }
        }
        assert!(l.check_at(Action::Message, user("@u3:x"), t0).is_ok());
        assert!(l.check_at(Action::Message, ip.clone(), t0).is_err());
        // Another address is untouched.
        let other = Subject::Ip("10.0.0.2".parse().unwrap());
        l.check_at(Action::Message, other, t0).unwrap();
    }

    #[test]
    fn a_zero_multiplier_turns_the_address_limits_off() {
        let mut config = RateLimitConfig::default();
        config.message = Bucket {
            per_second: 0.001,
            burst: 1,
        };
        config.per_ip_multiplier = 0;
        let l = RateLimiter::new(&config);
        let ip = Some("10.0.0.1".parse().unwrap());
        for n in 0..5 {
            l.check_user_and_ip(Action::Message, &format!("@u{n}:x"), ip)
                .unwrap();
        }
        // The users' own buckets still hold.
        assert!(l.check_user_and_ip(Action::Message, "@u0:x", ip).is_err());
    }

    #[test]
    fn an_account_named_like_an_address_has_its_own_bucket() {
        let l = limiter(true);
        let t0 = Instant::now();
        let ip = Subject::Ip("1.2.3.4".parse().unwrap());
        for _ in 0..2 {
            l.check_at(Action::Login, ip.clone(), t0).unwrap();
        }
        assert!(l.check_at(Action::Login, ip, t0).is_err());
        l.check_at(Action::Login, user("1.2.3.4"), t0).unwrap();
    }
}
