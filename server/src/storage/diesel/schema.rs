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
