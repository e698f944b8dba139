/// What went wrong in storage, as far as a caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A row with the same key already exists.
    Conflict,
    /// The database cannot be reached or the pool is exhausted.
    Unavailable,
    /// Anything else: a bug or a corrupted database.
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("storage error ({kind:?}): {message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}
