//! Device-list tracking: which users' devices a client should query again.
//!
//! Device and cross-signing key changes go into one stream (`device_list_changes`); a sync
//! token carries a position in it. Between two positions a user is *changed* for Alice when
//! Alice shares a room with them now and either their keys changed or they came to share a
//! room with her (a join on either side); a user is *left* when a leave on either side means
//! they share no room with Alice any more. Alice's own changes are reported to her, so her
//! other devices notice a new sibling.
//!
//! The spec narrows both lists to encrypted rooms; every room is used here, a superset for
//! `changed` (an extra, harmless `/keys/query`) and no loss for `left`, which only fires once no
//! room at all is shared.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Value, json};

use super::{Error, sync::parse_sync_token};
use crate::storage::{StoredEvent, Stores};

/// Positions in the event stream and the device-list stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub events: (i64, i64),
    pub devices: (i64, i64),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceListChanges {
    pub changed: BTreeSet<String>,
    pub left: BTreeSet<String>,
}

impl DeviceListChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.left.is_empty()
    }

    pub fn to_json(&self) -> Value {
        json!({ "changed": self.changed, "left": self.left })
    }
}

pub struct DeviceListService {
    stores: Stores,
}

impl DeviceListService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// `GET /keys/changes`: the changes between two sync tokens (`to` capped at now).
    pub async fn changes_between_tokens(
        &self,
        user_id: &str,
        from: &str,
        to: &str,
    ) -> Result<DeviceListChanges, Error> {
        let (from, to) = (parse_sync_token(from)?, parse_sync_token(to)?);
        let heads = self.stores.streams.stream_heads().await?;
        let span = Span {
            events: (from.events, to.events.min(heads.events)),
            devices: (from.device_lists, to.device_lists.min(heads.device_lists)),
        };
        self.changes(user_id, span).await
    }

    /// What changed for `user_id` over `span`. An idle incremental sync asks this each time it
    /// wakes, so the range reads come first and the rooms' member lists are read only when
    /// something in the span needs them.
    pub async fn changes(&self, user_id: &str, span: Span) -> Result<DeviceListChanges, Error> {
        let rooms = &self.stores.rooms;
        let (after, up_to) = span.events;
        let joined = rooms.rooms_with_membership(user_id, "join").await?;
        let own_moves = if up_to > after {
            rooms
                .membership_events_between(user_id, after, up_to)
                .await?
        } else {
            Vec::new()
        };
        self.changes_knowing(user_id, span, &joined, &own_moves, None)
            .await
    }

    /// [`Self::changes`] for a caller that has read the user's joined rooms and their own
    /// membership events in the span already (`/sync` needs both for itself), and may know
    /// which rooms had any event in it (`with_events`; `None` when not known).
    pub async fn changes_knowing(
        &self,
        user_id: &str,
        span: Span,
        joined: &[String],
        own_moves: &[StoredEvent],
        with_events: Option<&HashSet<String>>,
    ) -> Result<DeviceListChanges, Error> {
        let rooms = &self.stores.rooms;
        let (after, up_to) = span.events;
        let (from, to) = span.devices;
        let key_changes = if to > from {
            self.stores.keys.device_list_changes(from, to).await?
        } else {
            Vec::new()
        };
        // Only rooms with events in the span can hold others' joins and leaves in it.
        let moved: Vec<String> = joined
            .iter()
            .filter(|room| up_to > after && with_events.is_none_or(|r| r.contains(*room)))
            .cloned()
            .collect();
        let others_moves = if moved.is_empty() {
            Vec::new()
        } else {
            rooms.member_events_between(moved, after, up_to).await?
        };
        let mut out = DeviceListChanges::default();
        if key_changes.is_empty() && own_moves.is_empty() && others_moves.is_empty() {
            return Ok(out);
        }

        let mut shared = BTreeSet::from([user_id.to_owned()]);
        for room in joined {
            shared.extend(self.joined_members(room).await?);
        }
        out.changed.extend(
            key_changes
                .iter()
                .filter(|u| shared.contains(*u) && *u != user_id)
                .cloned(),
        );
        let own_keys_changed = key_changes.iter().any(|u| u == user_id);

        // The user's own joins and leaves bring in (or drop) everyone in those rooms.
        let mut left_rooms = BTreeSet::new();
        for event in own_moves {
            match membership(&event.json) {
                "join" if joined.contains(&event.room_id) => {
                    out.changed
                        .extend(self.joined_members(&event.room_id).await?);
                }
                "leave" | "ban" if !joined.contains(&event.room_id) => {
                    left_rooms.insert(event.room_id.clone());
                }
                _ => {}
            }
        }
        for room in &left_rooms {
            out.left.extend(
                self.joined_members(room)
                    .await?
                    .into_iter()
                    .filter(|u| !shared.contains(u)),
            );
        }
        // Others joining or leaving the rooms the user is in.
        for event in &others_moves {
            let Some(member) = event.json["state_key"].as_str() else {
                continue;
            };
            match membership(&event.json) {
                "join" if shared.contains(member) => {
                    out.changed.insert(member.to_owned());
                }
                "leave" | "ban" if !shared.contains(member) => {
                    out.left.insert(member.to_owned());
                }
                _ => {}
            }
        }
        // The user's own devices changed only if their keys did, not because they joined.
        if own_keys_changed {
            out.changed.insert(user_id.to_owned());
        } else {
            out.changed.remove(user_id);
        }
        out.left
            .retain(|u| !out.changed.contains(u) && !shared.contains(u));
        Ok(out)
    }

    async fn joined_members(&self, room_id: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .stores
            .rooms
            .room_members(room_id)
            .await?
            .into_iter()
            .filter(|(_, membership, _)| membership == "join")
            .map(|(user, _, _)| user)
            .collect())
    }
}

fn membership(event: &Value) -> &str {
    event["content"]["membership"].as_str().unwrap_or_default()
}
