use async_trait::async_trait;

use super::Error;

/// What push rules decided an event does for one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notify {
    #[default]
    No,
    Yes,
    /// Notifies and highlights.
    Highlight,
}

/// One member whose push rules decided otherwise than `Notifications::everyone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAction {
    pub user_id: String,
    pub notify: Notify,
}

/// Whom a new event notifies. Most members run the default rules and are not named by the
/// event, so one outcome stands for all of them and only the others are listed: the cost of
/// a send does not grow with the room's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifications {
    /// The outcome for every member joined when the event is appended, except its sender
    /// and the members in `exceptions`.
    pub everyone: Notify,
    pub exceptions: Vec<PushAction>,
}

impl Notifications {
    pub fn is_empty(&self) -> bool {
        self.everyone == Notify::No && self.exceptions.is_empty()
    }
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

/// Notifications are written by `RoomStore::append_event`, each tagged with its event's
/// thread; this trait counts them.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Notifications for the user after their read receipts (public or private) in the room,
    /// since the join that began their current membership (nothing when not joined).
    /// An unthreaded receipt reads everything before it; a threaded one (`main` or a thread
    /// root) reads only its own timeline: each count starts after the later of the two.
    /// Counts events up to position `up_to`, which must already be committed (a position the
    /// caller read, such as a sync's `now`): what is counted up to it is kept and extended.
    async fn unread_counts(
        &self,
        room_id: &str,
        user_id: &str,
        up_to: i64,
    ) -> Result<RoomUnread, Error>;
}
