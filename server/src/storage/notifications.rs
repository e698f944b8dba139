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

impl UnreadCounts {
    pub fn is_empty(&self) -> bool {
        self.notifications == 0 && self.highlights == 0
    }
}

impl std::ops::AddAssign for UnreadCounts {
    fn add_assign(&mut self, other: Self) {
        self.notifications += other.notifications;
        self.highlights += other.highlights;
    }
}

/// A room's unread notifications for one user: the main timeline's, and each thread's (by
/// root event id) that has any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomUnread {
    pub main: UnreadCounts,
    pub threads: std::collections::BTreeMap<String, UnreadCounts>,
}

impl RoomUnread {
    /// Main timeline and threads together, for clients that did not ask for threads apart.
    pub fn total(&self) -> UnreadCounts {
        let mut total = self.main;
        for counts in self.threads.values() {
            total += *counts;
        }
        total
    }
}

/// Push actions are written by `RoomStore::append_event`, each tagged with its event's
/// thread; this trait counts them.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Notifications for the user after their read receipts (public or private) in the room.
    /// An unthreaded receipt reads everything before it; a threaded one (`main` or a thread
    /// root) reads only its own timeline: each count starts after the later of the two.
    async fn unread_counts(&self, room_id: &str, user_id: &str) -> Result<RoomUnread, Error>;
}
