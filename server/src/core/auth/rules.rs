//! The rules themselves, in the spec's order. Rule names are stable identifiers used by the
//! fixtures in `fixtures/auth/`; the spec's numbering differs between versions, so it is not
//! used.

use serde_json::Value;

use super::{
    AuthError, StateView,
    power_levels::{LEVEL_KEYS, Level, PowerLevels, parse_level},
};
use crate::core::{
    canonical_json,
    event::{Pdu, server_of},
    room_version::RoomVersion,
};

fn reject(rule: &'static str, reason: impl Into<String>) -> Result<(), AuthError> {
    Err(AuthError::new(rule, reason))
}

/// Checks `event` against `state`, which must hold the room's create event (for every room
/// version) and whatever else the event's auth types select. `signed_by(event, server)` says
/// whether the event carries a valid signature of `server` (signatures are checked before auth,
/// so it usually just consults that result).
pub fn check(
    version: &RoomVersion,
    event: &Pdu,
    state: &dyn StateView,
    signed_by: &dyn Fn(&Pdu, &str) -> bool,
) -> Result<(), AuthError> {
    if event.event_type == "m.room.create" {
        return check_create(version, event);
    }
    let Some(create) = state.create() else {
        return reject("create.missing", "the room has no m.room.create event");
    };
    if version.auth.room_id_is_create_event_id {
        let expected = format!("!{}", create.event_id.trim_start_matches('$'));
        if event.room_id.as_deref() != Some(expected.as_str()) {
            return reject("room_id.not_create", format!("room id is not {expected}"));
        }
    }
    let room = Room::new(version, state, create);

    if create.content.get("m.federate") == Some(&Value::Bool(false))
        && server_of(&event.sender) != server_of(&create.sender)
    {
        return reject(
            "federate.false",
            "the room does not federate and the sender is remote",
        );
    }

    if version.auth.special_case_aliases && event.event_type == "m.room.aliases" {
        return match &event.state_key {
            None => reject("aliases.no_state_key", "m.room.aliases needs a state key"),
            Some(key) if Some(key.as_str()) != server_of(&event.sender) => reject(
                "aliases.other_server",
                "the state key is not the sender's server",
            ),
            Some(_) => Ok(()),
        };
    }

    if event.event_type == "m.room.member" {
        return check_member(&room, event, signed_by);
    }

    if room.membership(&event.sender) != Some("join") {
        return reject(
            "sender.not_joined",
            format!("{} is not joined to the room", event.sender),
        );
    }

    let sender_level = room.user_level(&event.sender);
    if event.event_type == "m.room.third_party_invite" {
        return if sender_level.reaches(room.levels.invite) {
            Ok(())
        } else {
            reject(
                "third_party_invite.power",
                "sender is below the invite level",
            )
        };
    }

    let required = room
        .levels
        .required_for(&event.event_type, event.is_state());
    if !sender_level.reaches(required) {
        return reject(
            "event.power",
            format!("sending {} needs power level {required}", event.event_type),
        );
    }

    if let Some(key) = &event.state_key
        && key.starts_with('@')
        && *key != event.sender
    {
        return reject(
            "state_key.other_user",
            "a state key naming a user must be the sender",
        );
    }

    if event.event_type == "m.room.power_levels" {
        return check_power_levels(&room, event, sender_level);
    }

    if version.auth.special_case_redaction && event.event_type == "m.room.redaction" {
        if sender_level.reaches(room.levels.redact) {
            return Ok(());
        }
        let redacted_server = event.redacts.as_deref().and_then(server_of);
        if redacted_server.is_some() && redacted_server == server_of(&event.event_id) {
            return Ok(());
        }
        return reject(
            "redaction.power",
            "sender is below the redact level and the event is another server's",
        );
    }

    Ok(())
}

