//! Room versions 1–12 as data: each version is a value of [`RoomVersion`], a set of rule flags,
//! so the rest of the core asks "does this version keep `allow` on redaction?" rather than
//! comparing version numbers. Each flag cites the version that introduced it.

/// How event ids are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventIdFormat {
    /// v1–v2: `$opaque:origin`, chosen by the sending server and carried in the event.
    ServerGenerated,
    /// v3: `$` + the reference hash in standard unpadded base64.
    ReferenceHashBase64,
    /// v4+: `$` + the reference hash in URL-safe unpadded base64.
    ReferenceHashUrlSafe,
}

/// Which state resolution algorithm the version uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateResolution {
    V1,
    V2,
    /// MSC4297, room version 12.
    V2_1,
}

/// What survives redaction (the "Redactions" section of each room version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedactionRules {
    /// `origin`, `membership` and `prev_state` stay at the top level (v1–v10).
    pub keep_origin_membership_prev_state: bool,
    /// `m.room.aliases` keeps `aliases` (v1–v5).
    pub keep_aliases_aliases: bool,
    /// `m.room.join_rules` keeps `allow` (v8+).
    pub keep_join_rules_allow: bool,
    /// `m.room.member` keeps `join_authorised_via_users_server` (v9+).
    pub keep_member_join_authorised_via_users_server: bool,
    /// `m.room.member` keeps `third_party_invite.signed` (v11+).
    pub keep_member_third_party_invite_signed: bool,
    /// `m.room.create` keeps all of its content (v11+); before, only `creator`.
    pub keep_create_content: bool,
    /// `m.room.power_levels` keeps `invite` (v11+).
    pub keep_power_levels_invite: bool,
    /// `m.room.redaction` keeps `redacts` in content (v11+).
    pub keep_redaction_redacts: bool,
}

/// Differences in the authorisation rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRules {
    /// `m.room.aliases` has its own rule (v1–v5).
    pub special_case_aliases: bool,
    /// v1–v2: a redaction is allowed if the sender's domain matches the redacted event's.
    pub special_case_redaction: bool,
    /// Knocking exists (v7+).
    pub knocking: bool,
    /// The `restricted` join rule exists (v8+).
    pub restricted_join_rule: bool,
    /// The `knock_restricted` join rule exists (v10+).
    pub knock_restricted_join_rule: bool,
    /// Power levels must be integers, not strings (v10+).
    pub integer_power_levels: bool,
    /// `notifications` in power levels is checked like the other levels (v6+).
    pub limit_notifications_power_levels: bool,
    /// The room creator is the create event's `sender`, not `content.creator` (v11+).
    pub creator_is_sender: bool,
    /// Creators (sender and `additional_creators`) have unlimited power (v12).
    pub creators_have_infinite_power: bool,
    /// The room id is the create event's id with `!`; the create event is not an auth event
    /// and has no `room_id` (v12).
    pub room_id_is_create_event_id: bool,
}

/// A room version: its identifier and every rule that differs between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomVersion {
    pub id: &'static str,
    pub event_id_format: EventIdFormat,
    pub state_resolution: StateResolution,
    pub redaction: RedactionRules,
    pub auth: AuthRules,
    /// Signing keys must be valid at the event's `origin_server_ts` (v5+).
    pub enforce_key_validity: bool,
    /// Integers outside [-(2^53)+1, 2^53-1] and floats are rejected, not tolerated (v6+).
    pub strict_canonical_json: bool,
    /// `prev_events` and `auth_events` are lists of ids (v3+) instead of `[id, hashes]` pairs.
    pub event_refs_are_ids: bool,
}

const V1_REDACTION: RedactionRules = RedactionRules {
    keep_origin_membership_prev_state: true,
    keep_aliases_aliases: true,
    keep_join_rules_allow: false,
    keep_member_join_authorised_via_users_server: false,
    keep_member_third_party_invite_signed: false,
    keep_create_content: false,
    keep_power_levels_invite: false,
    keep_redaction_redacts: false,
};
const V6_REDACTION: RedactionRules = RedactionRules {
    keep_aliases_aliases: false,
    ..V1_REDACTION
};
const V8_REDACTION: RedactionRules = RedactionRules {
    keep_join_rules_allow: true,
    ..V6_REDACTION
};
const V9_REDACTION: RedactionRules = RedactionRules {
    keep_member_join_authorised_via_users_server: true,
    ..V8_REDACTION
};
const V11_REDACTION: RedactionRules = RedactionRules {
    keep_origin_membership_prev_state: false,
    keep_member_third_party_invite_signed: true,
    keep_create_content: true,
    keep_power_levels_invite: true,
    keep_redaction_redacts: true,
    ..V9_REDACTION
};

