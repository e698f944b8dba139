//! Reporting events (`/rooms/{roomId}/report/{eventId}`), rooms (`/rooms/{roomId}/report`)
//! and users (`/users/{userId}/report`).

use ruma::api::client::{
    reporting::report_user,
    room::{report_content, report_room},
};

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    router.endpoint_authed(report_event);
    router.endpoint_authed(report_a_room);
    router.endpoint_authed(report_a_user);
}

/// `POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}`
async fn report_event(
    state: AppState,
    user: AuthedUser,
    request: report_content::v3::Request,
) -> Result<report_content::v3::Response, Error> {
    state
        .services
        .reports
        .report_event(
            &user,
            request.room_id.as_str(),
            request.event_id.as_str(),
            request.reason,
        )
        .await?;
    Ok(report_content::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/report`
async fn report_a_room(
    state: AppState,
    user: AuthedUser,
    request: report_room::v3::Request,
) -> Result<report_room::v3::Response, Error> {
    state
        .services
        .reports
        .report_room(&user, request.room_id.as_str(), request.reason)
        .await?;
    Ok(report_room::v3::Response::new())
}

/// `POST /_matrix/client/v3/users/{userId}/report`
async fn report_a_user(
    state: AppState,
    user: AuthedUser,
    request: report_user::v3::Request,
) -> Result<report_user::v3::Response, Error> {
    state
        .services
        .reports
        .report_user(&user, &request.user_id, request.reason)
        .await?;
    Ok(report_user::v3::Response::new())
}
