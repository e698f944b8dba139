//! Where another homeserver is known to answer against the spec, case by case.
//!
//! A case that fails on another server is either the suite asking more than the spec (then
//! the case is changed) or that server deviating (then it is listed here, with what the spec
//! says instead). The runner attaches the note to the failure, so a report tells the two
//! apart; a listed case still fails, because the server still does not conform.

pub struct Deviation {
    pub case: &'static str,
    pub server: &'static str,
    /// What the server does, and what the spec asks instead.
    pub what: &'static str,
}

const SYNAPSE: &str = "Synapse 1.163.2";

pub const KNOWN: &[Deviation] = &[
    Deviation {
        case: "refresh_tokens_survive_a_lost_answer_then_retire",
        server: SYNAPSE,
        what: "a refresh token already used is refused with 403 M_FORBIDDEN; POST /refresh \
               documents 401 for \"the provided token was unknown, or has already been used\"",
    },
    Deviation {
        case: "devices_list_includes_the_current_device",
        server: SYNAPSE,
        what: "sends \"display_name\": null for an unnamed device; the schema's display_name is \
               a string, \"absent if no name has been set\"",
    },
    Deviation {
        case: "device_of_another_user_is_not_found",
        server: SYNAPSE,
        what: "sends \"display_name\": null for an unnamed device (GET /devices/{deviceId}); \
               the schema asks for the field to be absent",
    },
    Deviation {
        case: "delete_devices_removes_several",
        server: SYNAPSE,
        what: "sends \"display_name\": null in GET /devices; the schema asks for the field \
               to be absent",
    },
    Deviation {
        case: "members_are_listed_by_membership",
        server: SYNAPSE,
        what: "sends \"avatar_url\": null in /joined_members for members without an avatar; \
               the schema's avatar_url is a string",
    },
    Deviation {
        case: "users_sharing_a_room_are_found_by_name_and_id",
        server: SYNAPSE,
        what: "sends \"avatar_url\": null in user directory results; the schema's avatar_url \
               is a string, given \"if one exists\"",
    },
    Deviation {
        case: "search_results_are_limited",
        server: SYNAPSE,
        what: "sends \"avatar_url\": null in user directory results; the schema's avatar_url \
               is a string, given \"if one exists\"",
    },
    Deviation {
        case: "public_rooms_lists_published_rooms_by_search_and_pages",
        server: SYNAPSE,
        what: "a `since` token it never issued answers 500 M_UNKNOWN \"Internal server error\" \
               (POST and GET /publicRooms); bad input is a 4xx",
    },
    Deviation {
        case: "cross_signing_keys_with_bad_signatures_are_refused",
        server: SYNAPSE,
        what: "a master key whose public key is one of the user's device ids answers 500 \
               M_UNKNOWN; /keys/device_signing/upload documents 403 for exactly that",
    },
    Deviation {
        case: "changing_another_users_profile_is_forbidden",
        server: SYNAPSE,
        what: "answers 400 M_FORBIDDEN; PUT /profile documents 403 for \"insufficient \
               permissions\" and 400 for invalid input",
    },
    Deviation {
        case: "backed_up_keys_keep_the_better_key_and_move_the_etag",
        server: SYNAPSE,
        what: "compares forwarded_count even when first_message_index differs, replacing the \
               better key; the spec compares forwarded_count only when is_verified and \
               first_message_index are equal",
    },
    Deviation {
        case: "writing_to_an_old_backup_names_the_current_version",
        server: SYNAPSE,
        what: "M_WRONG_ROOM_KEYS_VERSION names the version written to as current_version; the \
               spec: \"the current version will be included in the current_version field\"",
    },
];

/// The known deviation for a case, if any.
pub fn known(case: &str) -> Option<&'static Deviation> {
    KNOWN.iter().find(|d| d.case == case)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deviation_names_a_case_once() {
        let names: Vec<&str> = crate::cases::all().iter().map(|c| c.name).collect();
        for (i, d) in KNOWN.iter().enumerate() {
            assert!(names.contains(&d.case), "no case named {}", d.case);
            assert!(
                KNOWN[..i].iter().all(|e| e.case != d.case),
                "{} listed twice",
                d.case
            );
            assert!(!d.what.is_empty() && d.server == SYNAPSE);
        }
    }
}
