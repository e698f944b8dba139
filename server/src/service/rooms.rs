//! Rooms: creating them and appending local events through the one ingest path.
//!
//! Every local event is built here (prev events from the forward extremities, auth events
//! selected from current state, hashes, the server's signature, the version's event id),
//! checked by `core::auth` against its auth events, and handed to the append pipeline
//! (`append`), which commits it with the events queued beside it through
//! `RoomStore::append_events`, moving current state and extremities in the same transaction.
//!
//! Building is serialised by one lock: that is the "one writer per room" invariant (for every
//! room at once, for now), and with the pipeline's single committer it keeps stream orderings
//! gap-free and in commit order for the single process this runs as. State is kept as current
//! state only: every event so far is local and appended at the head, so the state before it
//! is the current state. Federation brings state at arbitrary events, and with it state
//! snapshots.

use std::{collections::HashMap, sync::Arc};

use ruma::{OwnedServerName, RoomVersionId};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::{
    Error, ErrorKind,
    accounts::AuthedUser,
    append::{Pipeline, Ticket},
    clock::now_ms,
    ids::random_letters,
    notifier::Notifier,
    push::{PushRoom, PushService},
};
use crate::{
    core::{auth, event::Pdu, event_hash, room_version::RoomVersion, signing::SigningKey},
    storage::{self, NewEvent, Room, Stores, TxnKey},
};

/// What `POST /createRoom` asks for, already parsed.
#[derive(Debug, Clone, Default)]
pub struct CreateRoomParams {
    pub room_version: Option<String>,
    /// `private_chat`, `public_chat` or `trusted_private_chat`.
    pub preset: Option<String>,
    pub public: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub invite: Vec<String>,
    pub creation_content: Option<Map<String, Value>>,
    pub power_level_content_override: Option<Map<String, Value>>,
    /// (type, state_key, content) of each `initial_state` entry.
    pub initial_state: Vec<(String, String, Value)>,
    /// A local alias (`#name:server`) to give the room; refused if taken.
    pub alias: Option<String>,
}

pub struct RoomService {
    server_name: OwnedServerName,
    stores: Stores,
    signing_key: Arc<SigningKey>,
    notifier: Arc<Notifier>,
    push: Arc<PushService>,
    /// Held while an event is built (and, except for sends, until it commits).
    append_lock: Mutex<()>,
    pipeline: Pipeline,
    /// Each room's version once read: it never changes, and every send needs it.
    versions: std::sync::Mutex<HashMap<String, RoomVersion>>,
}

impl RoomService {
    pub fn new(
        server_name: OwnedServerName,
        stores: Stores,
        signing_key: Arc<SigningKey>,
        notifier: Arc<Notifier>,
        push: Arc<PushService>,
        event_cache: Arc<super::event_cache::EventCache>,
    ) -> Self {
        Self {
            pipeline: Pipeline::new(stores.clone(), notifier.clone(), event_cache),
            server_name,
            stores,
            signing_key,
            notifier,
            push,
            append_lock: Mutex::new(()),
            versions: Default::default(),
        }
    }

