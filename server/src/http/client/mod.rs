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
use crate::service::{Error, ErrorKind};

/// A part of a request ruma leaves raw, as the client's own JSON: keys and backup data are
/// stored as sent (signatures cover exact fields). `what` names it in the error.
fn raw_json<T>(raw: &ruma::serde::Raw<T>, what: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(raw.json().get())
        .map_err(|e| Error::new(ErrorKind::BadJson, format!("{what}: {e}")))
}

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
