//! Server-side key backups: versions (create, read, update, delete), keys per backup, room and
//! session with the spec's keep-the-better-key rule, etags and counts, writes only to the
//! latest version, and one user's backups out of another's reach.

use http::Method;
use serde_json::{Value, json};

use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, Response, UserSession},
    ensure, ensure_eq,
};

const VERSION: &str = "/_matrix/client/v3/room_keys/version";
const VERSION_OF: &str = "/_matrix/client/v3/room_keys/version/{version}";
const KEYS: &str = "/_matrix/client/v3/room_keys/keys";
const ROOM_KEYS: &str = "/_matrix/client/v3/room_keys/keys/{roomId}";
const SESSION_KEY: &str = "/_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}";
const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";
const ROOM: &str = "!backedup:example.org";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            backup_versions_are_created_read_updated_and_deleted,
            section = "client-server-api/#server-side-key-backups",
            op = ("POST", "/_matrix/client/v3/room_keys/version")
        ),
        case!(
            backed_up_keys_keep_the_better_key_and_move_the_etag,
            section = "client-server-api/#put_matrixclientv3room_keyskeysroomidsessionid",
            op = (
                "PUT",
                "/_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}"
            )
        ),
        case!(
            keys_for_a_whole_backup_and_a_room,
            section = "client-server-api/#put_matrixclientv3room_keyskeys",
            op = ("PUT", "/_matrix/client/v3/room_keys/keys")
        ),
        case!(
            writing_to_an_old_backup_names_the_current_version,
            section = "client-server-api/#put_matrixclientv3room_keyskeysroomid",
            op = ("PUT", "/_matrix/client/v3/room_keys/keys/{roomId}")
        ),
        case!(
            another_users_backup_is_out_of_reach,
            section = "client-server-api/#get_matrixclientv3room_keysversionversion",
            op = ("GET", "/_matrix/client/v3/room_keys/version/{version}")
        ),
    ]
}

fn auth_data(public_key: &str) -> Value {
    json!({ "public_key": public_key, "signatures": {} })
}

fn key_data(verified: bool, first_message_index: u64, forwarded_count: u64, tag: &str) -> Value {
    json!({
        "first_message_index": first_message_index,
        "forwarded_count": forwarded_count,
        "is_verified": verified,
        "session_data": { "ephemeral": tag, "ciphertext": tag, "mac": tag },
    })
}

async fn create(ctx: &Ctx, user: &UserSession, public_key: &str) -> Result<String, CaseError> {
    let created = ctx
        .op(Method::POST, VERSION)
        .token(&user.access_token)
        .json(&json!({ "algorithm": ALGORITHM, "auth_data": auth_data(public_key) }))
        .send()
        .await?
        .expect_status(200)?;
    created.json()?["version"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CaseError::Fail("no version in the create response".to_owned()))
}

async fn latest(ctx: &Ctx, user: &UserSession) -> Result<Response, CaseError> {
    ctx.op(Method::GET, VERSION)
        .token(&user.access_token)
        .send()
        .await
}

async fn put_session(
    ctx: &Ctx,
    user: &UserSession,
    version: &str,
    session: &str,
    data: &Value,
) -> Result<Response, CaseError> {
    ctx.op(Method::PUT, SESSION_KEY)
        .arg(ROOM)
        .arg(session)
        .query("version", version)
        .token(&user.access_token)
        .json(data)
        .send()
        .await
}

async fn get_session(
    ctx: &Ctx,
    user: &UserSession,
    version: &str,
    session: &str,
) -> Result<Response, CaseError> {
    ctx.op(Method::GET, SESSION_KEY)
        .arg(ROOM)
        .arg(session)
        .query("version", version)
        .token(&user.access_token)
        .send()
        .await
}

