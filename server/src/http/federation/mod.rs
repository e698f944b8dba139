//! Server-Server API handlers. Only discovery exists yet; it is served on the client listener
//! because `/.well-known/matrix/server` is fetched from the server name's HTTPS port, which is
//! where a reverse proxy forwards the client API.

mod discovery;

use super::router::Router;

pub fn register_discovery(router: &mut Router) {
    discovery::register(router);
}
