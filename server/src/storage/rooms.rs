use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::Value;

use super::Error;

/// A room this server takes part in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub room_id: String,
    pub room_version: String,
    pub creator: String,
    pub created_ts: i64,
}

/// An event ready to be persisted, already authorised by the ingest pipeline.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub room_id: String,
    pub depth: i64,
    pub event_type: String,
    pub state_key: Option<String>,
    pub sender: String,
    pub origin_server_ts: i64,
    /// `content.membership` for member events.
    pub membership: Option<String>,
    /// The event an authorised redaction redacts.
    pub redacts: Option<String>,
    /// What `content."m.relates_to"` says, when it names an event and a relation type.
    pub relation: Option<super::Relation>,
    /// The local members this event notifies.
    pub notifications: super::Notifications,
    pub json: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event_id: String,
    pub room_id: String,
    pub stream_ordering: i64,
    pub json: Value,
}

/// Which event holds one key of a room's state, and the redaction that applies to it, if any:
/// a state listing without the events' JSON, for callers that may already hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRef {
    pub event_type: String,
    pub state_key: String,
    pub event_id: String,
    pub stream_ordering: i64,
    pub redacted_by: Option<String>,
}

/// What a new local event builds on: the room's forward extremities (with depths) and its
/// current state as (type, state_key, event_id).
#[derive(Debug, Clone, Default)]
pub struct RoomHead {
    pub extremities: Vec<(String, i64)>,
    pub state: Vec<(String, String, String)>,
}

/// One event to append, as `RoomStore::append_event` takes it.
#[derive(Debug, Clone)]
pub struct Append {
    pub event: NewEvent,
    pub prev_events: Vec<String>,
    pub txn: Option<TxnKey>,
}

/// How a send is tied to a client transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxnKey {
    pub user_id: String,
    pub device_id: String,
    pub txn_id: String,
}

