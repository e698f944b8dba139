//! Client-Server API handlers, one module per area.

mod account;
mod discovery;
mod session;

use super::router::Router;

pub fn register(router: &mut Router) {
    account::register(router);
    discovery::register(router);
    session::register(router);
}
