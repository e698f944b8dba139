//! Push rules: `/pushrules/` and `/pushrules/global/{kind}/{ruleId}` with its `enabled` and
//! `actions`.

use ruma::api::client::push::{
    delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled, get_pushrules_all,
    get_pushrules_global_scope, set_pushrule, set_pushrule_actions, set_pushrule_enabled,
};
use serde_json::{Value, json};

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser, push::Placement},
};

pub fn register(router: &mut Router) {
    // Rules are served as the spec's JSON straight from ruma's rule set.
    router.endpoint_authed_json(get_all);
    router.endpoint_authed_json(get_global);
    router.endpoint_authed_json(get_rule);
    router.endpoint_authed(set_rule);
    router.endpoint_authed(delete_rule);
    router.endpoint_authed_json(get_enabled);
    router.endpoint_authed(set_enabled);
    router.endpoint_authed_json(get_actions);
    router.endpoint_authed(set_actions);
}

/// `GET /_matrix/client/v3/pushrules/`
async fn get_all(
    state: AppState,
    user: AuthedUser,
    _request: get_pushrules_all::v3::Request,
) -> Result<Value, Error> {
    Ok(json!({ "global": state.services.push.rules_json(&user.user_id).await? }))
}

/// `GET /_matrix/client/v3/pushrules/global/`
async fn get_global(
    state: AppState,
    user: AuthedUser,
    _request: get_pushrules_global_scope::v3::Request,
) -> Result<Value, Error> {
    state.services.push.rules_json(&user.user_id).await
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn get_rule(
    state: AppState,
    user: AuthedUser,
    request: get_pushrule::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .push
        .rule(&user.user_id, request.kind.as_str(), &request.rule_id)
        .await
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn set_rule(
    state: AppState,
    user: AuthedUser,
    request: set_pushrule::v3::Request,
) -> Result<set_pushrule::v3::Response, Error> {
    let placement = Placement {
        before: request.before,
        after: request.after,
    };
    state
        .services
        .push
        .set_rule(&user.user_id, request.rule, placement)
        .await?;
    Ok(set_pushrule::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn delete_rule(
    state: AppState,
    user: AuthedUser,
    request: delete_pushrule::v3::Request,
) -> Result<delete_pushrule::v3::Response, Error> {
    state
        .services
        .push
        .delete_rule(&user.user_id, request.kind.as_str(), &request.rule_id)
        .await?;
    Ok(delete_pushrule::v3::Response::new())
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
async fn get_enabled(
    state: AppState,
    user: AuthedUser,
    request: get_pushrule_enabled::v3::Request,
) -> Result<Value, Error> {
    let rule = state
        .services
        .push
        .rule(&user.user_id, request.kind.as_str(), &request.rule_id)
        .await?;
    Ok(json!({ "enabled": rule["enabled"] }))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
async fn set_enabled(
    state: AppState,
    user: AuthedUser,
    request: set_pushrule_enabled::v3::Request,
) -> Result<set_pushrule_enabled::v3::Response, Error> {
    state
        .services
        .push
        .set_enabled(
            &user.user_id,
            request.kind.as_str(),
            &request.rule_id,
            request.enabled,
        )
        .await?;
    Ok(set_pushrule_enabled::v3::Response::new())
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
async fn get_actions(
    state: AppState,
    user: AuthedUser,
    request: get_pushrule_actions::v3::Request,
) -> Result<Value, Error> {
    let rule = state
        .services
        .push
        .rule(&user.user_id, request.kind.as_str(), &request.rule_id)
        .await?;
    Ok(json!({ "actions": rule["actions"] }))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
async fn set_actions(
    state: AppState,
    user: AuthedUser,
    request: set_pushrule_actions::v3::Request,
) -> Result<set_pushrule_actions::v3::Response, Error> {
    state
        .services
        .push
        .set_actions(
            &user.user_id,
            request.kind.as_str(),
            &request.rule_id,
            request.actions,
        )
        .await?;
    Ok(set_pushrule_actions::v3::Response::new())
}
