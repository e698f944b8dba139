//! Wakes long-polling readers (`/sync`) when an event is persisted. In one process this is a
//! watch channel of the latest stream position; across workers it will be fed from Redis.

use tokio::sync::watch;

pub struct Notifier {
    tx: watch::Sender<i64>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            tx: watch::Sender::new(0),
        }
    }
}

impl Notifier {
    /// Announces that everything up to `position` is persisted.
    pub fn publish(&self, position: i64) {
        self.tx.send_if_modified(|current| {
            if position > *current {
                *current = position;
                true
            } else {
                false
            }
        });
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.tx.subscribe()
    }
}
