//! Reading the timeline: single events, `/messages` pages and `/context`.

use ruma::api::client::{
    context::get_context,
    message::get_message_events,
    room::{get_event_by_timestamp, get_room_event},
};
use serde_json::Value;

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser, filter::EventFilter},
};

pub fn register(router: &mut Router) {
    // Events are served in the client format built by the service (see `endpoint_authed_json`).
    router.endpoint_authed_json(get_room_event);
    router.endpoint_authed_json(get_message_events);
    router.endpoint_authed_json(get_context);
    router.endpoint_authed(timestamp_to_event);
}

/// `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`
async fn get_room_event(
    state: AppState,
    user: AuthedUser,
    request: get_room_event::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .timeline
        .get_event(&user, request.room_id.as_str(), request.event_id.as_str())
        .await
}

/// `GET /_matrix/client/v3/rooms/{roomId}/messages`
async fn get_message_events(
    state: AppState,
    user: AuthedUser,
    request: get_message_events::v3::Request,
) -> Result<Value, Error> {
    let backwards = request.dir == ruma::api::Direction::Backward;
    let filter = EventFilter::from_json(
        &serde_json::to_value(&request.filter).map_err(|e| Error::internal(e.to_string()))?,
    );
    let limit = i64::try_from(u64::from(request.limit)).unwrap_or(1000);
    state
        .services
        .timeline
        .messages(
            &user,
            request.room_id.as_str(),
            request.from.as_deref(),
            backwards,
            limit,
            &filter,
        )
        .await
}

/// `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`
async fn get_context(
    state: AppState,
    user: AuthedUser,
    request: get_context::v3::Request,
) -> Result<Value, Error> {
    let limit = i64::try_from(u64::from(request.limit)).unwrap_or(i64::MAX);
    state
        .services
        .timeline
        .context(
            &user,
            request.room_id.as_str(),
            request.event_id.as_str(),
            limit,
        )
        .await
}

/// `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`
async fn timestamp_to_event(
    state: AppState,
    user: AuthedUser,
    request: get_event_by_timestamp::v1::Request,
) -> Result<get_event_by_timestamp::v1::Response, Error> {
    let ts = i64::try_from(u64::from(request.ts.0)).unwrap_or(i64::MAX);
    let forward = request.dir == ruma::api::Direction::Forward;
    let (event_id, found_ts) = state
        .services
        .timeline
        .event_near_ts(&user, request.room_id.as_str(), ts, forward)
        .await?;
    let event_id =
        ruma::OwnedEventId::try_from(event_id).map_err(|e| Error::internal(e.to_string()))?;
    let found_ts = ruma::UInt::try_from(found_ts.max(0) as u64).unwrap_or_default();
    Ok(get_event_by_timestamp::v1::Response::new(
        event_id,
        ruma::MilliSecondsSinceUnixEpoch(found_ts),
    ))
}