/// Rooms and their events. Events are only ever appended; every append is one transaction
/// that also moves the room's current state and forward extremities.
#[async_trait]
pub trait RoomStore: Send + Sync {
    async fn create_room(&self, room: Room) -> Result<(), Error>;
    async fn get_room(&self, room_id: &str) -> Result<Option<Room>, Error>;
    async fn room_head(&self, room_id: &str) -> Result<RoomHead, Error>;
    /// Persists an event that cites `prev_events`; returns its stream ordering. With `txn`,
    /// records the transaction id in the same transaction (a conflict means it was used).
    async fn append_event(
        &self,
        event: NewEvent,
        prev_events: Vec<String>,
        txn: Option<TxnKey>,
    ) -> Result<i64, Error> {
        let mut positions = self
            .append_events(vec![Append {
                event,
                prev_events,
                txn,
            }])
            .await?;
        positions
            .pop()
            .ok_or_else(|| Error::new(super::ErrorKind::Internal, "an append returned nothing"))
    }
    /// Persists several appends, in order, in one transaction (group commit): all or none.
    /// Returns their stream orderings.
    async fn append_events(&self, appends: Vec<Append>) -> Result<Vec<i64>, Error>;
    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>, Error>;
    async fn event_for_txn(&self, txn: &TxnKey) -> Result<Option<String>, Error>;
    /// Every room the user has a current membership in, with that membership, by room id:
    /// one read where a sync would otherwise ask once per membership.
    async fn memberships_of(&self, user_id: &str) -> Result<Vec<(String, String)>, Error>;
    /// Those of `candidates` joined to a room the user is joined to (the user included, when
    /// a candidate and joined anywhere).
    async fn co_members_among(
        &self,
        user_id: &str,
        candidates: Vec<String>,
    ) -> Result<Vec<String>, Error>;
    /// Rooms where the user's current membership is `membership`.
    async fn rooms_with_membership(
        &self,
        user_id: &str,
        membership: &str,
    ) -> Result<Vec<String>, Error>;
    /// The highest stream ordering assigned so far (0 before any event).
    async fn max_stream_ordering(&self) -> Result<i64, Error>;
    /// The room's events with stream ordering in `(after, up_to]`, newest first, at most
    /// `limit`.
    async fn room_events_between(
        &self,
        room_id: &str,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, Error>;
    /// The rooms with events in `(after, up_to]`, or `None` when that span holds more than
    /// `limit` events (a long absence: then each room is better asked on its own).
    async fn rooms_with_events_between(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Option<HashSet<String>>, Error>;
    /// The room's events with stream ordering above `after`, oldest first, at most `limit`.
    async fn room_events_after(
        &self,
        room_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, Error>;
    /// The room's member events in current state: (user id, membership, event id).
    async fn room_members(&self, room_id: &str) -> Result<Vec<(String, String, String)>, Error>;
    /// One user's member event in current state: (membership, event id).
    async fn room_member(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<Option<(String, String)>, Error>;
    /// For each of `event_ids` that has been redacted, the id of a redaction of it.
    async fn redactions_of(&self, event_ids: Vec<String>) -> Result<Vec<(String, String)>, Error>;
    /// Up to `limit` of the room's events closest to `ts`: at or after it, earliest first,
    /// when `forward`; at or before it, latest first, otherwise.
    async fn events_near_ts(
        &self,
        room_id: &str,
        ts: i64,
        forward: bool,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, Error>;
    /// The room's state right after the event at stream ordering `up_to` (the latest event
    /// per type and state key at or below it).
    async fn state_at(&self, room_id: &str, up_to: i64) -> Result<Vec<StoredEvent>, Error> {
        self.state_at_with_members(room_id, up_to, None).await
    }
    /// `state_at`, with member events only for `members` when given (lazy-loaded members:
    /// a 10,000-member room's state need not be read to send a page of it).
    async fn state_at_with_members(
        &self,
        room_id: &str,
        up_to: i64,
        members: Option<Vec<String>>,
    ) -> Result<Vec<StoredEvent>, Error> {
        let refs = self.state_refs_at(room_id, up_to, members).await?;
        let ids = refs.iter().map(|r| r.event_id.clone()).collect();
        let mut events: std::collections::HashMap<String, StoredEvent> = self
            .events_by_ids(ids)
            .await?
            .into_iter()
            .map(|e| (e.event_id.clone(), e))
            .collect();
        Ok(refs
            .iter()
            .filter_map(|r| events.remove(&r.event_id))
            .collect())
    }
    /// The keys of the state `state_with_members` reads, ordered by type and state key, each
    /// with the event that holds it and any redaction of that event.
    async fn state_refs_at(
        &self,
        room_id: &str,
        up_to: i64,
        members: Option<Vec<String>>,
    ) -> Result<Vec<StateRef>, Error>;
    /// The stored events among `event_ids`, in no particular order (unknown ids are skipped).
    async fn events_by_ids(&self, event_ids: Vec<String>) -> Result<Vec<StoredEvent>, Error>;
    /// Every event that set the room's state at (`event_type`, `state_key`), oldest first.
    async fn state_history(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Vec<StoredEvent>, Error>;
    /// [`RoomStore::state_history`] of two keys in one statement (a reader's view of a room
    /// needs the visibility's history and their own membership's).
    async fn state_histories(
        &self,
        room_id: &str,
        first: (&str, &str),
        second: (&str, &str),
    ) -> Result<(Vec<StoredEvent>, Vec<StoredEvent>), Error>;
    /// The member events of `rooms` in `(after, up_to]`, oldest first.
    async fn member_events_between(
        &self,
        rooms: Vec<String>,
        after: i64,
        up_to: i64,
    ) -> Result<Vec<StoredEvent>, Error>;
    /// The user's own membership events in `(after, up_to]`, oldest first.
    async fn membership_events_between(
        &self,
        user_id: &str,
        after: i64,
        up_to: i64,
    ) -> Result<Vec<StoredEvent>, Error>;
}
