//! Push rules (`/pushrules`) and the unread counts they produce in `/sync`.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join, send_event, send_message, send_thread_reply, sync};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const ALL: &str = "/_matrix/client/v3/pushrules/";
const RULE: &str = "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}";
const ENABLED: &str = "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled";
const ACTIONS: &str = "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            the_server_default_rules_are_served,
            section = "client-server-api/#predefined-rules",
            op = ("GET", "/_matrix/client/v3/pushrules/")
        ),
        case!(
            user_rules_are_added_in_order_and_deleted,
            section = "client-server-api/#put_matrixclientv3pushrulesglobalkindruleid",
            op = ("PUT", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}")
        ),
        case!(
            rules_are_enabled_and_their_actions_replaced,
            section = "client-server-api/#put_matrixclientv3pushrulesglobalkindruleidenabled",
            op = (
                "PUT",
                "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled"
            )
        ),
        case!(
            unknown_rules_are_not_found,
            section = "client-server-api/#get_matrixclientv3pushrulesglobalkindruleid",
            op = ("GET", "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}")
        ),
        case!(
            unread_counts_follow_messages_mentions_and_receipts,
            section = "client-server-api/#receiving-notifications",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            each_members_own_rules_and_mentions_decide_their_counts,
            section = "client-server-api/#push-rules",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            threads_are_counted_apart_when_asked_and_read_by_their_receipts,
            section = "client-server-api/#threading",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
    ]
}

fn rule_ids(rules: &Value) -> Vec<String> {
    rules
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["rule_id"].as_str().map(str::to_owned))
        .collect()
}

async fn all_rules(ctx: &Ctx, user: &UserSession) -> Result<Value, CaseError> {
    Ok(ctx
        .op(Method::GET, ALL)
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?
        .json()?["global"]
        .clone())
}

async fn the_server_default_rules_are_served(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("push_defaults").await?;
    let global = all_rules(&ctx, &alice).await?;
    let overrides = rule_ids(&global["override"]);
    for id in [
        ".m.rule.master",
        ".m.rule.suppress_notices",
        ".m.rule.is_user_mention",
    ] {
        ensure!(
            overrides.contains(&id.to_owned()),
            "{id} among the override rules: {overrides:?}"
        );
    }
    ensure_eq!(
        overrides.first().map(String::as_str),
        Some(".m.rule.master"),
        "the master rule comes first"
    );
    let underrides = rule_ids(&global["underride"]);
    ensure!(
        underrides.contains(&".m.rule.message".to_owned()),
        ".m.rule.message among the underride rules: {underrides:?}"
    );
    // The global scope alone is the same rule set.
    let scoped = ctx
        .op(Method::GET, "/_matrix/client/v3/pushrules/global/")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        rule_ids(&scoped.json()?["override"]),
        overrides,
        "the global scope's override rules"
    );
    let refused = ctx.op(Method::GET, ALL).send().await?.expect_status(401)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_MISSING_TOKEN"),
        "push rules without a token"
    );
    Ok(())
}

async fn user_rules_are_added_in_order_and_deleted(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("push_custom").await?;
    let put = |id: &str, pattern: &str| {
        ctx.op(Method::PUT, RULE)
            .arg("content")
            .arg(id)
            .token(&alice.access_token)
            .json(&json!({"pattern": pattern, "actions": ["notify"]}))
    };
    put("cakes", "cake").send().await?.expect_status(200)?;
    put("pies", "pie")
        .query("before", "cakes")
        .send()
        .await?
        .expect_status(200)?;
    let got = ctx
        .op(Method::GET, RULE)
        .arg("content")
        .arg("cakes")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(got.json()?["pattern"], json!("cake"), "the stored pattern");
    let content = rule_ids(&all_rules(&ctx, &alice).await?["content"]);
    let position = |id: &str| content.iter().position(|r| r == id);
    ensure!(
        position("pies") < position("cakes") && position("cakes").is_some(),
        "pies was placed before cakes: {content:?}"
    );
    let bad = put("tarts", "tart")
        .query("after", "no-such-rule")
        .send()
        .await?
        .expect_status(400)?;
    ensure!(bad.errcode().is_some(), "placing after an unknown rule");
    let reserved = put(".m.rule.mine", "x").send().await?;
    ensure_eq!(reserved.status, 400, "a rule id in the server's namespace");
    ctx.op(Method::DELETE, RULE)
        .arg("content")
        .arg("cakes")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let gone = ctx
        .op(Method::GET, RULE)
        .arg("content")
        .arg("cakes")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(gone.errcode(), Some("M_NOT_FOUND"), "a deleted rule");
    // Another user's rules are their own.
    let bob = ctx.register_user("push_other").await?;
    let theirs = rule_ids(&all_rules(&ctx, &bob).await?["content"]);
    ensure!(
        !theirs.contains(&"pies".to_owned()),
        "alice's rule is not bob's: {theirs:?}"
    );
    Ok(())
}

