use ::diesel::{dsl::max, prelude::*};
use async_trait::async_trait;

use super::{
    Database,
    schema::{account_data, device_list_changes, events, receipts, to_device},
};
use crate::storage::{Error, StreamHeads, StreamStore};

#[async_trait]
impl StreamStore for Database {
    async fn stream_heads(&self) -> Result<StreamHeads, Error> {
        type Heads = (
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let (events, receipts, account_data, device_lists, to_device): Heads = self
            .read(|conn| {
                diesel::select((
                    events::table
                        .select(max(events::stream_ordering))
                        .single_value(),
                    receipts::table
                        .select(max(receipts::stream_id))
                        .single_value(),
                    account_data::table
                        .select(max(account_data::stream_id))
                        .single_value(),
                    device_list_changes::table
                        .select(max(device_list_changes::stream_id))
                        .single_value(),
                    to_device::table
                        .select(max(to_device::stream_id))
                        .single_value(),
                ))
                .get_result(conn)
            })
            .await?;
        Ok(StreamHeads {
            events: events.unwrap_or(0),
            receipts: receipts.unwrap_or(0),
            account_data: account_data.unwrap_or(0),
            device_lists: device_lists.unwrap_or(0),
            to_device: to_device.unwrap_or(0),
        })
    }
}