    pub async fn create_room(
        &self,
        creator: &AuthedUser,
        params: CreateRoomParams,
    ) -> Result<String, Error> {
        let version_id = params
            .room_version
            .clone()
            .unwrap_or_else(|| RoomVersion::DEFAULT.id.to_owned());
        let version = RoomVersion::from_id(&version_id).ok_or_else(|| {
            Error::new(
                ErrorKind::UnsupportedRoomVersion,
                format!("room version {version_id} is not supported"),
            )
        })?;
        let creator_id = creator.user_id.to_string();
        let _guard = self.append_lock.lock().await;
        let generation = self.pipeline.generation();

        let mut create_content = params.creation_content.clone().unwrap_or_default();
        create_content.insert("room_version".to_owned(), json!(version.id));
        if version.auth.creator_is_sender {
            create_content.remove("creator");
        } else {
            create_content.insert("creator".to_owned(), json!(creator_id));
        }
        let room_id = if version.auth.room_id_is_create_event_id {
            None
        } else {
            Some(format!("!{}:{}", random_letters(18), self.server_name))
        };
        let create = self.build(
            &version,
            room_id.as_deref(),
            &creator_id,
            "m.room.create",
            Some(""),
            Value::Object(create_content),
            &[],
            &[],
        )?;
        let room_id =
            room_id.unwrap_or_else(|| format!("!{}", create.event_id.trim_start_matches('$')));
        // Claimed before anything of the room is stored, so a taken alias leaves no room behind.
        if let Some(alias) = &params.alias {
            let claimed = self
                .stores
                .aliases
                .create_alias(storage::RoomAlias {
                    alias: alias.clone(),
                    room_id: room_id.clone(),
                    creator: creator_id.clone(),
                })
                .await;
            match claimed {
                Err(e) if e.kind == storage::ErrorKind::Conflict => {
                    return Err(Error::new(
                        ErrorKind::RoomInUse,
                        format!("The alias {alias} is taken"),
                    ));
                }
                other => other?,
            }
        }
        self.stores
            .rooms
            .create_room(Room {
                room_id: room_id.clone(),
                room_version: version.id.to_owned(),
                creator: creator_id.clone(),
                created_ts: now_ms(),
            })
            .await?;
        // The room's first events are built on each other and committed together.
        let mut tickets = vec![self.stage(&version, create, None, generation).await?];

        let preset = params.preset.clone().unwrap_or_else(|| {
            if params.public {
                "public_chat"
            } else {
                "private_chat"
            }
            .to_owned()
        });
        let mut events: Vec<(String, String, Value)> = vec![(
            "m.room.member".to_owned(),
            creator_id.clone(),
            self.join_content(&creator.user_id).await?,
        )];
        events.push((
            "m.room.power_levels".to_owned(),
            String::new(),
            power_levels(&version, &creator_id, &preset, &params),
        ));
        let (join_rule, guest_access) = match preset.as_str() {
            "public_chat" => ("public", "forbidden"),
            _ => ("invite", "can_join"),
        };
        events.push((
            "m.room.join_rules".to_owned(),
            String::new(),
            json!({"join_rule": join_rule}),
        ));
        events.push((
            "m.room.history_visibility".to_owned(),
            String::new(),
            json!({"history_visibility": "shared"}),
        ));
        events.push((
            "m.room.guest_access".to_owned(),
            String::new(),
            json!({"guest_access": guest_access}),
        ));
        events.extend(params.initial_state.iter().cloned());
        if let Some(alias) = &params.alias {
            events.push((
                "m.room.canonical_alias".to_owned(),
                String::new(),
                json!({ "alias": alias }),
            ));
        }
        if let Some(name) = &params.name {
            events.push((
                "m.room.name".to_owned(),
                String::new(),
                json!({"name": name}),
            ));
        }
        if let Some(topic) = &params.topic {
            events.push((
                "m.room.topic".to_owned(),
                String::new(),
                json!({"topic": topic}),
            ));
        }
        for invitee in &params.invite {
            events.push((
                "m.room.member".to_owned(),
                invitee.clone(),
                json!({"membership": "invite"}),
            ));
        }
        for (event_type, state_key, content) in events {
            let ticket = self
                .stage_locked(
                    &version,
                    &room_id,
                    &creator_id,
                    &event_type,
                    Some(&state_key),
                    content,
                    None,
                )
                .await?;
            tickets.push(ticket);
        }
        for ticket in tickets {
            self.pipeline.committed(ticket).await?;
        }
        tracing::info!(%room_id, creator = %creator_id, version = version.id, "room created");
        Ok(room_id)
    }

    /// Sends an event as `user`. With a transaction id, a repeat returns the first event's id.
    pub async fn send(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
        txn_id: Option<String>,
    ) -> Result<String, Error> {
        // A retransmission is the same transaction id on the same path (the spec's rule), so
        // the room and event type are part of the key.
        let txn = txn_id.map(|txn_id| TxnKey {
            user_id: user.user_id.to_string(),
            device_id: user.device_id.to_string(),
            txn_id: format!("{room_id}\u{1f}{event_type}\u{1f}{txn_id}"),
        });
        let version = self.room_version(room_id).await?;
        if event_type == "m.room.canonical_alias" && state_key == Some("") {
            self.check_canonical_aliases(room_id, &content).await?;
        }
        let _guard = self.append_lock.lock().await;
        // Checked under the lock, so that two concurrent retries of one transaction cannot
        // both pass. A first try still waiting to commit is waited for.
        if let Some(txn) = &txn {
            if self.pipeline.txn_pending(txn) {
                self.pipeline.flush().await;
            }
            if let Some(event_id) = self.stores.rooms.event_for_txn(txn).await? {
                return Ok(event_id);
            }
        }
        let closes_to_guests = event_type == "m.room.guest_access"
            && state_key == Some("")
            && content["guest_access"] != "can_join";
        let ticket = self
            .stage_locked(
                &version,
                room_id,
                user.user_id.as_str(),
                event_type,
                state_key,
                content,
                txn,
            )
            .await?;
        // The next event may be built while this one waits to commit with it.
        drop(_guard);
        let event_id = self.pipeline.committed(ticket).await?;
        if closes_to_guests {
            self.evict_guests(room_id).await?;
        }
        Ok(event_id)
    }

    /// When a room stops admitting guests, the spec has the server make its guests leave.
    async fn evict_guests(&self, room_id: &str) -> Result<(), Error> {
        for (member, membership, _) in self.stores.rooms.room_members(room_id).await? {
            if membership != "join" {
                continue;
            }
            let Ok(user_id) = ruma::OwnedUserId::try_from(member.as_str()) else {
                continue;
            };
            let is_guest = self
                .stores
                .users
                .get_user(&user_id)
                .await?
                .is_some_and(|u| u.is_guest);
            if !is_guest {
                continue;
            }
            let version = self.room_version(room_id).await?;
            let guard = self.append_lock.lock().await;
            let ticket = self
                .stage_locked(
                    &version,
                    room_id,
                    user_id.as_str(),
                    "m.room.member",
                    Some(&member),
                    json!({"membership": "leave", "reason": "This room no longer admits guests"}),
                    None,
                )
                .await?;
            drop(guard);
            self.pipeline.committed(ticket).await?;
        }
        Ok(())
    }