async fn rules_are_enabled_and_their_actions_replaced(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("push_toggle").await?;
    ctx.op(Method::PUT, ENABLED)
        .arg("underride")
        .arg(".m.rule.message")
        .token(&alice.access_token)
        .json(&json!({"enabled": false}))
        .send()
        .await?
        .expect_status(200)?;
    let enabled = ctx
        .op(Method::GET, ENABLED)
        .arg("underride")
        .arg(".m.rule.message")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(enabled.json()?["enabled"], json!(false), "after disabling");
    ctx.op(Method::PUT, ACTIONS)
        .arg("override")
        .arg(".m.rule.suppress_notices")
        .token(&alice.access_token)
        .json(&json!({"actions": ["notify"]}))
        .send()
        .await?
        .expect_status(200)?;
    let actions = ctx
        .op(Method::GET, ACTIONS)
        .arg("override")
        .arg(".m.rule.suppress_notices")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        actions.json()?["actions"],
        json!(["notify"]),
        "replaced actions"
    );
    let refused = ctx
        .op(Method::DELETE, RULE)
        .arg("underride")
        .arg(".m.rule.message")
        .token(&alice.access_token)
        .send()
        .await?;
    ensure!(
        refused.status >= 400,
        "a server-default rule cannot be deleted, got {}",
        refused.status
    );
    Ok(())
}

async fn unknown_rules_are_not_found(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("push_unknown").await?;
    let missing = ctx
        .op(Method::GET, RULE)
        .arg("override")
        .arg("never-made")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(missing.errcode(), Some("M_NOT_FOUND"), "an unknown rule");
    Ok(())
}

fn unread(sync: &Value, room: &str) -> (Value, Value) {
    let counts = &sync["rooms"]["join"][room]["unread_notifications"];
    (
        counts["notification_count"].clone(),
        counts["highlight_count"].clone(),
    )
}

async fn unread_counts_follow_messages_mentions_and_receipts(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("push_counts_a").await?;
    let bob = ctx.register_user("push_counts_b").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    send_message(&ctx, &bob, &room, "hello there").await?;
    let mention = ctx
        .op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
        )
        .arg(&room)
        .arg("m.room.message")
        .arg("mention-1")
        .token(&bob.access_token)
        .json(&json!({"msgtype": "m.text", "body": "alice, look", "m.mentions": {"user_ids": [alice.user_id]}}))
        .send()
        .await?
        .expect_status(200)?;
    let last = mention.json()?["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Alice's own messages never count for her.
    send_message(&ctx, &alice, &room, "mine").await?;
    let before = sync(&ctx, &alice, None, 0).await?;
    ensure_eq!(
        unread(&before, &room),
        (json!(2), json!(1)),
        "two messages notify alice, the mention highlights"
    );
    let bobs = sync(&ctx, &bob, None, 0).await?;
    ensure_eq!(
        unread(&bobs, &room).0,
        json!(1),
        "bob is notified of alice's one message"
    );
    ctx.op(
        Method::POST,
        "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}",
    )
    .arg(&room)
    .arg("m.read")
    .arg(&last)
    .token(&alice.access_token)
    .json(&json!({}))
    .send()
    .await?
    .expect_status(200)?;
    // Continue from the last answer, as a client does: the receipt is new there, and the
    // room's counts come with it.
    let since = before["next_batch"].as_str().unwrap_or_default();
    let after = sync(&ctx, &alice, Some(since), 5_000).await?;
    ensure_eq!(
        unread(&after, &room),
        (json!(0), json!(0)),
        "a read receipt clears what it covers"
    );
    Ok(())
}

