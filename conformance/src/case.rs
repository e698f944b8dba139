//! What a conformance case is, and how it reports.

use std::{future::Future, pin::Pin};

use crate::client::Ctx;

/// Why a case did not pass.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CaseError {
    /// The server did something the spec forbids, or a response violated its schema.
    #[error("{0}")]
    Fail(String),
    /// The case cannot run against this server (e.g. registration is closed).
    #[error("skipped: {0}")]
    Skip(String),
}

pub type CaseResult = Result<(), CaseError>;
pub type CaseFuture = Pin<Box<dyn Future<Output = CaseResult> + Send>>;

/// One black-box check, tagged with the spec section it tests and the operation it exercises.
#[derive(Clone, Copy)]
pub struct Case {
    /// Unique, `snake_case`, says what behaviour is checked.
    pub name: &'static str,
    /// The spec section, as a path and anchor under `https://spec.matrix.org/v1.19/`.
    pub section: &'static str,
    /// The spec operation (method, full path template) the case is about; `None` for
    /// cross-cutting behaviour (unknown endpoints, CORS).
    pub operation: Option<(&'static str, &'static str)>,
    pub run: fn(Ctx) -> CaseFuture,
}

/// Declares a case from an `async fn(Ctx) -> CaseResult`.
#[macro_export]
macro_rules! case {
    ($name:ident, section = $section:literal, op = ($method:literal, $path:literal)) => {
        $crate::case::Case {
            name: stringify!($name),
            section: $section,
            operation: Some(($method, $path)),
            run: |ctx| Box::pin($name(ctx)),
        }
    };
    ($name:ident, section = $section:literal) => {
        $crate::case::Case {
            name: stringify!($name),
            section: $section,
            operation: None,
            run: |ctx| Box::pin($name(ctx)),
        }
    };
}

/// Fails the case with a message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::case::CaseError::Fail(format!($($msg)+)));
        }
    };
}

/// Fails the case unless both sides are equal, printing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err($crate::case::CaseError::Fail(format!(
                "{}: expected {:?}, got {:?}", format!($($msg)+), right, left
            )));
        }
    }};
}
