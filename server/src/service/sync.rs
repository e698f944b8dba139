//! `/sync`: what changed in the user's rooms since a token.
//!
//! Tokens are `s<events>_<typing>_<receipts>_<account data>_<presence>_<to-device>_<device
//! lists>`, one position per stream (event stream ordering, typing serial, receipt and
//! account-data stream ids, presence serial, the device's last to-device message, the latest
//! device-list change): opaque to clients, monotonic,
//! never reused; shorter older forms still parse, with the missing positions at 0. A sync with no
//! token (or `full_state`) gives each joined room its state and latest events; an incremental
//! one gives the events after the token, and the room's state when the timeline is limited or
//! the user joined in between.
//!
//! Known simplification: the `state` section holds current state minus what the timeline
//! changes, rather than the state at the timeline's start (storage keeps current state only
//! so far); clients applying the timeline in order still end at the right state.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use serde::{Serialize, ser::SerializeMap};
use serde_json::{Map, Value, json};

use super::{
    Error, ErrorKind,
    accounts::AuthedUser,
    device_lists::{DeviceListService, Span},
    e2e_keys::KeyService,
    event_cache::{EventCache, EventJson, SyncForm},
    filter::{EventFilter, EventFormat, SyncFilterDef, lazy_members},
    notifier::Notifier,
    presence::PresenceService,
    relations::bundle_aggregations,
    to_device::ToDeviceService,
    typing::TypingService,
    visibility::HistoryView,
};
use crate::storage::{StoredEvent, Stores, StreamHeads, UnreadCounts};

/// Long polls are capped so a client cannot hold a connection forever.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// The most events an incremental sync reads to learn which rooms have news; a token further
/// behind than this has each room asked instead.
const EVENTS_SCANNED_FOR_ROOMS: i64 = 1000;

/// Where an incremental sync starts in one joined room, and what it already knows did not
/// change there (so those questions are not asked).
#[derive(Clone, Copy)]
struct RoomSince {
    /// `None`: the room is new to this sync (no token, or the user joined since it).
    events: Option<i64>,
    typing: Option<i64>,
    receipts: Option<i64>,
    /// No event in the room since the token.
    no_events: bool,
    /// No receipt anywhere since the token.
    no_receipts: bool,
}

/// State types shown to invitees (the spec's stripped state).
const INVITE_STATE_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];

#[derive(Clone)]
pub struct SyncService {
    stores: Stores,
    notifier: Arc<Notifier>,
    typing: Arc<TypingService>,
    presence: Arc<PresenceService>,
    to_device: Arc<ToDeviceService>,
    keys: Arc<KeyService>,
    device_lists: Arc<DeviceListService>,
    event_cache: Arc<EventCache>,
}

/// A sync response: its JSON body, and each joined room's `state` events apart from it, so
/// that events serialised for an earlier response go out as they are. The body holds an
/// empty `state.events` for those rooms; serialising the response fills it in.
#[derive(Debug)]
pub struct SyncResponse {
    body: Value,
    room_state: HashMap<String, Vec<EventJson>>,
}

impl SyncResponse {
    /// The body without the joined rooms' state events.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The whole response as one JSON value (for tests; serialising does not need this).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Serialize for SyncResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WithState {
            value: &self.body,
            level: Level::Top,
            room_state: &self.room_state,
        }
        .serialize(serializer)
    }
}

/// Where in the body [`WithState`] is: the path `rooms.join.<room>.state.events` leads to a
/// room's state events; anything off it is written as it is.
#[derive(Clone, Copy)]
enum Level<'a> {
    Top,
    Rooms,
    Join,
    Room(&'a str),
    State(&'a str),
    Elsewhere,
}

struct WithState<'a> {
    value: &'a Value,
    level: Level<'a>,
    room_state: &'a HashMap<String, Vec<EventJson>>,
}

