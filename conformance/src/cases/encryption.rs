//! The end-to-end round trip with real cryptography: two vodozemac devices publish their keys,
//! one claims the other's one-time key, opens an Olm session, shares a Megolm session over
//! to-device and sends an encrypted message; the other decrypts exactly what was sent. The
//! server only stores and forwards; every check that what it handed back is intact is made
//! with the signatures the devices made.

use http::Method;
use serde_json::{Value, json};

use super::{
    common::{create_room, join, sync},
    keys::upload,
};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::Ctx,
    crypto::{self, Device, MEGOLM, OLM, SIGNED_CURVE25519},
    ensure, ensure_eq,
};

pub fn cases() -> Vec<Case> {
    vec![case!(
        olm_and_megolm_round_trip_between_two_devices,
        section = "client-server-api/#end-to-end-encryption",
        op = ("POST", "/_matrix/client/v3/keys/claim")
    )]
}

fn fail(message: impl Into<String>) -> CaseError {
    CaseError::Fail(message.into())
}

async fn olm_and_megolm_round_trip_between_two_devices(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("e2e_sender").await?;
    let bob = ctx.register_user("e2e_receiver").await?;
    let alice_device = Device::new(&alice);
    let mut bob_device = Device::new(&bob);
    upload(
        &ctx,
        &alice,
        json!({ "device_keys": alice_device.device_keys() }),
    )
    .await?
    .expect_status(200)?;
    upload(
        &ctx,
        &bob,
        json!({
            "device_keys": bob_device.device_keys(),
            "one_time_keys": bob_device.one_time_keys(2),
        }),
    )
    .await?
    .expect_status(200)?;

    let room = create_room(
        &ctx,
        &alice,
        json!({
            "preset": "public_chat",
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}],
        }),
    )
    .await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;

    // Alice fetches bob's device and checks it is the one bob signed.
    let queried = ctx
        .op(Method::POST, "/_matrix/client/v3/keys/query")
        .token(&alice.access_token)
        .json(&json!({ "device_keys": { bob.user_id.clone(): [bob.device_id.clone()] } }))
        .send()
        .await?
        .expect_status(200)?;
    let bob_keys =
        queried.json()?["device_keys"][bob.user_id.as_str()][bob.device_id.as_str()].clone();
    let bob_ed25519 = bob_keys["keys"][bob_device.ed25519_key_id()]
        .as_str()
        .ok_or_else(|| fail(format!("no ed25519 key for bob's device: {bob_keys}")))?
        .to_owned();
    crypto::verify(
        &bob_keys,
        &bob.user_id,
        &bob_device.ed25519_key_id(),
        &bob_ed25519,
    )
    .map_err(|e| fail(format!("bob's device keys as served: {e}")))?;
    let bob_curve25519 = bob_keys["keys"][format!("curve25519:{}", bob.device_id)]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Two claims give two different one-time keys, each signed by bob's device.
    let mut claimed = Vec::new();
    for _ in 0..2 {
        let response = ctx
            .op(Method::POST, "/_matrix/client/v3/keys/claim")
            .token(&alice.access_token)
            .json(&json!({ "one_time_keys": { bob.user_id.clone(): { bob.device_id.clone(): SIGNED_CURVE25519 } } }))
            .send()
            .await?
            .expect_status(200)?;
        let keys = response.json()?["one_time_keys"][bob.user_id.as_str()][bob.device_id.as_str()]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let (id, key) = keys
            .into_iter()
            .next()
            .ok_or_else(|| fail("a claim returned no key while bob had some left"))?;
        crypto::verify(
            &key,
            &bob.user_id,
            &bob_device.ed25519_key_id(),
            &bob_ed25519,
        )
        .map_err(|e| fail(format!("claimed key {id}: {e}")))?;
        claimed.push((id, key));
    }
    ensure!(
        claimed[0].0 != claimed[1].0,
        "a one-time key handed out twice: {}",
        claimed[0].0
    );

    // Alice opens an Olm session on the first key and shares a Megolm session over it.
    let one_time_key = claimed[0].1["key"].as_str().unwrap_or_default();
    let mut olm = alice_device
        .outbound_session(&bob_curve25519, one_time_key)
        .map_err(fail)?;
    let (mut megolm, room_key) = crypto::new_room_key(&room);
    let payload = json!({
        "type": "m.room_key",
        "content": room_key,
        "sender": alice.user_id,
        "sender_device": alice.device_id,
        "keys": { "ed25519": alice_device.ed25519() },
        "recipient": bob.user_id,
        "recipient_keys": { "ed25519": bob_ed25519 },
    });
    let to_device = alice_device.olm_encrypt(&mut olm, &bob_curve25519, &payload);
    ctx.op(
        Method::PUT,
        "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}",
    )
    .arg("m.room.encrypted")
    .arg(&format!("e2e{}", rand::random::<u32>()))
    .token(&alice.access_token)
    .json(&json!({ "messages": { bob.user_id.clone(): { bob.device_id.clone(): to_device } } }))
    .send()
    .await?
    .expect_status(200)?;

    let secret = format!("the plaintext only bob can read {}", rand::random::<u64>());
    let message = json!({ "msgtype": "m.text", "body": secret });
    let encrypted = crypto::megolm_encrypt(
        &mut megolm,
        &alice_device,
        &room,
        "m.room.message",
        &message,
    );
    let sent = ctx
        .op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
        )
        .arg(&room)
        .arg("m.room.encrypted")
        .arg(&format!("e2e{}", rand::random::<u32>()))
        .token(&alice.access_token)
        .json(&encrypted)
        .send()
        .await?
        .expect_status(200)?;
    let event_id = sent.json()?["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Bob's device gets the room key over Olm, then reads the room message with it.
    let synced = sync(&ctx, &bob, None, 0).await?;
    let olm_event = synced["to_device"]["events"]
        .as_array()
        .and_then(|events| {
            events
                .iter()
                .find(|e| e["type"] == "m.room.encrypted" && e["content"]["algorithm"] == OLM)
        })
        .ok_or_else(|| {
            fail(format!(
                "no Olm to-device event for bob: {}",
                synced["to_device"]
            ))
        })?;
    ensure_eq!(
        olm_event["sender"],
        json!(alice.user_id),
        "the to-device sender"
    );
    let decrypted = bob_device
        .olm_decrypt(&olm_event["content"])
        .map_err(fail)?;
    ensure_eq!(decrypted, payload, "the Olm payload bob decrypts");
    let mut inbound = crypto::inbound_session(&decrypted["content"]).map_err(fail)?;

    let timeline: &Value = &synced["rooms"]["join"][room.as_str()]["timeline"]["events"];
    let room_event = timeline
        .as_array()
        .and_then(|events| events.iter().find(|e| e["event_id"] == event_id.as_str()))
        .ok_or_else(|| {
            fail(format!(
                "the encrypted event is not in bob's timeline: {timeline}"
            ))
        })?;
    ensure_eq!(
        room_event["type"],
        json!("m.room.encrypted"),
        "the event's type"
    );
    let plaintext = crypto::megolm_decrypt(&mut inbound, &room_event["content"]).map_err(fail)?;
    ensure_eq!(
        plaintext,
        json!({ "type": "m.room.message", "content": message, "room_id": room }),
        "what bob decrypts is exactly what alice encrypted"
    );
    Ok(())
}
