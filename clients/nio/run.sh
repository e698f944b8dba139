#!/usr/bin/env bash
# Runs the matrix-nio session against a REChain built from this checkout: installs matrix-nio
# in a virtualenv (cached beside the build), starts `rechain serve` on a free loopback port
# with open registration and a temporary data directory, runs the session, stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
venv="$target_dir/nio-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "matrix-nio==0.26.0"

cargo build -q -p rechain-server --bin rechain
bin="$target_dir/debug/rechain"

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
    sleep 0.2
done
"$venv/bin/python" clients/nio/session.py "http://127.0.0.1:$port"
