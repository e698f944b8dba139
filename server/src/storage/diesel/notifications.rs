use std::collections::HashMap;

use ::diesel::{dsl::count_star, prelude::*};
use async_trait::async_trait;

use super::{
    Database, DbConnection,
    schema::{event_push_actions, events, receipts},
};
use crate::storage::{Error, NotificationStore, RoomUnread, UnreadCounts};

/// Which timeline a count covers: the main one (`None`) or a thread's root.
type Timeline = Option<String>;

#[async_trait]
impl NotificationStore for Database {
    async fn unread_counts(&self, room_id: &str, user_id: &str) -> Result<RoomUnread, Error> {
        let (room, user) = (room_id.to_owned(), user_id.to_owned());
        let counts = self
            .read(move |conn| {
                let mut read = read_positions(conn, &room, &user)?;
                let unthreaded = read.remove("").unwrap_or(0);
                let mut counts = counts_after(conn, &room, &user, unthreaded)?;
                // Where a threaded receipt reads further than the unthreaded one, that
                // timeline is counted again from it. Threads with receipts are few; the
                // grouped count above covers every other thread in one query.
                for (thread, position) in read.into_iter().filter(|(_, p)| *p > unthreaded) {
                    let timeline = (thread != "main").then_some(thread);
                    let recount = timeline_counts_after(conn, &room, &user, &timeline, position)?;
                    counts.insert(timeline, recount);
                }
                Ok(counts)
            })
            .await?;
        let mut unread = RoomUnread::default();
        for (timeline, count) in counts {
            match timeline {
                None => unread.main = count,
                Some(root) if !count.is_empty() => {
                    unread.threads.insert(root, count);
                }
                Some(_) => {}
            }
        }
        Ok(unread)
    }
}

/// The stream position each of the user's read receipts in the room reaches, by receipt
/// thread (`""` for unthreaded receipts).
fn read_positions(
    conn: &mut DbConnection,
    room: &str,
    user: &str,
) -> QueryResult<HashMap<String, i64>> {
    let rows: Vec<(String, Option<i64>)> = receipts::table
        .inner_join(events::table.on(events::event_id.eq(receipts::event_id)))
        .filter(receipts::room_id.eq(room))
        .filter(receipts::user_id.eq(user))
        .filter(receipts::receipt_type.eq_any(["m.read", "m.read.private"]))
        .group_by(receipts::thread_id)
        .select((
            receipts::thread_id,
            diesel::dsl::max(events::stream_ordering),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(thread, position)| Some((thread, position?)))
        .collect())
}

/// Notifications and highlights after `position`, per timeline, in one pass over the rows.
fn counts_after(
    conn: &mut DbConnection,
    room: &str,
    user: &str,
    position: i64,
) -> QueryResult<HashMap<Timeline, UnreadCounts>> {
    let rows: Vec<(Timeline, bool, i64)> = event_push_actions::table
        .filter(event_push_actions::room_id.eq(room))
        .filter(event_push_actions::user_id.eq(user))
        .filter(event_push_actions::stream_ordering.gt(position))
        .group_by((event_push_actions::thread_id, event_push_actions::highlight))
        .select((
            event_push_actions::thread_id,
            event_push_actions::highlight,
            count_star(),
        ))
        .load(conn)?;
    let mut counts: HashMap<Timeline, UnreadCounts> = HashMap::new();
    for (timeline, highlight, n) in rows {
        add(counts.entry(timeline).or_default(), highlight, n);
    }
    Ok(counts)
}

/// Notifications and highlights after `position` in one timeline.
fn timeline_counts_after(
    conn: &mut DbConnection,
    room: &str,
    user: &str,
    timeline: &Timeline,
    position: i64,
) -> QueryResult<UnreadCounts> {
    let unread = event_push_actions::table
        .filter(event_push_actions::room_id.eq(room))
        .filter(event_push_actions::user_id.eq(user))
        .filter(event_push_actions::stream_ordering.gt(position))
        .group_by(event_push_actions::highlight)
        .select((event_push_actions::highlight, count_star()))
        .into_boxed();
    let unread = match timeline {
        None => unread.filter(event_push_actions::thread_id.is_null()),
        Some(root) => unread.filter(event_push_actions::thread_id.eq(root.clone())),
    };
    let rows: Vec<(bool, i64)> = unread.load(conn)?;
    let mut counts = UnreadCounts::default();
    for (highlight, n) in rows {
        add(&mut counts, highlight, n);
    }
    Ok(counts)
}

/// Adds `n` notifications, which highlight or not.
fn add(counts: &mut UnreadCounts, highlight: bool, n: i64) {
    let n = u64::try_from(n).unwrap_or(0);
    counts.notifications += n;
    if highlight {
        counts.highlights += n;
    }
}
