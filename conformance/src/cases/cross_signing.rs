//! Cross-signing: uploading the three keys (user-interactive auth only to replace them),
//! signature checks on upload, signatures published through `/keys/query`, and who sees what.

use http::Method;
use serde_json::{Value, json};

use super::{
    common::{create_room, join, sync, with_password},
    keys::{query_keys, upload},
};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, Response, UserSession},
    crypto::{CrossSigning, Device},
    ensure, ensure_eq,
};

const DEVICE_SIGNING: &str = "/_matrix/client/v3/keys/device_signing/upload";
const SIGNATURES: &str = "/_matrix/client/v3/keys/signatures/upload";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            cross_signing_keys_are_published_and_replaced_only_with_auth,
            section = "client-server-api/#post_matrixclientv3keysdevice_signingupload",
            op = ("POST", "/_matrix/client/v3/keys/device_signing/upload")
        ),
        case!(
            cross_signing_keys_with_bad_signatures_are_refused,
            section = "client-server-api/#post_matrixclientv3keysdevice_signingupload",
            op = ("POST", "/_matrix/client/v3/keys/device_signing/upload")
        ),
        case!(
            signatures_are_verified_and_published,
            section = "client-server-api/#post_matrixclientv3keyssignaturesupload",
            op = ("POST", "/_matrix/client/v3/keys/signatures/upload")
        ),
    ]
}

async fn upload_signing_keys(
    ctx: &Ctx,
    user: &UserSession,
    body: &Value,
) -> Result<Response, CaseError> {
    ctx.op(Method::POST, DEVICE_SIGNING)
        .token(&user.access_token)
        .json(body)
        .send()
        .await
}

async fn cross_signing_keys_are_published_and_replaced_only_with_auth(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("xsign_owner").await?;
    let bob = ctx.register_user("xsign_viewer").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let since = sync(&ctx, &bob, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let identity = CrossSigning::new(&alice.user_id);
    let body = identity.upload_body();
    upload_signing_keys(&ctx, &alice, &body)
        .await?
        .expect_status(200)?;
    // Retrying the same upload (a lost response) needs no auth either.
    upload_signing_keys(&ctx, &alice, &body)
        .await?
        .expect_status(200)?;

    let seen_by_bob = query_keys(&ctx, &bob, &alice).await?;
    let alice_id = alice.user_id.as_str();
    ensure_eq!(
        seen_by_bob["master_keys"][alice_id]["keys"],
        body["master_key"]["keys"],
        "the master key in /keys/query"
    );
    ensure_eq!(
        seen_by_bob["self_signing_keys"][alice_id]["keys"],
        body["self_signing_key"]["keys"],
        "the self-signing key in /keys/query"
    );
    ensure!(
        seen_by_bob["user_signing_keys"].get(alice_id).is_none(),
        "alice's user-signing key is hers alone: {}",
        seen_by_bob["user_signing_keys"]
    );
    let seen_by_alice = query_keys(&ctx, &alice, &alice).await?;
    ensure_eq!(
        seen_by_alice["user_signing_keys"][alice_id]["keys"],
        body["user_signing_key"]["keys"],
        "alice sees her own user-signing key"
    );
    let synced = sync(&ctx, &bob, Some(&since), 0).await?;
    ensure!(
        synced["device_lists"]["changed"]
            .as_array()
            .is_some_and(|c| c.contains(&json!(alice.user_id))),
        "new cross-signing keys are a device-list change: {}",
        synced["device_lists"]
    );

    // Replacing the keys is a password-protected operation.
    let replacement = CrossSigning::new(&alice.user_id).upload_body();
    with_password(
        &ctx,
        Method::POST,
        DEVICE_SIGNING,
        None,
        replacement.clone(),
        &alice,
        &alice.password,
    )
    .await?
    .expect_status(200)?;
    let after = query_keys(&ctx, &bob, &alice).await?;
    ensure_eq!(
        after["master_keys"][alice_id]["keys"],
        replacement["master_key"]["keys"],
        "the replacement master key"
    );
    Ok(())
}

async fn cross_signing_keys_with_bad_signatures_are_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("xsign_forger").await?;
    let identity = CrossSigning::new(&alice.user_id);
    let impostor = CrossSigning::new(&alice.user_id);
    // A self-signing key with no master key to vouch for it.
    let lonely = upload_signing_keys(
        &ctx,
        &alice,
        &json!({ "self_signing_key": identity.key("self_signing", &identity.self_signing) }),
    )
    .await?;
    ensure_eq!(
        lonely.status,
        400,
        "a self-signing key without a master key"
    );
    ensure_eq!(lonely.errcode(), Some("M_MISSING_PARAM"), "its errcode");
    // A self-signing key signed by some other master key.
    let forged = upload_signing_keys(
        &ctx,
        &alice,
        &json!({
            "master_key": identity.key("master", &identity.master),
            "self_signing_key": impostor.key("self_signing", &impostor.self_signing),
        }),
    )
    .await?;
    ensure_eq!(
        forged.status,
        400,
        "a self-signing key the master key did not sign"
    );
    ensure_eq!(forged.errcode(), Some("M_INVALID_SIGNATURE"), "its errcode");
    // A key whose public part is one of the user's device ids would make signatures
    // ambiguous. The device is named after a real ed25519 key (clients choose device ids at
    // login), so the upload is otherwise valid and only the clash can refuse it.
    let clashing = CrossSigning::new(&alice.user_id);
    let device_id = CrossSigning::public(&clashing.master);
    ctx.op(Method::POST, "/_matrix/client/v3/login")
        .json(&json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": alice.user_id},
            "password": alice.password,
            "device_id": device_id,
        }))
        .send()
        .await?
        .expect_status(200)?;
    let clash = upload_signing_keys(
        &ctx,
        &alice,
        &json!({ "master_key": clashing.key("master", &clashing.master) }),
    )
    .await?;
    ensure_eq!(clash.status, 403, "a master key named like a device");
    let nothing = query_keys(&ctx, &alice, &alice).await?;
    ensure!(
        nothing["master_keys"].get(alice.user_id.as_str()).is_none(),
        "a refused upload stores nothing: {}",
        nothing["master_keys"]
    );
    Ok(())
}