fn check_create(version: &RoomVersion, event: &Pdu) -> Result<(), AuthError> {
    if !event.prev_events.is_empty() {
        return reject("create.prev_events", "a create event has no prev_events");
    }
    if version.auth.room_id_is_create_event_id {
        if event.room_id.is_some() {
            return reject(
                "create.room_id",
                "room version 12 create events have no room_id",
            );
        }
    } else if event.room_id.as_deref().and_then(server_of) != server_of(&event.sender) {
        return reject(
            "create.room_id_server",
            "room id and sender are on different servers",
        );
    }
    if let Some(room_version) = event.content.get("room_version") {
        let known = room_version
            .as_str()
            .and_then(RoomVersion::from_id)
            .is_some();
        if !known {
            return reject(
                "create.room_version",
                format!("unknown room version {room_version}"),
            );
        }
    }
    if !version.auth.creator_is_sender && event.content.get("creator").is_none() {
        return reject("create.creator", "content has no creator");
    }
    if version.auth.creators_have_infinite_power
        && let Some(additional) = event.content.get("additional_creators")
    {
        let valid = additional.as_array().is_some_and(|users| {
            users
                .iter()
                .all(|u| u.as_str().is_some_and(|u| ruma::UserId::parse(u).is_ok()))
        });
        if !valid {
            return reject(
                "create.additional_creators",
                "additional_creators is not a list of user ids",
            );
        }
    }
    Ok(())
}

/// The state the rules consult, with the power levels parsed once.
struct Room<'a> {
    version: &'a RoomVersion,
    state: &'a dyn StateView,
    create: &'a Pdu,
    levels: PowerLevels,
    has_power_levels: bool,
}

impl<'a> Room<'a> {
    fn new(version: &'a RoomVersion, state: &'a dyn StateView, create: &'a Pdu) -> Self {
        let pl = state.get("m.room.power_levels", "");
        let levels = pl.map_or_else(PowerLevels::without_event, |pl| {
            PowerLevels::from_content(&pl.content, version)
        });
        Self {
            version,
            state,
            create,
            levels,
            has_power_levels: pl.is_some(),
        }
    }

    fn membership(&self, user: &str) -> Option<&'a str> {
        self.state
            .get("m.room.member", user)
            .and_then(|m| m.membership())
    }

    /// The creator who gets power 100 when there is no power levels event (v1–v11).
    fn creator(&self) -> Option<&'a str> {
        if self.version.auth.creator_is_sender {
            Some(self.create.sender.as_str())
        } else {
            self.create.content.get("creator").and_then(Value::as_str)
        }
    }

    /// Room version 12 creators: the create event's sender and its `additional_creators`.
    fn is_privileged_creator(&self, user: &str) -> bool {
        self.version.auth.creators_have_infinite_power
            && (self.create.sender == user
                || self
                    .create
                    .content
                    .get("additional_creators")
                    .and_then(Value::as_array)
                    .is_some_and(|users| users.iter().any(|u| u.as_str() == Some(user))))
    }

    fn user_level(&self, user: &str) -> Level {
        if self.is_privileged_creator(user) {
            return Level::Infinite;
        }
        if self.has_power_levels {
            Level::Finite(
                self.levels
                    .users
                    .get(user)
                    .copied()
                    .unwrap_or(self.levels.users_default),
            )
        } else if self.creator() == Some(user) {
            Level::Finite(100)
        } else {
            Level::Finite(0)
        }
    }

    fn join_rule(&self) -> &'a str {
        self.state
            .get("m.room.join_rules", "")
            .and_then(|e| e.content.get("join_rule"))
            .and_then(Value::as_str)
            .unwrap_or("invite")
    }
}

