//! `GET /_matrix/client/versions` and `GET /.well-known/matrix/client`.

use ruma::api::client::discovery::{discover_homeserver, get_supported_versions};

use crate::{
    http::{AppState, router::Router},
    service::Error,
};

pub fn register(router: &mut Router) {
    router.endpoint(get_supported_versions);
    router.endpoint(discover_homeserver);
}

/// `GET /_matrix/client/versions`
async fn get_supported_versions(
    state: AppState,
    _request: get_supported_versions::Request,
) -> Result<get_supported_versions::Response, Error> {
    let discovery = &state.services.discovery;
    let mut response = get_supported_versions::Response::new(discovery.versions());
    response.unstable_features = discovery.unstable_features();
    Ok(response)
}

/// `GET /.well-known/matrix/client`
async fn discover_homeserver(
    state: AppState,
    _request: discover_homeserver::Request,
) -> Result<discover_homeserver::Response, Error> {
    let base_url = state.services.discovery.client_base_url().to_owned();
    Ok(discover_homeserver::Response::new(
        discover_homeserver::HomeserverInfo::new(base_url),
    ))
}
