//! Spaces: `/hierarchy`, a breadth-first walk down `m.space.child` events from a room,
//! listing the rooms the caller may see or join with their summaries.
//!
//! Only rooms this server holds are walked (remote children need federation). A room is
//! listed when the caller is joined to it, when anyone may join or read it, or when a
//! restricted join rule would let the caller in; a room that is not listed is not walked
//! into either.

use std::collections::{HashSet, VecDeque};

use serde_json::{Value, json};

use super::{Error, ErrorKind, accounts::AuthedUser};
use crate::storage::{StoredEvent, Stores};

/// The most rooms one walk visits, however deep and wide the space.
const MAX_ROOMS: usize = 1000;
const DEFAULT_MAX_DEPTH: u64 = 10;
const MAX_LIMIT: u64 = 100;

pub struct SpaceService {
    stores: Stores,
}

/// A `/hierarchy` request beyond its room.
#[derive(Debug, Clone, Default)]
pub struct HierarchyRequest {
    pub suggested_only: bool,
    pub max_depth: Option<u64>,
    pub limit: Option<u64>,
    pub from: Option<String>,
}

impl SpaceService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    pub async fn hierarchy(
        &self,
        user: &AuthedUser,
        root: &str,
        request: HierarchyRequest,
    ) -> Result<Value, Error> {
        let offset = match request.from.as_deref() {
            None => 0,
            Some(token) => token
                .strip_prefix('h')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| Error::new(ErrorKind::InvalidParam, "Unknown pagination token"))?,
        };
        let limit = request.limit.unwrap_or(50).clamp(1, MAX_LIMIT) as usize;
        let max_depth = request.max_depth.unwrap_or(DEFAULT_MAX_DEPTH);
        if self.stores.rooms.get_room(root).await?.is_none() {
            return Err(Error::new(ErrorKind::NotFound, "Unknown room"));
        }
        let mut listed = Vec::new();
        let mut seen = HashSet::from([root.to_owned()]);
        let mut queue = VecDeque::from([(root.to_owned(), 0u64)]);
        while let Some((room_id, depth)) = queue.pop_front() {
            if listed.len() >= MAX_ROOMS {
                break;
            }
            let state = self.stores.rooms.state_at(&room_id, i64::MAX).await?;
            if state.is_empty() || !self.may_see(user, &state).await? {
                if room_id == root {
                    return Err(Error::new(ErrorKind::Forbidden, "You cannot see this room"));
                }
                continue;
            }
            let children = children(&state, request.suggested_only);
            if depth < max_depth {
                for child in &children {
                    let Some(child_id) = child["state_key"].as_str() else {
                        continue;
                    };
                    if seen.insert(child_id.to_owned())
                        && self.stores.rooms.get_room(child_id).await?.is_some()
                    {
                        queue.push_back((child_id.to_owned(), depth + 1));
                    }
                }
            }
            listed.push(summary(&room_id, &state, children));
        }
        let page: Vec<Value> = listed.iter().skip(offset).take(limit).cloned().collect();
        let mut body = json!({ "rooms": page });
        if offset + limit < listed.len() {
            body["next_batch"] = json!(format!("h{}", offset + limit));
        }
        Ok(body)
    }

    /// Whether the caller may see a room in a hierarchy: joined, or the room is open to
    /// them (public, world-readable, or restricted to a room they are in).
    async fn may_see(&self, user: &AuthedUser, state: &[StoredEvent]) -> Result<bool, Error> {
        let me = user.user_id.as_str();
        let membership = find(state, "m.room.member", me)
            .and_then(|e| e.json["content"]["membership"].as_str().map(str::to_owned));
        if matches!(membership.as_deref(), Some("join" | "invite")) {
            return Ok(true);
        }
        let join_rules = find(state, "m.room.join_rules", "").map(|e| &e.json["content"]);
        let rule = join_rules
            .and_then(|c| c["join_rule"].as_str())
            .unwrap_or("invite");
        let world_readable = find(state, "m.room.history_visibility", "")
            .is_some_and(|e| e.json["content"]["history_visibility"] == "world_readable");
        if rule == "public" || rule == "knock" || world_readable {
            return Ok(true);
        }
        if matches!(rule, "restricted" | "knock_restricted") {
            for entry in join_rules
                .and_then(|c| c["allow"].as_array())
                .into_iter()
                .flatten()
            {
                if let Some(room) = entry["room_id"].as_str()
                    && self
                        .stores
                        .rooms
                        .room_member(room, me)
                        .await?
                        .is_some_and(|(m, _)| m == "join")
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

fn find<'a>(state: &'a [StoredEvent], kind: &str, key: &str) -> Option<&'a StoredEvent> {
    state
        .iter()
        .find(|e| e.json["type"] == kind && e.json["state_key"] == key)
}

/// The room's `m.space.child` events that name a way in (a non-empty `via`), in the spec's
/// order: by `order` (when it is a valid one), then by timestamp, then by room id.
fn children(state: &[StoredEvent], suggested_only: bool) -> Vec<Value> {
    let mut children: Vec<&StoredEvent> = state
        .iter()
        .filter(|e| e.json["type"] == "m.space.child")
        .filter(|e| {
            e.json["content"]["via"]
                .as_array()
                .is_some_and(|via| !via.is_empty())
        })
        .filter(|e| !suggested_only || e.json["content"]["suggested"] == true)
        .collect();
    let order = |e: &StoredEvent| {
        e.json["content"]["order"]
            .as_str()
            .filter(|o| o.len() <= 50 && o.chars().all(|c| (' '..='~').contains(&c)))
            .map(str::to_owned)
    };
    children.sort_by(|a, b| {
        let (oa, ob) = (order(a), order(b));
        let by_order = match (&oa, &ob) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_order
            .then_with(|| {
                a.json["origin_server_ts"]
                    .as_i64()
                    .cmp(&b.json["origin_server_ts"].as_i64())
            })
            .then_with(|| {
                a.json["state_key"]
                    .as_str()
                    .cmp(&b.json["state_key"].as_str())
            })
    });
    children
        .into_iter()
        .map(|e| {
            json!({
                "type": "m.space.child",
                "state_key": e.json["state_key"],
                "content": e.json["content"],
                "sender": e.json["sender"],
                "origin_server_ts": e.json["origin_server_ts"],
            })
        })
        .collect()
}

fn summary(room_id: &str, state: &[StoredEvent], children_state: Vec<Value>) -> Value {
    let content = |kind: &str| find(state, kind, "").map(|e| &e.json["content"]);
    let joined = state
        .iter()
        .filter(|e| e.json["type"] == "m.room.member" && e.json["content"]["membership"] == "join")
        .count();
    let mut out = json!({
        "room_id": room_id,
        "num_joined_members": joined,
        "world_readable": content("m.room.history_visibility")
            .is_some_and(|c| c["history_visibility"] == "world_readable"),
        "guest_can_join": content("m.room.guest_access").is_some_and(|c| c["guest_access"] == "can_join"),
        "join_rule": content("m.room.join_rules")
            .and_then(|c| c["join_rule"].as_str())
            .unwrap_or("invite"),
        "children_state": children_state,
    });
    for (kind, field, key) in [
        ("m.room.name", "name", "name"),
        ("m.room.topic", "topic", "topic"),
        ("m.room.avatar", "url", "avatar_url"),
        ("m.room.canonical_alias", "alias", "canonical_alias"),
    ] {
        if let Some(value) = content(kind).and_then(|c| c[field].as_str()) {
            out[key] = json!(value);
        }
    }
    if let Some(room_type) = content("m.room.create").and_then(|c| c["type"].as_str()) {
        out["room_type"] = json!(room_type);
    }
    out
}
