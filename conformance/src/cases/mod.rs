//! The cases, one module per spec area. Each case is written from the spec's text; where a
//! widely used server deviates, the case says so.

mod account_data;
mod accounts;
mod api_standards;
mod common;
mod cross_signing;
mod dehydrated_devices;
mod device_lists;
mod devices;
mod directory;
mod discovery;
mod encryption;
mod filters;
mod guests;
mod history;
mod key_backup;
mod keys;
mod media;
mod moderation;
mod presence;
mod profile;
mod push;
mod relations;
mod reporting;
mod rooms;
mod sessions;
mod spaces;
mod sync;
mod to_device;
mod upgrades;
mod user_directory;

use crate::case::Case;

/// Every case, in report order.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(discovery::cases());
    cases.extend(api_standards::cases());
    cases.extend(accounts::cases());
    cases.extend(sessions::cases());
    cases.extend(guests::cases());
    cases.extend(devices::cases());
    cases.extend(profile::cases());
    cases.extend(rooms::cases());
    cases.extend(moderation::cases());
    cases.extend(directory::cases());
    cases.extend(upgrades::cases());
    cases.extend(spaces::cases());
    cases.extend(sync::cases());
    cases.extend(filters::cases());
    cases.extend(history::cases());
    cases.extend(relations::cases());
    cases.extend(push::cases());
    cases.extend(presence::cases());
    cases.extend(user_directory::cases());
    cases.extend(reporting::cases());
    cases.extend(to_device::cases());
    cases.extend(keys::cases());
    cases.extend(device_lists::cases());
    cases.extend(cross_signing::cases());
    cases.extend(encryption::cases());
    cases.extend(key_backup::cases());
    cases.extend(dehydrated_devices::cases());
    cases.extend(account_data::cases());
    cases.extend(media::cases());
    cases
}
