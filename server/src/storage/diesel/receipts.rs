use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{Database, Stream, lock_stream, schema::receipts};
use crate::storage::{Error, Receipt, ReceiptStore};

#[async_trait]
impl ReceiptStore for Database {
    async fn put_receipt(&self, receipt: Receipt) -> Result<i64, Error> {
        self.write(move |conn| {
            lock_stream(conn, Stream::Receipts)?;
            let last: Option<i64> = receipts::table
                .select(diesel::dsl::max(receipts::stream_id))
                .first(conn)?;
            let stream_id = last.unwrap_or(0) + 1;
            diesel::delete(
                receipts::table
                    .filter(receipts::room_id.eq(&receipt.room_id))
                    .filter(receipts::user_id.eq(&receipt.user_id))
                    .filter(receipts::receipt_type.eq(&receipt.receipt_type))
                    .filter(receipts::thread_id.eq(&receipt.thread_id)),
            )
            .execute(conn)?;
            diesel::insert_into(receipts::table)
                .values((
                    receipts::room_id.eq(&receipt.room_id),
                    receipts::user_id.eq(&receipt.user_id),
                    receipts::receipt_type.eq(&receipt.receipt_type),
                    receipts::thread_id.eq(&receipt.thread_id),
                    receipts::event_id.eq(&receipt.event_id),
                    receipts::ts.eq(receipt.ts),
                    receipts::stream_id.eq(stream_id),
                ))
                .execute(conn)?;
            Ok(stream_id)
        })
        .await
    }

    async fn receipts_after(&self, room_id: &str, after: i64) -> Result<Vec<Receipt>, Error> {
        let room = room_id.to_owned();
        let rows: Vec<(String, String, String, String, String, i64, i64)> = self
            .read(move |conn| {
                receipts::table
                    .filter(receipts::room_id.eq(room))
                    .filter(receipts::stream_id.gt(after))
                    .order(receipts::stream_id)
                    .select((
                        receipts::room_id,
                        receipts::user_id,
                        receipts::receipt_type,
                        receipts::thread_id,
                        receipts::event_id,
                        receipts::ts,
                        receipts::stream_id,
                    ))
                    .load(conn)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(room_id, user_id, receipt_type, thread_id, event_id, ts, stream_id)| Receipt {
                    room_id,
                    user_id,
                    receipt_type,
                    thread_id,
                    event_id,
                    ts,
                    stream_id,
                },
            )
            .collect())
    }
}