    /// Every local alias a canonical alias event names must point at the room (the spec's
    /// bad-alias rule). Remote aliases cannot be checked without federation and are let by.
    async fn check_canonical_aliases(&self, room_id: &str, content: &Value) -> Result<(), Error> {
        let mut named: Vec<&Value> = content.get("alias").into_iter().collect();
        if let Some(alt) = content.get("alt_aliases") {
            let Some(alt) = alt.as_array() else {
                return Err(Error::new(ErrorKind::BadJson, "alt_aliases must be a list"));
            };
            named.extend(alt);
        }
        for alias in named {
            let Some(alias) = alias.as_str() else {
                return Err(Error::new(ErrorKind::BadJson, "aliases must be strings"));
            };
            let parsed = ruma::RoomAliasId::parse(alias).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidParam,
                    format!("{alias} is not a room alias: {e}"),
                )
            })?;
            if parsed.server_name() != self.server_name {
                continue;
            }
            let points_here = self
                .stores
                .aliases
                .get_alias(alias)
                .await?
                .is_some_and(|a| a.room_id == room_id);
            if !points_here {
                return Err(Error::new(
                    ErrorKind::BadAlias,
                    format!("{alias} does not point to this room"),
                ));
            }
        }
        Ok(())
    }

    /// Changes `target`'s membership (join, leave, invite, ban, …) as `user`.
    pub async fn set_membership(
        &self,
        user: &AuthedUser,
        room_id: &str,
        target: &str,
        membership: &str,
        reason: Option<String>,
    ) -> Result<String, Error> {
        let mut content = json!({"membership": membership});
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        if target == user.user_id.as_str() && membership == "join" {
            if user.is_guest {
                self.require_guest_access(room_id).await?;
            }
            let profile = self.join_content(&user.user_id).await?;
            for field in ["displayname", "avatar_url"] {
                if let Some(value) = profile.get(field) {
                    content[field] = value.clone();
                }
            }
            if let Some(authoriser) = self
                .restricted_join_authoriser(user, room_id, &content)
                .await?
            {
                content["join_authorised_via_users_server"] = json!(authoriser);
            }
        }
        self.send(user, room_id, "m.room.member", Some(target), content, None)
            .await
    }

    /// Guests may join only rooms whose `m.room.guest_access` is `can_join`.
    async fn require_guest_access(&self, room_id: &str) -> Result<(), Error> {
        let admits = self
            .stores
            .rooms
            .state_history(room_id, "m.room.guest_access", "")
            .await?
            .last()
            .is_some_and(|e| e.json["content"]["guest_access"] == "can_join");
        if admits {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::GuestAccessForbidden,
                "This room does not admit guests",
            ))
        }
    }

    /// For a join to a room with a restricted join rule (v8+) by someone not yet invited or
    /// joined: the local member who vouches for it. The joiner must be joined to one of the
    /// rooms the rule allows; the voucher must be joined with power to invite, which the
    /// auth rules decide: each candidate is tried against them. `None` when the rule is not
    /// restricted or the user needs no voucher.
    async fn restricted_join_authoriser(
        &self,
        user: &AuthedUser,
        room_id: &str,
        content: &Value,
    ) -> Result<Option<String>, Error> {
        // Every join asks, so only the joiner's own member event is read, not the room's.
        let state = self
            .stores
            .rooms
            .state_at_with_members(room_id, i64::MAX, Some(vec![user.user_id.to_string()]))
            .await?;
        let join_rules = state
            .iter()
            .find(|e| e.json["type"] == "m.room.join_rules" && e.json["state_key"] == "")
            .map(|e| e.json["content"].clone())
            .unwrap_or_default();
        let rule = join_rules["join_rule"].as_str().unwrap_or_default();
        if !matches!(rule, "restricted" | "knock_restricted") {
            return Ok(None);
        }
        let own = state.iter().find(|e| {
            e.json["type"] == "m.room.member" && e.json["state_key"] == user.user_id.as_str()
        });
        if own.is_some_and(|e| {
            matches!(
                e.json["content"]["membership"].as_str(),
                Some("invite" | "join")
            )
        }) {
            return Ok(None);
        }
        let mut allowed = false;
        for entry in join_rules["allow"].as_array().into_iter().flatten() {
            let Some(via_room) = entry["room_id"].as_str() else {
                continue;
            };
            if entry["type"] == "m.room_membership"
                && self
                    .stores
                    .rooms
                    .room_member(via_room, user.user_id.as_str())
                    .await?
                    .is_some_and(|(m, _)| m == "join")
            {
                allowed = true;
                break;
            }
        }
        if !allowed {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You are not a member of any room that grants access to this one",
            ));
        }
        let version = self.room_version(room_id).await?;
        let local_suffix = format!(":{}", self.server_name);
        // The memberships are in the room's head already; it is dropped before any build.
        let candidates: Vec<String> = {
            let head = self.pipeline.head(room_id).await?;
            let mut local: Vec<String> = head
                .members()
                .iter()
                .filter(|(member, (membership, _))| {
                    membership == "join" && member.ends_with(&local_suffix)
                })
                .map(|(member, _)| member.clone())
                .collect();
            local.sort();
            local
        };
        for candidate in &candidates {
            let mut vouched = content.clone();
            vouched["join_authorised_via_users_server"] = json!(candidate);
            let pdu = self
                .prepare(
                    &version,
                    room_id,
                    user.user_id.as_str(),
                    "m.room.member",
                    Some(user.user_id.as_str()),
                    vouched,
                )
                .await?;
            if self.authorise(&version, &pdu).await.is_ok() {
                return Ok(Some(candidate.to_owned()));
            }
        }
        Err(Error::new(
            ErrorKind::Forbidden,
            "No member of this room may let you in",
        ))
    }

    /// Kicks, bans or unbans `target`. The auth rules decide on power levels; this adds what
    /// they leave open: a kick needs the target in the room, an unban needs them banned, since
    /// otherwise both would be the same `leave` event with a surprising meaning.
    pub async fn moderate(
        &self,
        user: &AuthedUser,
        room_id: &str,
        target: &str,
        action: Moderation,
        reason: Option<String>,
    ) -> Result<String, Error> {
        let current = self.membership_of(room_id, target).await?;
        let (membership, allowed) = match action {
            Moderation::Kick => (
                "leave",
                matches!(current.as_deref(), Some("join" | "invite" | "knock")),
            ),
            Moderation::Ban => ("ban", true),
            Moderation::Unban => ("leave", current.as_deref() == Some("ban")),
        };
        if !allowed {
            let why = match action {
                Moderation::Unban => "The user is not banned from this room",
                _ => "The user is not in this room",
            };
            return Err(Error::new(ErrorKind::Forbidden, why));
        }
        self.set_membership(user, room_id, target, membership, reason)
            .await
    }

    /// `user_id`'s membership in the room's current state, if they have a member event.
    async fn membership_of(&self, room_id: &str, user_id: &str) -> Result<Option<String>, Error> {
        Ok(self
            .stores
            .rooms
            .room_member(room_id, user_id)
            .await?
            .map(|(membership, _)| membership))
    }

    /// Forgetting is only allowed once the user has left (or was kicked or banned). Nothing is
    /// kept per user about a left room beyond its membership yet, so there is nothing to drop.
    pub async fn forget(&self, user: &AuthedUser, room_id: &str) -> Result<(), Error> {
        match self.membership_of(room_id, user.user_id.as_str()).await? {
            Some(m) if m == "join" || m == "invite" || m == "knock" => Err(Error::new(
                ErrorKind::StillInRoom,
                "You must leave the room before forgetting it",
            )),
            Some(_) => Ok(()),
            None => Err(Error::new(
                ErrorKind::Forbidden,
                "You have never been in this room",
            )),
        }
    }

    /// After a display name or avatar change, sends a new join event into every room the user
    /// is joined to whose member event shows the old values. A room that refuses the event (its
    /// power levels, say) keeps the old values; that is logged, not an error for the caller,
    /// whose profile change has already been stored.
    pub async fn propagate_profile(&self, user: &AuthedUser) -> Result<(), Error> {
        let wanted = self.join_content(&user.user_id).await?;
        for room_id in self.joined_rooms(user).await? {
            let current = self
                .stores
                .rooms
                .room_member(&room_id, user.user_id.as_str())
                .await?;
            let Some((_, event_id)) = current else {
                continue;
            };
            let current = match self.stores.rooms.get_event(&event_id).await? {
                Some(event) => event.json["content"].clone(),
                None => continue,
            };
            let unchanged = ["displayname", "avatar_url"]
                .iter()
                .all(|field| current.get(field) == wanted.get(field));
            if unchanged {
                continue;
            }
            let sent = self
                .send(
                    user,
                    &room_id,
                    "m.room.member",
                    Some(user.user_id.as_str()),
                    wanted.clone(),
                    None,
                )
                .await;
            if let Err(error) = sent {
                tracing::warn!(room_id, %error, "profile change not propagated to the room");
            }
        }
        Ok(())
    }

    /// A join's member content: the user's display name and avatar as their profile has them.
    async fn join_content(&self, user_id: &ruma::UserId) -> Result<Value, Error> {
        let mut content = json!({"membership": "join"});
        for field in ["displayname", "avatar_url"] {
            if let Some(value) = self
                .stores
                .profiles
                .get_profile_field(user_id, field)
                .await?
            {
                content[field] = value;
            }
        }
        Ok(content)
    }

    pub async fn joined_rooms(&self, user: &AuthedUser) -> Result<Vec<String>, Error> {
        Ok(self
            .stores
            .rooms
            .rooms_with_membership(user.user_id.as_str(), "join")
            .await?)
    }

    /// Records the caller's receipt for an event of a room they are joined to.
    pub async fn post_receipt(
        &self,
        user: &AuthedUser,
        room_id: &str,
        receipt_type: &str,
        event_id: &str,
        thread_id: Option<String>,
    ) -> Result<(), Error> {
        if !matches!(receipt_type, "m.read" | "m.read.private") {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                format!("receipt type {receipt_type} is not supported"),
            ));
        }
        let event = self
            .require_event_in_joined_room(user, room_id, event_id)
            .await?;
        if let Some(thread) = thread_id.as_deref() {
            check_receipt_thread(&event, thread)?;
        }
        // Receipt stream ids are taken as max + 1 inside the write, so writes must not overlap
        // (PostgreSQL would let two take the same id, and sync would skip one). The append lock
        // already serialises this process's writers.
        let _guard = self.append_lock.lock().await;
        self.stores
            .receipts
            .put_receipt(storage::Receipt {
                room_id: room_id.to_owned(),
                user_id: user.user_id.to_string(),
                receipt_type: receipt_type.to_owned(),
                thread_id: thread_id.unwrap_or_default(),
                event_id: event_id.to_owned(),
                ts: now_ms(),
                stream_id: 0,
            })
            .await?;
        self.notifier.wake();
        Ok(())
    }

    /// Moves the caller's `m.fully_read` marker (room account data the server manages).
    pub async fn set_fully_read(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_id: &str,
        account_data: &super::account_data::AccountDataService,
    ) -> Result<(), Error> {
        self.require_event_in_joined_room(user, room_id, event_id)
            .await?;
        account_data
            .set_fully_read(user.user_id.as_str(), room_id, event_id)
            .await
    }

    async fn require_event_in_joined_room(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_id: &str,
    ) -> Result<storage::StoredEvent, Error> {
        self.require_joined(user, room_id).await?;
        // The only failure the spec lists for a receipt target is a bad parameter, so an
        // unknown event is one rather than `NotFound`.
        self.stores
            .rooms
            .get_event(event_id)
            .await?
            .filter(|e| e.room_id == room_id)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidParam,
                    "event_id is not an event in this room",
                )
            })
    }

    /// Sets the caller's typing state in a room they are joined to.
    pub async fn set_typing(
        &self,
        user: &AuthedUser,
        room_id: &str,
        target: &str,
        typing: Option<std::time::Duration>,
        service: &super::typing::TypingService,
    ) -> Result<(), Error> {
        if target != user.user_id.as_str() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You can only set your own typing state",
            ));
        }
        self.require_joined(user, room_id).await?;
        service.set_typing(room_id, target, typing);
        Ok(())
    }

    /// Redacts `target` as `user`: allowed for the target's sender, and for anyone at the
    /// room's redact level. Returns the redaction event's id.
    pub async fn redact(
        &self,
        user: &AuthedUser,
        room_id: &str,
        target: &str,
        reason: Option<String>,
        txn_id: Option<String>,
    ) -> Result<String, Error> {
        self.require_joined(user, room_id).await?;
        let version = self.room_version(room_id).await?;
        let event = self
            .stores
            .rooms
            .get_event(target)
            .await?
            .filter(|e| e.room_id == room_id)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Event not found"))?;
        let own = event.json["sender"].as_str() == Some(user.user_id.as_str());
        if !own
            && !self
                .at_level(&version, room_id, user.user_id.as_str(), |l| l.redact)
                .await?
        {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You may only redact your own events",
            ));
        }
        let mut content = json!({"redacts": target});
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        // The redaction path names its target, so the transaction key does too.
        let txn_id = txn_id.map(|t| format!("{target}\u{1f}{t}"));
        self.send(user, room_id, "m.room.redaction", None, content, txn_id)
            .await
    }

    /// Whether `user` has at least the level `pick` chooses from the room's power levels.
    async fn at_level(
        &self,
        version: &RoomVersion,
        room_id: &str,
        user: &str,
        pick: impl Fn(&auth::PowerLevels) -> i64,
    ) -> Result<bool, Error> {
        let head = self.stores.rooms.room_head(room_id).await?;
        let find = |t: &str| {
            head.state
                .iter()
                .find(|(et, k, _)| et == t && k.is_empty())
                .map(|(_, _, id)| id.clone())
        };
        let mut levels = auth::PowerLevels::without_event();
        let mut has_levels = false;
        if let Some(id) = find("m.room.power_levels")
            && let Some(event) = self.stores.rooms.get_event(&id).await?
        {
            levels = auth::PowerLevels::from_content(&event.json["content"], version);
            has_levels = true;
        }
        let create = match find("m.room.create") {
            Some(id) => self.stores.rooms.get_event(&id).await?.map(|e| e.json),
            None => None,
        };
        let creator_sender = create
            .as_ref()
            .and_then(|c| c["sender"].as_str())
            .unwrap_or_default();
        let additional = create
            .as_ref()
            .and_then(|c| c["content"]["additional_creators"].as_array().cloned())
            .unwrap_or_default();
        let required = pick(&levels);
        let level = if version.auth.creators_have_infinite_power
            && (creator_sender == user || additional.iter().any(|u| u.as_str() == Some(user)))
        {
            return Ok(true);
        } else if has_levels {
            levels
                .users
                .get(user)
                .copied()
                .unwrap_or(levels.users_default)
        } else if creator_sender == user {
            100
        } else {
            0
        };
        Ok(level >= required)
    }

    async fn require_joined(&self, user: &AuthedUser, room_id: &str) -> Result<(), Error> {
        require_joined(&self.stores, user, room_id).await
    }

    async fn room_version(&self, room_id: &str) -> Result<RoomVersion, Error> {
        if let Some(version) = self.known_version(room_id) {
            return Ok(version);
        }
        let room = self
            .stores
            .rooms
            .get_room(room_id)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Unknown room"))?;
        let version = RoomVersion::from_id(&room.room_version)
            .ok_or_else(|| Error::internal(format!("stored room version {}", room.room_version)))?;
        self.versions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(room.room_id, version);
        Ok(version)
    }

    fn known_version(&self, room_id: &str) -> Option<RoomVersion> {
        self.versions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(room_id)
            .copied()
    }

    /// Builds and authorises one event at the room's head and queues it to commit. Caller
    /// holds the lock.
    #[allow(clippy::too_many_arguments)]
    async fn stage_locked(
        &self,
        version: &RoomVersion,
        room_id: &str,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
        txn: Option<TxnKey>,
    ) -> Result<Ticket, Error> {
        let generation = self.pipeline.generation();
        let pdu = self
            .prepare(version, room_id, sender, event_type, state_key, content)
            .await?;
        self.stage(version, pdu, txn, generation).await
    }

    /// Builds the next event of `sender` in the room: prev events from the extremities, auth
    /// events from current state, hashed and signed.
    async fn prepare(
        &self,
        version: &RoomVersion,
        room_id: &str,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> Result<Pdu, Error> {
        let head = self.pipeline.head(room_id).await?;
        let prev: Vec<(String, i64)> = head.extremities.iter().take(20).cloned().collect();
        // Auth events: the current state entries the event's type selects.
        let parts = auth::EventParts {
            event_type,
            state_key,
            sender,
            content: &content,
        };
        let auth_ids: Vec<String> = auth::auth_types_for(version, &parts)
            .into_iter()
            .filter_map(|(event_type, state_key)| {
                head.state_id(&event_type, &state_key).map(str::to_owned)
            })
            .collect();
        drop(head);
        self.build(
            version,
            Some(room_id),
            sender,
            event_type,
            state_key,
            content,
            &prev,
            &auth_ids,
        )
    }

    /// Whether the auth rules would let `user` send a state event of this type now: the
    /// permission test for actions that stand for one (publishing the room, say).
    pub async fn require_state_power(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_type: &str,
    ) -> Result<(), Error> {
        self.require_joined(user, room_id).await?;
        let version = self.room_version(room_id).await?;
        let pdu = self
            .prepare(
                &version,
                room_id,
                user.user_id.as_str(),
                event_type,
                Some(""),
                json!({}),
            )
            .await?;
        self.authorise(&version, &pdu).await.map(|_| ())
    }

    /// Checks `pdu` against its auth events and queues it to commit.
    async fn stage(
        &self,
        version: &RoomVersion,
        pdu: Pdu,
        txn: Option<TxnKey>,
        generation: u64,
    ) -> Result<Ticket, Error> {
        let auth = self.authorise(version, &pdu).await?;
        let room_id = pdu
            .room_id
            .clone()
            .unwrap_or_else(|| format!("!{}", pdu.event_id.trim_start_matches('$')));
        let event = NewEvent {
            event_id: pdu.event_id.clone(),
            room_id: room_id.clone(),
            depth: pdu.depth,
            event_type: pdu.event_type.clone(),
            state_key: pdu.state_key.clone(),
            sender: pdu.sender.clone(),
            origin_server_ts: pdu.origin_server_ts,
            membership: pdu.membership().map(str::to_owned),
            redacts: pdu
                .redacts
                .clone()
                .filter(|_| pdu.event_type == "m.room.redaction"),
            relation: super::relations::relation_of(&pdu.json["content"]),
            notifications: self.notifications(version, &room_id, &pdu, &auth).await?,
            json: pdu.json.clone(),
        };
        self.pipeline.queue(generation, pdu, event, txn)
    }

    /// Which other joined members `pdu` notifies, by their push rules, in the room's current
    /// state (the state it is appended to: callers hold the append lock). The power levels
    /// and create event are the ones `pdu` was authorised against.
    async fn notifications(
        &self,
        version: &RoomVersion,
        room_id: &str,
        pdu: &Pdu,
        auth: &AuthEvents,
    ) -> Result<storage::Notifications, Error> {
        let head = self.pipeline.head(room_id).await?;
        let event = client_event(&pdu.json, &pdu.event_id, room_id);
        let room = PushRoom {
            version: version.id,
            room_id,
            members: head.members(),
            joined_count: head.joined_count(),
            create: auth.state("m.room.create").map(|e| &e.json),
            power_levels: auth.state("m.room.power_levels").map(|e| &e.json),
        };
        self.push.notifications_for(&room, &event).await
    }

    /// Checks `pdu` against its auth events (and, from v12, the room's create event); returns
    /// them.
    async fn authorise(&self, version: &RoomVersion, pdu: &Pdu) -> Result<AuthEvents, Error> {
        let mut auth_events = Vec::with_capacity(pdu.auth_events.len());
        for id in &pdu.auth_events {
            auth_events.push(
                self.pipeline
                    .event(id, version)
                    .await?
                    .ok_or_else(|| Error::internal(format!("auth event {id} is missing")))?,
            );
        }
        let create = if version.auth.room_id_is_create_event_id && pdu.event_type != "m.room.create"
        {
            let room_id = pdu.room_id.clone().unwrap_or_default();
            let create_id = format!("${}", room_id.trim_start_matches('!'));
            self.pipeline.event(&create_id, version).await?
        } else {
            None
        };
        let refs: Vec<&Pdu> = auth_events.iter().collect();
        let signed_by = |_: &Pdu, _: &str| true;
        auth::check_with_auth_events(version, pdu, &refs, create.as_ref(), &|_| false, &signed_by)
            .map_err(|e| Error::new(ErrorKind::Forbidden, e.reason))?;
        Ok(AuthEvents {
            events: auth_events,
            create,
        })
    }

    /// A signed, hashed PDU with the version's event id.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        version: &RoomVersion,
        room_id: Option<&str>,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
        prev: &[(String, i64)],
        auth_events: &[String],
    ) -> Result<Pdu, Error> {
        let depth = prev.iter().map(|(_, d)| *d).max().unwrap_or(0) + 1;
        let prev_ids: Vec<&String> = prev.iter().map(|(id, _)| id).collect();
        let refs = |ids: Vec<&String>| -> Value {
            if version.event_refs_are_ids {
                json!(ids)
            } else {
                // v1–v2 reference events as [id, hashes]; the hashes are informational.
                json!(
                    ids.iter()
                        .map(|id| json!([id, {"sha256": ""}]))
                        .collect::<Vec<_>>()
                )
            }
        };
        let mut json = json!({
            "type": event_type,
            "sender": sender,
            "content": content,
            "origin_server_ts": now_ms(),
            "depth": depth,
            "prev_events": refs(prev_ids),
            "auth_events": refs(auth_events.iter().collect()),
        });
        if let Some(room_id) = room_id {
            json["room_id"] = json!(room_id);
        }
        if let Some(key) = state_key {
            json["state_key"] = json!(key);
        }
        // Before room version 11 a redaction names its target at the top level.
        if event_type == "m.room.redaction"
            && !version.redaction.keep_redaction_redacts
            && let Some(target) = json["content"]
                .as_object_mut()
                .and_then(|c| c.remove("redacts"))
        {
            json["redacts"] = target;
        }
        if !version.event_refs_are_ids {
            json["event_id"] = json!(format!("${}:{}", random_letters(18), self.server_name));
            json["origin"] = json!(self.server_name.as_str());
        }
        let rules = RoomVersionId::try_from(version.id)
            .ok()
            .and_then(|id| id.rules())
            .ok_or_else(|| Error::internal(format!("no redaction rules for {}", version.id)))?;
        self.signing_key
            .hash_and_sign_event(self.server_name.as_str(), &mut json, &rules.redaction)
            .map_err(|e| Error::internal(format!("signing: {e}")))?;
        let event_id =
            event_hash::event_id(&json, version).map_err(|e| Error::internal(e.to_string()))?;
        let pdu = Pdu::parse(json, version)
            .map_err(|e| Error::new(ErrorKind::BadJson, format!("event: {e}")))?;
        debug_assert_eq!(pdu.event_id, event_id);
        Ok(pdu)
    }
}

