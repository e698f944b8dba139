//! Reporting events, rooms and users to the server's administrators.
//!
//! An event can be reported only by someone joined to its room and able to see it; a room by
//! anyone, if the room exists here; a user by anyone, if the user exists here (remote users
//! cannot be checked without federation and are accepted). Reports are stored for the
//! administrators; nothing is sent to the reported party.

use ruma::UserId;

use super::{
    Error, ErrorKind, accounts::AuthedUser, clock::now_ms, text::truncate_utf8,
    visibility::HistoryView,
};
use crate::storage::{Report, Stores};

/// Longest reason kept; the rest is cut off.
const MAX_REASON_BYTES: usize = 4096;

pub struct ReportService {
    stores: Stores,
    server_name: ruma::OwnedServerName,
}

impl ReportService {
    pub fn new(server_name: ruma::OwnedServerName, stores: Stores) -> Self {
        Self {
            stores,
            server_name,
        }
    }

    pub async fn report_event(
        &self,
        user: &AuthedUser,
        room_id: &str,
        event_id: &str,
        reason: Option<String>,
    ) -> Result<(), Error> {
        let not_found = || {
            Error::new(
                ErrorKind::NotFound,
                "The event was not found or you are not joined to its room",
            )
        };
        let joined = self
            .stores
            .rooms
            .room_member(room_id, user.user_id.as_str())
            .await?
            .is_some_and(|(m, _)| m == "join");
        if !joined {
            return Err(not_found());
        }
        let view = HistoryView::load(&self.stores, room_id, user.user_id.as_str()).await?;
        let visible = self
            .stores
            .rooms
            .get_event(event_id)
            .await?
            .is_some_and(|e| e.room_id == room_id && view.may_see(&e));
        if !visible {
            return Err(not_found());
        }
        self.store(
            user,
            Some(room_id),
            Some(event_id),
            None,
            reason.unwrap_or_default(),
        )
        .await
    }

    pub async fn report_room(
        &self,
        user: &AuthedUser,
        room_id: &str,
        reason: String,
    ) -> Result<(), Error> {
        if self.stores.rooms.get_room(room_id).await?.is_none() {
            return Err(Error::new(ErrorKind::NotFound, "Unknown room"));
        }
        self.store(user, Some(room_id), None, None, reason).await
    }

    pub async fn report_user(
        &self,
        user: &AuthedUser,
        target: &UserId,
        reason: String,
    ) -> Result<(), Error> {
        if target.server_name() == self.server_name
            && self.stores.users.get_user(target).await?.is_none()
        {
            return Err(Error::new(ErrorKind::NotFound, "Unknown user"));
        }
        self.store(user, None, None, Some(target.as_str()), reason)
            .await
    }

    async fn store(
        &self,
        user: &AuthedUser,
        room_id: Option<&str>,
        event_id: Option<&str>,
        user_id: Option<&str>,
        reason: String,
    ) -> Result<(), Error> {
        let reason = truncate_utf8(reason, MAX_REASON_BYTES);
        self.stores
            .reports
            .add_report(Report {
                reporter: user.user_id.to_string(),
                room_id: room_id.map(str::to_owned),
                event_id: event_id.map(str::to_owned),
                user_id: user_id.map(str::to_owned),
                reason,
                ts: now_ms(),
            })
            .await?;
        tracing::info!(reporter = %user.user_id, ?room_id, ?event_id, ?user_id, "content reported");
        Ok(())
    }
}
