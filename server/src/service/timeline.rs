//! Reading a room's timeline: single events, `/messages` pages and `/context`, each filtered
//! by history visibility and the reader's ignore list, with redactions applied and
//! aggregations bundled.
//!
//! Tokens are stream positions (`s<n>`), shared with `/sync`: paging backwards from `s<n>`
//! returns events at or below `n`, forwards returns events above it.

use serde_json::{Value, json};

use super::{
    Error, ErrorKind,
    account_data::{hidden_by_ignore, ignored_users},
    accounts::AuthedUser,
    filter::{EventFilter, lazy_members},
    relations::bundle_aggregations,
    rooms::{apply_redactions, client_event},
    sync::{parse_token, token},
    visibility::HistoryView,
};
use crate::storage::{StoredEvent, Stores};

#[derive(Clone)]
pub struct TimelineService {
    stores: Stores,
}

/// The most events one page or context returns, whatever the client asks.
const MAX_PAGE: i64 = 1000;

impl TimelineService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// An event the user may see; one they may not is as unknown as one that does not exist.
    pub async fn get_event(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_id: &str,
    ) -> Result<Value, Error> {
        let view = HistoryView::readable(&self.stores, room_id, user.user_id.as_str()).await?;
        let mut events = vec![self.visible_event(&view, room_id, event_id).await?];
        apply_redactions(&self.stores, &mut events).await?;
        let ignored = ignored_users(&self.stores, user.user_id.as_str()).await?;
        bundle_aggregations(
            &self.stores,
            user.user_id.as_str(),
            &view,
            &ignored,
            &mut events,
        )
        .await?;
        Ok(client_event(&events[0].json, &events[0].event_id, room_id))
    }

    /// `GET /messages`: a page from a token, backwards (newest first) or forwards.
    pub async fn messages(
        &self,
        user: &AuthedUser,
        room_id: &str,
        from: Option<&str>,
        backwards: bool,
        limit: i64,
        filter: &EventFilter,
    ) -> Result<Value, Error> {
        let (this, user, room_id) = (self.clone(), user.clone(), room_id.to_owned());
        let (from, filter) = (from.map(str::to_owned), filter.clone());
        // A page asks the database several questions in turn: no thread hand-off for each.
        crate::storage::with_direct_storage(async move {
            this.page(&user, &room_id, from.as_deref(), backwards, limit, &filter)
                .await
        })
        .await?
    }

    async fn page(
        &self,
        user: &AuthedUser,
        room_id: &str,
        from: Option<&str>,
        backwards: bool,
        limit: i64,
        filter: &EventFilter,
    ) -> Result<Value, Error> {
        let view = HistoryView::readable(&self.stores, room_id, user.user_id.as_str()).await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let rooms = &self.stores.rooms;
        let (start, mut events) = if backwards {
            let from = match from {
                Some(t) => parse_token(t)?,
                None => rooms.max_stream_ordering().await?,
            };
            (
                from,
                rooms.room_events_between(room_id, 0, from, limit).await?,
            )
        } else {
            let from = from.map(parse_token).transpose()?.unwrap_or(0);
            (from, rooms.room_events_after(room_id, from, limit).await?)
        };
        // A full page may have more behind it; a short one ends the room's history. Decided
        // before filtering, which would make a full page look short.
        let end = match events.last() {
            Some(last) if events.len() as i64 == limit => Some(if backwards {
                last.stream_ordering - 1
            } else {
                last.stream_ordering
            }),
            _ => None,
        };
        events.retain(|e| filter.allows_event(e));
        self.filter_for(user, &view, &mut events).await?;
        let mut page = json!({
            "start": token(start),
            "chunk": events.iter().map(|e| client_event(&e.json, &e.event_id, room_id)).collect::<Vec<_>>(),
        });
        if let Some(end) = end {
            page["end"] = json!(token(end));
        }
        if filter.lazy_load_members {
            // The members behind the page's senders, as the room stood at its start.
            let wanted = lazy_members(&events, user.user_id.as_str());
            let mut members = self
                .stores
                .rooms
                .state_at_with_members(room_id, start, Some(wanted))
                .await?;
            members.retain(|e| e.json["type"] == "m.room.member" && view.may_see(e));
            apply_redactions(&self.stores, &mut members).await?;
            page["state"] = json!(
                members
                    .iter()
                    .map(|e| client_event(&e.json, &e.event_id, room_id))
                    .collect::<Vec<_>>()
            );
        }
        Ok(page)
    }

    /// `GET /context/{eventId}`: the event, up to `limit` events around it (half before,
    /// the rest after), the room state at the last event returned, and tokens to page on.
    pub async fn context(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_id: &str,
        limit: i64,
    ) -> Result<Value, Error> {
        let view = HistoryView::readable(&self.stores, room_id, user.user_id.as_str()).await?;
        let limit = limit.clamp(0, MAX_PAGE);
        let event = self.visible_event(&view, room_id, event_id).await?;
        let at = event.stream_ordering;
        let rooms = &self.stores.rooms;
        let before_limit = limit / 2;
        let mut before = if before_limit > 0 {
            rooms
                .room_events_between(room_id, 0, at - 1, before_limit)
                .await?
        } else {
            Vec::new()
        };
        let mut after = if limit - before_limit > 0 {
            rooms
                .room_events_after(room_id, at, limit - before_limit)
                .await?
        } else {
            Vec::new()
        };
        let start = before.last().map_or(at - 1, |e| e.stream_ordering - 1);
        let end = after.last().map_or(at, |e| e.stream_ordering);
        let mut state = rooms.state_at(room_id, end).await?;
        state.retain(|e| view.may_see(e));
        self.filter_for(user, &view, &mut before).await?;
        self.filter_for(user, &view, &mut after).await?;
        let mut center = vec![event];
        apply_redactions(&self.stores, &mut center).await?;
        let ignored = ignored_users(&self.stores, user.user_id.as_str()).await?;
        bundle_aggregations(
            &self.stores,
            user.user_id.as_str(),
            &view,
            &ignored,
            &mut center,
        )
        .await?;
        apply_redactions(&self.stores, &mut state).await?;
        let format = |events: &[StoredEvent]| {
            events
                .iter()
                .map(|e| client_event(&e.json, &e.event_id, room_id))
                .collect::<Vec<_>>()
        };
        Ok(json!({
            "start": token(start),
            "end": token(end),
            "event": format(&center)[0],
            "events_before": format(&before),
            "events_after": format(&after),
            "state": format(&state),
        }))
    }

    /// `GET /timestamp_to_event`: the visible event closest to `ts` in direction `forward`
    /// (at or after it) or backwards (at or before it).
    pub async fn event_near_ts(
        &self,
        user: &AuthedUser,
        room_id: &str,
        ts: i64,
        forward: bool,
    ) -> Result<(String, i64), Error> {
        let view = HistoryView::readable(&self.stores, room_id, user.user_id.as_str()).await?;
        // Candidates come in order; hidden ones are skipped, within a bound.
        let candidates = self
            .stores
            .rooms
            .events_near_ts(room_id, ts, forward, 100)
            .await?;
        candidates
            .into_iter()
            .find(|e| view.may_see(e))
            .map(|e| {
                let ts = e.json["origin_server_ts"].as_i64().unwrap_or_default();
                (e.event_id, ts)
            })
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "No event found in that direction"))
    }

    async fn visible_event(
        &self,
        view: &HistoryView,
        room_id: &str,
        event_id: &str,
    ) -> Result<StoredEvent, Error> {
        self.stores
            .rooms
            .get_event(event_id)
            .await?
            .filter(|e| e.room_id == room_id && view.may_see(e))
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "Event not found"))
    }

    /// Drops what the user may not see or has chosen not to, and applies redactions.
    async fn filter_for(
        &self,
        user: &AuthedUser,
        view: &HistoryView,
        events: &mut Vec<StoredEvent>,
    ) -> Result<(), Error> {
        view.retain_visible(events);
        let ignored = ignored_users(&self.stores, user.user_id.as_str()).await?;
        events.retain(|e| !hidden_by_ignore(&ignored, e));
        apply_redactions(&self.stores, events).await?;
        bundle_aggregations(&self.stores, user.user_id.as_str(), view, &ignored, events).await
    }
}
