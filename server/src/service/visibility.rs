//! History visibility: which of a room's events a user may read, by the spec's rules
//! ("Server behaviour" under history visibility), applied on every read path.
//!
//! Rooms here are linear (every event is local and appended at the head), so the state at an
//! event is the state changes with a lower stream ordering. A [`HistoryView`] holds the two
//! pieces of state the rules read, as they changed over time: the room's
//! `m.room.history_visibility` and the user's own membership.

use serde_json::Value;

use super::{Error, ErrorKind};
use crate::storage::{StoredEvent, Stores};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    // Ordered from the most to the least restrictive.
    Joined,
    Invited,
    Shared,
    WorldReadable,
}

impl Visibility {
    /// The value in an `m.room.history_visibility` content; `shared` when absent or unknown,
    /// as the spec prescribes.
    pub fn from_content(content: &Value) -> Self {
        match content.get("history_visibility").and_then(Value::as_str) {
            Some("world_readable") => Self::WorldReadable,
            Some("invited") => Self::Invited,
            Some("joined") => Self::Joined,
            _ => Self::Shared,
        }
    }
}

/// One user's view of one room's history.
#[derive(Debug, Clone, Default)]
pub struct HistoryView {
    user_id: String,
    /// (stream ordering, visibility set there), ascending.
    visibility: Vec<(i64, Visibility)>,
    /// (stream ordering, the user's membership set there), ascending.
    membership: Vec<(i64, String)>,
}

impl HistoryView {
    pub async fn load(stores: &Stores, room_id: &str, user_id: &str) -> Result<Self, Error> {
        let (visibility, membership) = stores
            .rooms
            .state_histories(
                room_id,
                ("m.room.history_visibility", ""),
                ("m.room.member", user_id),
            )
            .await?;
        let visibility = visibility
            .iter()
            .map(|e| {
                (
                    e.stream_ordering,
                    Visibility::from_content(&e.json["content"]),
                )
            })
            .collect();
        let membership = membership
            .iter()
            .map(|e| (e.stream_ordering, membership_of(&e.json["content"])))
            .collect();
        Ok(Self::new(user_id, visibility, membership))
    }

    /// The user's view, refused outright (`Forbidden`) when they can read nothing of the room.
    pub async fn readable(stores: &Stores, room_id: &str, user_id: &str) -> Result<Self, Error> {
        let view = Self::load(stores, room_id, user_id).await?;
        if view.has_any_access() {
            Ok(view)
        } else {
            Err(Error::new(
                ErrorKind::Forbidden,
                "You cannot read this room's history",
            ))
        }
    }

    pub fn new(
        user_id: &str,
        visibility: Vec<(i64, Visibility)>,
        membership: Vec<(i64, String)>,
    ) -> Self {
        Self {
            user_id: user_id.to_owned(),
            visibility,
            membership,
        }
    }

    /// Whether the user may read anything of the room at all: they have some membership
    /// history in it, or anyone may read it now.
    pub fn has_any_access(&self) -> bool {
        !self.membership.is_empty() || self.world_readable_now()
    }

    /// The user's membership now and the stream ordering where it was set.
    pub fn current_membership(&self) -> Option<(i64, &str)> {
        self.membership.last().map(|(at, m)| (*at, m.as_str()))
    }

    /// Whether the user has ever been joined to the room.
    pub fn ever_joined(&self) -> bool {
        self.membership.iter().any(|(_, m)| m == "join")
    }

    /// Whether anyone may read the room's history from now on.
    pub fn world_readable_now(&self) -> bool {
        self.visibility.last().map(|(_, v)| *v) == Some(Visibility::WorldReadable)
    }

    /// Whether the user may see `event`.
    pub fn may_see(&self, event: &StoredEvent) -> bool {
        let at = event.stream_ordering;
        if self.may_see_message(at) {
            return true;
        }
        let visibility = last_before(&self.visibility, at).unwrap_or(Visibility::Shared);
        let membership = last_before(&self.membership, at);
        // A change of visibility, or of the user's own membership, is visible if the state
        // after it would allow it as well as if the state before did.
        let json = &event.json;
        match (json["type"].as_str(), json["state_key"].as_str()) {
            (Some("m.room.history_visibility"), Some("")) => {
                let after = Visibility::from_content(&json["content"]);
                self.allows(at, after, membership.as_deref())
            }
            (Some("m.room.member"), Some(key)) if key == self.user_id => {
                let after = membership_of(&json["content"]);
                self.allows(at, visibility, Some(&after))
            }
            _ => false,
        }
    }

    /// Whether the user may see a non-state event at stream ordering `at` (what a relation
    /// row says about its event is enough for that).
    pub fn may_see_message(&self, at: i64) -> bool {
        let visibility = last_before(&self.visibility, at).unwrap_or(Visibility::Shared);
        let membership = last_before(&self.membership, at);
        self.allows(at, visibility, membership.as_deref())
    }

    /// Keeps the events the user may see.
    pub fn retain_visible(&self, events: &mut Vec<StoredEvent>) {
        events.retain(|e| self.may_see(e));
    }