fn check_member(
    room: &Room<'_>,
    event: &Pdu,
    signed_by: &dyn Fn(&Pdu, &str) -> bool,
) -> Result<(), AuthError> {
    let version = room.version;
    let (Some(target), Some(membership)) = (event.state_key.as_deref(), event.membership()) else {
        return reject(
            "member.malformed",
            "a member event needs a state key and a membership",
        );
    };

    let via = event.content.get("join_authorised_via_users_server");
    if version.auth.restricted_join_rule
        && let Some(via) = via
    {
        let server = via
            .as_str()
            .filter(|u| ruma::UserId::parse(*u).is_ok())
            .and_then(server_of);
        if !server.is_some_and(|server| signed_by(event, server)) {
            return reject(
                "member.join_authorised_via_users_server.signature",
                "not signed by the authorising user's server",
            );
        }
    }

    let sender_membership = room.membership(&event.sender);
    let target_membership = room.membership(target);
    let sender_level = room.user_level(&event.sender);
    let target_level = room.user_level(target);
    let join_rule = room.join_rule();

    match membership {
        "join" => {
            let only_create_before =
                event.prev_events.len() == 1 && event.prev_events[0] == room.create.event_id;
            if only_create_before && room.creator() == Some(target) {
                return Ok(());
            }
            if event.sender != target {
                return reject("member.join.other_user", "users can only join themselves");
            }
            if sender_membership == Some("ban") {
                return reject("member.join.banned", "the user is banned");
            }
            let invite_like =
                join_rule == "invite" || (version.auth.knocking && join_rule == "knock");
            if invite_like && matches!(target_membership, Some("invite" | "join")) {
                return Ok(());
            }
            let restricted = (version.auth.restricted_join_rule && join_rule == "restricted")
                || (version.auth.knock_restricted_join_rule && join_rule == "knock_restricted");
            if restricted {
                if matches!(target_membership, Some("invite" | "join")) {
                    return Ok(());
                }
                let authoriser = via.and_then(Value::as_str);
                let authorised = authoriser.is_some_and(|user| {
                    room.membership(user) == Some("join")
                        && room.user_level(user).reaches(room.levels.invite)
                });
                return if authorised {
                    Ok(())
                } else {
                    reject(
                        "member.join.restricted",
                        "no joined user with invite power authorised this join",
                    )
                };
            }
            if join_rule == "public" {
                return Ok(());
            }
            reject(
                "member.join.not_allowed",
                format!("join rule {join_rule:?} does not allow this join"),
            )
        }
        "invite" => {
            if let Some(third_party) = event.content.get("third_party_invite") {
                return check_third_party_invite(
                    room,
                    event,
                    target,
                    target_membership,
                    third_party,
                );
            }
            if sender_membership != Some("join") {
                return reject(
                    "member.invite.sender_not_joined",
                    "the inviter is not joined",
                );
            }
            if matches!(target_membership, Some("join" | "ban")) {
                return reject(
                    "member.invite.target_joined_or_banned",
                    "the invitee is joined or banned",
                );
            }
            if sender_level.reaches(room.levels.invite) {
                Ok(())
            } else {
                reject(
                    "member.invite.power",
                    "the inviter is below the invite level",
                )
            }
        }
        "leave" => {
            if event.sender == target {
                let can_leave = matches!(sender_membership, Some("invite" | "join"))
                    || (version.auth.knocking && sender_membership == Some("knock"));
                return if can_leave {
                    Ok(())
                } else {
                    reject(
                        "member.leave.not_member",
                        "only invited, joined or knocking users can leave",
                    )
                };
            }
            if sender_membership != Some("join") {
                return reject("member.kick.sender_not_joined", "the kicker is not joined");
            }
            if target_membership == Some("ban") && !sender_level.reaches(room.levels.ban) {
                return reject("member.unban.power", "unbanning needs the ban level");
            }
            if sender_level.reaches(room.levels.kick) && target_level < sender_level {
                Ok(())
            } else {
                reject(
                    "member.kick.power",
                    "kicking needs the kick level and more power than the target",
                )
            }
        }
        "ban" => {
            if sender_membership != Some("join") {
                return reject("member.ban.sender_not_joined", "the banner is not joined");
            }
            if sender_level.reaches(room.levels.ban) && target_level < sender_level {
                Ok(())
            } else {
                reject(
                    "member.ban.power",
                    "banning needs the ban level and more power than the target",
                )
            }
        }
        "knock" if version.auth.knocking => {
            let knockable = join_rule == "knock"
                || (version.auth.knock_restricted_join_rule && join_rule == "knock_restricted");
            if !knockable {
                return reject(
                    "member.knock.join_rule",
                    format!("join rule {join_rule:?} does not allow knocking"),
                );
            }
            if event.sender != target {
                return reject(
                    "member.knock.other_user",
                    "users can only knock for themselves",
                );
            }
            if matches!(sender_membership, Some("ban" | "invite" | "join")) {
                return reject(
                    "member.knock.membership",
                    "banned, invited and joined users cannot knock",
                );
            }
            Ok(())
        }
        other => reject("member.unknown", format!("unknown membership {other:?}")),
    }
}

