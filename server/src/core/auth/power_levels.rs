//! Power levels as the auth rules read them, with each room version's tolerance for the
//! historical encodings (strings in v1–v9, floats in v1–v5).

use std::collections::HashMap;

use serde_json::Value;

use crate::core::room_version::RoomVersion;

/// A user's power: a number, or unlimited for room version 12's creators. The derived order
/// puts every finite level below `Infinite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Finite(i64),
    Infinite,
}

impl Level {
    /// True if this level is at least `required`.
    pub fn reaches(self, required: i64) -> bool {
        self >= Level::Finite(required)
    }
}

/// The content of an `m.room.power_levels` event with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerLevels {
    pub users: HashMap<String, i64>,
    pub users_default: i64,
    pub events: HashMap<String, i64>,
    pub events_default: i64,
    pub state_default: i64,
    pub ban: i64,
    pub kick: i64,
    pub redact: i64,
    pub invite: i64,
    pub notifications: HashMap<String, i64>,
}

/// The top-level integer properties, in the order the rules list them.
pub const LEVEL_KEYS: [&str; 7] = [
    "users_default",
    "events_default",
    "state_default",
    "ban",
    "redact",
    "kick",
    "invite",
];

impl PowerLevels {
    /// The levels in force when the room has no power levels event.
    pub fn without_event() -> Self {
        Self {
            users: HashMap::new(),
            users_default: 0,
            events: HashMap::new(),
            events_default: 0,
            state_default: 50,
            ban: 50,
            kick: 50,
            redact: 50,
            invite: 0,
            notifications: HashMap::new(),
        }
    }

    /// Reads an accepted event's content. Values this version cannot parse fall back to their
    /// defaults (an accepted event should have none).
    pub fn from_content(content: &Value, version: &RoomVersion) -> Self {
        let mut levels = Self::without_event();
        let int = |key: &str, default: i64| {
            content
                .get(key)
                .and_then(|v| parse_level(v, version))
                .unwrap_or(default)
        };
        levels.users_default = int("users_default", 0);
        levels.events_default = int("events_default", 0);
        levels.state_default = int("state_default", 50);
        levels.ban = int("ban", 50);
        levels.kick = int("kick", 50);
        levels.redact = int("redact", 50);
        levels.invite = int("invite", 0);
        levels.users = int_map(content.get("users"), version);
        levels.events = int_map(content.get("events"), version);
        levels.notifications = int_map(content.get("notifications"), version);
        levels
    }

    /// One user's level under this content, read without building the maps (state
    /// resolution sorts by the senders' levels, one lookup per event).
    pub fn user_level_in(content: &Value, user: &str, version: &RoomVersion) -> i64 {
        let parsed = content
            .get("users")
            .and_then(|users| users.get(user))
            .and_then(|v| parse_level(v, version));
        parsed.unwrap_or_else(|| {
            content
                .get("users_default")
                .and_then(|v| parse_level(v, version))
                .unwrap_or(0)
        })
    }

    /// The level needed to send an event of `event_type` (a state event if `is_state`).
    pub fn required_for(&self, event_type: &str, is_state: bool) -> i64 {
        self.events.get(event_type).copied().unwrap_or(if is_state {
            self.state_default
        } else {
            self.events_default
        })
    }

    pub fn top_level(&self, key: &str) -> i64 {
        match key {
            "users_default" => self.users_default,
            "events_default" => self.events_default,
            "state_default" => self.state_default,
            "ban" => self.ban,
            "redact" => self.redact,
            "kick" => self.kick,
            _ => self.invite,
        }
    }
}

fn int_map(value: Option<&Value>, version: &RoomVersion) -> HashMap<String, i64> {
    value
        .and_then(Value::as_object)
        .map(|object| {
            object
                .iter()
                .filter_map(|(k, v)| parse_level(v, version).map(|level| (k.clone(), level)))
                .collect()
        })
        .unwrap_or_default()
}

/// One power level value, as this room version accepts it: an integer; in v1–v9 also a string
/// holding an integer (optional sign, leading zeros, surrounding whitespace); in v1–v5 also a
/// finite float, truncated.
pub fn parse_level(value: &Value, version: &RoomVersion) -> Option<i64> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i)
            } else if version.strict_canonical_json || version.auth.integer_power_levels {
                None
            } else {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i64)
            }
        }
        Value::String(s) if !version.auth.integer_power_levels => parse_integer_string(s),
        _ => None,
    }
}

fn parse_integer_string(s: &str) -> Option<i64> {
    let trimmed = s.trim();
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i64 = digits.parse().ok()?;
    Some(if trimmed.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strings_are_levels_before_v10_only() {
        for s in ["100", "000100", "+100", " 100 ", " +0100 "] {
            assert_eq!(parse_level(&json!(s), &RoomVersion::V9), Some(100), "{s:?}");
            assert_eq!(parse_level(&json!(s), &RoomVersion::V10), None, "{s:?}");
        }
        assert_eq!(parse_level(&json!(" -100 "), &RoomVersion::V1), Some(-100));
        for s in ["", "1.5", "1e2", "--1", "abc", "+"] {
            assert_eq!(parse_level(&json!(s), &RoomVersion::V1), None, "{s:?}");
        }
    }

    #[test]
    fn floats_are_truncated_before_v6_only() {
        assert_eq!(parse_level(&json!(50.57), &RoomVersion::V5), Some(50));
        assert_eq!(
            parse_level(&json!(5.114698E4), &RoomVersion::V1),
            Some(51146)
        );
        assert_eq!(parse_level(&json!(50.57), &RoomVersion::V6), None);
    }

    #[test]
    fn one_users_level_reads_as_the_full_parse_does() {
        let content = json!({"users": {"@a:x": 75, "@b:x": "bad"}, "users_default": 5});
        let full = PowerLevels::from_content(&content, &RoomVersion::V11);
        for user in ["@a:x", "@b:x", "@c:x"] {
            let expected = full.users.get(user).copied().unwrap_or(full.users_default);
            let got = PowerLevels::user_level_in(&content, user, &RoomVersion::V11);
            assert_eq!(got, expected, "{user}");
        }
        assert_eq!(
            PowerLevels::user_level_in(&json!({}), "@a:x", &RoomVersion::V11),
            0
        );
    }

    #[test]
    fn defaults_apply_with_and_without_an_event() {
        let none = PowerLevels::without_event();
        assert_eq!(
            (
                none.state_default,
                none.events_default,
                none.invite,
                none.ban
            ),
            (50, 0, 0, 50)
        );
        let some = PowerLevels::from_content(&json!({"users": {"@a:b": 100}}), &RoomVersion::V11);
        assert_eq!(some.users["@a:b"], 100);
        assert_eq!(some.required_for("m.room.name", true), 50);
        assert_eq!(some.required_for("m.room.message", false), 0);
    }

    #[test]
    fn infinite_level_outranks_every_finite_one() {
        assert!(Level::Infinite > Level::Finite(i64::MAX));
        assert!(Level::Infinite.reaches(i64::MAX));
        assert!(!Level::Finite(49).reaches(50));
    }
}
