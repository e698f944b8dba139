//! Event relationships: recording what `m.relates_to` says, `/relations`, `/threads`, and the
//! aggregations bundled into served events (`unsigned."m.relations"`): the latest valid edit
//! (`m.replace`), a thread's summary (`m.thread`) and references (`m.reference`).
//!
//! Only what the reader may see counts: relating events hidden by history visibility or sent
//! by someone the reader ignores are left out of pages and of bundles alike. A redacted
//! relating event no longer relates (storage drops its row with the redaction).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::{
    Error, ErrorKind,
    account_data::{hidden_by_ignore, ignored_users},
    accounts::AuthedUser,
    rooms::{apply_redactions, client_event},
    sync::{parse_token, token},
    visibility::HistoryView,
};
use crate::storage::{Relation, RelationQuery, RelationRow, StoredEvent, Stores};

/// How deep `recurse=true` follows relations of relations.
const MAX_RECURSION: usize = 3;
/// The most events a recursive walk collects before paging.
const MAX_RECURSIVE_EVENTS: usize = 1000;
const MAX_PAGE: i64 = 100;

/// The relation an event's content declares, if it names both an event and a type.
pub fn relation_of(content: &Value) -> Option<Relation> {
    let relates_to = content.get("m.relates_to")?;
    Some(Relation {
        relates_to: relates_to.get("event_id")?.as_str()?.to_owned(),
        rel_type: relates_to.get("rel_type")?.as_str()?.to_owned(),
        aggregation_key: relates_to
            .get("key")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// A `/relations` request beyond the room and the parent event.
#[derive(Debug, Clone, Default)]
pub struct RelationsRequest {
    pub rel_type: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub backwards: bool,
    pub limit: i64,
    pub recurse: bool,
}

pub struct RelationsService {
    stores: Stores,
}

impl RelationsService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// `GET /relations/{eventId}[/{relType}[/{eventType}]]`.
    pub async fn relations(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_id: &str,
        request: RelationsRequest,
    ) -> Result<Value, Error> {
        let view = HistoryView::readable(&self.stores, room_id, user.user_id.as_str()).await?;
        let parent = self.stores.rooms.get_event(event_id).await?;
        if !parent.is_some_and(|p| p.room_id == room_id && view.may_see(&p)) {
            return Err(Error::new(ErrorKind::NotFound, "Event not found"));
        }
        let limit = request.limit.clamp(1, MAX_PAGE);
        let from = request.from.as_deref().map(parse_token).transpose()?;
        let to = request.to.as_deref().map(parse_token).transpose()?;
        let (mut events, depth) = if request.recurse {
            self.recursive_page(room_id, event_id, &request, from, to, limit)
                .await?
        } else {
            let page = self
                .stores
                .relations
                .relation_page(RelationQuery {
                    room_id: room_id.to_owned(),
                    relates_to: event_id.to_owned(),
                    rel_type: request.rel_type.clone(),
                    event_type: request.event_type.clone(),
                    from,
                    to,
                    backwards: request.backwards,
                    limit,
                })
                .await?;
            (page, None)
        };
        // Decided before filtering, which would make a full page look short.
        let next = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| token(e.stream_ordering)))
            .flatten();
        let ignored = ignored_users(&self.stores, user.user_id.as_str()).await?;
        view.retain_visible(&mut events);
        events.retain(|e| !hidden_by_ignore(&ignored, e));
        apply_redactions(&self.stores, &mut events).await?;
        bundle_aggregations(
            &self.stores,
            user.user_id.as_str(),
            &view,
            &ignored,
            &mut events,
        )
        .await?;
        let mut body = json!({
            "chunk": events.iter().map(|e| client_event(&e.json, &e.event_id, room_id)).collect::<Vec<_>>(),
        });
        if let Some(next) = next {
            body["next_batch"] = json!(next);
        }
        if let Some(depth) = depth {
            body["recursion_depth"] = json!(depth);
        }
        Ok(body)
    }

    /// Relations of the parent and of its relations, down to [`MAX_RECURSION`] levels,
    /// filtered and paged in memory. Returns the page and the depth walked.
    async fn recursive_page(
        &self,
        room_id: &str,
        event_id: &str,
        request: &RelationsRequest,
        from: Option<i64>,
        to: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<StoredEvent>, Option<usize>), Error> {
        let mut found: Vec<RelationRow> = Vec::new();
        let mut frontier = vec![event_id.to_owned()];
        let mut depth = 0;
        while !frontier.is_empty() && depth < MAX_RECURSION && found.len() < MAX_RECURSIVE_EVENTS {
            let rows = self.stores.relations.relations_to(frontier).await?;
            let rows: Vec<RelationRow> =
                rows.into_iter().filter(|r| r.room_id == room_id).collect();
            if rows.is_empty() {
                break;
            }
            depth += 1;
            frontier = rows.iter().map(|r| r.event_id.clone()).collect();
            found.extend(rows);
        }
        found.retain(|r| {
            request.rel_type.as_ref().is_none_or(|t| *t == r.rel_type)
                && request
                    .event_type
                    .as_ref()
                    .is_none_or(|t| *t == r.event_type)
        });
        found.sort_by_key(|r| r.stream_ordering);
        if request.backwards {
            found.reverse();
        }
        let in_range = |o: i64| {
            if request.backwards {
                from.is_none_or(|f| o < f) && to.is_none_or(|t| o >= t)
            } else {
                from.is_none_or(|f| o > f) && to.is_none_or(|t| o <= t)
            }
        };
        let mut page = Vec::new();
        for row in found.iter().filter(|r| in_range(r.stream_ordering)) {
            if page.len() as i64 == limit {
                break;
            }
            if let Some(event) = self.stores.rooms.get_event(&row.event_id).await? {
                page.push(event);
            }
        }
        Ok((page, Some(depth)))
    }

    /// `GET /threads`: thread roots, most recently active first; with `participated_only`,
    /// only threads the user started or replied to.
    pub async fn threads(
        &self,
        user: &AuthedUser,
        room_id: &str,
        participated_only: bool,
        from: Option<&str>,
        limit: i64,
    ) -> Result<Value, Error> {
        let view = HistoryView::readable(&self.stores, room_id, user.user_id.as_str()).await?;
        let ignored = ignored_users(&self.stores, user.user_id.as_str()).await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut before = from.map(parse_token).transpose()?;
        let mut roots = Vec::new();
        let mut next = None;
        // Filtering can empty a page; a few more pages fill it, within a bound.
        for _ in 0..5 {
            let candidates = self
                .stores
                .relations
                .thread_roots(room_id, before, limit)
                .await?;
            let full = candidates.len() as i64 == limit;
            for (root_id, latest) in candidates {
                before = Some(latest);
                if roots.len() as i64 == limit {
                    break;
                }
                let Some(root) = self.stores.rooms.get_event(&root_id).await? else {
                    continue;
                };
                if root.room_id != room_id
                    || !view.may_see(&root)
                    || hidden_by_ignore(&ignored, &root)
                {
                    continue;
                }
                if participated_only && !self.participated(user, &root).await? {
                    continue;
                }
                roots.push(root);
            }
            if !full {
                next = None;
                break;
            }
            next = before.map(token);
            if roots.len() as i64 == limit {
                break;
            }
        }
        apply_redactions(&self.stores, &mut roots).await?;
        bundle_aggregations(
            &self.stores,
            user.user_id.as_str(),
            &view,
            &ignored,
            &mut roots,
        )
        .await?;
        let mut body = json!({
            "chunk": roots.iter().map(|e| client_event(&e.json, &e.event_id, room_id)).collect::<Vec<_>>(),
        });
        if let Some(next) = next {
            body["next_batch"] = json!(next);
        }
        Ok(body)
    }

    async fn participated(&self, user: &AuthedUser, root: &StoredEvent) -> Result<bool, Error> {
        if root.json["sender"] == user.user_id.as_str() {
            return Ok(true);
        }
        Ok(self
            .stores
            .relations
            .relations_to(vec![root.event_id.clone()])
            .await?
            .iter()
            .any(|r| r.rel_type == "m.thread" && r.sender == user.user_id.as_str()))
    }
}

