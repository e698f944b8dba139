//! Event relationships: `/relations` (three path shapes) and `/threads`.

use ruma::api::{
    Direction,
    client::{
        relations::{
            get_relating_events, get_relating_events_with_rel_type,
            get_relating_events_with_rel_type_and_event_type,
        },
        threads::get_threads,
    },
};
use serde_json::Value;

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser, relations::RelationsRequest},
};

pub fn register(router: &mut Router) {
    // Events are served in the client format built by the service (see `endpoint_authed_json`).
    router.endpoint_authed_json(relations);
    router.endpoint_authed_json(relations_with_type);
    router.endpoint_authed_json(relations_with_type_and_event_type);
    router.endpoint_authed_json(threads);
}

/// Page size when the client gives none (the spec leaves it to the server).
const DEFAULT_LIMIT: i64 = 20;

fn limit(value: Option<ruma::UInt>) -> i64 {
    value.map_or(DEFAULT_LIMIT, |v| {
        i64::try_from(u64::from(v)).unwrap_or(i64::MAX)
    })
}

/// The paging fields the three `/relations` shapes share.
fn page(
    rel_type: Option<String>,
    event_type: Option<String>,
    (from, to, dir, page_limit, recurse): (
        Option<String>,
        Option<String>,
        Direction,
        Option<ruma::UInt>,
        bool,
    ),
) -> RelationsRequest {
    RelationsRequest {
        rel_type,
        event_type,
        from,
        to,
        backwards: dir == Direction::Backward,
        limit: limit(page_limit),
        recurse,
    }
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}`
async fn relations(
    state: AppState,
    user: AuthedUser,
    r: get_relating_events::v1::Request,
) -> Result<Value, Error> {
    let request = page(None, None, (r.from, r.to, r.dir, r.limit, r.recurse));
    state
        .services
        .relations
        .relations(&user, r.room_id.as_str(), r.event_id.as_str(), request)
        .await
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}`
async fn relations_with_type(
    state: AppState,
    user: AuthedUser,
    r: get_relating_events_with_rel_type::v1::Request,
) -> Result<Value, Error> {
    let request = page(
        Some(r.rel_type.to_string()),
        None,
        (r.from, r.to, r.dir, r.limit, r.recurse),
    );
    state
        .services
        .relations
        .relations(&user, r.room_id.as_str(), r.event_id.as_str(), request)
        .await
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}`
async fn relations_with_type_and_event_type(
    state: AppState,
    user: AuthedUser,
    r: get_relating_events_with_rel_type_and_event_type::v1::Request,
) -> Result<Value, Error> {
    let request = page(
        Some(r.rel_type.to_string()),
        Some(r.event_type.to_string()),
        (r.from, r.to, r.dir, r.limit, r.recurse),
    );
    state
        .services
        .relations
        .relations(&user, r.room_id.as_str(), r.event_id.as_str(), request)
        .await
}

/// `GET /_matrix/client/v1/rooms/{roomId}/threads`
async fn threads(
    state: AppState,
    user: AuthedUser,
    r: get_threads::v1::Request,
) -> Result<Value, Error> {
    let participated = r.include == get_threads::v1::IncludeThreads::Participated;
    state
        .services
        .relations
        .threads(
            &user,
            r.room_id.as_str(),
            participated,
            r.from.as_deref(),
            limit(r.limit),
        )
        .await
}