/// Refuses users not joined to the room now (history visibility is not implemented yet, so
/// every read errs on the side of showing less).
pub(super) async fn require_joined(
    stores: &Stores,
    user: &AuthedUser,
    room_id: &str,
) -> Result<(), Error> {
    match stores
        .rooms
        .room_member(room_id, user.user_id.as_str())
        .await?
    {
        Some((membership, _)) if membership == "join" => Ok(()),
        _ => Err(Error::new(
            ErrorKind::Forbidden,
            "You are not joined to this room",
        )),
    }
}

/// The moderation actions on another member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    Kick,
    Ban,
    Unban,
}

/// Replaces each redacted event's JSON by its redacted form (the room version's algorithm),
/// carrying the redaction event in `unsigned.redacted_because`.
pub async fn apply_redactions(
    stores: &Stores,
    events: &mut [storage::StoredEvent],
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let redacted: std::collections::HashMap<String, String> =
        stores.rooms.redactions_of(ids).await?.into_iter().collect();
    if redacted.is_empty() {
        return Ok(());
    }
    let mut versions: std::collections::HashMap<String, RoomVersion> =
        std::collections::HashMap::new();
    for event in events.iter_mut() {
        let Some(redaction_id) = redacted.get(&event.event_id) else {
            continue;
        };
        if !versions.contains_key(&event.room_id) {
            let room = stores.rooms.get_room(&event.room_id).await?;
            let version = room
                .and_then(|r| RoomVersion::from_id(&r.room_version))
                .ok_or_else(|| {
                    Error::internal(format!("room {} has no known version", event.room_id))
                })?;
            versions.insert(event.room_id.clone(), version);
        }
        let version = versions[&event.room_id];
        let mut json = crate::core::redaction::redact(&event.json, &version.redaction)
            .map_err(|e| Error::internal(format!("redacting {}: {e}", event.event_id)))?;
        // Clients render the reason and redacter from this, so it is the whole redaction event.
        let because = match stores.rooms.get_event(redaction_id).await? {
            Some(redaction) => client_event(&redaction.json, redaction_id, &redaction.room_id),
            None => json!({ "event_id": redaction_id }),
        };
        json["unsigned"] = json!({ "redacted_because": because });
        event.json = json;
    }
    Ok(())
}

