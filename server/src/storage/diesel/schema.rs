//! Table definitions, written by hand so one schema serves both backends: only types that
//! exist on both (`BigInt`, `Text`, `Binary`, `Bool`).

::diesel::table! {
    users (user_id) {
        user_id -> Text,
        password_hash -> Nullable<Text>,
        is_guest -> Bool,
        is_admin -> Bool,
        deactivated -> Bool,
        created_ts -> BigInt,
    }
}

::diesel::table! {
    devices (user_id, device_id) {
        user_id -> Text,
        device_id -> Text,
        display_name -> Nullable<Text>,
        created_ts -> BigInt,
        last_seen_ts -> Nullable<BigInt>,
        last_seen_ip -> Nullable<Text>,
    }
}

::diesel::table! {
    access_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        device_id -> Text,
        created_ts -> BigInt,
        expires_ts -> Nullable<BigInt>,
        retires_refresh_hash -> Nullable<Text>,
    }
}

::diesel::table! {
    profile_fields (user_id, field) {
        user_id -> Text,
        field -> Text,
        value -> Text,
    }
}

::diesel::table! {
    rooms (room_id) {
        room_id -> Text,
        room_version -> Text,
        creator -> Text,
        created_ts -> BigInt,
    }
}

::diesel::table! {
    events (event_id) {
        event_id -> Text,
        room_id -> Text,
        stream_ordering -> BigInt,
        depth -> BigInt,
        event_type -> Text,
        state_key -> Nullable<Text>,
        sender -> Text,
        origin_server_ts -> BigInt,
        json -> Text,
    }
}

::diesel::table! {
    current_state (room_id, event_type, state_key) {
        room_id -> Text,
        event_type -> Text,
        state_key -> Text,
        event_id -> Text,
        membership -> Nullable<Text>,
    }
}

::diesel::table! {
    forward_extremities (room_id, event_id) {
        room_id -> Text,
        event_id -> Text,
    }
}

::diesel::table! {
    event_txn_ids (user_id, device_id, txn_id) {
        user_id -> Text,
        device_id -> Text,
        txn_id -> Text,
        event_id -> Text,
    }
}

::diesel::allow_tables_to_appear_in_same_query!(
    events,
    forward_extremities,
    event_relations,
    receipts,
    current_state,
    redactions
);

::diesel::table! {
    redactions (event_id) {
        event_id -> Text,
        redacts -> Text,
    }
}

::diesel::table! {
    filters (user_id, filter_id) {
        user_id -> Text,
        filter_id -> Text,
        filter -> Text,
    }
}

::diesel::table! {
    receipts (room_id, user_id, receipt_type, thread_id) {
        room_id -> Text,
        user_id -> Text,
        receipt_type -> Text,
        thread_id -> Text,
        event_id -> Text,
        ts -> BigInt,
        stream_id -> BigInt,
    }
}

::diesel::table! {
    account_data (user_id, room_id, data_type) {
        user_id -> Text,
        room_id -> Text,
        data_type -> Text,
        content -> Text,
        stream_id -> BigInt,
    }
}

::diesel::table! {
    room_aliases (alias) {
        alias -> Text,
        room_id -> Text,
        creator -> Text,
    }
}

::diesel::table! {
    room_directory (room_id) {
        room_id -> Text,
    }
}

::diesel::table! {
    media (media_id) {
        media_id -> Text,
        uploader -> Text,
        content_type -> Nullable<Text>,
        filename -> Nullable<Text>,
        sha256 -> Nullable<Text>,
        size -> BigInt,
        created_ts -> BigInt,
        expires_ts -> Nullable<BigInt>,
    }
}

::diesel::table! {
    media_thumbnails (media_id, width, height, method) {
        media_id -> Text,
        width -> BigInt,
        height -> BigInt,
        method -> Text,
        content_type -> Text,
        sha256 -> Text,
        size -> BigInt,
    }
}

::diesel::table! {
    event_relations (event_id) {
        event_id -> Text,
        room_id -> Text,
        relates_to -> Text,
        rel_type -> Text,
        event_type -> Text,
        sender -> Text,
        aggregation_key -> Nullable<Text>,
        origin_server_ts -> BigInt,
        stream_ordering -> BigInt,
    }
}

::diesel::table! {
    event_push_actions (room_id, user_id, stream_ordering) {
        room_id -> Text,
        user_id -> Text,
        stream_ordering -> BigInt,
        highlight -> Bool,
        thread_id -> Nullable<Text>,
        notify -> Bool,
    }
}

::diesel::table! {
    reports (id) {
        id -> BigInt,
        reporter -> Text,
        room_id -> Nullable<Text>,
        event_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        reason -> Text,
        ts -> BigInt,
    }
}

::diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        device_id -> Text,
        access_token_hash -> Text,
        created_ts -> BigInt,
        next_token_hash -> Nullable<Text>,
    }
}

::diesel::table! {
    to_device (stream_id) {
        stream_id -> BigInt,
        user_id -> Text,
        device_id -> Text,
        sender -> Text,
        event_type -> Text,
        content -> Text,
    }
}

::diesel::table! {
    to_device_txns (user_id, device_id, txn_id) {
        user_id -> Text,
        device_id -> Text,
        txn_id -> Text,
    }
}

::diesel::table! {
    device_keys (user_id, device_id) {
        user_id -> Text,
        device_id -> Text,
        keys_json -> Text,
    }
}

::diesel::table! {
    one_time_keys (user_id, device_id, key_id) {
        user_id -> Text,
        device_id -> Text,
        key_id -> Text,
        algorithm -> Text,
        key_json -> Text,
    }
}

::diesel::table! {
    fallback_keys (user_id, device_id, algorithm) {
        user_id -> Text,
        device_id -> Text,
        algorithm -> Text,
        key_id -> Text,
        key_json -> Text,
        used -> Bool,
    }
}

::diesel::allow_tables_to_appear_in_same_query!(access_tokens, users);

::diesel::table! {
    device_list_changes (stream_id) {
        stream_id -> BigInt,
        user_id -> Text,
    }
}

::diesel::table! {
    cross_signing_keys (user_id, key_type) {
        user_id -> Text,
        key_type -> Text,
        key_json -> Text,
    }
}

::diesel::table! {
    key_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id) {
        target_user_id -> Text,
        target_key_id -> Text,
        signer_user_id -> Text,
        signer_key_id -> Text,
        signature -> Text,
    }
}

::diesel::table! {
    backup_versions (user_id, version) {
        user_id -> Text,
        version -> BigInt,
        algorithm -> Text,
        auth_data -> Text,
        etag -> BigInt,
        deleted -> Bool,
    }
}

::diesel::table! {
    backup_keys (user_id, version, room_id, session_id) {
        user_id -> Text,
        version -> BigInt,
        room_id -> Text,
        session_id -> Text,
        first_message_index -> BigInt,
        forwarded_count -> BigInt,
        is_verified -> Bool,
        session_data -> Text,
    }
}

::diesel::table! {
    dehydrated_devices (user_id) {
        user_id -> Text,
        device_id -> Text,
        device_data -> Text,
    }
}

::diesel::table! {
    event_push_broadcasts (room_id, stream_ordering) {
        room_id -> Text,
        stream_ordering -> BigInt,
        sender -> Text,
        highlight -> Bool,
        thread_id -> Nullable<Text>,
    }
}

::diesel::allow_tables_to_appear_in_same_query!(event_push_actions, event_push_broadcasts);