async fn signatures_are_verified_and_published(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("xsign_signer").await?;
    let bob = ctx.register_user("xsign_signed").await?;
    let alice_device = Device::new(&alice);
    upload(
        &ctx,
        &alice,
        json!({ "device_keys": alice_device.device_keys() }),
    )
    .await?
    .expect_status(200)?;
    let alice_identity = CrossSigning::new(&alice.user_id);
    let bob_identity = CrossSigning::new(&bob.user_id);
    upload_signing_keys(&ctx, &alice, &alice_identity.upload_body())
        .await?
        .expect_status(200)?;
    upload_signing_keys(&ctx, &bob, &bob_identity.upload_body())
        .await?
        .expect_status(200)?;

    let bob_master_id = CrossSigning::public(&bob_identity.master);
    let usk_id = CrossSigning::key_id(&alice_identity.user_signing);
    // A signature that does not verify is reported per key. Sent before any valid one: a
    // server may skip a signature it already holds for that key without checking it again.
    let mut forged = bob_identity.key("master", &bob_identity.master);
    forged["signatures"][alice.user_id.as_str()][usk_id.as_str()] = json!(
        "Zm9yZ2VkIHNpZ25hdHVyZSBmb3JnZWQgc2lnbmF0dXJlIGZvcmdlZCBzaWduYXR1cmUgZm9yZ2VkIHNpZ25hdHVyZQ"
    );
    let refused = signature_failure(&ctx, &alice, &bob.user_id, &bob_master_id, forged).await?;
    ensure_eq!(
        refused["errcode"],
        json!("M_INVALID_SIGNATURE"),
        "a forged user-signing signature"
    );
    let by_bob = query_keys(&ctx, &bob, &bob).await?;
    ensure!(
        by_bob["master_keys"][bob.user_id.as_str()]["signatures"]
            .get(alice.user_id.as_str())
            .is_none(),
        "a forged signature is not published: {}",
        by_bob["master_keys"]
    );

    // Alice's self-signing key signs her device; her user-signing key signs bob's master key.
    let mut device = alice_device.device_keys();
    alice_identity.sign_with(&alice_identity.self_signing, &mut device);
    let mut bob_master = bob_identity.key("master", &bob_identity.master);
    alice_identity.sign_with(&alice_identity.user_signing, &mut bob_master);
    let uploaded = ctx
        .op(Method::POST, SIGNATURES)
        .token(&alice.access_token)
        .json(&json!({
            alice.user_id.clone(): { alice.device_id.clone(): device },
            bob.user_id.clone(): { bob_master_id.clone(): bob_master },
        }))
        .send()
        .await?
        .expect_status(200)?;
    let failures = &uploaded.json()?["failures"];
    ensure!(
        failures.as_object().is_none_or(|f| f.is_empty()),
        "valid signatures are accepted: {failures}"
    );

    let ssk_id = CrossSigning::key_id(&alice_identity.self_signing);
    let own = query_keys(&ctx, &alice, &alice).await?;
    ensure!(
        own["device_keys"][alice.user_id.as_str()][alice.device_id.as_str()]["signatures"]
            [alice.user_id.as_str()]
        .get(&ssk_id)
        .is_some(),
        "the device carries the self-signing signature: {}",
        own["device_keys"]
    );
    let by_alice = query_keys(&ctx, &alice, &bob).await?;
    ensure!(
        by_alice["master_keys"][bob.user_id.as_str()]["signatures"][alice.user_id.as_str()]
            .get(&usk_id)
            .is_some(),
        "alice sees her signature on bob's master key: {}",
        by_alice["master_keys"]
    );
    let by_bob = query_keys(&ctx, &bob, &bob).await?;
    ensure!(
        by_bob["master_keys"][bob.user_id.as_str()]["signatures"]
            .get(alice.user_id.as_str())
            .is_none(),
        "whom alice verified is not shown to others: {}",
        by_bob["master_keys"]
    );

    // Bob may not vouch for alice with his master key: only a user-signing key signs others.
    let alice_master_id = CrossSigning::public(&alice_identity.master);
    let mut alice_master = alice_identity.key("master", &alice_identity.master);
    bob_identity.sign_with(&bob_identity.master, &mut alice_master);
    let refused =
        signature_failure(&ctx, &bob, &alice.user_id, &alice_master_id, alice_master).await?;
    ensure!(
        refused["errcode"].is_string(),
        "another user's key signed with a master key: {refused}"
    );
    Ok(())
}

/// Uploads one signed object that must fail; its entry in `failures`.
async fn signature_failure(
    ctx: &Ctx,
    by: &UserSession,
    target: &str,
    key_id: &str,
    object: Value,
) -> Result<Value, CaseError> {
    let response = ctx
        .op(Method::POST, SIGNATURES)
        .token(&by.access_token)
        .json(&json!({ target: { key_id: object } }))
        .send()
        .await?
        .expect_status(200)?;
    Ok(response.json()?["failures"][target][key_id].clone())
}
