//! Send-to-device messaging: delivery through `/sync`, exactly once, to the devices named.

use http::Method;
use serde_json::{Value, json};

use super::common::sync;
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const SEND: &str = "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            to_device_messages_arrive_once_and_retries_are_not_resent,
            section = "client-server-api/#send-to-device-messaging",
            op = ("PUT", "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}")
        ),
        case!(
            a_wildcard_reaches_every_device_and_unknown_devices_nothing,
            section = "client-server-api/#put_matrixclientv3sendtodeviceeventtypetxnid",
            op = ("PUT", "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}")
        ),
    ]
}

async fn send(ctx: &Ctx, from: &UserSession, txn: &str, messages: Value) -> Result<(), CaseError> {
    ctx.op(Method::PUT, SEND)
        .arg("org.example.ping")
        .arg(txn)
        .token(&from.access_token)
        .json(&json!({ "messages": messages }))
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

fn pings(body: &Value) -> Vec<Value> {
    body["to_device"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "org.example.ping")
        .map(|e| e["content"].clone())
        .collect()
}

async fn to_device_messages_arrive_once_and_retries_are_not_resent(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("todevice_a").await?;
    let bob = ctx.register_user("todevice_b").await?;
    let txn = format!("t{}", rand::random::<u32>());
    let messages = json!({ bob.user_id.clone(): { bob.device_id.clone(): {"n": 1} } });
    send(&ctx, &alice, &txn, messages.clone()).await?;
    // The same transaction again: acknowledged, not delivered twice.
    send(&ctx, &alice, &txn, messages).await?;
    let first = sync(&ctx, &bob, None, 0).await?;
    ensure_eq!(pings(&first), vec![json!({"n": 1})], "delivered once");
    let event = first["to_device"]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["type"] == "org.example.ping"))
        .cloned()
        .unwrap_or_default();
    ensure_eq!(event["sender"], json!(alice.user_id), "the sender");
    let token = first["next_batch"].as_str().unwrap_or_default().to_owned();
    let second = sync(&ctx, &bob, Some(&token), 0).await?;
    ensure!(
        pings(&second).is_empty(),
        "a message the device has synced past is gone: {second}"
    );
    Ok(())
}

async fn a_wildcard_reaches_every_device_and_unknown_devices_nothing(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("todevice_wild_a").await?;
    let bob = ctx.register_user("todevice_wild_b").await?;
    let bob_laptop = ctx.login_again(&bob).await?;
    send(
        &ctx,
        &alice,
        &format!("w{}", rand::random::<u32>()),
        json!({ bob.user_id.clone(): { "*": {"to": "all"} } }),
    )
    .await?;
    for (session, which) in [(&bob, "first device"), (&bob_laptop, "second device")] {
        let body = sync(&ctx, session, None, 0).await?;
        ensure_eq!(pings(&body), vec![json!({"to": "all"})], "{which}");
    }
    let token = sync(&ctx, &bob, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    send(
        &ctx,
        &alice,
        &format!("x{}", rand::random::<u32>()),
        json!({ bob.user_id.clone(): { "NOSUCHDEVICE": {"to": "nobody"} } }),
    )
    .await?;
    let after = sync(&ctx, &bob, Some(&token), 0).await?;
    ensure!(
        pings(&after).is_empty(),
        "a message to an unknown device reaches no one: {after}"
    );
    Ok(())
}
