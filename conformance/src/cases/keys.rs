//! End-to-end encryption keys: upload, query, claim (one-time keys once each, then the
//! fallback key), and the counts `/sync` reports to the device.

use http::Method;
use serde_json::{Value, json};

use super::common::sync;
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const UPLOAD: &str = "/_matrix/client/v3/keys/upload";
const QUERY: &str = "/_matrix/client/v3/keys/query";
const CLAIM: &str = "/_matrix/client/v3/keys/claim";
const ALGORITHM: &str = "signed_curve25519";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            uploaded_keys_are_queried_and_counted,
            section = "client-server-api/#post_matrixclientv3keysupload",
            op = ("POST", "/_matrix/client/v3/keys/upload")
        ),
        case!(
            one_time_keys_are_claimed_once_then_the_fallback_key,
            section = "client-server-api/#post_matrixclientv3keysclaim",
            op = ("POST", "/_matrix/client/v3/keys/claim")
        ),
        case!(
            unknown_users_in_a_query_have_no_devices,
            section = "client-server-api/#post_matrixclientv3keysquery",
            op = ("POST", "/_matrix/client/v3/keys/query")
        ),
        case!(
            unsigned_one_time_keys_are_refused,
            section = "client-server-api/#post_matrixclientv3keysupload",
            op = ("POST", "/_matrix/client/v3/keys/upload")
        ),
        case!(
            keys_for_another_device_are_refused,
            section = "client-server-api/#post_matrixclientv3keysupload",
            op = ("POST", "/_matrix/client/v3/keys/upload")
        ),
    ]
}

pub(super) fn device_keys(user: &UserSession) -> Value {
    json!({
        "user_id": user.user_id,
        "device_id": user.device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{}", user.device_id): "3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI",
            format!("ed25519:{}", user.device_id): "lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI",
        },
        "signatures": { user.user_id.clone(): {
            format!("ed25519:{}", user.device_id): "dSO80A01XiigH3uBiDVx/EjzaoycHcjq9lfQX0uWsqxl2giMIiSPR8a4d291W1ihKJL/a+myXS367WT6NAIcBA",
        }},
    })
}

fn signed_key(user: &UserSession, key: &str) -> Value {
    json!({
        "key": key,
        "signatures": { user.user_id.clone(): {
            format!("ed25519:{}", user.device_id): "IQeCEPb9HFk217cU9kw9EOiusC6kMIkoIRnbnfOh5Oc63S1ghgyjShBGpu34blQomoalCyXWyhaaT3MrLZYQAA",
        }},
    })
}

pub(super) async fn upload(
    ctx: &Ctx,
    user: &UserSession,
    body: Value,
) -> Result<crate::client::Response, CaseError> {
    ctx.op(Method::POST, UPLOAD)
        .token(&user.access_token)
        .json(&body)
        .send()
        .await
}

async fn uploaded_keys_are_queried_and_counted(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("keys_reader").await?;
    let bob = ctx.register_user("keys_owner").await?;
    let uploaded = upload(
        &ctx,
        &bob,
        json!({
            "device_keys": device_keys(&bob),
            "one_time_keys": {
                format!("{ALGORITHM}:AAAAAQ"): signed_key(&bob, "otk1"),
                format!("{ALGORITHM}:AAAAAg"): signed_key(&bob, "otk2"),
            },
            "fallback_keys": { format!("{ALGORITHM}:AAAAGj"): signed_key(&bob, "fallback") },
        }),
    )
    .await?
    .expect_status(200)?;
    ensure_eq!(
        uploaded.json()?["one_time_key_counts"][ALGORITHM],
        json!(2),
        "counts after upload"
    );
    let queried = ctx
        .op(Method::POST, QUERY)
        .token(&alice.access_token)
        .json(&json!({ "device_keys": { bob.user_id.clone(): [] } }))
        .send()
        .await?
        .expect_status(200)?;
    let keys = &queried.json()?["device_keys"][bob.user_id.as_str()][bob.device_id.as_str()];
    ensure_eq!(
        keys["keys"],
        device_keys(&bob)["keys"],
        "the device keys as uploaded"
    );
    let synced = sync(&ctx, &bob, None, 0).await?;
    ensure_eq!(
        synced["device_one_time_keys_count"][ALGORITHM],
        json!(2),
        "sync's one-time key count"
    );
    ensure_eq!(
        synced["device_unused_fallback_key_types"],
        json!([ALGORITHM]),
        "sync's unused fallback key types"
    );
    Ok(())
}

