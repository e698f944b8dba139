use std::collections::HashSet;

use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{
    Database, DbConnection,
    schema::{
        current_state, event_push_actions, event_push_broadcasts, event_relations, event_txn_ids,
        events, forward_extremities, redactions, rooms,
    },
};
use crate::storage::{
    Append, Error, ErrorKind, NewEvent, Notify, Room, RoomHead, RoomStore, StateRef, StoredEvent,
    TxnKey,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = rooms)]
struct RoomRow {
    room_id: String,
    room_version: String,
    creator: String,
    created_ts: i64,
}

fn parse_json(text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("stored event JSON: {e}")))
}

#[async_trait]
impl RoomStore for Database {
    async fn create_room(&self, room: Room) -> Result<(), Error> {
        let row = RoomRow {
            room_id: room.room_id,
            room_version: room.room_version,
            creator: room.creator,
            created_ts: room.created_ts,
        };
        self.write(move |conn| diesel::insert_into(rooms::table).values(&row).execute(conn))
            .await
            .map(|_| ())
    }

    async fn get_room(&self, room_id: &str) -> Result<Option<Room>, Error> {
        let id = room_id.to_owned();
        let row = self
            .read(move |conn| {
                rooms::table
                    .find(id)
                    .select(RoomRow::as_select())
                    .first(conn)
                    .optional()
            })
            .await?;
        Ok(row.map(|r| Room {
            room_id: r.room_id,
            room_version: r.room_version,
            creator: r.creator,
            created_ts: r.created_ts,
        }))
    }

    async fn room_head(&self, room_id: &str) -> Result<RoomHead, Error> {
        let id = room_id.to_owned();
        self.read(move |conn| {
            let extremities: Vec<(String, i64)> = forward_extremities::table
                .inner_join(events::table.on(events::event_id.eq(forward_extremities::event_id)))
                .filter(forward_extremities::room_id.eq(&id))
                .select((forward_extremities::event_id, events::depth))
                .order(events::depth.desc())
                .load(conn)?;
            let state: Vec<(String, String, String)> = current_state::table
                .filter(current_state::room_id.eq(&id))
                .select((
                    current_state::event_type,
                    current_state::state_key,
                    current_state::event_id,
                ))
                .load(conn)?;
            Ok(RoomHead { extremities, state })
        })
        .await
    }

    async fn append_events(&self, appends: Vec<Append>) -> Result<Vec<i64>, Error> {
        self.write(move |conn| append_group(conn, &appends)).await
    }

    async fn get_event(&self, event_id: &str) -> Result<Option<StoredEvent>, Error> {
        let id = event_id.to_owned();
        let row: Option<(String, String, i64, String)> = self
            .read(move |conn| {
                events::table
                    .find(id)
                    .select(STORED_EVENT)
                    .first(conn)
                    .optional()
            })
            .await?;
        row.map(|(event_id, room_id, stream_ordering, json)| {
            Ok(StoredEvent {
                event_id,
                room_id,
                stream_ordering,
                json: parse_json(&json)?,
            })
        })
        .transpose()
    }

