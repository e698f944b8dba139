//! Wall-clock time as the protocol counts it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (`origin_server_ts`, expiries).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
