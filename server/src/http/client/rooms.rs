//! Rooms: creating, joining, leaving, inviting, sending, and reading state and events.

use ruma::api::client::{
    knock::knock_room,
    membership::{
        ban_user, forget_room, get_member_events, invite_user, join_room_by_id,
        join_room_by_id_or_alias, joined_members, joined_rooms, kick_user, leave_room, unban_user,
    },
    message::send_message_event,
    read_marker::set_read_marker,
    receipt::create_receipt,
    redact::redact_event,
    room::{create_room, upgrade_room},
    space::get_hierarchy,
    state::{get_state_event_for_key, get_state_events, send_state_event},
    typing::create_typing_event,
};
use serde_json::{Map, Value, json};

use crate::{
    http::{AppState, router::Router},
    service::{
        Error, ErrorKind,
        accounts::AuthedUser,
        rate_limit::Action,
        rooms::{CreateRoomParams, Moderation},
        spaces::HierarchyRequest,
    },
};

/// Charges one action to the user's bucket (per user, not per device) and to the client
/// address's.
fn limit(state: &AppState, action: Action, user: &AuthedUser) -> Result<(), Error> {
    state
        .services
        .rate_limiter
        .check_user_and_ip(action, user.user_id.as_str(), user.client_ip)
}

pub fn register(router: &mut Router) {
    router.endpoint_authed(create_room);
    router.endpoint_authed(upgrade_room);
    router.endpoint_authed(send_message_event);
    router.endpoint_authed(send_state_event);
    router.endpoint_authed(joined_rooms);
    router.endpoint_authed(join_room_by_id);
    router.endpoint_authed(join_room_by_id_or_alias);
    router.endpoint_authed(knock_room);
    router.endpoint_authed(leave_room);
    router.endpoint_authed(invite_user);
    router.endpoint_authed(kick_user);
    router.endpoint_authed(ban_user);
    router.endpoint_authed(unban_user);
    router.endpoint_authed(forget_room);
    router.endpoint_authed(redact_event);
    router.endpoint_authed(create_typing_event);
    router.endpoint_authed(create_receipt);
    router.endpoint_authed(set_read_marker);
    // Events are served in the client format built by the room service.
    router.endpoint_authed_json(get_state_events);
    router.endpoint_authed_json(get_state_event_for_key);
    router.endpoint_authed_json(joined_members);
    router.endpoint_authed_json(get_member_events);
    router.endpoint_authed_json(get_hierarchy);
}

pub(super) fn object(
    raw: &serde_json::value::RawValue,
    what: &str,
) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str(raw.get()) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::new(
            ErrorKind::BadJson,
            format!("{what} must be a JSON object"),
        )),
    }
}