async fn one_time_keys_are_claimed_once_then_the_fallback_key(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("claimer").await?;
    let bob = ctx.register_user("claimed").await?;
    upload(
        &ctx,
        &bob,
        json!({
            "device_keys": device_keys(&bob),
            "one_time_keys": {
                format!("{ALGORITHM}:k1"): signed_key(&bob, "one"),
                format!("{ALGORITHM}:k2"): signed_key(&bob, "two"),
            },
            "fallback_keys": { format!("{ALGORITHM}:fb"): signed_key(&bob, "fallback") },
        }),
    )
    .await?
    .expect_status(200)?;
    let mut handed_out = Vec::new();
    for _ in 0..3 {
        let claimed = ctx
            .op(Method::POST, CLAIM)
            .token(&alice.access_token)
            .json(&json!({ "one_time_keys": { bob.user_id.clone(): { bob.device_id.clone(): ALGORITHM } } }))
            .send()
            .await?
            .expect_status(200)?;
        let keys = claimed.json()?["one_time_keys"][bob.user_id.as_str()][bob.device_id.as_str()]
            .as_object()
            .cloned()
            .unwrap_or_default();
        ensure_eq!(keys.len(), 1, "one key per claim: {keys:?}");
        handed_out.extend(keys.values().map(|k| k["key"].clone()));
    }
    ensure_eq!(
        handed_out,
        vec![json!("one"), json!("two"), json!("fallback")],
        "each one-time key once, then the fallback key"
    );
    let synced = sync(&ctx, &bob, None, 0).await?;
    ensure!(
        synced["device_one_time_keys_count"]
            .get(ALGORITHM)
            .is_none_or(|n| n == &json!(0)),
        "no one-time keys left: {}",
        synced["device_one_time_keys_count"]
    );
    ensure_eq!(
        synced["device_unused_fallback_key_types"],
        json!([]),
        "the fallback key counts as used"
    );
    Ok(())
}

async fn keys_for_another_device_are_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("keys_victim").await?;
    let mallory = ctx.register_user("keys_forger").await?;
    let refused = upload(
        &ctx,
        &mallory,
        json!({ "device_keys": device_keys(&alice) }),
    )
    .await?;
    ensure_eq!(
        refused.status,
        400,
        "uploading keys that name another user's device"
    );
    Ok(())
}

async fn unknown_users_in_a_query_have_no_devices(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("keys_asker").await?;
    let server = alice
        .user_id
        .split_once(':')
        .map_or("", |(_, server)| server);
    let ghost = format!("@nobody{}:{server}", rand::random::<u32>());
    let queried = ctx
        .op(Method::POST, QUERY)
        .token(&alice.access_token)
        .json(&json!({ "device_keys": { ghost.clone(): [] } }))
        .send()
        .await?
        .expect_status(200)?;
    let devices = &queried.json()?["device_keys"][ghost.as_str()];
    ensure!(
        devices.is_null() || devices.as_object().is_some_and(|d| d.is_empty()),
        "a user who does not exist has no devices: {devices}"
    );
    Ok(())
}

async fn unsigned_one_time_keys_are_refused(ctx: Ctx) -> CaseResult {
    let bob = ctx.register_user("keys_unsigned").await?;
    let refused = upload(
        &ctx,
        &bob,
        json!({ "one_time_keys": { format!("{ALGORITHM}:bare"): {"key": "no signature"} } }),
    )
    .await?;
    ensure_eq!(
        refused.status,
        400,
        "a signed_curve25519 key without a signature"
    );
    let counted = upload(&ctx, &bob, json!({})).await?.expect_status(200)?;
    ensure!(
        counted.json()?["one_time_key_counts"]
            .get(ALGORITHM)
            .is_none_or(|n| n == &json!(0)),
        "the refused key was not stored: {}",
        counted.json()?
    );
    Ok(())
}

/// `POST /keys/query` by `by` for all of `of`'s devices; the whole response.
pub(super) async fn query_keys(
    ctx: &Ctx,
    by: &UserSession,
    of: &UserSession,
) -> Result<Value, CaseError> {
    let response = ctx
        .op(Method::POST, QUERY)
        .token(&by.access_token)
        .json(&json!({ "device_keys": { of.user_id.clone(): [] } }))
        .send()
        .await?
        .expect_status(200)?;
    Ok(response.json()?.clone())
}
