//! Client-Server API handlers, one module per area.

mod discovery;

use super::router::Router;

pub fn register(router: &mut Router) {
    discovery::register(router);
}
