//! Reading a room's state: all of it, one entry, its members.
//!
//! Who reads what state: a joined member reads the current state (or the state at a past
//! position, for `/members?at=`); a former member reads the state as it was when they left,
//! never what changed after; anyone reads a world-readable room's current state; nobody else
//! reads anything.

use serde_json::{Map, Value, json};

use super::{
    Error, ErrorKind,
    accounts::AuthedUser,
    rooms::{apply_redactions, client_event},
    sync::parse_token,
    visibility::HistoryView,
};
use crate::storage::{StoredEvent, Stores};

pub struct RoomStateService {
    stores: Stores,
}

impl RoomStateService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// `GET /state`: every state event the user may read, in the client format.
    pub async fn state(&self, user: &AuthedUser, room_id: &str) -> Result<Vec<Value>, Error> {
        let events = self.readable_state(user, room_id, None).await?;
        Ok(events
            .iter()
            .map(|e| client_event(&e.json, &e.event_id, room_id))
            .collect())
    }

    /// `GET /state/{type}/{key}`: one state event in the client format.
    pub async fn state_event(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Value, Error> {
        let events = self.readable_state(user, room_id, None).await?;
        events
            .iter()
            .find(|e| e.json["type"] == event_type && e.json["state_key"] == state_key)
            .map(|e| client_event(&e.json, &e.event_id, room_id))
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "No such state"))
    }

    /// `GET /members`: member events, at a sync or pagination token when `at` is given,
    /// filtered by membership as asked.
    pub async fn members(
        &self,
        user: &AuthedUser,
        room_id: &str,
        at: Option<&str>,
        membership: Option<&str>,
        not_membership: Option<&str>,
    ) -> Result<Value, Error> {
        let at = at.map(parse_token).transpose()?;
        let events = self.readable_state(user, room_id, at).await?;
        let chunk: Vec<Value> = events
            .iter()
            .filter(|e| e.json["type"] == "m.room.member")
            .filter(|e| {
                let m = e.json["content"]["membership"].as_str().unwrap_or_default();
                membership.is_none_or(|wanted| wanted == m) && not_membership != Some(m)
            })
            .map(|e| client_event(&e.json, &e.event_id, room_id))
            .collect();
        Ok(json!({ "chunk": chunk }))
    }

    /// `GET /joined_members`: joined members with their display names and avatars, for a
    /// joined member.
    pub async fn joined_members(&self, user: &AuthedUser, room_id: &str) -> Result<Value, Error> {
        super::rooms::require_joined(&self.stores, user, room_id).await?;
        let events = self.readable_state(user, room_id, None).await?;
        let mut joined = Map::new();
        for event in events.iter().filter(|e| {
            e.json["type"] == "m.room.member" && e.json["content"]["membership"] == "join"
        }) {
            let Some(member) = event.json["state_key"].as_str() else {
                continue;
            };
            let mut profile = Map::new();
            for (field, key) in [
                ("displayname", "display_name"),
                ("avatar_url", "avatar_url"),
            ] {
                if let Some(value) = event.json["content"].get(field).filter(|v| v.is_string()) {
                    profile.insert(key.to_owned(), value.clone());
                }
            }
            joined.insert(member.to_owned(), Value::Object(profile));
        }
        Ok(json!({ "joined": joined }))
    }

    /// The state the user may read, at `at` when given (and allowed), redactions applied.
    async fn readable_state(
        &self,
        user: &AuthedUser,
        room_id: &str,
        at: Option<i64>,
    ) -> Result<Vec<StoredEvent>, Error> {
        let view = HistoryView::load(&self.stores, room_id, user.user_id.as_str()).await?;
        let up_to = match view.current_membership() {
            Some((_, "join")) => at.unwrap_or(i64::MAX),
            Some((left_at, "leave" | "ban")) if view.ever_joined() => {
                at.map_or(left_at, |at| at.min(left_at))
            }
            _ if view.world_readable_now() => at.unwrap_or(i64::MAX),
            _ => {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "You are not a member of this room and were never joined to it",
                ));
            }
        };
        let mut events = self.stores.rooms.state_at(room_id, up_to).await?;
        apply_redactions(&self.stores, &mut events).await?;
        Ok(events)
    }
}