impl Serialize for WithState<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = match (self.level, self.value) {
            (Level::Elsewhere, value) => return value.serialize(serializer),
            (_, Value::Object(fields)) => fields,
            (_, value) => return value.serialize(serializer),
        };
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in fields {
            let level = match (self.level, key.as_str()) {
                (Level::Top, "rooms") => Level::Rooms,
                (Level::Rooms, "join") => Level::Join,
                (Level::Join, room) => Level::Room(room),
                (Level::Room(room), "state") => Level::State(room),
                (Level::State(room), "events") => match self.room_state.get(room) {
                    Some(events) => {
                        map.serialize_entry(key, events)?;
                        continue;
                    }
                    None => Level::Elsewhere,
                },
                _ => Level::Elsewhere,
            };
            map.serialize_entry(
                key,
                &WithState {
                    value,
                    level,
                    room_state: self.room_state,
                },
            )?;
        }
        map.end()
    }
}

/// The filter a sync names: an uploaded one by id, or a definition inline.
pub enum SyncFilter {
    Id(String),
    Inline(Value),
}

/// Receipt type only its author may see.
const PRIVATE_READ: &str = "m.read.private";

pub fn token(position: i64) -> String {
    format!("s{position}")
}

/// The event position of a token (`/messages` accepts sync tokens too).
pub fn parse_token(token: &str) -> Result<i64, Error> {
    parse_sync_token(token).map(|p| p.events)
}

/// Positions in each stream a sync reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPosition {
    pub events: i64,
    pub typing: i64,
    pub receipts: i64,
    pub account_data: i64,
    pub presence: i64,
    /// The last to-device message this device has been given.
    pub to_device: i64,
    pub device_lists: i64,
}

/// A sync token: `s<events>_<typing>_<receipts>_<account data>_<presence>_<to-device>_<device
/// lists>`;
/// missing trailing parts are 0, so `s<events>` (a `/messages` token) is a sync token too.
pub fn parse_sync_token(token: &str) -> Result<SyncPosition, Error> {
    let invalid = || Error::new(ErrorKind::InvalidParam, "Unknown pagination or sync token");
    let rest = token.strip_prefix('s').ok_or_else(invalid)?;
    let numbers: Vec<i64> = rest
        .split('_')
        .map(|p| p.parse::<i64>().ok().filter(|n| *n >= 0))
        .collect::<Option<Vec<_>>>()
        .filter(|n| (1..=7).contains(&n.len()))
        .ok_or_else(invalid)?;
    let at = |i: usize| numbers.get(i).copied().unwrap_or(0);
    Ok(SyncPosition {
        events: at(0),
        typing: at(1),
        receipts: at(2),
        account_data: at(3),
        presence: at(4),
        to_device: at(5),
        device_lists: at(6),
    })
}

pub fn sync_token(position: SyncPosition) -> String {
    format!(
        "s{}_{}_{}_{}_{}_{}_{}",
        position.events,
        position.typing,
        position.receipts,
        position.account_data,
        position.presence,
        position.to_device,
        position.device_lists
    )
}

