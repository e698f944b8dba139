use async_trait::async_trait;

use super::{Error, StoredEvent};

/// What an event's `m.relates_to` says, recorded with the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub relates_to: String,
    pub rel_type: String,
    /// An annotation's `key`.
    pub aggregation_key: Option<String>,
}

/// One relating event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationRow {
    pub event_id: String,
    pub room_id: String,
    pub relates_to: String,
    pub rel_type: String,
    pub event_type: String,
    pub sender: String,
    pub aggregation_key: Option<String>,
    pub origin_server_ts: i64,
    pub stream_ordering: i64,
}

/// Which relations of one event a page asks for.
#[derive(Debug, Clone, Default)]
pub struct RelationQuery {
    pub room_id: String,
    pub relates_to: String,
    pub rel_type: Option<String>,
    pub event_type: Option<String>,
    /// Start after this stream ordering (exclusive), in the direction of the page.
    pub from: Option<i64>,
    /// Stop at this stream ordering (inclusive).
    pub to: Option<i64>,
    pub backwards: bool,
    pub limit: i64,
}

/// Relations are written by `RoomStore::append_event` (with the event, and removed with a
/// redaction of it); this trait reads them.
#[async_trait]
pub trait RelationStore: Send + Sync {
    /// Every recorded relation to any of `targets`, oldest first.
    async fn relations_to(&self, targets: Vec<String>) -> Result<Vec<RelationRow>, Error>;
    /// One page of the events relating to an event, newest first when `backwards`.
    async fn relation_page(&self, query: RelationQuery) -> Result<Vec<StoredEvent>, Error>;
    /// Thread roots of a room with the stream ordering of their latest reply, most recently
    /// active first, only those whose latest reply is below `before`.
    async fn thread_roots(
        &self,
        room_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, Error>;
}