fn check_third_party_invite(
    room: &Room<'_>,
    event: &Pdu,
    target: &str,
    target_membership: Option<&str>,
    third_party: &Value,
) -> Result<(), AuthError> {
    if target_membership == Some("ban") {
        return reject("member.third_party_invite.banned", "the invitee is banned");
    }
    let Some(signed) = third_party.get("signed") else {
        return reject(
            "member.third_party_invite.no_signed",
            "third_party_invite has no signed",
        );
    };
    let (Some(mxid), Some(token)) = (
        signed.get("mxid").and_then(Value::as_str),
        signed.get("token").and_then(Value::as_str),
    ) else {
        return reject(
            "member.third_party_invite.malformed",
            "signed needs mxid and token",
        );
    };
    if mxid != target {
        return reject(
            "member.third_party_invite.mxid",
            "signed.mxid is not the invitee",
        );
    }
    let Some(invite) = room.state.get("m.room.third_party_invite", token) else {
        return reject(
            "member.third_party_invite.no_invite",
            "no m.room.third_party_invite for the token",
        );
    };
    if invite.sender != event.sender {
        return reject(
            "member.third_party_invite.sender",
            "the invite was issued by someone else",
        );
    }
    if signed_by_any_invite_key(signed, &invite.content) {
        Ok(())
    } else {
        reject(
            "member.third_party_invite.signature",
            "signed carries no signature by the invite's keys",
        )
    }
}

/// True if any signature in `signed` verifies with any public key of the
/// `m.room.third_party_invite` content (`public_key` and `public_keys[].public_key`).
fn signed_by_any_invite_key(signed: &Value, invite_content: &Value) -> bool {
    use base64::Engine as _;
    let decode = |s: &str| {
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
                .with_decode_allow_trailing_bits(true),
        );
        let url_safe = base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
                .with_decode_allow_trailing_bits(true),
        );
        lenient.decode(s).or_else(|_| url_safe.decode(s)).ok()
    };
    let mut keys: Vec<Vec<u8>> = Vec::new();
    if let Some(key) = invite_content
        .get("public_key")
        .and_then(Value::as_str)
        .and_then(decode)
    {
        keys.push(key);
    }
    if let Some(list) = invite_content.get("public_keys").and_then(Value::as_array) {
        keys.extend(
            list.iter()
                .filter_map(|k| k.get("public_key")?.as_str())
                .filter_map(decode),
        );
    }
    let Some(signatures) = signed.get("signatures").and_then(Value::as_object) else {
        return false;
    };
    let mut unsigned = signed.clone();
    if let Some(object) = unsigned.as_object_mut() {
        object.remove("signatures");
        object.remove("unsigned");
    }
    let Ok(canonical) = canonical_json::canonicalize(&unsigned) else {
        return false;
    };
    signatures
        .values()
        .filter_map(Value::as_object)
        .flat_map(|by_key| by_key.iter())
        .filter(|(key_id, _)| key_id.starts_with("ed25519:"))
        .filter_map(|(_, sig)| sig.as_str().and_then(decode))
        .any(|sig| {
            keys.iter().any(|key| {
                ruma::signatures::verify_canonical_json_bytes(
                    &ruma::SigningKeyAlgorithm::Ed25519,
                    key,
                    &sig,
                    canonical.as_bytes(),
                )
                .is_ok()
            })
        })
}

