#!/usr/bin/env bash
# Runs the conformance suite against Synapse (SQLite, open registration, guest access on,
# rate limits raised), the check that the suite judges any homeserver and not only REChain.
# Cases that fail there either mark a known Synapse deviation (conformance/src/deviations.rs,
# shown beside the failure) or are the suite's mistake. Not part of .ci/run: it installs
# Synapse from PyPI and takes a few minutes.
#
#   bash ci/conformance-synapse.sh [extra rechain-conformance flags, e.g. --filter refresh]
#
# Writes target/conformance-synapse.json.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
# shellcheck source=ci/servers.sh
source ci/servers.sh
install_synapse
cargo build --release -q -p rechain-conformance

dir=$(mktemp -d)
port=$(free_port)
url="http://127.0.0.1:$port"
synapse_config "$dir" "$port" sqlite
# Guest access on, and room publication open to all: since 1.126 Synapse lets nobody publish
# by default, which the spec allows but leaves the directory cases nothing to test.
cat >> "$dir/homeserver.yaml" <<YAML
allow_guest_access: true
room_list_publication_rules: [{user_id: "*", alias: "*", room_id: "*", action: allow}]
YAML
"$synapse_venv/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
wait_for "$url"
echo "== Synapse $synapse_version at $url" >&2
status=0
"$target_dir/release/rechain-conformance" --homeserver "$url" \
    --report-json "$target_dir/conformance-synapse.json" "$@" || status=$?
exit "$status"