const V1_AUTH: AuthRules = AuthRules {
    special_case_aliases: true,
    special_case_redaction: true,
    knocking: false,
    restricted_join_rule: false,
    knock_restricted_join_rule: false,
    integer_power_levels: false,
    limit_notifications_power_levels: false,
    creator_is_sender: false,
    creators_have_infinite_power: false,
    room_id_is_create_event_id: false,
};
const V3_AUTH: AuthRules = AuthRules {
    special_case_redaction: false,
    ..V1_AUTH
};
const V6_AUTH: AuthRules = AuthRules {
    special_case_aliases: false,
    limit_notifications_power_levels: true,
    ..V3_AUTH
};
const V7_AUTH: AuthRules = AuthRules {
    knocking: true,
    ..V6_AUTH
};
const V8_AUTH: AuthRules = AuthRules {
    restricted_join_rule: true,
    ..V7_AUTH
};
const V10_AUTH: AuthRules = AuthRules {
    knock_restricted_join_rule: true,
    integer_power_levels: true,
    ..V8_AUTH
};
const V11_AUTH: AuthRules = AuthRules {
    creator_is_sender: true,
    ..V10_AUTH
};
const V12_AUTH: AuthRules = AuthRules {
    creators_have_infinite_power: true,
    room_id_is_create_event_id: true,
    ..V11_AUTH
};

impl RoomVersion {
    pub const V1: Self = Self {
        id: "1",
        event_id_format: EventIdFormat::ServerGenerated,
        state_resolution: StateResolution::V1,
        redaction: V1_REDACTION,
        auth: V1_AUTH,
        enforce_key_validity: false,
        strict_canonical_json: false,
        event_refs_are_ids: false,
    };
    pub const V2: Self = Self {
        id: "2",
        state_resolution: StateResolution::V2,
        ..Self::V1
    };
    pub const V3: Self = Self {
        id: "3",
        event_id_format: EventIdFormat::ReferenceHashBase64,
        auth: V3_AUTH,
        event_refs_are_ids: true,
        ..Self::V2
    };
    pub const V4: Self = Self {
        id: "4",
        event_id_format: EventIdFormat::ReferenceHashUrlSafe,
        ..Self::V3
    };
    pub const V5: Self = Self {
        id: "5",
        enforce_key_validity: true,
        ..Self::V4
    };
    pub const V6: Self = Self {
        id: "6",
        redaction: V6_REDACTION,
        auth: V6_AUTH,
        strict_canonical_json: true,
        ..Self::V5
    };
    pub const V7: Self = Self {
        id: "7",
        auth: V7_AUTH,
        ..Self::V6
    };
    pub const V8: Self = Self {
        id: "8",
        redaction: V8_REDACTION,
        auth: V8_AUTH,
        ..Self::V7
    };
    pub const V9: Self = Self {
        id: "9",
        redaction: V9_REDACTION,
        ..Self::V8
    };
    pub const V10: Self = Self {
        id: "10",
        auth: V10_AUTH,
        ..Self::V9
    };
    pub const V11: Self = Self {
        id: "11",
        redaction: V11_REDACTION,
        auth: V11_AUTH,
        ..Self::V10
    };
    pub const V12: Self = Self {
        id: "12",
        state_resolution: StateResolution::V2_1,
        auth: V12_AUTH,
        ..Self::V11
    };

    /// Every version this server implements, oldest first.
    pub const ALL: [Self; 12] = [
        Self::V1,
        Self::V2,
        Self::V3,
        Self::V4,
        Self::V5,
        Self::V6,
        Self::V7,
        Self::V8,
        Self::V9,
        Self::V10,
        Self::V11,
        Self::V12,
    ];

    /// The version new rooms get, as the spec recommends.
    pub const DEFAULT: Self = Self::V12;

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.id == id)
    }
}

#[cfg(test)]
mod tests {
    use ruma::room_version_rules::{
        EventIdFormatVersion, RoomVersionRules, StateResolutionV2Rules, StateResolutionVersion,
    };

    use super::*;

