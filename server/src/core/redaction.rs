//! The redaction algorithm, per room version: which top-level keys and which `content` keys
//! survive. Used for event signatures, reference hashes (event ids) and redacted events served
//! to clients.

use serde_json::{Map, Value};

use super::room_version::RedactionRules;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactionError {
    #[error("event is not a JSON object")]
    NotAnObject,
    #[error("event has no string `type`")]
    NoType,
    #[error("`{0}` is not a JSON object")]
    NotAnObjectField(&'static str),
}

const ALWAYS_KEPT: &[&str] = &[
    "event_id",
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "hashes",
    "signatures",
    "depth",
    "prev_events",
    "auth_events",
    "origin_server_ts",
];

/// Dropped from the top level since room version 11.
const KEPT_BEFORE_V11: &[&str] = &["origin", "membership", "prev_state"];

/// Returns the redacted form of `event`.
pub fn redact(event: &Value, rules: &RedactionRules) -> Result<Value, RedactionError> {
    let object = event.as_object().ok_or(RedactionError::NotAnObject)?;
    let event_type = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or(RedactionError::NoType)?;
    for field in ["content", "hashes", "signatures"] {
        if object.get(field).is_some_and(|v| !v.is_object()) {
            return Err(RedactionError::NotAnObjectField(field));
        }
    }
    let mut out = Map::new();
    for (key, value) in object {
        let keep = ALWAYS_KEPT.contains(&key.as_str())
            || (rules.keep_origin_membership_prev_state && KEPT_BEFORE_V11.contains(&key.as_str()));
        if keep {
            out.insert(key.clone(), value.clone());
        }
    }
    if let Some(Value::Object(content)) = object.get("content") {
        out.insert(
            "content".to_owned(),
            Value::Object(redact_content(event_type, content, rules)),
        );
    }
    Ok(Value::Object(out))
}

/// The `content` that survives redaction for an event of `event_type`.
pub fn redact_content(
    event_type: &str,
    content: &Map<String, Value>,
    rules: &RedactionRules,
) -> Map<String, Value> {
    let keep = |keys: &[&str]| -> Map<String, Value> {
        content
            .iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match event_type {
        "m.room.member" => {
            let mut kept = if rules.keep_member_join_authorised_via_users_server {
                keep(&["membership", "join_authorised_via_users_server"])
            } else {
                keep(&["membership"])
            };
            // The spec allows "the `signed` key of the `third_party_invite` key". When
            // `third_party_invite` is an object it survives with at most `signed`; when it is
            // not an object there is no `signed` key to allow, so it goes. This is Synapse's
            // reading; ruma keeps a non-object value (see fixtures/core/redaction/).
            if rules.keep_member_third_party_invite_signed
                && let Some(invite) = content.get("third_party_invite").and_then(Value::as_object)
            {
                let mut kept_invite = Map::new();
                if let Some(signed) = invite.get("signed") {
                    kept_invite.insert("signed".to_owned(), signed.clone());
                }
                kept.insert("third_party_invite".to_owned(), Value::Object(kept_invite));
            }
            kept
        }
        "m.room.create" if rules.keep_create_content => content.clone(),
        "m.room.create" => keep(&["creator"]),
        "m.room.join_rules" if rules.keep_join_rules_allow => keep(&["join_rule", "allow"]),
        "m.room.join_rules" => keep(&["join_rule"]),
        "m.room.power_levels" => {
            const LEVELS: &[&str] = &[
                "ban",
                "events",
                "events_default",
                "kick",
                "redact",
                "state_default",
                "users",
                "users_default",
            ];
            let mut kept = keep(LEVELS);
            if rules.keep_power_levels_invite
                && let Some(invite) = content.get("invite")
            {
                kept.insert("invite".to_owned(), invite.clone());
            }
            kept
        }
        "m.room.aliases" if rules.keep_aliases_aliases => keep(&["aliases"]),
        "m.room.history_visibility" => keep(&["history_visibility"]),
        "m.room.redaction" if rules.keep_redaction_redacts => keep(&["redacts"]),
        _ => Map::new(),
    }
}