/// The client-server format of an event: the PDU's client-visible fields.
pub fn client_event(pdu: &Value, event_id: &str, room_id: &str) -> Value {
    let redacts = redaction_target(pdu).cloned();
    client_form(|key| pdu.get(key).cloned(), event_id, room_id, redacts)
}

/// [`client_event`] for a stored event the caller is done with: its fields are moved into the
/// client form, not copied (a first sync of a large room converts thousands).
pub fn into_client_event(pdu: Value, event_id: &str, room_id: &str) -> Value {
    let redacts = redaction_target(&pdu).cloned();
    match pdu {
        Value::Object(mut fields) => {
            client_form(|key| fields.remove(key), event_id, room_id, redacts)
        }
        other => client_event(&other, event_id, room_id),
    }
}

/// The client form of an event whose fields `take` gives, one by one.
fn client_form(
    mut take: impl FnMut(&str) -> Option<Value>,
    event_id: &str,
    room_id: &str,
    redacts: Option<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert(
        "content".into(),
        take("content").unwrap_or_else(|| json!({})),
    );
    out.insert("event_id".into(), event_id.into());
    out.insert(
        "origin_server_ts".into(),
        take("origin_server_ts").unwrap_or(json!(0)),
    );
    out.insert("room_id".into(), room_id.into());
    out.insert("sender".into(), take("sender").unwrap_or(Value::Null));
    out.insert("type".into(), take("type").unwrap_or(Value::Null));
    out.insert(
        "unsigned".into(),
        take("unsigned").unwrap_or_else(|| json!({})),
    );
    if let Some(key) = take("state_key") {
        out.insert("state_key".into(), key);
    }
    if let Some(redacts) = redacts {
        out.insert("redacts".into(), redacts);
    }
    Value::Object(out)
}