async fn backup_versions_are_created_read_updated_and_deleted(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("backup_owner").await?;
    let none = latest(&ctx, &alice).await?;
    ensure_eq!(none.status, 404, "no backup yet");
    ensure_eq!(none.errcode(), Some("M_NOT_FOUND"), "its errcode");

    let first = create(&ctx, &alice, "key-one").await?;
    let current = latest(&ctx, &alice).await?.expect_status(200)?;
    let body = current.json()?;
    ensure_eq!(body["version"], json!(first), "the latest version");
    ensure_eq!(body["algorithm"], json!(ALGORITHM), "its algorithm");
    ensure_eq!(body["auth_data"], auth_data("key-one"), "its auth_data");
    ensure_eq!(body["count"], json!(0), "an empty backup");
    ensure!(body["etag"].is_string(), "an etag: {body}");

    ctx.op(Method::PUT, VERSION_OF)
        .arg(&first)
        .token(&alice.access_token)
        .json(&json!({ "algorithm": ALGORITHM, "auth_data": auth_data("key-one-signed"), "version": first }))
        .send()
        .await?
        .expect_status(200)?;
    let updated = ctx
        .op(Method::GET, VERSION_OF)
        .arg(&first)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        updated.json()?["auth_data"],
        auth_data("key-one-signed"),
        "auth_data after the update"
    );
    for (body, why) in [
        (
            json!({ "algorithm": "m.other.algorithm", "auth_data": auth_data("x") }),
            "another algorithm",
        ),
        (
            json!({ "algorithm": ALGORITHM, "auth_data": auth_data("x"), "version": "999" }),
            "a body version unlike the path's",
        ),
    ] {
        let refused = ctx
            .op(Method::PUT, VERSION_OF)
            .arg(&first)
            .token(&alice.access_token)
            .json(&body)
            .send()
            .await?;
        ensure_eq!(refused.status, 400, "updating with {why}");
        ensure_eq!(refused.errcode(), Some("M_INVALID_PARAM"), "{why}: errcode");
    }

    let second = create(&ctx, &alice, "key-two").await?;
    ensure!(second != first, "a new version number: {second}");
    ctx.op(Method::DELETE, VERSION_OF)
        .arg(&second)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let back = latest(&ctx, &alice).await?.expect_status(200)?;
    ensure_eq!(
        back.json()?["version"],
        json!(first),
        "deleting the latest version leaves the one before"
    );
    let gone = ctx
        .op(Method::GET, VERSION_OF)
        .arg(&second)
        .token(&alice.access_token)
        .send()
        .await?;
    ensure_eq!(gone.status, 404, "a deleted version");
    let deleted_again = ctx
        .op(Method::DELETE, VERSION_OF)
        .arg(&second)
        .token(&alice.access_token)
        .send()
        .await?;
    // "If the backup was previously deleted, the call should succeed rather than returning
    // an error."
    ensure_eq!(deleted_again.status, 200, "deleting a deleted version");
    let never = ctx
        .op(Method::DELETE, VERSION_OF)
        .arg("99999")
        .token(&alice.access_token)
        .send()
        .await?;
    ensure_eq!(never.status, 404, "deleting a version that never existed");
    let updated_gone = ctx
        .op(Method::PUT, VERSION_OF)
        .arg(&second)
        .token(&alice.access_token)
        .json(&json!({ "algorithm": ALGORITHM, "auth_data": auth_data("x") }))
        .send()
        .await?;
    ensure_eq!(updated_gone.status, 404, "updating a deleted version");
    let third = create(&ctx, &alice, "key-three").await?;
    ensure!(
        third != second,
        "a deleted version's number is not reused: {third}"
    );
    Ok(())
}

async fn backed_up_keys_keep_the_better_key_and_move_the_etag(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("backup_keeper").await?;
    let version = create(&ctx, &alice, "pk").await?;
    let stored = put_session(
        &ctx,
        &alice,
        &version,
        "sess",
        &key_data(false, 5, 1, "first"),
    )
    .await?
    .expect_status(200)?;
    ensure_eq!(stored.json()?["count"], json!(1), "one key");
    let first_etag = stored.json()?["etag"].clone();

    // A lower first message index wins; a higher one does not replace it.
    let better = put_session(
        &ctx,
        &alice,
        &version,
        "sess",
        &key_data(false, 2, 1, "better"),
    )
    .await?
    .expect_status(200)?;
    ensure!(
        better.json()?["etag"] != first_etag,
        "the etag moves when keys change"
    );
    put_session(
        &ctx,
        &alice,
        &version,
        "sess",
        &key_data(false, 9, 0, "worse"),
    )
    .await?
    .expect_status(200)?;
    let read = get_session(&ctx, &alice, &version, "sess")
        .await?
        .expect_status(200)?;
    ensure_eq!(
        *read.json()?,
        key_data(false, 2, 1, "better"),
        "the better key stays"
    );
    // A verified key beats any unverified one.
    put_session(
        &ctx,
        &alice,
        &version,
        "sess",
        &key_data(true, 40, 3, "verified"),
    )
    .await?
    .expect_status(200)?;
    let read = get_session(&ctx, &alice, &version, "sess")
        .await?
        .expect_status(200)?;
    ensure_eq!(
        *read.json()?,
        key_data(true, 40, 3, "verified"),
        "verified wins"
    );

    let deleted = ctx
        .op(Method::DELETE, SESSION_KEY)
        .arg(ROOM)
        .arg("sess")
        .query("version", &version)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        deleted.json()?["count"],
        json!(0),
        "count after deleting the key"
    );
    let missing = get_session(&ctx, &alice, &version, "sess").await?;
    ensure_eq!(missing.status, 404, "a deleted session key");
    ensure_eq!(missing.errcode(), Some("M_NOT_FOUND"), "its errcode");
    Ok(())
}

