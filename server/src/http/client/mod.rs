//! Client-Server API handlers, one module per area.

mod account;
mod account_data;
mod capabilities;
mod devices;
mod directory;
mod discovery;
mod key_backup;
mod keys;
mod presence;
mod profile;
mod push;
mod relations;
mod reporting;
mod rooms;
mod session;
mod sync;
mod timeline;
mod to_device;
mod uia;
mod user_directory;

use super::router::Router;

pub fn register(router: &mut Router) {
    account::register(router);
    account_data::register(router);
    capabilities::register(router);
    devices::register(router);
    directory::register(router);
    discovery::register(router);
    key_backup::register(router);
    keys::register(router);
    presence::register(router);
    profile::register(router);
    push::register(router);
    relations::register(router);
    reporting::register(router);
    rooms::register(router);
    session::register(router);
    sync::register(router);
    timeline::register(router);
    to_device::register(router);
    user_directory::register(router);
}