/// What a redaction event redacts: top level before room v11, in `content` from v11. Clients
/// are served it at the top level either way, as many still read it only there.
pub fn redaction_target(pdu: &Value) -> Option<&Value> {
    if pdu.get("type").and_then(Value::as_str) != Some("m.room.redaction") {
        return None;
    }
    pdu.get("redacts")
        .or_else(|| pdu.get("content").and_then(|c| c.get("redacts")))
        .filter(|r| r.is_string())
}

fn power_levels(
    version: &RoomVersion,
    creator: &str,
    preset: &str,
    params: &CreateRoomParams,
) -> Value {
    let mut users = Map::new();
    if !version.auth.creators_have_infinite_power {
        users.insert(creator.to_owned(), json!(100));
    }
    if preset == "trusted_private_chat" {
        for invitee in &params.invite {
            users.insert(invitee.clone(), json!(100));
        }
    }
    let tombstone = if version.auth.creators_have_infinite_power {
        150
    } else {
        100
    };
    let mut content = json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": tombstone,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 0,
    });
    if let Some(overrides) = &params.power_level_content_override {
        for (key, value) in overrides {
            content[key] = value.clone();
        }
    }
    content
}

/// A threaded receipt names the thread its event is in: `main` for the main timeline (thread
/// roots included), or the root of the thread the event replies in.
fn check_receipt_thread(event: &storage::StoredEvent, thread: &str) -> Result<(), Error> {
    if thread.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidParam,
            "thread_id must be a non-empty string",
        ));
    }
    let in_thread = super::relations::relation_of(&event.json["content"])
        .filter(|r| r.rel_type == "m.thread")
        .map(|r| r.relates_to);
    let consistent = match (thread, in_thread.as_deref()) {
        ("main", thread_root) => thread_root.is_none(),
        (root, Some(thread_root)) => root == thread_root,
        (root, None) => root == event.event_id,
    };
    if consistent {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidParam,
            "The event is not in the thread the receipt names",
        ))
    }
}

