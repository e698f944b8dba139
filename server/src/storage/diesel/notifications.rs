use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{
    Database,
    schema::{event_push_actions, events, receipts},
};
use crate::storage::{Error, NotificationStore, UnreadCounts};

#[async_trait]
impl NotificationStore for Database {
    async fn unread_counts(&self, room_id: &str, user_id: &str) -> Result<UnreadCounts, Error> {
        let (room, user) = (room_id.to_owned(), user_id.to_owned());
        let (notifications, highlights) = self
            .read(move |conn| {
                let read_up_to: Option<i64> = receipts::table
                    .inner_join(events::table.on(events::event_id.eq(receipts::event_id)))
                    .filter(receipts::room_id.eq(&room))
                    .filter(receipts::user_id.eq(&user))
                    .filter(receipts::receipt_type.eq_any(["m.read", "m.read.private"]))
                    .select(diesel::dsl::max(events::stream_ordering))
                    .first(conn)?;
                let unread = event_push_actions::table
                    .filter(event_push_actions::room_id.eq(&room))
                    .filter(event_push_actions::user_id.eq(&user))
                    .filter(event_push_actions::stream_ordering.gt(read_up_to.unwrap_or(0)));
                let notifications: i64 = unread.count().get_result(conn)?;
                let highlights: i64 = unread
                    .filter(event_push_actions::highlight.eq(true))
                    .count()
                    .get_result(conn)?;
                Ok((notifications, highlights))
            })
            .await?;
        Ok(UnreadCounts {
            notifications: u64::try_from(notifications).unwrap_or(0),
            highlights: u64::try_from(highlights).unwrap_or(0),
        })
    }
}
