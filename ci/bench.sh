#!/usr/bin/env bash
# Runs the criterion benches on demand (not in .ci/run, which only type-checks them through
# `cargo clippy --all-targets`): the core and state-resolution benches against ruma, and the
# end-to-end ones (send to committed, initial and incremental sync in 100 rooms). Extra arguments go to
# criterion, e.g. `bash ci/bench.sh -- send_to_committed`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p rechain-benches --bench core --bench state_res --bench e2e "$@"
