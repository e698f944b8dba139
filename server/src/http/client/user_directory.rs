//! `POST /_matrix/client/v3/user_directory/search`.

use ruma::api::client::user_directory::search_users;
use serde_json::Value;

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    // Results are built by the service as the spec's JSON.
    router.endpoint_authed_json(search);
}

async fn search(
    state: AppState,
    user: AuthedUser,
    request: search_users::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .user_directory
        .search(&user, &request.search_term, u64::from(request.limit))
        .await
}