/// Adds `unsigned."m.relations"` to each of `events` (all of one room, as `view` sees it).
pub async fn bundle_aggregations(
    stores: &Stores,
    user_id: &str,
    view: &HistoryView,
    ignored: &HashSet<String>,
    events: &mut [StoredEvent],
) -> Result<(), Error> {
    // A redacted event carries no aggregations: its content, and so what related to it, is
    // gone.
    let targets: Vec<String> = events
        .iter()
        .filter(|e| e.json["unsigned"].get("redacted_because").is_none())
        .map(|e| e.event_id.clone())
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let mut by_target: HashMap<String, Vec<RelationRow>> = HashMap::new();
    for row in stores.relations.relations_to(targets).await? {
        if view.may_see_message(row.stream_ordering) && !ignored.contains(&row.sender) {
            by_target
                .entry(row.relates_to.clone())
                .or_default()
                .push(row);
        }
    }
    for event in events.iter_mut() {
        let Some(rows) = by_target.get(&event.event_id) else {
            continue;
        };
        let mut relations = Map::new();
        if let Some(edit) = latest_valid_edit(event, rows)
            && let Some(mut edit_event) = stores.rooms.get_event(&edit.event_id).await?
        {
            edit_event.json["unsigned"] = json!({});
            relations.insert(
                "m.replace".to_owned(),
                client_event(&edit_event.json, &edit_event.event_id, &edit_event.room_id),
            );
        }
        let thread: Vec<&RelationRow> = rows.iter().filter(|r| r.rel_type == "m.thread").collect();
        if let Some(latest) = thread.iter().max_by_key(|r| r.stream_ordering)
            && let Some(latest_event) = stores.rooms.get_event(&latest.event_id).await?
        {
            let participated =
                event.json["sender"] == user_id || thread.iter().any(|r| r.sender == user_id);
            relations.insert(
                    "m.thread".to_owned(),
                    json!({
                        "latest_event": client_event(&latest_event.json, &latest_event.event_id, &latest_event.room_id),
                        "count": thread.len(),
                        "current_user_participated": participated,
                    }),
                );
        }
        let references: Vec<Value> = rows
            .iter()
            .filter(|r| r.rel_type == "m.reference")
            .map(|r| json!({ "event_id": r.event_id }))
            .collect();
        if !references.is_empty() {
            relations.insert("m.reference".to_owned(), json!({ "chunk": references }));
        }
        if relations.is_empty() {
            continue;
        }
        if !event.json["unsigned"].is_object() {
            event.json["unsigned"] = json!({});
        }
        event.json["unsigned"]["m.relations"] = Value::Object(relations);
    }
    Ok(())
}