    async fn event_for_txn(&self, txn: &TxnKey) -> Result<Option<String>, Error> {
        let txn = txn.clone();
        self.read(move |conn| {
            event_txn_ids::table
                .find((txn.user_id, txn.device_id, txn.txn_id))
                .select(event_txn_ids::event_id)
                .first(conn)
                .optional()
        })
        .await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<(String, String)>, Error> {
        let user = user_id.to_owned();
        self.read(move |conn| {
            current_state::table
                .filter(current_state::event_type.eq("m.room.member"))
                .filter(current_state::state_key.eq(user))
                .filter(current_state::membership.is_not_null())
                .select((
                    current_state::room_id,
                    current_state::membership.assume_not_null(),
                ))
                .order(current_state::room_id)
                .load(conn)
        })
        .await
    }

    async fn co_members_among(
        &self,
        user_id: &str,
        candidates: Vec<String>,
    ) -> Result<Vec<String>, Error> {
        let mut found = std::collections::BTreeSet::new();
        for chunk in chunked(&candidates) {
            let user = user_id.to_owned();
            let rows: Vec<String> = self
                .read(move |conn| {
                    let users_rooms = diesel::alias!(current_state as users_rooms);
                    let joined_by_user = users_rooms
                        .filter(
                            users_rooms
                                .field(current_state::event_type)
                                .eq("m.room.member"),
                        )
                        .filter(users_rooms.field(current_state::state_key).eq(user))
                        .filter(users_rooms.field(current_state::membership).eq("join"))
                        .select(users_rooms.field(current_state::room_id));
                    current_state::table
                        .filter(current_state::event_type.eq("m.room.member"))
                        .filter(current_state::membership.eq("join"))
                        .filter(current_state::state_key.eq_any(chunk))
                        .filter(current_state::room_id.eq_any(joined_by_user))
                        .select(current_state::state_key)
                        .distinct()
                        .load(conn)
                })
                .await?;
            found.extend(rows);
        }
        Ok(found.into_iter().collect())
    }

    async fn rooms_with_membership(
        &self,
        user_id: &str,
        membership: &str,
    ) -> Result<Vec<String>, Error> {
        let (user, membership) = (user_id.to_owned(), membership.to_owned());
        self.read(move |conn| {
            current_state::table
                .filter(current_state::event_type.eq("m.room.member"))
                .filter(current_state::state_key.eq(user))
                .filter(current_state::membership.eq(membership))
                .select(current_state::room_id)
                .order(current_state::room_id)
                .load(conn)
        })
        .await
    }

    async fn max_stream_ordering(&self) -> Result<i64, Error> {
        let max: Option<i64> = self
            .read(|conn| {
                events::table
                    .select(diesel::dsl::max(events::stream_ordering))
                    .first(conn)
            })
            .await?;
        Ok(max.unwrap_or(0))
    }

    async fn room_events_between(
        &self,
        room_id: &str,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, Error> {
        let room = room_id.to_owned();
        let rows: Vec<(String, String, i64, String)> = self
            .read(move |conn| {
                events::table
                    .filter(events::room_id.eq(room))
                    .filter(events::stream_ordering.gt(after))
                    .filter(events::stream_ordering.le(up_to))
                    .order(events::stream_ordering.desc())
                    .limit(limit)
                    .select(STORED_EVENT)
                    .load(conn)
            })
            .await?;
        stored_events(rows)
    }

    async fn rooms_with_events_between(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Option<HashSet<String>>, Error> {
        // Ordered and limited by position so that both planners walk the positions' index
        // from `after`, whatever the span: a scan of every event for its room would cost as
        // much as the table.
        let rooms: Vec<String> = self
            .read(move |conn| {
                events::table
                    .filter(events::stream_ordering.gt(after))
                    .filter(events::stream_ordering.le(up_to))
                    .order(events::stream_ordering.asc())
                    .limit(limit + 1)
                    .select(events::room_id)
                    .load(conn)
            })
            .await?;
        Ok((rooms.len() as i64 <= limit).then(|| rooms.into_iter().collect()))
    }

    async fn room_events_after(
        &self,
        room_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, Error> {
        let room = room_id.to_owned();
        let rows: Vec<(String, String, i64, String)> = self
            .read(move |conn| {
                events::table
                    .filter(events::room_id.eq(room))
                    .filter(events::stream_ordering.gt(after))
                    .order(events::stream_ordering.asc())
                    .limit(limit)
                    .select(STORED_EVENT)
                    .load(conn)
            })
            .await?;
        stored_events(rows)
    }

    async fn room_members(&self, room_id: &str) -> Result<Vec<(String, String, String)>, Error> {
        let room = room_id.to_owned();
        let rows: Vec<(String, Option<String>, String)> = self
            .read(move |conn| {
                current_state::table
                    .filter(current_state::room_id.eq(room))
                    .filter(current_state::event_type.eq("m.room.member"))
                    .order(current_state::state_key)
                    .select((
                        current_state::state_key,
                        current_state::membership,
                        current_state::event_id,
                    ))
                    .load(conn)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(user, membership, event)| (user, membership.unwrap_or_default(), event))
            .collect())
    }

    async fn room_member(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<Option<(String, String)>, Error> {
        let (room, user) = (room_id.to_owned(), user_id.to_owned());
        let row: Option<(Option<String>, String)> = self
            .read(move |conn| {
                current_state::table
                    .filter(current_state::room_id.eq(room))
                    .filter(current_state::event_type.eq("m.room.member"))
                    .filter(current_state::state_key.eq(user))
                    .select((current_state::membership, current_state::event_id))
                    .first(conn)
                    .optional()
            })
            .await?;
        Ok(row.map(|(membership, event)| (membership.unwrap_or_default(), event)))
    }

    async fn redactions_of(&self, event_ids: Vec<String>) -> Result<Vec<(String, String)>, Error> {
        let mut found = Vec::new();
        for chunk in chunked(&event_ids) {
            let rows: Vec<(String, String)> = self
                .read(move |conn| {
                    redactions::table
                        .filter(redactions::redacts.eq_any(chunk))
                        .select((redactions::redacts, redactions::event_id))
                        .load(conn)
                })
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn events_near_ts(
        &self,
        room_id: &str,
        ts: i64,
        forward: bool,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, Error> {
        let room = room_id.to_owned();
        let rows: Vec<(String, String, i64, String)> = self
            .read(move |conn| {
                let query = events::table
                    .filter(events::room_id.eq(room))
                    .select(STORED_EVENT)
                    .limit(limit)
                    .into_boxed();
                if forward {
                    query
                        .filter(events::origin_server_ts.ge(ts))
                        .order((
                            events::origin_server_ts.asc(),
                            events::stream_ordering.asc(),
                        ))
                        .load(conn)
                } else {
                    query
                        .filter(events::origin_server_ts.le(ts))
                        .order((
                            events::origin_server_ts.desc(),
                            events::stream_ordering.desc(),
                        ))
                        .load(conn)
                }
            })
            .await?;
        stored_events(rows)
    }

    async fn state_refs_at(
        &self,
        room_id: &str,
        up_to: i64,
        members: Option<Vec<String>>,
    ) -> Result<Vec<StateRef>, Error> {
        let room = room_id.to_owned();
        type Row = (String, String, String, i64, Option<String>);
        let rows: Vec<Row> = self
            .read(move |conn| {
                // At the head (what most callers ask for) the current state table already
                // holds the answer, and the room's head comes with it in the same statement;
                // only past positions replay the room's state history. Neither query is
                // boxed: both stay prepared.
                let later = diesel::alias!(events as later);
                let room_head = later
                    .filter(later.field(events::room_id).eq(&room))
                    .select(diesel::dsl::max(later.field(events::stream_ordering)))
                    .single_value();
                let current = current_state::table
                    .inner_join(events::table.on(events::event_id.eq(current_state::event_id)))
                    .left_join(redactions::table.on(redactions::redacts.eq(events::event_id)))
                    .filter(current_state::room_id.eq(&room))
                    .select((
                        current_state::event_type,
                        current_state::state_key,
                        events::event_id,
                        events::stream_ordering,
                        redactions::event_id.nullable(),
                        room_head,
                    ));
                let not_other_members = |members: &Vec<String>| {
                    current_state::event_type
                        .ne("m.room.member")
                        .or(current_state::state_key.eq_any(members.clone()))
                };
                let rows: Vec<(String, String, String, i64, Option<String>, Option<i64>)> =
                    match &members {
                        None => current.load(conn)?,
                        Some(members) => current.filter(not_other_members(members)).load(conn)?,
                    };
                let head = rows.first().and_then(|row| row.5);
                if head.is_none_or(|head| up_to >= head) {
                    return Ok(rows
                        .into_iter()
                        .map(|(t, k, id, position, redacted, _)| (t, k, id, position, redacted))
                        .collect());
                }
                let history = events::table
                    .left_join(redactions::table.on(redactions::redacts.eq(events::event_id)))
                    .filter(events::room_id.eq(&room))
                    .filter(events::state_key.is_not_null())
                    .filter(events::stream_ordering.le(up_to))
                    .order(events::stream_ordering.asc())
                    .select((
                        events::event_type,
                        events::state_key.assume_not_null(),
                        events::event_id,
                        events::stream_ordering,
                        redactions::event_id.nullable(),
                    ));
                match &members {
                    None => history.load(conn),
                    Some(members) => history
                        .filter(
                            events::event_type
                                .ne("m.room.member")
                                .or(events::state_key.eq_any(members.clone())),
                        )
                        .load(conn),
                }
            })
            .await?;
        // Later events replace earlier ones at the same key; the order out is by key so that
        // callers see a stable listing.
        let mut latest = std::collections::BTreeMap::new();
        for (event_type, state_key, event_id, stream_ordering, redacted_by) in rows {
            latest.insert(
                (event_type.clone(), state_key.clone()),
                StateRef {
                    event_type,
                    state_key,
                    event_id,
                    stream_ordering,
                    redacted_by,
                },
            );
        }
        Ok(latest.into_values().collect())
    }

    async fn events_by_ids(&self, event_ids: Vec<String>) -> Result<Vec<StoredEvent>, Error> {
        let mut found = Vec::with_capacity(event_ids.len());
        for chunk in chunked(&event_ids) {
            let rows: Vec<(String, String, i64, String)> = self
                .read(move |conn| {
                    events::table
                        .filter(events::event_id.eq_any(chunk))
                        .select(STORED_EVENT)
                        .load(conn)
                })
                .await?;
            found.extend(stored_events(rows)?);
        }
        Ok(found)
    }

    async fn state_history(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Vec<StoredEvent>, Error> {
        let (room, kind, key) = (
            room_id.to_owned(),
            event_type.to_owned(),
            state_key.to_owned(),
        );
        let rows: Vec<(String, String, i64, String)> = self
            .read(move |conn| {
                events::table
                    .filter(events::room_id.eq(room))
                    .filter(events::event_type.eq(kind))
                    .filter(events::state_key.eq(key))
                    .order(events::stream_ordering.asc())
                    .select(STORED_EVENT)
                    .load(conn)
            })
            .await?;
        stored_events(rows)
    }

    async fn state_histories(
        &self,
        room_id: &str,
        first: (&str, &str),
        second: (&str, &str),
    ) -> Result<(Vec<StoredEvent>, Vec<StoredEvent>), Error> {
        let room = room_id.to_owned();
        let keys = [first, second].map(|(t, k)| (t.to_owned(), k.to_owned()));
        let rows: Vec<(String, String, i64, String, bool)> = self
            .read(move |conn| {
                // A UNION ALL, not one SELECT with an OR: each half is a range of the room's
                // state-history index, which an OR can lead the planner away from.
                let history = |(kind, key): &(String, String), second: bool| {
                    events::table
                        .filter(events::room_id.eq(room.clone()))
                        .filter(events::event_type.eq(kind.clone()))
                        .filter(events::state_key.eq(key.clone()))
                        .select((
                            events::event_id,
                            events::room_id,
                            events::stream_ordering,
                            events::json,
                            second.into_sql::<diesel::sql_types::Bool>(),
                        ))
                };
                let both = history(&keys[0], false).union_all(history(&keys[1], true));
                // The multi-backend connection has no UNION; each backend has its own.
                match conn {
                    DbConnection::Sqlite(c) => both.load(c),
                    DbConnection::Postgres(c) => both.load(c),
                }
            })
            .await?;
        let (mut firsts, mut seconds): (Vec<_>, Vec<_>) = rows.into_iter().partition(|row| !row.4);
        for half in [&mut firsts, &mut seconds] {
            half.sort_by_key(|row| row.2);
        }
        let strip = |rows: Vec<(String, String, i64, String, bool)>| {
            stored_events(
                rows.into_iter()
                    .map(|(id, room, position, json, _)| (id, room, position, json))
                    .collect(),
            )
        };
        Ok((strip(firsts)?, strip(seconds)?))
    }

    async fn member_events_between(
        &self,
        rooms: Vec<String>,
        after: i64,
        up_to: i64,
    ) -> Result<Vec<StoredEvent>, Error> {
        let rows: Vec<(String, String, i64, String)> = self
            .read(move |conn| {
                let mut rows = Vec::new();
                for chunk in chunked(&rooms) {
                    rows.extend(
                        events::table
                            .filter(events::event_type.eq("m.room.member"))
                            .filter(events::room_id.eq_any(chunk))
                            .filter(events::stream_ordering.gt(after))
                            .filter(events::stream_ordering.le(up_to))
                            .select(STORED_EVENT)
                            .load::<(String, String, i64, String)>(conn)?,
                    );
                }
                rows.sort_by_key(|row| row.2);
                Ok(rows)
            })
            .await?;
        stored_events(rows)
    }

    async fn membership_events_between(
        &self,
        user_id: &str,
        after: i64,
        up_to: i64,
    ) -> Result<Vec<StoredEvent>, Error> {
        let user = user_id.to_owned();
        let rows: Vec<(String, String, i64, String)> = self
            .read(move |conn| {
                events::table
                    .filter(events::event_type.eq("m.room.member"))
                    .filter(events::state_key.eq(user))
                    .filter(events::stream_ordering.gt(after))
                    .filter(events::stream_ordering.le(up_to))
                    .order(events::stream_ordering.asc())
                    .select(STORED_EVENT)
                    .load(conn)
            })
            .await?;
        stored_events(rows)
    }
}

fn chunked<T: Clone>(items: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    // Bounded IN lists: SQLite limits bound parameters per statement.
    items.chunks(500).map(<[T]>::to_vec)
}

/// The columns a [`StoredEvent`] is read from, in the order `stored_events` expects.
pub(super) const STORED_EVENT: (
    events::event_id,
    events::room_id,
    events::stream_ordering,
    events::json,
) = (
    events::event_id,
    events::room_id,
    events::stream_ordering,
    events::json,
);

pub(super) fn stored_events(
    rows: Vec<(String, String, i64, String)>,
) -> Result<Vec<StoredEvent>, Error> {
    rows.into_iter()
        .map(|(event_id, room_id, stream_ordering, json)| {
            Ok(StoredEvent {
                event_id,
                room_id,
                stream_ordering,
                json: parse_json(&json)?,
            })
        })
        .collect()
}

/// Rows per multi-row INSERT: at nine columns, well under the bound-parameter limits of both
/// backends (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 500;

/// One multi-row INSERT. The multi-backend connection has no batch insert; each backend has
/// its own.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let insert = diesel::insert_into($table).values($rows);
        match $conn {
            DbConnection::Sqlite(c) => insert.execute(c),
            DbConnection::Postgres(c) => insert.execute(c),
        }
    }};
}

/// A group of appends inside the caller's transaction: the events, their positions, current
/// state, forward extremities, redactions, relations, notifications and transaction ids.
///
/// Each table gets one multi-row INSERT per group where the rows do not depend on one another
/// (events, push rows, transaction ids), so a group costs a handful of statements rather than
/// some six per event; on PostgreSQL every statement is a round trip. What one event can
/// change for the next (current state, relations a later edit's thread is read from) is
/// written event by event, in order.
fn append_group(conn: &mut DbConnection, appends: &[Append]) -> QueryResult<Vec<i64>> {
    // Writes are serialised (one writer on SQLite, and the room service appends in one
    // pipeline), so the next positions cannot be taken twice; the UNIQUE constraint would
    // refuse them if they were.
    let last: Option<i64> = events::table
        .select(diesel::dsl::max(events::stream_ordering))
        .first(conn)?;
    let first = last.unwrap_or(0) + 1;
    let positions: Vec<i64> = (first..).take(appends.len()).collect();
    let jsons: Vec<String> = appends.iter().map(|a| a.event.json.to_string()).collect();
    let rows: Vec<_> = appends
        .iter()
        .zip(&positions)
        .zip(&jsons)
        .map(|((a, &position), json)| {
            let e = &a.event;
            (
                events::event_id.eq(&e.event_id),
                events::room_id.eq(&e.room_id),
                events::stream_ordering.eq(position),
                events::depth.eq(e.depth),
                events::event_type.eq(&e.event_type),
                events::state_key.eq(&e.state_key),
                events::sender.eq(&e.sender),
                events::origin_server_ts.eq(e.origin_server_ts),
                events::json.eq(json.as_str()),
            )
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        insert_rows!(conn, events::table, chunk)?;
    }

    let mut broadcasts = Vec::new();
    let mut actions = Vec::new();
    for (a, &position) in appends.iter().zip(&positions) {
        let thread = write_event_links(conn, &a.event, position)?;
        let (event, notifications) = (&a.event, &a.event.notifications);
        if notifications.everyone != Notify::No {
            broadcasts.push((
                event_push_broadcasts::room_id.eq(&event.room_id),
                event_push_broadcasts::stream_ordering.eq(position),
                event_push_broadcasts::sender.eq(&event.sender),
                event_push_broadcasts::highlight.eq(notifications.everyone == Notify::Highlight),
                event_push_broadcasts::thread_id.eq(thread.clone()),
            ));
        }
        actions.extend(notifications.exceptions.iter().map(|action| {
            (
                event_push_actions::room_id.eq(&event.room_id),
                event_push_actions::user_id.eq(&action.user_id),
                event_push_actions::stream_ordering.eq(position),
                event_push_actions::notify.eq(action.notify != Notify::No),
                event_push_actions::highlight.eq(action.notify == Notify::Highlight),
                event_push_actions::thread_id.eq(thread.clone()),
            )
        }));
    }
    for chunk in broadcasts.chunks(ROWS_PER_INSERT) {
        insert_rows!(conn, event_push_broadcasts::table, chunk)?;
    }
    for chunk in actions.chunks(ROWS_PER_INSERT) {
        insert_rows!(conn, event_push_actions::table, chunk)?;
    }

    move_extremities(conn, appends)?;

    let txns: Vec<_> = appends
        .iter()
        .filter_map(|a| {
            let txn = a.txn.as_ref()?;
            Some((
                event_txn_ids::user_id.eq(&txn.user_id),
                event_txn_ids::device_id.eq(&txn.device_id),
                event_txn_ids::txn_id.eq(&txn.txn_id),
                event_txn_ids::event_id.eq(&a.event.event_id),
            ))
        })
        .collect();
    for chunk in txns.chunks(ROWS_PER_INSERT) {
        insert_rows!(conn, event_txn_ids::table, chunk)?;
    }
    Ok(positions)
}

/// What an event changes that a later event of the same group may read: the room's current
/// state, a redaction (which also drops its target's relation) and its own relation. Returns
/// the thread the event belongs to, for its push rows.
fn write_event_links(
    conn: &mut DbConnection,
    event: &NewEvent,
    position: i64,
) -> QueryResult<Option<String>> {
    if let Some(state_key) = &event.state_key {
        diesel::delete(
            current_state::table
                .filter(current_state::room_id.eq(&event.room_id))
                .filter(current_state::event_type.eq(&event.event_type))
                .filter(current_state::state_key.eq(state_key)),
        )
        .execute(conn)?;
        diesel::insert_into(current_state::table)
            .values((
                current_state::room_id.eq(&event.room_id),
                current_state::event_type.eq(&event.event_type),
                current_state::state_key.eq(state_key),
                current_state::event_id.eq(&event.event_id),
                current_state::membership.eq(&event.membership),
            ))
            .execute(conn)?;
    }
    if let Some(target) = &event.redacts {
        diesel::insert_into(redactions::table)
            .values((
                redactions::event_id.eq(&event.event_id),
                redactions::redacts.eq(target),
            ))
            .execute(conn)?;
        // A redacted event's relation is gone with its content.
        diesel::delete(event_relations::table.filter(event_relations::event_id.eq(target)))
            .execute(conn)?;
    }
    if let Some(relation) = &event.relation {
        diesel::insert_into(event_relations::table)
            .values((
                event_relations::event_id.eq(&event.event_id),
                event_relations::room_id.eq(&event.room_id),
                event_relations::relates_to.eq(&relation.relates_to),
                event_relations::rel_type.eq(&relation.rel_type),
                event_relations::event_type.eq(&event.event_type),
                event_relations::sender.eq(&event.sender),
                event_relations::aggregation_key.eq(&relation.aggregation_key),
                event_relations::origin_server_ts.eq(event.origin_server_ts),
                event_relations::stream_ordering.eq(position),
            ))
            .execute(conn)?;
    }
    Ok(match &event.relation {
        None => None,
        Some(r) if r.rel_type == "m.thread" => Some(r.relates_to.clone()),
        // An edit or reaction belongs to the thread of the event it relates to.
        Some(r) if !event.notifications.is_empty() => event_relations::table
            .filter(event_relations::event_id.eq(&r.relates_to))
            .filter(event_relations::rel_type.eq("m.thread"))
            .select(event_relations::relates_to)
            .first::<String>(conn)
            .optional()?,
        Some(_) => None,
    })
}

/// Moves each room's forward extremities past the group. Appending the events one by one
/// would remove each event's prev_events and add the event; since an event can only cite
/// events before it, the net effect is: remove every prev_event the group cites, add every
/// event of the group that no later event of it cites.
fn move_extremities(conn: &mut DbConnection, appends: &[Append]) -> QueryResult<()> {
    let mut rooms: Vec<&str> = appends.iter().map(|a| a.event.room_id.as_str()).collect();
    rooms.sort_unstable();
    rooms.dedup();
    for room in rooms {
        let in_room = || appends.iter().filter(|a| a.event.room_id == room);
        let cited: HashSet<&str> = in_room()
            .flat_map(|a| a.prev_events.iter().map(String::as_str))
            .collect();
        let listed: Vec<&str> = cited.iter().copied().collect();
        for chunk in listed.chunks(ROWS_PER_INSERT) {
            diesel::delete(
                forward_extremities::table
                    .filter(forward_extremities::room_id.eq(room))
                    .filter(forward_extremities::event_id.eq_any(chunk)),
            )
            .execute(conn)?;
        }
        let new: Vec<_> = in_room()
            .filter(|a| !cited.contains(&a.event.event_id.as_str()))
            .map(|a| {
                (
                    forward_extremities::room_id.eq(room),
                    forward_extremities::event_id.eq(&a.event.event_id),
                )
            })
            .collect();
        for chunk in new.chunks(ROWS_PER_INSERT) {
            insert_rows!(conn, forward_extremities::table, chunk)?;
        }
    }
    Ok(())
}
