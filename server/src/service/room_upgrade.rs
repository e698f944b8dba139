//! Room upgrades (`POST /rooms/{roomId}/upgrade`): a new room of the requested version that
//! carries the old room's name, topic, rules and power levels, a tombstone pointing to it in
//! the old room, the old room's local aliases moved over, and the old room muted so the
//! conversation continues in the new one.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{
    Error, ErrorKind,
    accounts::AuthedUser,
    rooms::{CreateRoomParams, RoomService},
};
use crate::{
    core::room_version::RoomVersion,
    storage::{RoomAlias, StoredEvent, Stores},
};

/// State the new room inherits, by type (all with the empty state key).
const CARRIED_STATE: &[&str] = &[
    "m.room.server_acl",
    "m.room.encryption",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
];

pub struct RoomUpgradeService {
    rooms: Arc<RoomService>,
    stores: Stores,
}

impl RoomUpgradeService {
    pub fn new(rooms: Arc<RoomService>, stores: Stores) -> Self {
        Self { rooms, stores }
    }

    /// Upgrades `old_room` to `new_version`; returns the replacement room's id.
    pub async fn upgrade(
        &self,
        user: &AuthedUser,
        old_room: &str,
        new_version: &str,
        additional_creators: Vec<String>,
    ) -> Result<String, Error> {
        let version = RoomVersion::from_id(new_version).ok_or_else(|| {
            Error::new(
                ErrorKind::UnsupportedRoomVersion,
                format!("room version {new_version} is not supported"),
            )
        })?;
        // Only someone who may end the old room may replace it.
        self.rooms
            .require_state_power(user, old_room, "m.room.tombstone")
            .await?;
        let state = self.stores.rooms.state_at(old_room, i64::MAX).await?;
        let find = |kind: &str| {
            state
                .iter()
                .find(|e| e.json["type"] == kind && e.json["state_key"] == "")
        };
        let upgrader = user.user_id.as_str();
        let old_create =
            find("m.room.create").ok_or_else(|| Error::internal("room without a create event"))?;

        let mut creation_content = Map::new();
        for key in ["m.federate", "type"] {
            if let Some(value) = old_create.json["content"].get(key) {
                creation_content.insert(key.to_owned(), value.clone());
            }
        }
        creation_content.insert("predecessor".to_owned(), json!({ "room_id": old_room }));
        if version.auth.creators_have_infinite_power && !additional_creators.is_empty() {
            creation_content.insert("additional_creators".to_owned(), json!(additional_creators));
        }

        let power_levels = find("m.room.power_levels").map(|e| e.json["content"].clone());
        let (override_levels, final_levels) = new_power_levels(
            &version,
            upgrader,
            &additional_creators,
            power_levels.as_ref(),
        );
        let initial_state = CARRIED_STATE
            .iter()
            .filter_map(|kind| find(kind))
            .map(|e| {
                (
                    e.json["type"].as_str().unwrap_or_default().to_owned(),
                    String::new(),
                    e.json["content"].clone(),
                )
            })
            .collect();
        let new_room = self
            .rooms
            .create_room(
                user,
                CreateRoomParams {
                    room_version: Some(version.id.to_owned()),
                    preset: Some("private_chat".to_owned()),
                    public: false,
                    name: None,
                    topic: None,
                    invite: Vec::new(),
                    creation_content: Some(creation_content),
                    power_level_content_override: override_levels,
                    initial_state,
                    alias: None,
                },
            )
            .await?;
        if let Some(levels) = final_levels {
            self.rooms
                .send(
                    user,
                    &new_room,
                    "m.room.power_levels",
                    Some(""),
                    levels,
                    None,
                )
                .await?;
        }

        self.rooms
            .send(
                user,
                old_room,
                "m.room.tombstone",
                Some(""),
                json!({
                    "body": "This room has been replaced",
                    "replacement_room": new_room,
                }),
                None,
            )
            .await?;
        self.move_aliases(user, old_room, &new_room, find("m.room.canonical_alias"))
            .await?;
        if self.stores.directory.is_published(old_room).await? {
            self.stores.directory.set_published(&new_room, true).await?;
            self.stores.directory.set_published(old_room, false).await?;
        }
        self.mute(user, old_room, power_levels.as_ref()).await;
        tracing::info!(%old_room, %new_room, version = version.id, "room upgraded");
        Ok(new_room)
    }