/// The events a new event was authorised against.
struct AuthEvents {
    events: Vec<Pdu>,
    /// From v12, the room's create event, which is not among the auth events.
    create: Option<Pdu>,
}

impl AuthEvents {
    /// The auth event of `event_type` with an empty state key.
    fn state(&self, event_type: &str) -> Option<&Pdu> {
        self.create
            .iter()
            .chain(&self.events)
            .find(|e| e.event_type == event_type && e.state_key.as_deref() == Some(""))
    }
}

#[cfg(test)]
mod client_event_tests {
    use serde_json::json;

    use super::{client_event, into_client_event};

    /// Moving fields out must give exactly what copying them gives, for every shape of event.
    #[test]
    fn moved_and_copied_client_events_agree() {
        let events = [
            json!({"type": "m.room.message", "sender": "@a:x", "origin_server_ts": 5,
                   "content": {"body": "hi"}, "unsigned": {"age": 1}, "hashes": {"sha256": "h"},
                   "signatures": {}, "depth": 3, "prev_events": [], "auth_events": []}),
            json!({"type": "m.room.member", "sender": "@a:x", "state_key": "@a:x",
                   "content": {"membership": "join"}}),
            // A redaction before v11 (top-level `redacts`) and from v11 (in `content`).
            json!({"type": "m.room.redaction", "sender": "@a:x", "redacts": "$t", "content": {}}),
            json!({"type": "m.room.redaction", "sender": "@a:x", "content": {"redacts": "$t"}}),
            // Fields missing: the defaults are the same.
            json!({}),
            json!("not an object"),
        ];
        for event in events {
            assert_eq!(
                into_client_event(event.clone(), "$e", "!r:x"),
                client_event(&event, "$e", "!r:x"),
                "{event}"
            );
        }
    }
}
