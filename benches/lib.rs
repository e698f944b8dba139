//! Inputs shared by the criterion benchmarks. The benches themselves are in `core.rs`; run them
//! with `cargo bench -p rechain-benches`. Results go in `docs/PERFORMANCE.md`.

use serde_json::{Value, json};

/// A typical `m.room.message` PDU (room version 11 shape), about 700 bytes of canonical JSON.
pub fn sample_event() -> Value {
    json!({
        "auth_events": [
            "$Wp9rT7B6p1dQzCj1vZ0hXoF3gkPm3nE5b6w8yQ2uK4s",
            "$Ab3kT9sLq1vYcP7uJ2mW5xN8rE0dF6gH4iO1pZ3aQ2w",
            "$Qx8nV2bM5cL7kJ1hG4fD9sA3pO6iU0yT2rE5wQ8zX1v"
        ],
        "content": {
            "body": "Hello there, this is a fairly ordinary chat message with some text in it.",
            "msgtype": "m.text",
            "m.mentions": {"user_ids": ["@bob:example.org"]}
        },
        "depth": 4711,
        "hashes": {"sha256": "ThisIsNotARealHashButItHasTheRightLengthAbCd"},
        "origin_server_ts": 1_764_000_000_000_i64,
        "prev_events": ["$Zq1wX2eC3rV4tB5yN6uM7iK8oL9pA0sD1fG2hJ3kL4z"],
        "room_id": "!OGEhHVWSdvArJzumhm:example.org",
        "sender": "@alice:example.org",
        "type": "m.room.message",
        "unsigned": {"age_ts": 1_764_000_000_000_i64}
    })
}