    fn ruma_rules(v: &RoomVersion) -> RoomVersionRules {
        let id = ruma::RoomVersionId::try_from(v.id).unwrap();
        id.rules().unwrap()
    }

    #[test]
    fn every_version_resolves_by_id_and_ids_are_unique() {
        for v in RoomVersion::ALL {
            assert_eq!(RoomVersion::from_id(v.id), Some(v));
        }
        assert_eq!(RoomVersion::from_id("13"), None);
        assert_eq!(RoomVersion::DEFAULT.id, "12");
    }

    /// ruma encodes the same spec facts independently; agreeing flag by flag catches a typo in
    /// either table.
    #[test]
    fn rules_agree_with_ruma_for_every_version() {
        for v in RoomVersion::ALL {
            let r = ruma_rules(&v);
            let id_format = match r.event_id_format {
                EventIdFormatVersion::V1 => EventIdFormat::ServerGenerated,
                EventIdFormatVersion::V2 => EventIdFormat::ReferenceHashBase64,
                _ => EventIdFormat::ReferenceHashUrlSafe,
            };
            assert_eq!(v.event_id_format, id_format, "v{} event id format", v.id);
            let rd = &r.redaction;
            assert_eq!(
                v.redaction.keep_origin_membership_prev_state, rd.keep_origin_membership_prev_state,
                "v{}",
                v.id
            );
            assert_eq!(
                v.redaction.keep_aliases_aliases, rd.keep_room_aliases_aliases,
                "v{}",
                v.id
            );
            assert_eq!(
                v.redaction.keep_join_rules_allow, rd.keep_room_join_rules_allow,
                "v{}",
                v.id
            );
            assert_eq!(
                v.redaction.keep_member_join_authorised_via_users_server,
                rd.keep_room_member_join_authorised_via_users_server,
                "v{}",
                v.id
            );
            assert_eq!(
                v.redaction.keep_member_third_party_invite_signed,
                rd.keep_room_member_third_party_invite_signed,
                "v{}",
                v.id
            );
            assert_eq!(
                v.redaction.keep_create_content, rd.keep_room_create_content,
                "v{}",
                v.id
            );
            assert_eq!(
                v.redaction.keep_power_levels_invite, rd.keep_room_power_levels_invite,
                "v{}",
                v.id
            );
            assert_eq!(
                v.redaction.keep_redaction_redacts, rd.keep_room_redaction_redacts,
                "v{}",
                v.id
            );
            let a = &r.authorization;
            assert_eq!(
                v.auth.special_case_aliases, a.special_case_room_aliases,
                "v{}",
                v.id
            );
            assert_eq!(
                v.auth.special_case_redaction, a.special_case_room_redaction,
                "v{}",
                v.id
            );
            assert_eq!(v.auth.knocking, a.knocking, "v{}", v.id);
            assert_eq!(
                v.auth.restricted_join_rule, a.restricted_join_rule,
                "v{}",
                v.id
            );
            assert_eq!(
                v.auth.knock_restricted_join_rule, a.knock_restricted_join_rule,
                "v{}",
                v.id
            );
            assert_eq!(
                v.auth.integer_power_levels, a.integer_power_levels,
                "v{}",
                v.id
            );
            assert_eq!(
                v.auth.limit_notifications_power_levels, a.limit_notifications_power_levels,
                "v{}",
                v.id
            );
            assert_eq!(
                v.auth.creator_is_sender, a.use_room_create_sender,
                "v{}",
                v.id
            );
            assert_eq!(
                v.auth.creators_have_infinite_power, a.explicitly_privilege_room_creators,
                "v{}",
                v.id
            );
            assert_eq!(
                v.auth.room_id_is_create_event_id, a.room_create_event_id_as_room_id,
                "v{}",
                v.id
            );
            assert_eq!(v.enforce_key_validity, r.enforce_key_validity, "v{}", v.id);
            assert_eq!(
                v.strict_canonical_json, a.strict_canonical_json,
                "v{}",
                v.id
            );
            let expected_state_res = match &r.state_res {
                StateResolutionVersion::V2(StateResolutionV2Rules {
                    consider_conflicted_state_subgraph: true,
                    ..
                }) => StateResolution::V2_1,
                StateResolutionVersion::V2(_) => StateResolution::V2,
                _ => StateResolution::V1,
            };
            assert_eq!(v.state_resolution, expected_state_res, "v{}", v.id);
        }
    }
}