/// In a room of three, a plain message notifies the two others, a mention highlights only
/// the member it names, and a member whose room rule silences the room is not notified
/// unless mentioned (mentions are override rules, which come before room rules).
async fn each_members_own_rules_and_mentions_decide_their_counts(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("push_own_a").await?;
    let bob = ctx.register_user("push_own_b").await?;
    let carol = ctx.register_user("push_own_c").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    join(&ctx, &carol, &room).await?.expect_status(200)?;
    ctx.op(Method::PUT, RULE)
        .arg("room")
        .arg(&room)
        .token(&carol.access_token)
        .json(&json!({"actions": []}))
        .send()
        .await?
        .expect_status(200)?;
    send_message(&ctx, &bob, &room, "hello all").await?;
    let mention = |user: &UserSession| {
        json!({"msgtype": "m.text", "body": "look",
               "m.mentions": {"user_ids": [user.user_id]}})
    };
    send_event(&ctx, &bob, &room, "m.room.message", mention(&alice)).await?;
    send_event(&ctx, &alice, &room, "m.room.message", mention(&carol)).await?;
    let counts = async |user: &UserSession| -> Result<(Value, Value), CaseError> {
        Ok(unread(&sync(&ctx, user, None, 0).await?, &room))
    };
    ensure_eq!(
        counts(&alice).await?,
        (json!(2), json!(1)),
        "alice: bob's two messages, the mention of her highlighted"
    );
    ensure_eq!(
        counts(&bob).await?,
        (json!(1), json!(0)),
        "bob: alice's message, which mentions someone else"
    );
    ensure_eq!(
        counts(&carol).await?,
        (json!(1), json!(1)),
        "carol: only the mention gets past her room rule"
    );
    Ok(())
}

/// With `unread_thread_notifications`, a room's counts cover its main timeline and each
/// thread is counted under its root; a receipt for a thread reads that thread only.
async fn threads_are_counted_apart_when_asked_and_read_by_their_receipts(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("thread_counts_a").await?;
    let bob = ctx.register_user("thread_counts_b").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let root = send_message(&ctx, &bob, &room, "a thread starts here").await?;
    let reply = send_thread_reply(&ctx, &bob, &room, &root, "in the thread").await?;
    send_message(&ctx, &bob, &room, "back in the room").await?;

    let threads_apart = json!({"room": {"timeline": {"unread_thread_notifications": true}}});
    let sync_with = |filter: &Value, since: Option<&str>| {
        let mut request = ctx
            .op(Method::GET, "/_matrix/client/v3/sync")
            .token(&alice.access_token)
            .query("filter", &filter.to_string());
        if let Some(since) = since {
            request = request.query("since", since).query("timeout", "5000");
        }
        request.send()
    };
    let thread_counts = |body: &Value| {
        body["rooms"]["join"][room.as_str()]["unread_thread_notifications"][root.as_str()]
            ["notification_count"]
            .clone()
    };
    let apart = sync_with(&threads_apart, None).await?.expect_status(200)?;
    let apart = apart.json()?.clone();
    ensure_eq!(
        unread(&apart, &room).0,
        json!(2),
        "the main timeline's count: the root and the later message"
    );
    ensure_eq!(thread_counts(&apart), json!(1), "the thread's count");
    let together = sync_with(&json!({}), None).await?.expect_status(200)?;
    let together = together.json()?.clone();
    ensure_eq!(
        unread(&together, &room).0,
        json!(3),
        "without the option one count covers the threads too"
    );
    ensure!(
        together["rooms"]["join"][room.as_str()]
            .get("unread_thread_notifications")
            .is_none(),
        "no per-thread counts unless asked"
    );

    ctx.op(
        Method::POST,
        "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}",
    )
    .arg(&room)
    .arg("m.read")
    .arg(&reply)
    .token(&alice.access_token)
    .json(&json!({"thread_id": root}))
    .send()
    .await?
    .expect_status(200)?;
    let since = apart["next_batch"].as_str().unwrap_or_default();
    let after = sync_with(&threads_apart, Some(since))
        .await?
        .expect_status(200)?;
    let after = after.json()?.clone();
    ensure!(
        thread_counts(&after).as_u64().unwrap_or(0) == 0,
        "the thread's receipt reads the thread: {}",
        after["rooms"]["join"][room.as_str()]
    );
    ensure_eq!(
        unread(&after, &room).0,
        json!(2),
        "a thread's receipt leaves the main timeline unread"
    );
    Ok(())
}
