//! Which endpoints guest accounts may call: the spec's list in its guest access module
//! (reading rooms and media, taking part in rooms, their own devices and display name, keys),
//! plus logging out and `/join/{roomIdOrAlias}`, the alias form of the join it lists.

use http::Method;

/// (method, path after `/_matrix/client/<version>`), path parameters written `*`.
const GUEST_ENDPOINTS: &[(Method, &str)] = &[
    (Method::GET, "/rooms/*/state"),
    (Method::GET, "/rooms/*/context/*"),
    (Method::GET, "/rooms/*/event/*"),
    (Method::GET, "/rooms/*/state/*/*"),
    (Method::GET, "/rooms/*/messages"),
    (Method::GET, "/rooms/*/members"),
    (Method::GET, "/rooms/*/initialSync"),
    (Method::GET, "/sync"),
    (Method::GET, "/events"),
    (Method::GET, "/media/download/*/*"),
    (Method::GET, "/media/download/*/*/*"),
    (Method::GET, "/media/thumbnail/*/*"),
    (Method::POST, "/rooms/*/join"),
    (Method::POST, "/join/*"),
    (Method::POST, "/rooms/*/leave"),
    (Method::PUT, "/rooms/*/send/*/*"),
    (Method::PUT, "/rooms/*/state/*/*"),
    (Method::PUT, "/sendToDevice/*/*"),
    (Method::PUT, "/profile/*/*"),
    (Method::DELETE, "/profile/*/*"),
    (Method::GET, "/devices"),
    (Method::GET, "/devices/*"),
    (Method::PUT, "/devices/*"),
    (Method::GET, "/account/whoami"),
    (Method::POST, "/keys/upload"),
    (Method::POST, "/keys/query"),
    (Method::POST, "/keys/claim"),
    (Method::POST, "/logout"),
];

/// Whether a guest may call `method` on the route `template` (a ruma path template).
pub fn allowed(method: &Method, template: &str) -> bool {
    let Some(rest) = template.strip_prefix("/_matrix/client/") else {
        return false;
    };
    // Drop the version segment (`v3`, `r0`, `v1`, an unstable prefix).
    let Some((_, path)) = rest.split_once('/') else {
        return false;
    };
    let shape: String = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') || segment.starts_with(':') {
                "*"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let shape = format!("/{shape}");
    GUEST_ENDPOINTS
        .iter()
        .any(|(m, p)| m == method && *p == shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_endpoints_are_allowed_in_any_version() {
        assert!(allowed(&Method::GET, "/_matrix/client/v3/sync"));
        assert!(allowed(
            &Method::GET,
            "/_matrix/client/r0/rooms/{roomId}/messages"
        ));
        assert!(allowed(
            &Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"
        ));
        assert!(allowed(
            &Method::GET,
            "/_matrix/client/v1/media/download/{serverName}/{mediaId}"
        ));
    }

    #[test]
    fn everything_else_is_refused() {
        assert!(!allowed(&Method::POST, "/_matrix/client/v3/createRoom"));
        assert!(!allowed(
            &Method::DELETE,
            "/_matrix/client/v3/devices/{deviceId}"
        ));
        assert!(!allowed(
            &Method::POST,
            "/_matrix/client/v3/rooms/{roomId}/invite"
        ));
        assert!(!allowed(&Method::GET, "/_matrix/client/v3/pushrules/"));
    }
}
