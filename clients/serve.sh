# Sourced by the client sessions' run.sh: builds `rechain`, serves it on a free loopback port
# with open registration and a temporary data directory, and stops it when the script exits.
# Sets `base_url` and `server_log`.

cargo build -q -p rechain-server --bin rechain
rechain_bin="${CARGO_TARGET_DIR:-target}/debug/rechain"

rechain_work=$(mktemp -d)
rechain_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
cat > "$rechain_work/rechain.toml" <<TOML
data_dir = "$rechain_work/data"
[listen]
client = "127.0.0.1:$rechain_port"
[registration]
mode = "open"
[rate_limits]
enabled = false
[log]
level = "warn"
TOML
server_log="$rechain_work/server.log"
"$rechain_bin" serve --config "$rechain_work/rechain.toml" > "$server_log" 2>&1 &
rechain_pid=$!
stop_rechain() {
    kill "$rechain_pid" 2>/dev/null || true
    wait "$rechain_pid" 2>/dev/null || true
    rm -rf "$rechain_work"
}
trap stop_rechain EXIT
base_url="http://127.0.0.1:$rechain_port"
for _ in $(seq 1 50); do
    curl -sf "$base_url/health" >/dev/null && break
    sleep 0.2
done
