# Sourced by the client sessions' run.sh: builds `rechain`, serves it on a free loopback port
# with open registration and a temporary data directory, and stops it when the script exits.
# Sets `base_url` and `server_log`.

cargo build -q -p rechain-server --bin rechain
rechain_bin="${CARGO_TARGET_DIR:-target}/debug/rechain"

# shellcheck source=ci/servers.sh
source ci/servers.sh
rechain_work=$(mktemp -d)
rechain_port=$(free_port)
rechain_config "$rechain_work" "$rechain_port"
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
wait_for "$base_url"