async fn keys_for_a_whole_backup_and_a_room(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("backup_bulk").await?;
    let version = create(&ctx, &alice, "pk").await?;
    let other_room = "!elsewhere:example.org";
    let stored = ctx
        .op(Method::PUT, KEYS)
        .query("version", &version)
        .token(&alice.access_token)
        .json(&json!({ "rooms": {
            ROOM: { "sessions": { "a": key_data(true, 0, 0, "a"), "b": key_data(true, 0, 0, "b") } },
            other_room: { "sessions": { "c": key_data(false, 0, 0, "c") } },
        }}))
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(stored.json()?["count"], json!(3), "three keys");

    let all = ctx
        .op(Method::GET, KEYS)
        .query("version", &version)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        all.json()?["rooms"][other_room]["sessions"]["c"],
        key_data(false, 0, 0, "c"),
        "a key read back from the whole backup"
    );
    let room = ctx
        .op(Method::GET, ROOM_KEYS)
        .arg(ROOM)
        .query("version", &version)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let sessions = room.json()?["sessions"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    ensure_eq!(sessions.len(), 2, "the room's two sessions: {sessions:?}");
    let empty = ctx
        .op(Method::GET, ROOM_KEYS)
        .arg("!nothing:example.org")
        .query("version", &version)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        *empty.json()?,
        json!({"sessions": {}}),
        "a room with no keys"
    );

    let after = ctx
        .op(Method::DELETE, ROOM_KEYS)
        .arg(ROOM)
        .query("version", &version)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(after.json()?["count"], json!(1), "deleting a room's keys");
    let cleared = ctx
        .op(Method::DELETE, KEYS)
        .query("version", &version)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(cleared.json()?["count"], json!(0), "deleting every key");
    Ok(())
}

async fn writing_to_an_old_backup_names_the_current_version(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("backup_stale").await?;
    let old = create(&ctx, &alice, "old").await?;
    let current = create(&ctx, &alice, "new").await?;
    let refused = ctx
        .op(Method::PUT, ROOM_KEYS)
        .arg(ROOM)
        .query("version", &old)
        .token(&alice.access_token)
        .json(&json!({ "sessions": { "s": key_data(true, 0, 0, "s") } }))
        .send()
        .await?;
    ensure_eq!(
        refused.status,
        403,
        "writing to a version that is not the latest"
    );
    ensure_eq!(
        refused.errcode(),
        Some("M_WRONG_ROOM_KEYS_VERSION"),
        "its errcode"
    );
    ensure_eq!(
        refused.json()?["current_version"],
        json!(current),
        "the error names the current version"
    );
    let unknown = put_session(&ctx, &alice, "99999", "s", &key_data(true, 0, 0, "s")).await?;
    ensure_eq!(
        unknown.status,
        404,
        "writing to a version that never existed"
    );
    let malformed = put_session(
        &ctx,
        &alice,
        &current,
        "s",
        &json!({"first_message_index": 0, "forwarded_count": 0, "is_verified": true}),
    )
    .await?;
    ensure_eq!(
        malformed.status,
        400,
        "key data without its required session_data"
    );
    Ok(())
}

async fn another_users_backup_is_out_of_reach(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("backup_private").await?;
    let mallory = ctx.register_user("backup_snoop").await?;
    let version = create(&ctx, &alice, "alice-key").await?;
    put_session(
        &ctx,
        &alice,
        &version,
        "secret",
        &key_data(true, 0, 0, "secret"),
    )
    .await?
    .expect_status(200)?;
    let peek = ctx
        .op(Method::GET, VERSION_OF)
        .arg(&version)
        .token(&mallory.access_token)
        .send()
        .await?;
    ensure_eq!(peek.status, 404, "another user's backup version");
    let read = get_session(&ctx, &mallory, &version, "secret").await?;
    ensure_eq!(read.status, 404, "another user's backed-up key");
    let write = put_session(
        &ctx,
        &mallory,
        &version,
        "secret",
        &key_data(true, 0, 0, "evil"),
    )
    .await?;
    ensure_eq!(write.status, 404, "writing into another user's backup");
    let still = get_session(&ctx, &alice, &version, "secret")
        .await?
        .expect_status(200)?;
    ensure_eq!(
        *still.json()?,
        key_data(true, 0, 0, "secret"),
        "alice's key untouched"
    );
    Ok(())
}