    fn allows(&self, at: i64, visibility: Visibility, membership: Option<&str>) -> bool {
        match (visibility, membership) {
            (Visibility::WorldReadable, _) | (_, Some("join")) => true,
            (Visibility::Shared, _) => self.joined_after(at),
            (Visibility::Invited, Some("invite")) => true,
            _ => false,
        }
    }

    /// Whether the user joined the room at some point after `at`.
    fn joined_after(&self, at: i64) -> bool {
        self.membership
            .iter()
            .any(|(ordering, m)| *ordering > at && m == "join")
    }
}

/// The value set at the last change strictly before `at`.
fn last_before<T: Clone>(changes: &[(i64, T)], at: i64) -> Option<T> {
    let index = changes.partition_point(|(ordering, _)| *ordering < at);
    index.checked_sub(1).map(|i| changes[i].1.clone())
}

fn membership_of(content: &Value) -> String {
    content["membership"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ME: &str = "@me:x";

    fn message(ordering: i64) -> StoredEvent {
        StoredEvent {
            event_id: format!("$m{ordering}"),
            room_id: "!r:x".into(),
            stream_ordering: ordering,
            json: json!({"type": "m.room.message", "content": {"body": "hi"}}),
        }
    }

    fn state(ordering: i64, kind: &str, key: &str, content: Value) -> StoredEvent {
        StoredEvent {
            event_id: format!("$s{ordering}"),
            room_id: "!r:x".into(),
            stream_ordering: ordering,
            json: json!({"type": kind, "state_key": key, "content": content}),
        }
    }

    fn view(visibility: &[(i64, Visibility)], membership: &[(i64, &str)]) -> HistoryView {
        HistoryView::new(
            ME,
            visibility.to_vec(),
            membership
                .iter()
                .map(|(o, m)| (*o, (*m).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn shared_history_opens_to_anyone_who_joins_later() {
        let v = view(&[(2, Visibility::Shared)], &[(10, "join")]);
        assert!(v.may_see(&message(5)));
        assert!(v.may_see(&message(11)));
    }

    #[test]
    fn shared_history_stays_closed_to_those_who_never_joined() {
        let v = view(&[(2, Visibility::Shared)], &[(10, "invite")]);
        assert!(!v.may_see(&message(5)));
        assert!(!v.may_see(&message(11)));
    }

    #[test]
    fn joined_history_shows_only_what_was_sent_while_joined() {
        let v = view(
            &[(2, Visibility::Joined)],
            &[(10, "join"), (20, "leave"), (30, "join")],
        );
        assert!(!v.may_see(&message(5)), "before joining");
        assert!(v.may_see(&message(15)), "while joined");
        assert!(!v.may_see(&message(25)), "after leaving");
        assert!(v.may_see(&message(35)), "after rejoining");
    }

    #[test]
    fn invited_history_opens_from_the_invite() {
        let v = view(&[(2, Visibility::Invited)], &[(10, "invite"), (20, "join")]);
        assert!(!v.may_see(&message(5)));
        assert!(v.may_see(&message(15)), "sent while invited");
        let joined_only = view(&[(2, Visibility::Joined)], &[(10, "invite"), (20, "join")]);
        assert!(!joined_only.may_see(&message(15)));
    }

    #[test]
    fn world_readable_history_is_open_to_everyone() {
        let v = view(&[(2, Visibility::WorldReadable)], &[]);
        assert!(v.may_see(&message(5)));
        assert!(v.has_any_access());
        assert!(!view(&[(2, Visibility::Shared)], &[]).has_any_access());
    }

    #[test]
    fn no_visibility_event_means_shared() {
        let v = view(&[], &[(10, "join")]);
        assert!(v.may_see(&message(5)));
        assert!(!view(&[], &[]).may_see(&message(5)));
    }

    #[test]
    fn visibility_is_read_at_the_event_not_now() {
        // World readable until 10, joined-only after: early events stay public.
        let v = view(
            &[(2, Visibility::WorldReadable), (10, Visibility::Joined)],
            &[],
        );
        assert!(v.may_see(&message(5)));
        assert!(!v.may_see(&message(15)));
    }

    #[test]
    fn a_visibility_change_is_visible_if_either_side_allows_it() {
        let v = view(
            &[(2, Visibility::WorldReadable), (10, Visibility::Joined)],
            &[],
        );
        let change = state(
            10,
            "m.room.history_visibility",
            "",
            json!({"history_visibility": "joined"}),
        );
        assert!(v.may_see(&change), "world readable before the change");
        let v = view(&[(2, Visibility::Joined)], &[]);
        let opening = state(
            10,
            "m.room.history_visibility",
            "",
            json!({"history_visibility": "world_readable"}),
        );
        assert!(v.may_see(&opening), "world readable after the change");
    }

    #[test]
    fn own_membership_changes_are_visible_under_joined_history() {
        let v = view(&[(2, Visibility::Joined)], &[(10, "join"), (20, "leave")]);
        let join = state(10, "m.room.member", ME, json!({"membership": "join"}));
        let leave = state(20, "m.room.member", ME, json!({"membership": "leave"}));
        assert!(v.may_see(&join));
        assert!(v.may_see(&leave));
        let someone_else = state(25, "m.room.member", "@you:x", json!({"membership": "join"}));
        assert!(!v.may_see(&someone_else), "others' joins after I left");
    }
}
