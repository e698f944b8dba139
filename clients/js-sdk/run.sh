#!/usr/bin/env bash
# Runs the matrix-js-sdk session against a REChain built from this checkout: installs the
# pinned matrix-js-sdk from package-lock.json, starts `rechain serve` on a free loopback port
# with open registration and a temporary data directory, runs the session, stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."

(cd clients/js-sdk && npm ci --no-audit --no-fund --loglevel=error)

cargo build -q -p rechain-server --bin rechain
bin="${CARGO_TARGET_DIR:-target}/debug/rechain"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
cat > "$work/rechain.toml" <<TOML
data_dir = "$work/data"
[listen]
client = "127.0.0.1:$port"
[registration]
mode = "open"
[rate_limits]
enabled = false
[log]
level = "warn"
TOML
"$bin" serve --config "$work/rechain.toml" > "$work/server.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done
if ! node clients/js-sdk/session.mjs "http://127.0.0.1:$port"; then
    echo "--- server log ---"
    tail -n 50 "$work/server.log"
    exit 1
fi
