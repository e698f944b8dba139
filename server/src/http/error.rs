//! The one table from [`ErrorKind`] to (HTTP status, Matrix errcode), and the error body.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use ruma::api::error::{DeserializationError, FromHttpRequestError};
use serde_json::json;

use crate::service::{Error, ErrorKind};

/// The status and errcode for each kind. Every error response the server sends comes from here.
pub fn status_and_errcode(kind: ErrorKind) -> (StatusCode, &'static str) {
    use ErrorKind as K;
    match kind {
        K::Unrecognized => (StatusCode::NOT_FOUND, "M_UNRECOGNIZED"),
        K::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED"),
        K::NotJson => (StatusCode::BAD_REQUEST, "M_NOT_JSON"),
        K::BadJson => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
        K::InvalidParam => (StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
        K::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
        K::NotFound => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
        K::Forbidden => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
        K::MissingToken => (StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN"),
        K::UnknownToken => (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN"),
        K::LimitExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED"),
        K::UserInUse => (StatusCode::BAD_REQUEST, "M_USER_IN_USE"),
        K::InvalidUsername => (StatusCode::BAD_REQUEST, "M_INVALID_USERNAME"),
        K::UserDeactivated => (StatusCode::FORBIDDEN, "M_USER_DEACTIVATED"),
        K::UnsupportedRoomVersion => (StatusCode::BAD_REQUEST, "M_UNSUPPORTED_ROOM_VERSION"),
        K::ProfileTooLarge => (StatusCode::BAD_REQUEST, "M_PROFILE_TOO_LARGE"),
        K::KeyTooLarge => (StatusCode::BAD_REQUEST, "M_KEY_TOO_LARGE"),
        K::StillInRoom => (StatusCode::BAD_REQUEST, "M_UNKNOWN"),
        K::ServerManagedData => (StatusCode::METHOD_NOT_ALLOWED, "M_BAD_JSON"),
        K::RoomInUse => (StatusCode::BAD_REQUEST, "M_ROOM_IN_USE"),
        K::AliasInUse => (StatusCode::CONFLICT, "M_UNKNOWN"),
        K::BadAlias => (StatusCode::BAD_REQUEST, "M_BAD_ALIAS"),
        K::CannotOverwriteMedia => (StatusCode::CONFLICT, "M_CANNOT_OVERWRITE_MEDIA"),
        K::NotYetUploaded => (StatusCode::GATEWAY_TIMEOUT, "M_NOT_YET_UPLOADED"),
        K::CannotThumbnail => (StatusCode::BAD_REQUEST, "M_UNKNOWN"),
        K::PushRuleInvalid => (StatusCode::BAD_REQUEST, "M_UNKNOWN"),
        K::InvalidSignature => (StatusCode::BAD_REQUEST, "M_INVALID_SIGNATURE"),
        K::MissingParam => (StatusCode::BAD_REQUEST, "M_MISSING_PARAM"),
        K::WrongRoomKeysVersion => (StatusCode::FORBIDDEN, "M_WRONG_ROOM_KEYS_VERSION"),
        K::GuestAccessForbidden => (StatusCode::FORBIDDEN, "M_GUEST_ACCESS_FORBIDDEN"),
        K::UserInteractive { .. } => (StatusCode::UNAUTHORIZED, "M_FORBIDDEN"),
        K::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN"),
        K::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN"),
    }
}

/// Builds the JSON error response. Internal details never reach the caller: they are logged
/// with the request id, and the body says only what kind of failure it was.
pub fn error_response(error: &Error) -> http::Response<Bytes> {
    let (status, errcode) = status_and_errcode(error.kind);
    let message = match error.kind {
        ErrorKind::Internal => {
            tracing::error!(error = %error.message, "internal error");
            "Internal server error".to_owned()
        }
        ErrorKind::Unavailable => {
            tracing::warn!(error = %error.message, "dependency unavailable");
            "Service temporarily unavailable".to_owned()
        }
        _ => error.message.clone(),
    };
    let mut body = match (&error.kind, &error.body) {
        // The first round of user-interactive auth is not an error: flows and session only.
        (ErrorKind::UserInteractive { failed: false }, Some(extra)) => extra.clone(),
        (_, Some(serde_json::Value::Object(extra))) => {
            let mut body = json!({ "errcode": errcode, "error": message });
            for (k, v) in extra {
                body[k] = v.clone();
            }
            body
        }
        _ => json!({ "errcode": errcode, "error": message }),
    };
    let mut response = http::Response::new(Bytes::new());
    if let ErrorKind::LimitExceeded { retry_after_ms } = error.kind {
        body["retry_after_ms"] = json!(retry_after_ms);
        let seconds = retry_after_ms.div_ceil(1000).max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    *response.body_mut() = Bytes::from(body.to_string());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Classifies ruma's request-parsing failures.
pub fn from_request_error(e: FromHttpRequestError) -> Error {
    match e {
        FromHttpRequestError::MethodMismatch { .. } => Error::new(
            ErrorKind::MethodNotAllowed,
            "Method not allowed on this endpoint",
        ),
        FromHttpRequestError::Deserialization(e) => from_deserialization_error(e),
        other => Error::new(ErrorKind::BadJson, other.to_string()),
    }
}

fn from_deserialization_error(e: DeserializationError) -> Error {
    match e {
        DeserializationError::Json(e) if e.is_syntax() || e.is_eof() => {
            Error::new(ErrorKind::NotJson, format!("Body is not valid JSON: {e}"))
        }
        DeserializationError::Json(e) => Error::new(ErrorKind::BadJson, e.to_string()),
        DeserializationError::Utf8(e) => {
            Error::new(ErrorKind::NotJson, format!("Body is not UTF-8: {e}"))
        }
        DeserializationError::Query(e) => Error::new(
            ErrorKind::InvalidParam,
            format!("Invalid query string: {e}"),
        ),
        DeserializationError::Ident(e) => {
            Error::new(ErrorKind::InvalidParam, format!("Invalid identifier: {e}"))
        }
        other => Error::new(ErrorKind::BadJson, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_message() {
        let response = error_response(&Error::internal("connection string postgres://secret"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(!body.contains("secret"), "{body}");
        assert!(body.contains("M_UNKNOWN"));
    }

    #[test]
    fn rate_limit_errors_carry_retry_after_in_body_and_header() {
        let response = error_response(&Error::new(
            ErrorKind::LimitExceeded {
                retry_after_ms: 1500,
            },
            "Too many requests",
        ));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["retry_after_ms"], 1500);
        assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    }
}
