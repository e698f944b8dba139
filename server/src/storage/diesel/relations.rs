use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{
    Database,
    rooms::{STORED_EVENT, stored_events},
    schema::{event_relations, events},
};
use crate::storage::{Error, RelationQuery, RelationRow, RelationStore, StoredEvent};

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
);

#[async_trait]
impl RelationStore for Database {
    async fn relations_to(&self, targets: Vec<String>) -> Result<Vec<RelationRow>, Error> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .read(move |conn| {
                let mut rows = Vec::new();
                // Bounded IN lists: SQLite limits bound parameters per statement.
                for chunk in targets.chunks(500) {
                    rows.extend(
                        event_relations::table
                            .filter(event_relations::relates_to.eq_any(chunk))
                            .order(event_relations::stream_ordering.asc())
                            .select((
                                event_relations::event_id,
                                event_relations::room_id,
                                event_relations::relates_to,
                                event_relations::rel_type,
                                event_relations::event_type,
                                event_relations::sender,
                                event_relations::aggregation_key,
                                event_relations::origin_server_ts,
                                event_relations::stream_ordering,
                            ))
                            .load::<Row>(conn)?,
                    );
                }
                Ok(rows)
            })
            .await?;
        let mut rows: Vec<RelationRow> = rows
            .into_iter()
            .map(
                |(
                    event_id,
                    room_id,
                    relates_to,
                    rel_type,
                    event_type,
                    sender,
                    aggregation_key,
                    origin_server_ts,
                    stream_ordering,
                )| RelationRow {
                    event_id,
                    room_id,
                    relates_to,
                    rel_type,
                    event_type,
                    sender,
                    aggregation_key,
                    origin_server_ts,
                    stream_ordering,
                },
            )
            .collect();
        rows.sort_by_key(|r| r.stream_ordering);
        Ok(rows)
    }

    async fn relation_page(&self, query: RelationQuery) -> Result<Vec<StoredEvent>, Error> {
        let rows: Vec<(String, String, i64, String)> = self
            .read(move |conn| {
                let mut q = event_relations::table
                    .inner_join(events::table.on(events::event_id.eq(event_relations::event_id)))
                    .filter(event_relations::room_id.eq(query.room_id))
                    .filter(event_relations::relates_to.eq(query.relates_to))
                    .into_boxed();
                if let Some(rel_type) = query.rel_type {
                    q = q.filter(event_relations::rel_type.eq(rel_type));
                }
                if let Some(event_type) = query.event_type {
                    q = q.filter(event_relations::event_type.eq(event_type));
                }
                let ordering = event_relations::stream_ordering;
                if query.backwards {
                    if let Some(from) = query.from {
                        q = q.filter(ordering.lt(from));
                    }
                    if let Some(to) = query.to {
                        q = q.filter(ordering.ge(to));
                    }
                    q = q.order(ordering.desc());
                } else {
                    if let Some(from) = query.from {
                        q = q.filter(ordering.gt(from));
                    }
                    if let Some(to) = query.to {
                        q = q.filter(ordering.le(to));
                    }
                    q = q.order(ordering.asc());
                }
                q.limit(query.limit).select(STORED_EVENT).load(conn)
            })
            .await?;
        stored_events(rows)
    }

    async fn thread_roots(
        &self,
        room_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, Error> {
        let room = room_id.to_owned();
        self.read(move |conn| {
            let latest = diesel::dsl::max(event_relations::stream_ordering);
            let mut q = event_relations::table
                .filter(event_relations::room_id.eq(room))
                .filter(event_relations::rel_type.eq("m.thread"))
                .group_by(event_relations::relates_to)
                .select((event_relations::relates_to, latest))
                .order(latest.desc())
                .limit(limit)
                .into_boxed();
            if let Some(before) = before {
                q = q.having(latest.lt(before));
            }
            let rows: Vec<(String, Option<i64>)> = q.load(conn)?;
            Ok(rows
                .into_iter()
                .filter_map(|(root, latest)| latest.map(|l| (root, l)))
                .collect())
        })
        .await
    }
}
