use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{
    Database, Stream, lock_stream,
    schema::{to_device, to_device_txns},
};
use crate::storage::{Error, ErrorKind, QueuedToDevice, ToDeviceMessage, ToDeviceStore};

#[async_trait]
impl ToDeviceStore for Database {
    async fn queue_to_device(
        &self,
        sender: &str,
        sender_device: &str,
        txn_id: &str,
        messages: Vec<ToDeviceMessage>,
    ) -> Result<bool, Error> {
        let (sender, device, txn) = (
            sender.to_owned(),
            sender_device.to_owned(),
            txn_id.to_owned(),
        );
        let queued = self
            .write(move |conn| {
                lock_stream(conn, Stream::ToDevice)?;
                diesel::insert_into(to_device_txns::table)
                    .values((
                        to_device_txns::user_id.eq(&sender),
                        to_device_txns::device_id.eq(&device),
                        to_device_txns::txn_id.eq(&txn),
                    ))
                    .execute(conn)?;
                for message in &messages {
                    diesel::insert_into(to_device::table)
                        .values((
                            to_device::user_id.eq(&message.user_id),
                            to_device::device_id.eq(&message.device_id),
                            to_device::sender.eq(&message.sender),
                            to_device::event_type.eq(&message.event_type),
                            to_device::content.eq(message.content.to_string()),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await;
        match queued {
            Ok(()) => Ok(true),
            // The transaction id row is the first insert: a conflict there is a retry.
            Err(e) if e.kind == ErrorKind::Conflict => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn to_device_after(
        &self,
        user_id: &str,
        device_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<QueuedToDevice>, Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        let rows: Vec<(i64, String, String, String)> = self
            .read(move |conn| {
                to_device::table
                    .filter(to_device::user_id.eq(user))
                    .filter(to_device::device_id.eq(device))
                    .filter(to_device::stream_id.gt(after))
                    .order(to_device::stream_id.asc())
                    .limit(limit)
                    .select((
                        to_device::stream_id,
                        to_device::sender,
                        to_device::event_type,
                        to_device::content,
                    ))
                    .load(conn)
            })
            .await?;
        rows.into_iter()
            .map(|(stream_id, sender, event_type, content)| {
                Ok(QueuedToDevice {
                    stream_id,
                    sender,
                    event_type,
                    content: serde_json::from_str(&content)
                        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?,
                })
            })
            .collect()
    }

    async fn ack_to_device(&self, user_id: &str, device_id: &str, up_to: i64) -> Result<(), Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        self.write(move |conn| {
            diesel::delete(
                to_device::table
                    .filter(to_device::user_id.eq(user))
                    .filter(to_device::device_id.eq(device))
                    .filter(to_device::stream_id.le(up_to)),
            )
            .execute(conn)?;
            Ok(())
        })
        .await
    }
}
