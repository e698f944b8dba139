use std::collections::HashMap;

use ::diesel::{dsl::count_star, prelude::*};
use async_trait::async_trait;

use super::{
    Database, DbConnection,
    schema::{event_push_actions, event_push_broadcasts, events, receipts},
};
use crate::storage::{Error, NotificationStore, RoomUnread, UnreadCounts};

/// Which timeline a count covers: the main one (`None`) or a thread's root.
type Timeline = Option<String>;

/// Notifications and highlights per timeline, before clamping: sums over disjoint ranges of
/// positions add up.
type Tally = HashMap<Timeline, (i64, i64)>;

/// Tallies already counted, so that a user who reads nothing (or reads rarely) does not cost a
/// scan of every notification since their receipt on each sync.
///
/// A tally over positions `(from, up_to]` never changes once every event up to `up_to` is
/// committed: push rows are only added, with their event, in the event's transaction, and
/// events commit in position order (one writer takes positions in turn). So a later count from
/// the same `from` only reads the rows after `up_to`. An entry is keyed by what the count
/// starts from; a new receipt or join moves `from` and starts the tally again.
#[derive(Default)]
pub(super) struct UnreadTallies {
    entries: std::sync::Mutex<HashMap<TallyKey, CountedTally>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TallyKey {
    room: String,
    user: String,
    /// Only this timeline's rows (`Some`), or every timeline's (`None`).
    timeline: Option<Timeline>,
}

#[derive(Clone)]
struct CountedTally {
    from: i64,
    up_to: i64,
    tally: Tally,
}

/// Entries kept before the cache starts over: one per (room, user, thread with its own
/// receipt) counted, a few hundred bytes each.
const MAX_TALLIES: usize = 100_000;

impl UnreadTallies {
    /// The tally over `(from, up_to]`, reading only what no earlier count covered.
    fn count(
        &self,
        conn: &mut DbConnection,
        key: TallyKey,
        from: i64,
        up_to: i64,
    ) -> QueryResult<Tally> {
        let known = self
            .entries
            .lock()
            .expect("tally cache lock")
            .get(&key)
            .filter(|c| c.from == from && c.up_to <= up_to)
            .cloned();
        let (start, mut tally) = match known {
            Some(c) => (c.up_to, c.tally),
            None => (from, Tally::new()),
        };
        if start < up_to {
            let timeline = key.timeline.as_ref();
            for (t, (n, h)) in counts_between(conn, &key.room, &key.user, start, up_to, timeline)? {
                let entry = tally.entry(t).or_default();
                entry.0 += n;
                entry.1 += h;
            }
        }
        let mut entries = self.entries.lock().expect("tally cache lock");
        if entries.len() >= MAX_TALLIES {
            entries.clear();
        }
        let newer = entries
            .get(&key)
            .is_none_or(|c| c.from != from || c.up_to <= up_to);
        if newer {
            entries.insert(
                key,
                CountedTally {
                    from,
                    up_to,
                    tally: tally.clone(),
                },
            );
        }
        Ok(tally)
    }
}

#[async_trait]
impl NotificationStore for Database {
    async fn unread_counts(
        &self,
        room_id: &str,
        user_id: &str,
        up_to: i64,
    ) -> Result<RoomUnread, Error> {
        let (room, user) = (room_id.to_owned(), user_id.to_owned());
        let tallies = self.unread_tallies.clone();
        let counts = self
            .read(move |conn| {
                let Some(joined) = joined_since(conn, &room, &user)? else {
                    return Ok(HashMap::new());
                };
                let mut read = read_positions(conn, &room, &user)?;
                let key = |timeline: Option<Timeline>| TallyKey {
                    room: room.clone(),
                    user: user.clone(),
                    timeline,
                };
                let unthreaded = read.remove("").unwrap_or(0).max(joined);
                let mut counts = tallies.count(conn, key(None), unthreaded, up_to)?;
                // Where a threaded receipt reads further than the unthreaded one, that
                // timeline is counted again from it. Threads with receipts are few; the
                // grouped count above covers every other thread at once.
                for (thread, position) in read.into_iter().filter(|(_, p)| *p > unthreaded) {
                    let timeline = (thread != "main").then_some(thread);
                    let recount =
                        tallies.count(conn, key(Some(timeline.clone())), position, up_to)?;
                    let recount = recount.get(&timeline).copied().unwrap_or_default();
                    counts.insert(timeline, recount);
                }
                Ok(counts)
            })
            .await?;
        let mut unread = RoomUnread::default();
        for (timeline, (notifications, highlights)) in counts {
            let n = |v: i64| u64::try_from(v).unwrap_or(0);
            let count = UnreadCounts {
                notifications: n(notifications),
                highlights: n(highlights),
            };
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

/// The stream position of the join that began the user's current membership of the room;
/// `None` when they are not joined. A display-name change is a join after a join, so the
/// start is the earliest of the trailing run of joins.
fn joined_since(conn: &mut DbConnection, room: &str, user: &str) -> QueryResult<Option<i64>> {
    #[derive(serde::Deserialize)]
    struct Member {
        content: Content,
    }
    #[derive(serde::Deserialize)]
    struct Content {
        membership: Option<String>,
    }
    let rows: Vec<(i64, String)> = events::table
        .filter(events::room_id.eq(room))
        .filter(events::event_type.eq("m.room.member"))
        .filter(events::state_key.eq(user))
        .order(events::stream_ordering.desc())
        .select((events::stream_ordering, events::json))
        .load(conn)?;
    let mut since = None;
    for (position, json) in rows {
        let membership = serde_json::from_str::<Member>(&json)
            .ok()
            .and_then(|m| m.content.membership);
        if membership.as_deref() != Some("join") {
            break;
        }
        since = Some(position);
    }
    Ok(since)
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
        // Two equalities, not `eq_any`: SQLite gets `IN` lists as a list of binds, which
        // diesel does not keep prepared, and this runs in every room of every sync.
        .filter(
            receipts::receipt_type
                .eq("m.read")
                .or(receipts::receipt_type.eq("m.read.private")),
        )
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

/// Notifications and highlights in positions `(position, up_to]`, per timeline (only
/// `timeline`'s when given). The caller has made `position` no earlier than the user's join:
/// what a broadcast stands for covers the members joined at its event. A broadcast counts
/// unless the user sent it or has an exception row for it; exception rows that notify count
/// on their own.
fn counts_between(
    conn: &mut DbConnection,
    room: &str,
    user: &str,
    position: i64,
    up_to: i64,
    timeline: Option<&Timeline>,
) -> QueryResult<Tally> {
    let mut broadcasts = event_push_broadcasts::table
        .filter(event_push_broadcasts::room_id.eq(room))
        .filter(event_push_broadcasts::stream_ordering.gt(position))
        .filter(event_push_broadcasts::stream_ordering.le(up_to))
        .filter(event_push_broadcasts::sender.ne(user))
        .group_by((
            event_push_broadcasts::thread_id,
            event_push_broadcasts::highlight,
        ))
        .select((
            event_push_broadcasts::thread_id,
            event_push_broadcasts::highlight,
            count_star(),
        ))
        .into_boxed();
    let mut overridden = event_push_actions::table
        .inner_join(
            event_push_broadcasts::table.on(event_push_broadcasts::room_id
                .eq(event_push_actions::room_id)
                .and(
                    event_push_broadcasts::stream_ordering.eq(event_push_actions::stream_ordering),
                )),
        )
        .filter(event_push_actions::room_id.eq(room))
        .filter(event_push_actions::user_id.eq(user))
        .filter(event_push_actions::stream_ordering.gt(position))
        .filter(event_push_actions::stream_ordering.le(up_to))
        .group_by((
            event_push_broadcasts::thread_id,
            event_push_broadcasts::highlight,
        ))
        .select((
            event_push_broadcasts::thread_id,
            event_push_broadcasts::highlight,
            count_star(),
        ))
        .into_boxed();
    let mut own = event_push_actions::table
        .filter(event_push_actions::room_id.eq(room))
        .filter(event_push_actions::user_id.eq(user))
        .filter(event_push_actions::stream_ordering.gt(position))
        .filter(event_push_actions::stream_ordering.le(up_to))
        .filter(event_push_actions::notify)
        .group_by((event_push_actions::thread_id, event_push_actions::highlight))
        .select((
            event_push_actions::thread_id,
            event_push_actions::highlight,
            count_star(),
        ))
        .into_boxed();
    match timeline {
        None => {}
        Some(None) => {
            broadcasts = broadcasts.filter(event_push_broadcasts::thread_id.is_null());
            overridden = overridden.filter(event_push_broadcasts::thread_id.is_null());
            own = own.filter(event_push_actions::thread_id.is_null());
        }
        Some(Some(root)) => {
            broadcasts = broadcasts.filter(event_push_broadcasts::thread_id.eq(root.clone()));
            overridden = overridden.filter(event_push_broadcasts::thread_id.eq(root.clone()));
            own = own.filter(event_push_actions::thread_id.eq(root.clone()));
        }
    }
    let broadcasts: Vec<(Timeline, bool, i64)> = broadcasts.load(conn)?;
    let overridden: Vec<(Timeline, bool, i64)> = overridden.load(conn)?;
    let own: Vec<(Timeline, bool, i64)> = own.load(conn)?;
    let mut tally: HashMap<Timeline, (i64, i64)> = HashMap::new();
    let mut add = |rows: Vec<(Timeline, bool, i64)>, sign: i64| {
        for (timeline, highlight, n) in rows {
            let entry = tally.entry(timeline).or_default();
            entry.0 += sign * n;
            if highlight {
                entry.1 += sign * n;
            }
        }
    };
    add(broadcasts, 1);
    add(overridden, -1);
    add(own, 1);
    Ok(tally)
}
