//! `GET /.well-known/matrix/server`

use ruma::{OwnedServerName, api::federation::discovery::discover_homeserver};

use crate::{
    http::{AppState, router::Router},
    service::Error,
};

pub fn register(router: &mut Router) {
    router.endpoint(discover_homeserver);
}

/// `GET /.well-known/matrix/server`
async fn discover_homeserver(
    state: AppState,
    _request: discover_homeserver::Request,
) -> Result<discover_homeserver::Response, Error> {
    let delegation = state.services.discovery.server_delegation();
    let server = OwnedServerName::try_from(delegation)
        .map_err(|e| Error::internal(format!("well_known.server `{delegation}`: {e}")))?;
    Ok(discover_homeserver::Response::new(server))
}
