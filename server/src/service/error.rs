use crate::storage;

/// Why a request failed, in domain terms. `http::error` gives each kind its one wire form;
/// that table is the only place the wire form is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No endpoint at this path.
    Unrecognized,
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// The body is not JSON at all.
    NotJson,
    /// The body is JSON of the wrong shape.
    BadJson,
    /// A query or path parameter is malformed.
    InvalidParam,
    /// The body exceeds the configured limit.
    TooLarge,
    NotFound,
    Forbidden,
    MissingToken,
    UnknownToken,
    LimitExceeded {
        retry_after_ms: u64,
    },
    /// The user id is taken.
    UserInUse,
    /// The requested user name is not a valid localpart.
    InvalidUsername,
    /// The account is deactivated.
    UserDeactivated,
    /// The requested room version is not one this server implements.
    UnsupportedRoomVersion,
    /// A profile would exceed 64 KiB.
    ProfileTooLarge,
    /// A profile field name exceeds 255 bytes.
    KeyTooLarge,
    /// The user is still in the room they asked to forget.
    StillInRoom,
    /// Account data of a type the server manages through another API.
    ServerManagedData,
    /// createRoom's alias is taken.
    RoomInUse,
    /// A room alias is taken (`PUT /directory/room`).
    AliasInUse,
    /// A canonical alias event names a local alias that does not point at the room.
    BadAlias,
    /// Content for a reserved media id was already uploaded.
    CannotOverwriteMedia,
    /// The media id is reserved but its content has not arrived within the wait.
    NotYetUploaded,
    /// The media cannot be thumbnailed (not an image, or not one the server decodes).
    CannotThumbnail,
    /// A push rule cannot be placed or built as asked.
    PushRuleInvalid,
    /// A key's signature is missing or does not verify.
    InvalidSignature,
    /// A required parameter is absent (a cross-signing key with no master key to check it).
    MissingParam,
    /// A key backup request names a version that is not the current one; the error's `body`
    /// holds `current_version`.
    WrongRoomKeysVersion,
    /// Guest accounts may not do this.
    GuestAccessForbidden,
    /// User-interactive authentication must continue; the error's `body` holds the flows and
    /// session. `failed` when the last stage attempted was wrong.
    UserInteractive {
        failed: bool,
    },
    /// A dependency (database, Redis) is down; the request may succeed later.
    Unavailable,
    /// A bug. The message is logged, never sent to the caller.
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Extra fields of the error body (user-interactive auth flows).
    pub body: Option<serde_json::Value>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            body: None,
        }
    }

    pub fn with_body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Self {
        let kind = match e.kind {
            storage::ErrorKind::Unavailable => ErrorKind::Unavailable,
            // A conflict the service did not anticipate is a bug in the service.
            storage::ErrorKind::Conflict | storage::ErrorKind::Internal => ErrorKind::Internal,
        };
        Self::new(kind, e.message)
    }
}