    /// Points the old room's local aliases at the new room and carries its canonical alias.
    async fn move_aliases(
        &self,
        user: &AuthedUser,
        old_room: &str,
        new_room: &str,
        canonical: Option<&StoredEvent>,
    ) -> Result<(), Error> {
        let aliases = &self.stores.aliases;
        for alias in aliases.aliases_of_room(old_room).await? {
            if let Some(existing) = aliases.get_alias(&alias).await? {
                aliases.delete_alias(&alias).await?;
                aliases
                    .create_alias(RoomAlias {
                        alias,
                        room_id: new_room.to_owned(),
                        creator: existing.creator,
                    })
                    .await?;
            }
        }
        if let Some(canonical) = canonical {
            let content = canonical.json["content"].clone();
            if content.as_object().is_some_and(|c| !c.is_empty()) {
                self.rooms
                    .send(
                        user,
                        new_room,
                        "m.room.canonical_alias",
                        Some(""),
                        content,
                        None,
                    )
                    .await?;
                // The old room no longer owns those aliases; if the upgrader may not change
                // its canonical alias, the tombstone still says where the room went.
                if let Err(e) = self
                    .rooms
                    .send(
                        user,
                        old_room,
                        "m.room.canonical_alias",
                        Some(""),
                        json!({}),
                        None,
                    )
                    .await
                {
                    tracing::info!(error = %e, "old room keeps its canonical alias");
                }
            }
        }
        Ok(())
    }

    /// Stops ordinary members talking and inviting in the old room: both need at least 50
    /// (and more than the default user level). Best effort: the upgrader may lack the power.
    async fn mute(&self, user: &AuthedUser, old_room: &str, levels: Option<&Value>) {
        let mut content = levels.cloned().unwrap_or_else(|| json!({}));
        let users_default = content["users_default"].as_i64().unwrap_or(0);
        let restricted = 50.max(users_default + 1);
        let mut changed = false;
        for key in ["events_default", "invite"] {
            if content[key].as_i64().unwrap_or(0) < restricted {
                content[key] = json!(restricted);
                changed = true;
            }
        }
        if !changed {
            return;
        }
        if let Err(e) = self
            .rooms
            .send(
                user,
                old_room,
                "m.room.power_levels",
                Some(""),
                content,
                None,
            )
            .await
        {
            tracing::info!(error = %e, %old_room, "could not restrict the old room");
        }
    }
}

/// The power levels to create the new room with, and the ones to restore afterwards when the
/// upgrader needed more power than they had to set the room up.
fn new_power_levels(
    version: &RoomVersion,
    upgrader: &str,
    additional_creators: &[String],
    old: Option<&Value>,
) -> (Option<Map<String, Value>>, Option<Value>) {
    let Some(Value::Object(old)) = old else {
        return (None, None);
    };
    let mut levels = old.clone();
    let mut users = levels
        .get("users")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if version.auth.creators_have_infinite_power {
        // Creators of the new room hold power by being creators, and may not be listed.
        users.remove(upgrader);
        for creator in additional_creators {
            users.remove(creator);
        }
        levels.insert("users".to_owned(), Value::Object(users));
        return (Some(levels), None);
    }
    let own = users.get(upgrader).and_then(Value::as_i64).unwrap_or(0);
    if own >= 100 {
        levels.insert("users".to_owned(), Value::Object(users));
        return (Some(levels), None);
    }
    let original = Value::Object({
        let mut l = levels.clone();
        l.insert("users".to_owned(), Value::Object(users.clone()));
        l
    });
    users.insert(upgrader.to_owned(), json!(100));
    levels.insert("users".to_owned(), Value::Object(users));
    (Some(levels), Some(original))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str) -> RoomVersion {
        RoomVersion::from_id(id).unwrap()
    }

    #[test]
    fn a_v12_room_lists_no_creator_among_its_users() {
        let old = json!({"users": {"@a:x": 100, "@b:x": 50, "@c:x": 0}});
        let (levels, restore) =
            new_power_levels(&version("12"), "@a:x", &["@c:x".to_owned()], Some(&old));
        assert_eq!(levels.unwrap()["users"], json!({"@b:x": 50}));
        assert_eq!(restore, None);
    }

    #[test]
    fn an_upgrader_short_of_full_power_is_raised_then_restored() {
        let old = json!({"users": {"@a:x": 100, "@mod:x": 60}, "state_default": 50});
        let (levels, restore) = new_power_levels(&version("11"), "@mod:x", &[], Some(&old));
        assert_eq!(levels.unwrap()["users"]["@mod:x"], json!(100));
        assert_eq!(restore.unwrap()["users"]["@mod:x"], json!(60));
    }

    #[test]
    fn a_full_power_upgrader_keeps_the_levels_as_they_were() {
        let old = json!({"users": {"@a:x": 100}});
        let (levels, restore) = new_power_levels(&version("10"), "@a:x", &[], Some(&old));
        assert_eq!(levels.unwrap()["users"], json!({"@a:x": 100}));
        assert_eq!(restore, None);
    }
}
