//! Domain logic. Invariant: services speak in domain terms only. They reach the database
//! through the traits in `storage`, report failures as an [`ErrorKind`], and leave the web
//! framework, SQL and the wire form of errors to `http` and `storage` (`ci/check-layers.sh`).

pub mod account_data;
pub mod accounts;
pub mod aliases;
mod append;
mod clock;
pub mod device_lists;
pub mod discovery;
pub mod e2e_keys;
mod error;
pub mod event_cache;
pub mod filter;
pub mod health;
mod ids;
pub mod key_backup;
pub mod media;
pub mod notifier;
pub mod presence;
pub mod profiles;
pub mod push;
pub mod rate_limit;
pub mod relations;
pub mod reports;
pub mod room_directory;
pub mod room_state;
pub mod room_upgrade;
pub mod rooms;
pub mod server_keys;
pub mod spaces;
pub mod sync;
mod text;
pub mod thumbnail;
pub mod timeline;
pub mod to_device;
pub mod typing;
pub mod user_directory;
pub mod visibility;

use std::sync::Arc;

pub use error::{Error, ErrorKind};

use crate::{
    cache::RedisCache,
    config::Config,
    core::signing::SigningKey,
    storage::{Stores, media_files::MediaFiles},
};

/// Every service, built once at start and shared by all requests.
pub struct Services {
    pub account_data: Arc<account_data::AccountDataService>,
    pub aliases: aliases::AliasService,
    pub room_directory: room_directory::RoomDirectoryService,
    pub accounts: accounts::AccountService,
    pub discovery: discovery::DiscoveryService,
    pub keys: Arc<e2e_keys::KeyService>,
    pub health: health::HealthService,
    pub media: media::MediaService,
    pub presence: Arc<presence::PresenceService>,
    pub profiles: profiles::ProfileService,
    pub push: Arc<push::PushService>,
    pub relations: relations::RelationsService,
    pub reports: reports::ReportService,
    pub rooms: Arc<rooms::RoomService>,
    pub room_upgrades: room_upgrade::RoomUpgradeService,
    pub room_state: room_state::RoomStateService,
    pub sync: sync::SyncService,
    pub timeline: timeline::TimelineService,
    pub to_device: Arc<to_device::ToDeviceService>,
    pub typing: Arc<typing::TypingService>,
    pub device_lists: Arc<device_lists::DeviceListService>,
    pub key_backups: key_backup::KeyBackupService,
    pub rate_limiter: rate_limit::RateLimiter,
    pub user_directory: user_directory::UserDirectoryService,
    pub spaces: spaces::SpaceService,
    pub signing_key: Arc<SigningKey>,
    pub stores: Stores,
}

impl Services {
    pub fn new(
        config: &Config,
        stores: Stores,
        redis: Option<RedisCache>,
        signing_key: SigningKey,
    ) -> Self {
        let signing_key = Arc::new(signing_key);
        let notifier = Arc::new(notifier::Notifier::default());
        let typing = Arc::new(typing::TypingService::new(notifier.clone()));
        let account_data = Arc::new(account_data::AccountDataService::new(
            stores.clone(),
            notifier.clone(),
        ));
        let push = Arc::new(push::PushService::new(stores.clone(), account_data.clone()));
        let presence = Arc::new(presence::PresenceService::new(
            stores.clone(),
            notifier.clone(),
        ));
        let keys = Arc::new(e2e_keys::KeyService::new(
            config.server_name.clone(),
            stores.clone(),
            notifier.clone(),
        ));
        let device_lists = Arc::new(device_lists::DeviceListService::new(stores.clone()));
        let to_device = Arc::new(to_device::ToDeviceService::new(
            config.server_name.clone(),
            stores.clone(),
            notifier.clone(),
        ));
        let event_cache = Arc::new(event_cache::EventCache::default());
        let rooms = Arc::new(rooms::RoomService::new(
            config.server_name.clone(),
            stores.clone(),
            signing_key.clone(),
            notifier.clone(),
            push.clone(),
            event_cache.clone(),
        ));
        Self {
            room_upgrades: room_upgrade::RoomUpgradeService::new(rooms.clone(), stores.clone()),
            rooms,
            push,
            relations: relations::RelationsService::new(stores.clone()),
            reports: reports::ReportService::new(config.server_name.clone(), stores.clone()),
            room_directory: room_directory::RoomDirectoryService::new(stores.clone()),
            room_state: room_state::RoomStateService::new(stores.clone()),
            aliases: aliases::AliasService::new(config.server_name.clone(), stores.clone()),
            account_data,
            sync: sync::SyncService::new(
                stores.clone(),
                notifier.clone(),
                typing.clone(),
                presence.clone(),
                to_device.clone(),
                keys.clone(),
                device_lists.clone(),
                event_cache,
            ),
            device_lists,
            key_backups: key_backup::KeyBackupService::new(stores.clone()),
            keys,
            presence,
            to_device,
            timeline: timeline::TimelineService::new(stores.clone()),
            typing,
            accounts: accounts::AccountService::new(config, stores.clone()),
            discovery: discovery::DiscoveryService::new(config),
            health: health::HealthService::new(stores.health.clone(), redis),
            rate_limiter: rate_limit::RateLimiter::new(&config.rate_limits),
            user_directory: user_directory::UserDirectoryService::new(stores.clone()),
            profiles: profiles::ProfileService::new(stores.clone()),
            spaces: spaces::SpaceService::new(stores.clone()),
            media: media::MediaService::new(
                config.server_name.clone(),
                stores.clone(),
                MediaFiles::new(config.media_store_path()),
                config.media.clone(),
            ),
            signing_key,
            stores,
        }
    }
}
