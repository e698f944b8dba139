//! Storage: one trait per aggregate, and `storage::Error`.
//!
//! Invariant: nothing outside `storage::diesel` contains SQL or names a diesel type; services see
//! only these traits. Storage knows nothing about HTTP or Matrix error codes.

mod account_data;
mod aliases;
mod devices;
pub mod diesel;
mod direct;
mod directory;
mod e2e_keys;
mod error;
mod filters;
mod health;
mod key_backup;
mod media;
pub mod media_files;
mod notifications;
mod profiles;
mod receipts;
mod relations;
mod reports;
mod rooms;
mod streams;
mod to_device;
mod users;

use std::sync::Arc;

pub use account_data::{AccountData, AccountDataStore};
pub use aliases::{AliasStore, RoomAlias};
pub use devices::{Device, DeviceStore, TokenOwner};
pub use direct::{DIRECT_SLOTS, is_direct, with_direct_storage};
pub use directory::DirectoryStore;
pub use e2e_keys::{KeySignature, KeyStore, StoredKey};
pub use error::{Error, ErrorKind};
pub use filters::FilterStore;
pub use health::{DatabaseHealth, PoolState};
pub use key_backup::{BackupKey, BackupScope, BackupVersion, BackupWrite, KeyBackupStore};
pub use media::{MediaContentRef, MediaRecord, MediaStore, ThumbnailRecord};
pub use notifications::{
    NotificationStore, Notifications, Notify, PushAction, RoomUnread, UnreadCounts,
};
pub use profiles::ProfileStore;
pub use receipts::{Receipt, ReceiptStore};
pub use relations::{Relation, RelationQuery, RelationRow, RelationStore};
pub use reports::{Report, ReportStore};
pub use rooms::{Append, NewEvent, Room, RoomHead, RoomStore, StateRef, StoredEvent, TxnKey};
pub use streams::{StreamHeads, StreamStore};
pub use to_device::{QueuedToDevice, ToDeviceMessage, ToDeviceStore};
pub use users::{NewUser, User, UserStore};

/// The stores a running server uses, as trait objects so services never name a backend.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub devices: Arc<dyn DeviceStore>,
    pub filters: Arc<dyn FilterStore>,
    pub account_data: Arc<dyn AccountDataStore>,
    pub aliases: Arc<dyn AliasStore>,
    pub directory: Arc<dyn DirectoryStore>,
    pub keys: Arc<dyn KeyStore>,
    pub key_backups: Arc<dyn KeyBackupStore>,
    pub media: Arc<dyn MediaStore>,
    pub notifications: Arc<dyn NotificationStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub receipts: Arc<dyn ReceiptStore>,
    pub relations: Arc<dyn RelationStore>,
    pub reports: Arc<dyn ReportStore>,
    pub rooms: Arc<dyn RoomStore>,
    pub streams: Arc<dyn StreamStore>,
    pub to_device: Arc<dyn ToDeviceStore>,
    pub health: Arc<dyn DatabaseHealth>,
}
