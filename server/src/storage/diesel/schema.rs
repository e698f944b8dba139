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
    }
}

::diesel::table! {
    profile_fields (user_id, field) {
        user_id -> Text,
        field -> Text,
        value -> Text,
    }
}
