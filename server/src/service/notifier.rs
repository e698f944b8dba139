//! Wakes long-polling readers (`/sync`) when anything they report changes: an event persisted,
//! a typing notification. In one process this is a watch channel of a change counter; across
//! workers it will be fed from Redis.

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
    /// Wakes every waiter.
    pub fn wake(&self) {
        self.tx.send_modify(|counter| *counter += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.tx.subscribe()
    }
}