impl SyncService {
    // One argument per service a sync reads from.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stores: Stores,
        notifier: Arc<Notifier>,
        typing: Arc<TypingService>,
        presence: Arc<PresenceService>,
        to_device: Arc<ToDeviceService>,
        keys: Arc<KeyService>,
        device_lists: Arc<DeviceListService>,
        event_cache: Arc<EventCache>,
    ) -> Self {
        Self {
            stores,
            notifier,
            typing,
            presence,
            to_device,
            keys,
            device_lists,
            event_cache,
        }
    }

    /// Stores a filter for the caller and returns its id.
    pub async fn create_filter(
        &self,
        user: &AuthedUser,
        owner: &str,
        filter: Value,
    ) -> Result<String, Error> {
        if owner != user.user_id.as_str() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You can only create filters for yourself",
            ));
        }
        let id: String = {
            use rand::Rng as _;
            let mut rng = rand::rng();
            (0..12)
                .map(|_| char::from(b'a' + rng.random_range(0..26)))
                .collect()
        };
        self.stores.filters.save_filter(owner, &id, filter).await?;
        Ok(id)
    }

    pub async fn get_filter(
        &self,
        user: &AuthedUser,
        owner: &str,
        filter_id: &str,
    ) -> Result<Value, Error> {
        if owner != user.user_id.as_str() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "You can only read your own filters",
            ));
        }
        self.stores
            .filters
            .get_filter(owner, filter_id)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "No such filter"))
    }

    /// The filter a sync names: an uploaded one by id, or one inline; none filters nothing.
    pub async fn resolve_filter(
        &self,
        user: &AuthedUser,
        filter: Option<SyncFilter>,
    ) -> Result<SyncFilterDef, Error> {
        let definition = match filter {
            None => return Ok(SyncFilterDef::default()),
            Some(SyncFilter::Inline(value)) => value,
            Some(SyncFilter::Id(id)) => self
                .stores
                .filters
                .get_filter(user.user_id.as_str(), &id)
                .await?
                .ok_or_else(|| Error::new(ErrorKind::InvalidParam, "Unknown filter id"))?,
        };
        Ok(SyncFilterDef::from_json(&definition))
    }

    pub async fn sync(
        &self,
        user: &AuthedUser,
        since: Option<&str>,
        timeout: Duration,
        full_state: bool,
        filter: &SyncFilterDef,
    ) -> Result<SyncResponse, Error> {
        let since = since.map(parse_sync_token).transpose()?;
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_TIMEOUT);
        let mut changes = self.notifier.subscribe();
        loop {
            changes.borrow_and_update();
            let may_wait = tokio::time::Instant::now() < deadline;
            // Only a poll that may still wait can be answered by waiting: past the deadline
            // this builds a response whatever moved.
            let built = self
                .build_now(user, since, may_wait, full_state, filter)
                .await?;
            if let Some(response) = built {
                // Other users' events move the stream too: keep waiting until this user has
                // something, or the timeout passes.
                let body = response.body();
                let waiting = since.is_some()
                    && !full_state
                    && body.get("rooms").is_none()
                    && body.get("account_data").is_none()
                    && body.get("presence").is_none()
                    && body.get("to_device").is_none()
                    && body.get("device_lists").is_none();
                if !waiting || !may_wait {
                    return Ok(response);
                }
            }
            // Woken or timed out, the next turn builds; past the deadline it answers.
            let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
        }
    }

    /// A response at the stream's current position; `None` instead when `may_wait` and no
    /// stream has moved past the token (the poll would only wait). Building one asks the
    /// database some twenty small questions in turn, so it runs with direct storage: none of
    /// them costs a hand-off between threads.
    async fn build_now(
        &self,
        user: &AuthedUser,
        since: Option<SyncPosition>,
        may_wait: bool,
        full_state: bool,
        filter: &SyncFilterDef,
    ) -> Result<Option<SyncResponse>, Error> {
        let (this, user, filter) = (self.clone(), user.clone(), filter.clone());
        crate::storage::with_direct_storage(async move {
            let heads = this.stores.streams.stream_heads().await?;
            let unchanged = since.is_some_and(|at| this.nothing_past(at, heads));
            if may_wait && !full_state && unchanged {
                return Ok(None);
            }
            this.build(&user, since, heads, full_state, &filter)
                .await
                .map(Some)
        })
        .await?
    }

    /// Whether every stream a sync reports is at or before `at`: a response would be empty.
    fn nothing_past(&self, at: SyncPosition, heads: StreamHeads) -> bool {
        heads.events <= at.events
            && heads.receipts <= at.receipts
            && heads.account_data <= at.account_data
            && heads.device_lists <= at.device_lists
            && heads.to_device <= at.to_device
            && self.typing.serial() <= at.typing
            && self.presence.serial() <= at.presence
    }

    async fn build(
        &self,
        user: &AuthedUser,
        since: Option<SyncPosition>,
        heads: StreamHeads,
        full_state: bool,
        filter: &SyncFilterDef,
    ) -> Result<SyncResponse, Error> {
        let now = heads.events;
        let typing_now = self.typing.serial();
        let receipts_now = heads.receipts;
        let typing_since = since.map(|p| p.typing.min(typing_now));
        let receipts_since = since.map(|p| p.receipts.min(receipts_now));
        let account_data_now = heads.account_data;
        let account_data_since = since.map_or(0, |p| p.account_data.min(account_data_now));
        let presence_now = self.presence.serial();
        let presence_since = since.map_or(0, |p| p.presence.min(presence_now));
        let (to_device, to_device_now) = self
            .to_device
            .for_sync(user, since.map(|p| p.to_device), heads.to_device)
            .await?;
        let device_lists_now = heads.device_lists;
        let device_lists_since = since.map(|p| p.device_lists.min(device_lists_now));
        let since = since.map(|p| p.events.min(now));
        let user_id = user.user_id.as_str();
        let ignored = super::account_data::ignored_users(&self.stores, user_id).await?;
        // An incremental sync usually follows its token closely: one statement then finds the
        // rooms with events since it, and no other room's timeline is read.
        // (`full_state` asks for every room whatever changed.)
        let rooms_with_events = match since.filter(|_| !full_state) {
            Some(since) if since >= now => Some(HashSet::new()),
            Some(since) => {
                self.stores
                    .rooms
                    .rooms_with_events_between(since, now, EVENTS_SCANNED_FOR_ROOMS)
                    .await?
            }
            None => None,
        };
        let quiet = |room_id: &str| {
            rooms_with_events
                .as_ref()
                .is_some_and(|r| !r.contains(room_id))
        };
        // The user's own membership changes since the token, read once for every section.
        let membership_changes = match since {
            Some(_) if rooms_with_events.as_ref().is_some_and(HashSet::is_empty) => Vec::new(),
            Some(since) => {
                self.stores
                    .rooms
                    .membership_events_between(user_id, since, now)
                    .await?
            }
            None => Vec::new(),
        };
        // A room is new to this sync if there is no token or the membership moved since it.
        let changed_since = |room_id: &str, membership: Option<&str>| {
            since.is_none()
                || membership_changes.iter().any(|e| {
                    e.room_id == room_id
                        && membership.is_none_or(|m| e.json["content"]["membership"] == m)
                })
        };

        let memberships = self.stores.rooms.memberships_of(user_id).await?;
        let rooms_where = |membership: &str| -> Vec<String> {
            memberships
                .iter()
                .filter(|(_, m)| m == membership)
                .map(|(room, _)| room.clone())
                .collect()
        };
        let joined_rooms = rooms_where("join");
        let device_lists = match (since, device_lists_since) {
            (Some(since), Some(devices_since)) => {
                let span = Span {
                    events: (since, now),
                    devices: (devices_since, device_lists_now),
                };
                let changes = self
                    .device_lists
                    .changes_knowing(
                        user_id,
                        span,
                        &joined_rooms,
                        &membership_changes,
                        rooms_with_events.as_ref(),
                    )
                    .await?;
                Some(changes)
            }
            _ => None,
        };
        let mut join = Map::new();
        let mut room_state = HashMap::new();
        for room_id in joined_rooms
            .iter()
            .filter(|r| filter.allows_room(r))
            .cloned()
        {
            let joined_since = changed_since(&room_id, Some("join"));
            let from = RoomSince {
                events: since.filter(|_| !joined_since),
                typing: typing_since.filter(|_| !joined_since),
                receipts: receipts_since.filter(|_| !joined_since),
                no_events: !joined_since && quiet(&room_id),
                no_receipts: !joined_since && receipts_since == Some(receipts_now),
            };
            let room = self
                .joined_room(&room_id, from, user_id, now, full_state, filter, &ignored)
                .await?;
            if let Some((room, state)) = room {
                room_state.insert(room_id.clone(), state);
                join.insert(room_id, room);
            }
        }

        let mut invite = Map::new();
        for room_id in rooms_where("invite") {
            if changed_since(&room_id, None)
                && !self.invited_by_ignored(&room_id, user_id, &ignored).await?
            {
                invite.insert(
                    room_id.clone(),
                    json!({"invite_state": {"events": self.invite_state(&room_id, user_id).await?}}),
                );
            }
        }

        // Knocks: the room as the knocker may see it, like an invite's stripped state.
        let mut knock = Map::new();
        for room_id in rooms_where("knock") {
            if changed_since(&room_id, None) {
                knock.insert(
                    room_id.clone(),
                    json!({"knock_state": {"events": self.invite_state(&room_id, user_id).await?}}),
                );
            }
        }

        let mut leave = Map::new();
        if since.is_some() {
            let mut left: BTreeMap<String, &StoredEvent> = BTreeMap::new();
            for event in &membership_changes {
                let membership = event.json["content"]["membership"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if matches!(membership.as_str(), "leave" | "ban") {
                    left.insert(event.room_id.clone(), event);
                } else {
                    left.remove(&event.room_id);
                }
            }
            for (room_id, event) in left {
                if join.contains_key(&room_id) {
                    continue;
                }
                leave.insert(
                    room_id,
                    json!({"timeline": {"events": [room_event(event, filter.event_format)], "limited": false}, "state": {"events": []}}),
                );
            }
        }

        let (mut global_data, mut room_data) = self
            .account_data_changes(user_id, account_data_since, account_data_now)
            .await?;
        let data_type = |e: &Value| e["type"].as_str().unwrap_or_default().to_owned();
        global_data.retain(|e| filter.account_data.allows(&data_type(e), None));
        for events in room_data.values_mut() {
            events.retain(|e| filter.room_account_data.allows(&data_type(e), None));
        }
        room_data.retain(|room, events| !events.is_empty() && filter.allows_room(room));
        for (room_id, events) in room_data {
            if let Some(room) = join.get_mut(&room_id) {
                room["account_data"] = json!({ "events": events });
            } else if joined_rooms.contains(&room_id) {
                join.insert(
                    room_id,
                    json!({
                        "timeline": {"events": [], "limited": false, "prev_batch": token(now)},
                        "state": {"events": []},
                        "account_data": {"events": events},
                    }),
                );
            }
        }

        let mut rooms = Map::new();
        for (name, section) in [
            ("join", join),
            ("invite", invite),
            ("knock", knock),
            ("leave", leave),
        ] {
            if !section.is_empty() {
                rooms.insert(name.to_owned(), Value::Object(section));
            }
        }
        let position = SyncPosition {
            events: now,
            typing: typing_now,
            receipts: receipts_now,
            account_data: account_data_now,
            presence: presence_now,
            to_device: to_device_now,
            device_lists: device_lists_now,
        };
        let mut response = json!({"next_batch": sync_token(position)});
        if filter.event_fields.is_some() {
            for section in ["join", "leave"] {
                for room in rooms
                    .get_mut(section)
                    .and_then(Value::as_object_mut)
                    .into_iter()
                    .flat_map(|rooms| rooms.values_mut())
                {
                    // Joined rooms' state events are projected as they are read.
                    for part in ["timeline", "state"] {
                        if let Some(events) = room[part]["events"].as_array_mut() {
                            for event in events.iter_mut() {
                                *event = filter.project(event);
                            }
                        }
                    }
                }
            }
        }
        if !rooms.is_empty() {
            response["rooms"] = Value::Object(rooms);
        }
        if !global_data.is_empty() {
            response["account_data"] = json!({ "events": global_data });
        }
        if !to_device.is_empty() {
            response["to_device"] = json!({ "events": to_device });
        }
        if let Some(changes) = device_lists.filter(|c| !c.is_empty()) {
            response["device_lists"] = changes.to_json();
        }
        // Clients top their one-time keys up from these; they are always sent.
        let (key_counts, fallback_types) = self.keys.sync_counts(user).await?;
        response["device_one_time_keys_count"] = key_counts;
        response["device_unused_fallback_key_types"] = fallback_types;
        if presence_now > presence_since {
            let mut presence = self.presence.changes_since(
                presence_since,
                &self.sharing_a_room(user_id, presence_since).await?,
            );
            presence.retain(|e| filter.presence.allows("m.presence", e["sender"].as_str()));
            if !presence.is_empty() {
                response["presence"] = json!({ "events": presence });
            }
        }
        Ok(SyncResponse {
            body: response,
            room_state,
        })
    }

    /// Those whose presence changed after `since` and who share a room with the user (whose
    /// presence the user sees): the changed users are few next to a large room's members, so
    /// only they are looked up.
    async fn sharing_a_room(&self, user_id: &str, since: i64) -> Result<Vec<String>, Error> {
        let changed = self.presence.changed_since(since);
        if changed.is_empty() {
            return Ok(changed);
        }
        Ok(self.stores.rooms.co_members_among(user_id, changed).await?)
    }

    /// The user's account data changed in `(after, now]`, as events: global, and per room.
    async fn account_data_changes(
        &self,
        user_id: &str,
        after: i64,
        now: i64,
    ) -> Result<(Vec<Value>, BTreeMap<String, Vec<Value>>), Error> {
        let mut global = Vec::new();
        let mut rooms: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        if after >= now {
            return Ok((global, rooms));
        }
        for data in self
            .stores
            .account_data
            .account_data_after(user_id, after)
            .await?
        {
            if data.stream_id > now {
                continue;
            }
            let event = json!({"type": data.data_type, "content": data.content});
            if data.room_id.is_empty() {
                global.push(event);
            } else {
                rooms.entry(data.room_id).or_default().push(event);
            }
        }
        Ok((global, rooms))
    }

    /// One joined room's section; `None` when nothing changed in an incremental sync.
    #[allow(clippy::too_many_arguments)]
    async fn joined_room(
        &self,
        room_id: &str,
        from: RoomSince,
        user_id: &str,
        now: i64,
        full_state: bool,
        filter: &SyncFilterDef,
        ignored: &std::collections::HashSet<String>,
    ) -> Result<Option<(Value, Vec<EventJson>)>, Error> {
        let since = from.events;
        let wants = |kind: &str| filter.ephemeral.allows(kind, None);
        let typing = self
            .typing
            .changes(room_id, from.typing)
            .filter(|_| wants("m.typing"));
        let receipts = if wants("m.receipt") && !from.no_receipts {
            self.receipt_event(room_id, from.receipts.unwrap_or(0), user_id)
                .await?
        } else {
            None
        };
        let after = since.unwrap_or(0);
        let timeline_filter = &filter.timeline;
        let limit = timeline_filter.timeline_limit();
        // A filter that drops events needs more candidates to fill its page.
        let fetch = if timeline_filter.is_restrictive() {
            (limit + 1) * 5
        } else {
            limit + 1
        };
        let mut events = if from.no_events {
            Vec::new()
        } else {
            self.stores
                .rooms
                .room_events_between(room_id, after, now, fetch)
                .await?
        };
        let fetched_all = (events.len() as i64) < fetch;
        events.retain(|e| timeline_filter.allows_event(e));
        let limited = events.len() as i64 > limit || (!fetched_all && fetch > limit + 1);
        events.truncate(limit as usize);
        events.reverse();
        if !events.is_empty() {
            // Someone who joins a room whose history is closed to them sees only what
            // followed their join.
            let view = HistoryView::load(&self.stores, room_id, user_id).await?;
            view.retain_visible(&mut events);
            events.retain(|e| !super::account_data::hidden_by_ignore(ignored, e));
            super::rooms::apply_redactions(&self.stores, &mut events).await?;
            bundle_aggregations(&self.stores, user_id, &view, ignored, &mut events).await?;
        }
        if since.is_some()
            && events.is_empty()
            && typing.is_none()
            && receipts.is_none()
            && !full_state
        {
            return Ok(None);
        }
        let needs_state = since.is_none() || limited || full_state;
        let state = if needs_state {
            let in_timeline: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
            // Lazily loaded, only the members the timeline needs are read at all.
            let members = (filter.state.lazy_load_members && !full_state)
                .then(|| lazy_members(&events, user_id));
            self.state_section(room_id, now, members, &in_timeline, filter)
                .await?
        } else {
            Vec::new()
        };
        let prev_batch = events
            .first()
            .map(|e| token(e.stream_ordering - 1))
            .unwrap_or_else(|| token(now));
        let timeline: Vec<Value> = events
            .into_iter()
            .map(|e| into_room_event(e, filter.event_format))
            .collect();
        // `json!` would serialise (copy) an array given by value; these are moved in.
        let mut room = json!({
            "timeline": {"limited": limited, "prev_batch": prev_batch},
            "state": {},
        });
        room["timeline"]["events"] = Value::Array(timeline);
        room["state"]["events"] = json!([]);
        let unread = self
            .stores
            .notifications
            .unread_counts(room_id, user_id, now)
            .await?;
        // Asked to count threads apart, the room's counts are the main timeline's and each
        // thread with notifications gets its own; otherwise one count covers everything.
        let counts = |c: UnreadCounts| json!({"notification_count": c.notifications, "highlight_count": c.highlights});
        if filter.timeline.unread_thread_notifications {
            room["unread_notifications"] = counts(unread.main);
            if !unread.threads.is_empty() {
                room["unread_thread_notifications"] = unread
                    .threads
                    .iter()
                    .map(|(root, c)| (root.clone(), counts(*c)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
        } else {
            room["unread_notifications"] = counts(unread.total());
        }
        let mut ephemeral = Vec::new();
        if let Some(user_ids) = typing {
            ephemeral.push(json!({"type": "m.typing", "content": {"user_ids": user_ids}}));
        }
        if let Some(receipts) = receipts {
            ephemeral.push(receipts);
        }
        if !ephemeral.is_empty() {
            room["ephemeral"] = json!({ "events": ephemeral });
        }
        Ok(Some((room, state)))
    }

    /// A joined room's `state` events: its state at `now` less what the timeline holds. An
    /// unredacted event in the client format comes from the event cache (and goes into it
    /// when read); the others are built for this response.
    async fn state_section(
        &self,
        room_id: &str,
        now: i64,
        members: Option<Vec<String>>,
        in_timeline: &HashSet<&str>,
        filter: &SyncFilterDef,
    ) -> Result<Vec<EventJson>, Error> {
        let mut refs = self
            .stores
            .rooms
            .state_refs_at(room_id, now, members)
            .await?;
        refs.retain(|r| !in_timeline.contains(r.event_id.as_str()));
        let cacheable = filter.event_format == EventFormat::Client && filter.event_fields.is_none();
        let cached: Vec<Option<Arc<SyncForm>>> = refs
            .iter()
            .map(|r| {
                (cacheable && r.redacted_by.is_none())
                    .then(|| self.event_cache.get(&r.event_id))
                    .flatten()
            })
            .collect();
        let missing: Vec<String> = refs
            .iter()
            .zip(&cached)
            .filter(|(_, form)| form.is_none())
            .map(|(r, _)| r.event_id.clone())
            .collect();
        let mut built = HashMap::new();
        if !missing.is_empty() {
            let redacted: HashSet<&str> = refs
                .iter()
                .filter(|r| r.redacted_by.is_some())
                .map(|r| r.event_id.as_str())
                .collect();
            let mut events = self.stores.rooms.events_by_ids(missing).await?;
            events.retain(|e| filter.state.allows_event(e));
            let (plain, mut changed): (Vec<_>, Vec<_>) = events
                .into_iter()
                .partition(|e| cacheable && !redacted.contains(e.event_id.as_str()));
            // These missed the cache a moment ago: made and kept without asking it again.
            for event in plain {
                let form = SyncForm::of(&event)
                    .map_err(|e| Error::internal(format!("serialising {}: {e}", event.event_id)))?;
                let form = Arc::new(form);
                self.event_cache
                    .insert(event.event_id.clone(), form.clone());
                built.insert(event.event_id, EventJson::Cached(form));
            }
            super::rooms::apply_redactions(&self.stores, &mut changed).await?;
            for event in changed {
                let event_id = event.event_id.clone();
                let mut json = into_room_event(event, filter.event_format);
                if filter.event_fields.is_some() {
                    json = filter.project(&json);
                }
                built.insert(event_id, EventJson::Built(json));
            }
        }
        Ok(refs
            .iter()
            .zip(cached)
            .filter_map(|(r, form)| match form {
                Some(form) => {
                    allows_form(&filter.state, room_id, &form).then_some(EventJson::Cached(form))
                }
                None => built.remove(&r.event_id),
            })
            .collect())
    }

    /// The room's `m.receipt` event with receipts newer than `after`, leaving out other
    /// users' private receipts; `None` when there is nothing to send.
    async fn receipt_event(
        &self,
        room_id: &str,
        after: i64,
        user_id: &str,
    ) -> Result<Option<Value>, Error> {
        let receipts = self.stores.receipts.receipts_after(room_id, after).await?;
        let mut content = Map::new();
        for receipt in receipts {
            if receipt.receipt_type == PRIVATE_READ && receipt.user_id != user_id {
                continue;
            }
            let mut entry = json!({ "ts": receipt.ts });
            if !receipt.thread_id.is_empty() {
                entry["thread_id"] = json!(receipt.thread_id);
            }
            let by_type = content.entry(receipt.event_id).or_insert_with(|| json!({}));
            by_type[receipt.receipt_type.as_str()][receipt.user_id.as_str()] = entry;
        }
        if content.is_empty() {
            return Ok(None);
        }
        Ok(Some(json!({"type": "m.receipt", "content": content})))
    }

    /// Invites from ignored users are not shown (the spec's ignoring rules).
    async fn invited_by_ignored(
        &self,
        room_id: &str,
        user_id: &str,
        ignored: &std::collections::HashSet<String>,
    ) -> Result<bool, Error> {
        if ignored.is_empty() {
            return Ok(false);
        }
        let invite = self.stores.rooms.room_member(room_id, user_id).await?;
        let Some((_, event_id)) = invite else {
            return Ok(false);
        };
        let sender = self
            .stores
            .rooms
            .get_event(&event_id)
            .await?
            .and_then(|e| e.json["sender"].as_str().map(str::to_owned));
        Ok(sender.is_some_and(|s| ignored.contains(&s)))
    }

    /// The stripped state an invitee or knocker sees: the room's summary state, their own
    /// membership event (what clients read the invite or knock from) and the member event of
    /// whoever sent it.
    async fn invite_state(&self, room_id: &str, user_id: &str) -> Result<Vec<Value>, Error> {
        let head = self.stores.rooms.room_head(room_id).await?;
        let own = head
            .state
            .iter()
            .find(|(t, k, _)| t == "m.room.member" && k == user_id)
            .map(|(_, _, id)| id.clone());
        let inviter = match &own {
            Some(id) => self
                .stores
                .rooms
                .get_event(id)
                .await?
                .and_then(|e| e.json["sender"].as_str().map(str::to_owned))
                .filter(|sender| sender != user_id),
            None => None,
        };
        let mut events = Vec::new();
        for (event_type, state_key, event_id) in head.state {
            let wanted = INVITE_STATE_TYPES.contains(&event_type.as_str())
                || (event_type == "m.room.member"
                    && (state_key == user_id || inviter.as_deref() == Some(state_key.as_str())));
            if !wanted {
                continue;
            }
            if let Some(event) = self.stores.rooms.get_event(&event_id).await? {
                let json = &event.json;
                events.push(json!({
                    "type": json["type"],
                    "state_key": json["state_key"],
                    "sender": json["sender"],
                    "content": json["content"],
                }));
            }
        }
        Ok(events)
    }
}

fn allows_form(filter: &EventFilter, room_id: &str, form: &SyncForm) -> bool {
    filter.allows_described(
        room_id,
        &form.event_type,
        form.sender.as_deref(),
        form.has_url,
    )
}

/// A room event as the filter's `event_format` asks: the client format, or the PDU as servers
/// exchange it (which names its room, and from room version 3 on carries no `event_id`: it
/// is the hash of what is served).
fn room_event(event: &StoredEvent, format: EventFormat) -> Value {
    match format {
        EventFormat::Client => sync_event(event),
        EventFormat::Federation => event.json.clone(),
    }
}

/// [`room_event`] for an event the response takes over: moved, not copied.
fn into_room_event(event: StoredEvent, format: EventFormat) -> Value {
    match format {
        EventFormat::Client => {
            let mut out =
                super::rooms::into_client_event(event.json, &event.event_id, &event.room_id);
            if let Some(fields) = out.as_object_mut() {
                fields.remove("room_id");
            }
            out
        }
        EventFormat::Federation => event.json,
    }
}

/// An event in the client format without `room_id`, as `/sync` nests events under their room.
pub fn sync_event(event: &StoredEvent) -> Value {
    sync_form(&event.json, &event.event_id, &event.room_id)
}

/// [`sync_event`] of an event given by its PDU.
pub fn sync_form(pdu: &Value, event_id: &str, room_id: &str) -> Value {
    let mut out = super::rooms::client_event(pdu, event_id, room_id);
    if let Some(fields) = out.as_object_mut() {
        fields.remove("room_id");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_older_forms_parse() {
        let p = SyncPosition {
            events: 12,
            typing: 3,
            receipts: 7,
            account_data: 5,
            presence: 9,
            to_device: 4,
            device_lists: 6,
        };
        assert_eq!(parse_sync_token(&sync_token(p)).unwrap(), p);
        assert_eq!(
            parse_sync_token("s12").unwrap(),
            SyncPosition {
                events: 12,
                typing: 0,
                receipts: 0,
                account_data: 0,
                presence: 0,
                to_device: 0,
                device_lists: 0,
            }
        );
        assert_eq!(parse_sync_token("s12_3_7").unwrap().account_data, 0);
        for bad in ["", "s", "12", "s-1", "sx", "s1_2_3_4_5_6_7_8", "s1__2"] {
            assert!(parse_sync_token(bad).is_err(), "{bad:?}");
        }
    }
}