fn check_power_levels(room: &Room<'_>, event: &Pdu, sender_level: Level) -> Result<(), AuthError> {
    let version = room.version;
    let content = &event.content;

    if version.auth.integer_power_levels {
        for key in LEVEL_KEYS {
            if content.get(key).is_some_and(|v| !v.is_i64()) {
                return reject(
                    "power_levels.not_integer",
                    format!("{key} is not an integer"),
                );
            }
        }
        for key in ["events", "notifications"] {
            if let Some(map) = content.get(key) {
                let ok = map
                    .as_object()
                    .is_some_and(|m| m.values().all(Value::is_i64));
                if !ok {
                    return reject(
                        "power_levels.not_integer",
                        format!("{key} is not an object of integers"),
                    );
                }
            }
        }
    } else {
        for key in LEVEL_KEYS {
            if content
                .get(key)
                .is_some_and(|v| parse_level(v, version).is_none())
            {
                return reject(
                    "power_levels.not_integer",
                    format!("{key} is not a power level"),
                );
            }
        }
        for key in ["events", "notifications"] {
            if let Some(map) = content.get(key) {
                let ok = map
                    .as_object()
                    .is_some_and(|m| m.values().all(|v| parse_level(v, version).is_some()));
                if !ok {
                    return reject(
                        "power_levels.not_integer",
                        format!("{key} holds a value that is not a power level"),
                    );
                }
            }
        }
    }
    if let Some(users) = content.get("users") {
        let Some(users) = users.as_object() else {
            return reject("power_levels.users", "users is not an object");
        };
        for (user, level) in users {
            if ruma::UserId::parse(user.as_str()).is_err() {
                return reject("power_levels.users", format!("{user:?} is not a user id"));
            }
            let valid = if version.auth.integer_power_levels {
                level.is_i64()
            } else {
                parse_level(level, version).is_some()
            };
            if !valid {
                return reject(
                    "power_levels.users",
                    format!("the level of {user} is not an integer"),
                );
            }
            if room.is_privileged_creator(user) {
                return reject(
                    "power_levels.creator",
                    format!("{user} is a room creator and cannot be given a level"),
                );
            }
        }
    }

    let Some(current) = room.state.get("m.room.power_levels", "") else {
        return Ok(());
    };
    let old = &current.content;
    let level = |v: Option<&Value>| v.and_then(|v| parse_level(v, version));
    let above = |value: i64| Level::Finite(value) > sender_level;

    for key in LEVEL_KEYS {
        let (before, after) = (level(old.get(key)), level(content.get(key)));
        if before != after && (before.is_some_and(above) || after.is_some_and(above)) {
            return reject(
                "power_levels.change_above_own",
                format!("changing {key} beyond the sender's own level"),
            );
        }
    }

    let mut maps = vec!["events"];
    if version.auth.limit_notifications_power_levels {
        maps.push("notifications");
    }
    for map in maps {
        let empty = serde_json::Map::new();
        let before = old.get(map).and_then(Value::as_object).unwrap_or(&empty);
        let after = content
            .get(map)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for key in before.keys().chain(after.keys()) {
            let (b, a) = (level(before.get(key)), level(after.get(key)));
            if b == a {
                continue;
            }
            if b.is_some_and(above) || a.is_some_and(above) {
                return reject(
                    "power_levels.change_above_own",
                    format!("changing {map}.{key} beyond the sender's own level"),
                );
            }
        }
    }

    let empty = serde_json::Map::new();
    let before = old
        .get("users")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let after = content
        .get("users")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for user in before.keys().chain(after.keys()) {
        let (b, a) = (level(before.get(user)), level(after.get(user)));
        if b == a {
            continue;
        }
        if *user != event.sender && b.is_some_and(|b| Level::Finite(b) >= sender_level) {
            return reject(
                "power_levels.demote_peer",
                format!("{user} has at least the sender's level and cannot be changed"),
            );
        }
        if a.is_some_and(above) {
            return reject(
                "power_levels.promote_above_own",
                format!("{user} cannot be raised above the sender"),
            );
        }
    }
    Ok(())
}
