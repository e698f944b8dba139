//! Account data (global and per room) and room tags.

use ruma::api::client::{
    config::{
        get_global_account_data, get_room_account_data, set_global_account_data,
        set_room_account_data,
    },
    tag::{create_tag, delete_tag, get_tags},
};
use serde_json::{Map, Value};

use super::rooms::object;
use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

/// Global account data is stored under the empty room id.
const GLOBAL: &str = "";

pub fn register(router: &mut Router) {
    router.endpoint_authed(set_global_account_data);
    router.endpoint_authed(set_room_account_data);
    router.endpoint_authed(create_tag);
    router.endpoint_authed(delete_tag);
    // Stored content is served as it was set, not re-shaped by ruma's typed events.
    router.endpoint_authed_json(get_global_account_data);
    router.endpoint_authed_json(get_room_account_data);
    router.endpoint_authed_json(get_tags);
}

/// `PUT /_matrix/client/v3/user/{userId}/account_data/{type}`
async fn set_global_account_data(
    state: AppState,
    user: AuthedUser,
    request: set_global_account_data::v3::Request,
) -> Result<set_global_account_data::v3::Response, Error> {
    let content = Value::Object(object(request.data.json(), "account data")?);
    state
        .services
        .account_data
        .set(
            &user,
            request.user_id.as_str(),
            GLOBAL,
            &request.event_type.to_string(),
            content,
        )
        .await?;
    Ok(set_global_account_data::v3::Response::new())
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
async fn set_room_account_data(
    state: AppState,
    user: AuthedUser,
    request: set_room_account_data::v3::Request,
) -> Result<set_room_account_data::v3::Response, Error> {
    let content = Value::Object(object(request.data.json(), "account data")?);
    state
        .services
        .account_data
        .set(
            &user,
            request.user_id.as_str(),
            request.room_id.as_str(),
            &request.event_type.to_string(),
            content,
        )
        .await?;
    Ok(set_room_account_data::v3::Response::new())
}

/// `GET /_matrix/client/v3/user/{userId}/account_data/{type}`
async fn get_global_account_data(
    state: AppState,
    user: AuthedUser,
    request: get_global_account_data::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .account_data
        .get(
            &user,
            request.user_id.as_str(),
            GLOBAL,
            &request.event_type.to_string(),
        )
        .await
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}`
async fn get_room_account_data(
    state: AppState,
    user: AuthedUser,
    request: get_room_account_data::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .account_data
        .get(
            &user,
            request.user_id.as_str(),
            request.room_id.as_str(),
            &request.event_type.to_string(),
        )
        .await
}

/// `GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags`
async fn get_tags(
    state: AppState,
    user: AuthedUser,
    request: get_tags::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .account_data
        .tags(&user, request.user_id.as_str(), request.room_id.as_str())
        .await
}

/// `PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
async fn create_tag(
    state: AppState,
    user: AuthedUser,
    request: create_tag::v3::Request,
) -> Result<create_tag::v3::Response, Error> {
    let info = match serde_json::to_value(&request.tag_info) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    state
        .services
        .account_data
        .set_tag(
            &user,
            request.user_id.as_str(),
            request.room_id.as_str(),
            &request.tag,
            info,
        )
        .await?;
    Ok(create_tag::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}`
async fn delete_tag(
    state: AppState,
    user: AuthedUser,
    request: delete_tag::v3::Request,
) -> Result<delete_tag::v3::Response, Error> {
    state
        .services
        .account_data
        .delete_tag(
            &user,
            request.user_id.as_str(),
            request.room_id.as_str(),
            &request.tag,
        )
        .await?;
    Ok(delete_tag::v3::Response::new())
}
