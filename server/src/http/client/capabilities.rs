//! `GET /_matrix/client/v3/capabilities`

use std::collections::BTreeMap;

use ruma::{
    RoomVersionId,
    api::client::discovery::get_capabilities::{
        self,
        v3::{Capabilities, ProfileFieldsCapability, RoomVersionStability, RoomVersionsCapability},
    },
};

use crate::{
    core::room_version::RoomVersion,
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    router.endpoint_authed(get_capabilities);
}

/// What this server lets clients do.
async fn get_capabilities(
    state: AppState,
    _: AuthedUser,
    _: get_capabilities::v3::Request,
) -> Result<get_capabilities::v3::Response, Error> {
    let available: BTreeMap<RoomVersionId, RoomVersionStability> = RoomVersion::ALL
        .iter()
        .filter_map(|v| RoomVersionId::try_from(v.id).ok())
        .map(|id| (id, RoomVersionStability::Stable))
        .collect();
    let default = RoomVersionId::try_from(RoomVersion::DEFAULT.id)
        .map_err(|e| Error::internal(format!("default room version: {e}")))?;
    let mut capabilities = Capabilities::new();
    capabilities.change_password.enabled = true;
    capabilities.room_versions = RoomVersionsCapability::new(default, available);
    #[allow(deprecated)]
    {
        capabilities.set_displayname.enabled = true;
        capabilities.set_avatar_url.enabled = true;
    }
    capabilities.profile_fields = Some(ProfileFieldsCapability::new(true));
    capabilities.thirdparty_id_changes.enabled = false;
    capabilities.get_login_token.enabled = state.services.accounts.login_tokens_enabled();
    Ok(get_capabilities::v3::Response::new(capabilities))
}
