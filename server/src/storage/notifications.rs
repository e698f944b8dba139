use async_trait::async_trait;

use super::Error;

/// One member an event notifies, as their push rules decided at append time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAction {
    pub user_id: String,
    pub highlight: bool,
}

/// Unread notifications in one room for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnreadCounts {
    pub notifications: u64,
    pub highlights: u64,
}

/// Push actions are written by `RoomStore::append_event`; this trait counts them.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Notifications for the user after their latest read receipt (public or private) in the
    /// room, or since the room began when they have none.
    async fn unread_counts(&self, room_id: &str, user_id: &str) -> Result<UnreadCounts, Error>;
}