/// The replacement that counts: from the original's sender, of the same type, not of a state
/// event; the latest by `origin_server_ts`, ties broken by event id (the spec's order).
fn latest_valid_edit<'a>(
    original: &StoredEvent,
    rows: &'a [RelationRow],
) -> Option<&'a RelationRow> {
    if original.json.get("state_key").is_some() {
        return None;
    }
    // An edit of an edit is not an edit of the original.
    if original.json["content"]["m.relates_to"]["rel_type"] == "m.replace" {
        return None;
    }
    rows.iter()
        .filter(|r| {
            r.rel_type == "m.replace"
                && original.json["sender"] == r.sender.as_str()
                && original.json["type"] == r.event_type.as_str()
        })
        .max_by(|a, b| (a.origin_server_ts, &a.event_id).cmp(&(b.origin_server_ts, &b.event_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relation_needs_an_event_id_and_a_type() {
        let full =
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$a", "key": "👍"}});
        assert_eq!(
            relation_of(&full),
            Some(Relation {
                relates_to: "$a".into(),
                rel_type: "m.annotation".into(),
                aggregation_key: Some("👍".into()),
            })
        );
        // A reply (`m.in_reply_to`) names an event but no relation type.
        assert_eq!(
            relation_of(&json!({"m.relates_to": {"m.in_reply_to": {"event_id": "$a"}}})),
            None
        );
        assert_eq!(
            relation_of(&json!({"m.relates_to": {"rel_type": 5, "event_id": "$a"}})),
            None
        );
        assert_eq!(relation_of(&json!({"m.relates_to": "nonsense"})), None);
        assert_eq!(relation_of(&json!({})), None);
    }

    fn row(id: &str, sender: &str, event_type: &str, ts: i64) -> RelationRow {
        RelationRow {
            event_id: id.into(),
            room_id: "!r:x".into(),
            relates_to: "$orig".into(),
            rel_type: "m.replace".into(),
            event_type: event_type.into(),
            sender: sender.into(),
            aggregation_key: None,
            origin_server_ts: ts,
            stream_ordering: ts,
        }
    }

    #[test]
    fn only_the_senders_own_edits_of_the_same_type_count_and_the_latest_wins() {
        let original = StoredEvent {
            event_id: "$orig".into(),
            room_id: "!r:x".into(),
            stream_ordering: 1,
            json: json!({"type": "m.room.message", "sender": "@a:x", "content": {}}),
        };
        let rows = vec![
            row("$e1", "@a:x", "m.room.message", 10),
            row("$forged", "@b:x", "m.room.message", 30),
            row("$othertype", "@a:x", "m.sticker", 40),
            row("$e2", "@a:x", "m.room.message", 20),
        ];
        assert_eq!(
            latest_valid_edit(&original, &rows).map(|r| r.event_id.as_str()),
            Some("$e2")
        );
        let state = StoredEvent {
            json: json!({"type": "m.room.topic", "state_key": "", "sender": "@a:x", "content": {}}),
            ..original
        };
        assert_eq!(
            latest_valid_edit(&state, &rows),
            None,
            "state events are not edited"
        );
    }
}
