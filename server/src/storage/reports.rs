use async_trait::async_trait;

use super::Error;

/// A report to the server's administrators: of an event (room and event set), a room (room
/// only) or a user (user only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub reporter: String,
    pub room_id: Option<String>,
    pub event_id: Option<String>,
    pub user_id: Option<String>,
    pub reason: String,
    pub ts: i64,
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    async fn add_report(&self, report: Report) -> Result<(), Error>;
    /// Every report, oldest first (for administrators and tests).
    async fn reports(&self) -> Result<Vec<Report>, Error>;
}