/// `POST /_matrix/client/v3/createRoom`
async fn create_room(
    state: AppState,
    user: AuthedUser,
    request: create_room::v3::Request,
) -> Result<create_room::v3::Response, Error> {
    limit(&state, Action::RoomCreation, &user)?;
    let alias = request
        .room_alias_name
        .as_deref()
        .map(|name| state.services.aliases.local_alias(name))
        .transpose()?;
    let mut initial_state = Vec::new();
    for raw in &request.initial_state {
        let event = object(raw.json(), "initial_state entries")?;
        let event_type = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let state_key = event
            .get("state_key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let content = event.get("content").cloned().unwrap_or_else(|| json!({}));
        if event_type.is_empty() {
            return Err(Error::new(
                ErrorKind::BadJson,
                "initial_state entries need a type",
            ));
        }
        initial_state.push((event_type, state_key, content));
    }
    let params = CreateRoomParams {
        room_version: request.room_version.map(|v| v.to_string()),
        preset: request.preset.map(|p| p.to_string()),
        public: request.visibility == ruma::api::client::room::Visibility::Public,
        name: request.name,
        topic: request.topic,
        invite: request.invite.iter().map(ToString::to_string).collect(),
        creation_content: request
            .creation_content
            .map(|c| object(c.json(), "creation_content"))
            .transpose()?,
        power_level_content_override: request
            .power_level_content_override
            .map(|c| object(c.json(), "power_level_content_override"))
            .transpose()?,
        initial_state,
        alias,
    };
    let publish = params.public;
    let room_id = state.services.rooms.create_room(&user, params).await?;
    if publish {
        state
            .services
            .room_directory
            .publish_new_room(&room_id)
            .await?;
    }
    let room_id =
        ruma::OwnedRoomId::try_from(room_id).map_err(|e| Error::internal(e.to_string()))?;
    Ok(create_room::v3::Response::new(room_id))
}

fn event_id(id: String) -> Result<ruma::OwnedEventId, Error> {
    ruma::OwnedEventId::try_from(id).map_err(|e| Error::internal(e.to_string()))
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`
async fn send_message_event(
    state: AppState,
    user: AuthedUser,
    request: send_message_event::v3::Request,
) -> Result<send_message_event::v3::Response, Error> {
    limit(&state, Action::Message, &user)?;
    let content = Value::Object(object(request.body.json(), "the event content")?);
    let id = state
        .services
        .rooms
        .send(
            &user,
            request.room_id.as_str(),
            &request.event_type.to_string(),
            None,
            content,
            Some(request.txn_id.to_string()),
        )
        .await?;
    Ok(send_message_event::v3::Response::new(event_id(id)?))
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
async fn send_state_event(
    state: AppState,
    user: AuthedUser,
    request: send_state_event::v3::Request,
) -> Result<send_state_event::v3::Response, Error> {
    limit(&state, Action::Message, &user)?;
    let content = Value::Object(object(request.body.json(), "the event content")?);
    let id = state
        .services
        .rooms
        .send(
            &user,
            request.room_id.as_str(),
            &request.event_type.to_string(),
            Some(&request.state_key),
            content,
            None,
        )
        .await?;
    Ok(send_state_event::v3::Response::new(event_id(id)?))
}

/// `GET /_matrix/client/v3/joined_rooms`
async fn joined_rooms(
    state: AppState,
    user: AuthedUser,
    _: joined_rooms::v3::Request,
) -> Result<joined_rooms::v3::Response, Error> {
    let rooms = state.services.rooms.joined_rooms(&user).await?;
    let rooms = rooms
        .into_iter()
        .map(|r| ruma::OwnedRoomId::try_from(r).map_err(|e| Error::internal(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(joined_rooms::v3::Response::new(rooms))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/join`
async fn join_room_by_id(
    state: AppState,
    user: AuthedUser,
    request: join_room_by_id::v3::Request,
) -> Result<join_room_by_id::v3::Response, Error> {
    limit(&state, Action::Join, &user)?;
    let room_id = request.room_id.as_str();
    state
        .services
        .rooms
        .set_membership(
            &user,
            room_id,
            user.user_id.as_str(),
            "join",
            request.reason,
        )
        .await?;
    Ok(join_room_by_id::v3::Response::new(request.room_id))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/leave`
async fn leave_room(
    state: AppState,
    user: AuthedUser,
    request: leave_room::v3::Request,
) -> Result<leave_room::v3::Response, Error> {
    let room_id = request.room_id.as_str();
    state
        .services
        .rooms
        .set_membership(
            &user,
            room_id,
            user.user_id.as_str(),
            "leave",
            request.reason,
        )
        .await?;
    Ok(leave_room::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/invite`
async fn invite_user(
    state: AppState,
    user: AuthedUser,
    request: invite_user::v3::Request,
) -> Result<invite_user::v3::Response, Error> {
    limit(&state, Action::Invite, &user)?;
    let invite_user::v3::InvitationRecipient::UserId(recipient) = request.recipient else {
        return Err(Error::new(
            ErrorKind::Unrecognized,
            "Third-party invites are not supported yet",
        ));
    };
    state
        .services
        .rooms
        .set_membership(
            &user,
            request.room_id.as_str(),
            recipient.user_id.as_str(),
            "invite",
            recipient.reason,
        )
        .await?;
    Ok(invite_user::v3::Response::new())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/state`
async fn get_state_events(
    state: AppState,
    user: AuthedUser,
    request: get_state_events::v3::Request,
) -> Result<Value, Error> {
    Ok(Value::Array(
        state
            .services
            .room_state
            .state(&user, request.room_id.as_str())
            .await?,
    ))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}`
async fn get_state_event_for_key(
    state: AppState,
    user: AuthedUser,
    request: get_state_event_for_key::v3::Request,
) -> Result<Value, Error> {
    let event = state
        .services
        .room_state
        .state_event(
            &user,
            request.room_id.as_str(),
            &request.event_type.to_string(),
            &request.state_key,
        )
        .await?;
    if request.format == get_state_event_for_key::v3::StateEventFormat::Event {
        Ok(event)
    } else {
        Ok(event["content"].clone())
    }
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
async fn redact_event(
    state: AppState,
    user: AuthedUser,
    request: redact_event::v3::Request,
) -> Result<redact_event::v3::Response, Error> {
    limit(&state, Action::Message, &user)?;
    let id = state
        .services
        .rooms
        .redact(
            &user,
            request.room_id.as_str(),
            request.event_id.as_str(),
            request.reason,
            Some(request.txn_id.to_string()),
        )
        .await?;
    Ok(redact_event::v3::Response::new(event_id(id)?))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/joined_members`
async fn joined_members(
    state: AppState,
    user: AuthedUser,
    request: joined_members::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .room_state
        .joined_members(&user, request.room_id.as_str())
        .await
}

/// `GET /_matrix/client/v3/rooms/{roomId}/members`
async fn get_member_events(
    state: AppState,
    user: AuthedUser,
    request: get_member_events::v3::Request,
) -> Result<Value, Error> {
    let membership = request.membership.map(|m| m.to_string());
    let not_membership = request.not_membership.map(|m| m.to_string());
    state
        .services
        .room_state
        .members(
            &user,
            request.room_id.as_str(),
            request.at.as_deref(),
            membership.as_deref(),
            not_membership.as_deref(),
        )
        .await
}

/// `POST /_matrix/client/v3/join/{roomIdOrAlias}`
async fn join_room_by_id_or_alias(
    state: AppState,
    user: AuthedUser,
    request: join_room_by_id_or_alias::v3::Request,
) -> Result<join_room_by_id_or_alias::v3::Response, Error> {
    limit(&state, Action::Join, &user)?;
    let room_id = resolve_room(&state, request.room_id_or_alias).await?;
    state
        .services
        .rooms
        .set_membership(
            &user,
            room_id.as_str(),
            user.user_id.as_str(),
            "join",
            request.reason,
        )
        .await?;
    Ok(join_room_by_id_or_alias::v3::Response::new(room_id))
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`
async fn create_typing_event(
    state: AppState,
    user: AuthedUser,
    request: create_typing_event::v3::Request,
) -> Result<create_typing_event::v3::Response, Error> {
    let typing = match request.state {
        create_typing_event::v3::Typing::Yes(info) => Some(info.timeout),
        _ => None,
    };
    state
        .services
        .rooms
        .set_typing(
            &user,
            request.room_id.as_str(),
            request.user_id.as_str(),
            typing,
            &state.services.typing,
        )
        .await?;
    Ok(create_typing_event::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`
async fn create_receipt(
    state: AppState,
    user: AuthedUser,
    request: create_receipt::v3::Request,
) -> Result<create_receipt::v3::Response, Error> {
    let (room_id, event_id) = (request.room_id.as_str(), request.event_id.as_str());
    let rooms = &state.services.rooms;
    if request.receipt_type == create_receipt::v3::ReceiptType::FullyRead {
        if request.thread.as_str().is_some() {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "thread_id cannot be given for m.fully_read",
            ));
        }
        rooms
            .set_fully_read(&user, room_id, event_id, &state.services.account_data)
            .await?;
    } else {
        rooms
            .post_receipt(
                &user,
                room_id,
                request.receipt_type.as_str(),
                event_id,
                request.thread.as_str().map(str::to_owned),
            )
            .await?;
    }
    Ok(create_receipt::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/read_markers`
async fn set_read_marker(
    state: AppState,
    user: AuthedUser,
    request: set_read_marker::v3::Request,
) -> Result<set_read_marker::v3::Response, Error> {
    let room_id = request.room_id.as_str();
    let rooms = &state.services.rooms;
    if let Some(event_id) = &request.fully_read {
        rooms
            .set_fully_read(
                &user,
                room_id,
                event_id.as_str(),
                &state.services.account_data,
            )
            .await?;
    }
    for (receipt_type, event_id) in [
        ("m.read", &request.read_receipt),
        ("m.read.private", &request.private_read_receipt),
    ] {
        if let Some(event_id) = event_id {
            rooms
                .post_receipt(&user, room_id, receipt_type, event_id.as_str(), None)
                .await?;
        }
    }
    Ok(set_read_marker::v3::Response::new())
}

async fn moderate(
    state: &AppState,
    user: &AuthedUser,
    room_id: &ruma::RoomId,
    target: &ruma::UserId,
    action: Moderation,
    reason: Option<String>,
) -> Result<(), Error> {
    state
        .services
        .rooms
        .moderate(user, room_id.as_str(), target.as_str(), action, reason)
        .await
        .map(drop)
}

/// `POST /_matrix/client/v3/rooms/{roomId}/kick`
async fn kick_user(
    state: AppState,
    user: AuthedUser,
    request: kick_user::v3::Request,
) -> Result<kick_user::v3::Response, Error> {
    let (room, target) = (&request.room_id, &request.user_id);
    moderate(
        &state,
        &user,
        room,
        target,
        Moderation::Kick,
        request.reason,
    )
    .await?;
    Ok(kick_user::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/ban`
async fn ban_user(
    state: AppState,
    user: AuthedUser,
    request: ban_user::v3::Request,
) -> Result<ban_user::v3::Response, Error> {
    let (room, target) = (&request.room_id, &request.user_id);
    moderate(&state, &user, room, target, Moderation::Ban, request.reason).await?;
    Ok(ban_user::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/unban`
async fn unban_user(
    state: AppState,
    user: AuthedUser,
    request: unban_user::v3::Request,
) -> Result<unban_user::v3::Response, Error> {
    let (room, target) = (&request.room_id, &request.user_id);
    moderate(
        &state,
        &user,
        room,
        target,
        Moderation::Unban,
        request.reason,
    )
    .await?;
    Ok(unban_user::v3::Response::new())
}

/// `POST /_matrix/client/v3/rooms/{roomId}/forget`
async fn forget_room(
    state: AppState,
    user: AuthedUser,
    request: forget_room::v3::Request,
) -> Result<forget_room::v3::Response, Error> {
    state
        .services
        .rooms
        .forget(&user, request.room_id.as_str())
        .await?;
    Ok(forget_room::v3::Response::new())
}

/// A room id as given, or the room a local alias names.
async fn resolve_room(
    state: &AppState,
    room_id_or_alias: ruma::OwnedRoomOrAliasId,
) -> Result<ruma::OwnedRoomId, Error> {
    match room_id_or_alias.try_into() {
        Ok(room_id) => Ok(room_id),
        Err(alias) => {
            let alias: ruma::OwnedRoomAliasId = alias;
            let (room_id, _) = state.services.aliases.resolve(&alias).await?;
            ruma::OwnedRoomId::try_from(room_id).map_err(|e| Error::internal(e.to_string()))
        }
    }
}

/// `POST /_matrix/client/v3/knock/{roomIdOrAlias}`
async fn knock_room(
    state: AppState,
    user: AuthedUser,
    request: knock_room::v3::Request,
) -> Result<knock_room::v3::Response, Error> {
    limit(&state, Action::Join, &user)?;
    let room_id = resolve_room(&state, request.room_id_or_alias).await?;
    state
        .services
        .rooms
        .set_membership(
            &user,
            room_id.as_str(),
            user.user_id.as_str(),
            "knock",
            request.reason,
        )
        .await?;
    Ok(knock_room::v3::Response::new(room_id))
}

/// `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
async fn upgrade_room(
    state: AppState,
    user: AuthedUser,
    request: upgrade_room::v3::Request,
) -> Result<upgrade_room::v3::Response, Error> {
    limit(&state, Action::RoomCreation, &user)?;
    let new_room = state
        .services
        .room_upgrades
        .upgrade(
            &user,
            request.room_id.as_str(),
            request.new_version.as_str(),
            request
                .additional_creators
                .iter()
                .map(ToString::to_string)
                .collect(),
        )
        .await?;
    let new_room =
        ruma::OwnedRoomId::try_from(new_room).map_err(|e| Error::internal(e.to_string()))?;
    Ok(upgrade_room::v3::Response::new(new_room))
}

/// `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
async fn get_hierarchy(
    state: AppState,
    user: AuthedUser,
    request: get_hierarchy::v1::Request,
) -> Result<Value, Error> {
    let to_u64 = |v: Option<ruma::UInt>| v.map(u64::from);
    state
        .services
        .spaces
        .hierarchy(
            &user,
            request.room_id.as_str(),
            HierarchyRequest {
                suggested_only: request.suggested_only,
                max_depth: to_u64(request.max_depth),
                limit: to_u64(request.limit),
                from: request.from,
            },
        )
        .await
}
