//! The public room directory: publishing rooms, and listing them with a summary of each.
//!
//! Publishing needs the power to send `m.room.canonical_alias` (as Synapse asks), checked by
//! the auth rules themselves. The list is ordered by joined members, then room id, and pages
//! with offset tokens; it is built from current state on every call, which is fine for the
//! room counts of a single server today and the first thing to cache when it is not.

use serde_json::{Map, Value, json};

use super::{Error, ErrorKind, accounts::AuthedUser, rooms::RoomService};
use crate::storage::Stores;

const DEFAULT_LIMIT: usize = 30;
const MAX_LIMIT: usize = 500;

pub struct RoomDirectoryService {
    stores: Stores,
}

impl RoomDirectoryService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    pub async fn set_published(
        &self,
        user: &AuthedUser,
        room_id: &str,
        published: bool,
        rooms: &RoomService,
    ) -> Result<(), Error> {
        self.require_room(room_id).await?;
        rooms
            .require_state_power(user, room_id, "m.room.canonical_alias")
            .await?;
        Ok(self
            .stores
            .directory
            .set_published(room_id, published)
            .await?)
    }

    /// Publishes a room its creator asked to be public at creation.
    pub async fn publish_new_room(&self, room_id: &str) -> Result<(), Error> {
        Ok(self.stores.directory.set_published(room_id, true).await?)
    }

    pub async fn is_published(&self, room_id: &str) -> Result<bool, Error> {
        self.require_room(room_id).await?;
        Ok(self.stores.directory.is_published(room_id).await?)
    }

    /// One page of published rooms matching `search` (case-insensitive, in name, topic or
    /// canonical alias).
    pub async fn public_rooms(
        &self,
        limit: Option<u64>,
        since: Option<&str>,
        search: Option<&str>,
    ) -> Result<Value, Error> {
        let offset = match since {
            None => 0,
            Some(token) => token
                .strip_prefix('o')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| Error::new(ErrorKind::InvalidParam, "Unknown pagination token"))?,
        };
        let limit = limit.map_or(DEFAULT_LIMIT, |l| (l as usize).clamp(1, MAX_LIMIT));
        let search = search.map(str::to_lowercase).filter(|s| !s.is_empty());
        let mut summaries = Vec::new();
        for room_id in self.stores.directory.published_rooms().await? {
            let summary = self.summary(&room_id).await?;
            let matches = search.as_ref().is_none_or(|term| {
                ["name", "topic", "canonical_alias"].iter().any(|field| {
                    summary[*field]
                        .as_str()
                        .is_some_and(|text| text.to_lowercase().contains(term.as_str()))
                })
            });
            if matches {
                summaries.push(summary);
            }
        }
        summaries.sort_by(|a, b| {
            b["num_joined_members"]
                .as_u64()
                .cmp(&a["num_joined_members"].as_u64())
                .then_with(|| a["room_id"].as_str().cmp(&b["room_id"].as_str()))
        });
        let total = summaries.len();
        let chunk: Vec<Value> = summaries.into_iter().skip(offset).take(limit).collect();
        let mut response = json!({
            "chunk": chunk,
            "total_room_count_estimate": total,
        });
        if offset + limit < total {
            response["next_batch"] = json!(format!("o{}", offset + limit));
        }
        if offset > 0 {
            response["prev_batch"] = json!(format!("o{}", offset.saturating_sub(limit)));
        }
        Ok(response)
    }

    /// A directory entry from the room's current state.
    async fn summary(&self, room_id: &str) -> Result<Value, Error> {
        let head = self.stores.rooms.room_head(room_id).await?;
        let mut content_of: Map<String, Value> = Map::new();
        for (event_type, state_key, event_id) in head.state {
            if !state_key.is_empty() {
                continue;
            }
            if let Some(event) = self.stores.rooms.get_event(&event_id).await? {
                content_of.insert(event_type, event.json["content"].clone());
            }
        }
        let field =
            |event_type: &str, key: &str| content_of.get(event_type).map(|c| c[key].clone());
        let joined = self
            .stores
            .rooms
            .room_members(room_id)
            .await?
            .iter()
            .filter(|(_, membership, _)| membership == "join")
            .count();
        let mut summary = json!({
            "room_id": room_id,
            "num_joined_members": joined,
            "world_readable": field("m.room.history_visibility", "history_visibility")
                == Some(json!("world_readable")),
            "guest_can_join": field("m.room.guest_access", "guest_access") == Some(json!("can_join")),
            "join_rule": field("m.room.join_rules", "join_rule").unwrap_or(json!("invite")),
        });
        for (key, event_type, content_key) in [
            ("name", "m.room.name", "name"),
            ("topic", "m.room.topic", "topic"),
            ("canonical_alias", "m.room.canonical_alias", "alias"),
            ("avatar_url", "m.room.avatar", "url"),
            ("room_type", "m.room.create", "type"),
        ] {
            if let Some(value) = field(event_type, content_key).filter(Value::is_string) {
                summary[key] = value;
            }
        }
        Ok(summary)
    }

    async fn require_room(&self, room_id: &str) -> Result<(), Error> {
        match self.stores.rooms.get_room(room_id).await? {
            Some(_) => Ok(()),
            None => Err(Error::new(ErrorKind::NotFound, "Room not found")),
        }
    }
}
