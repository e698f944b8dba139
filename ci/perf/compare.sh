#!/usr/bin/env bash
# Side-by-side load run: REChain and Synapse, each on SQLite and on PostgreSQL, interleaved on
# this machine, every server fresh, measured by rechain-load with the same sizes. Writes one
# JSON per run and a summary with the ratios to $out (default target/perf/<timestamp>).
#
#   bash ci/perf/compare.sh [--quick] [extra rechain-load flags...]
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres). Synapse is installed from
# PyPI into a virtualenv beside the build. Not part of .ci/run: it takes minutes, and only
# ratios from one run on one machine mean anything.
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
out="${out:-$target_dir/perf/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
pg_url="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
load_args=("$@")

cargo build --release -q -p rechain-server -p rechain-load
rechain="$target_dir/release/rechain"
load="$target_dir/release/rechain-load"

venv="$target_dir/synapse-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "matrix-synapse[postgres]==1.163.2"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

fresh_pg_db() {
    local name="$1"
    psql "$pg_url/postgres" -q -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"
    psql "$pg_url/postgres" -q -c "CREATE DATABASE $name ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
}

wait_for() {
    for _ in $(seq 1 300); do
        curl -sf "$1/_matrix/client/versions" >/dev/null && return 0
        sleep 0.2
    done
    echo "server at $1 did not start" >&2
    return 1
}

rechain_config() {
    local dir="$1" port="$2" db_url="$3"
    cat > "$dir/rechain.toml" <<TOML
data_dir = "$dir/data"
[listen]
client = "127.0.0.1:$port"
[registration]
mode = "open"
[rate_limits]
enabled = false
[log]
level = "warn"
TOML
    if [ -n "$db_url" ]; then
        printf '[database]\nurl = "%s"\n' "$db_url" >> "$dir/rechain.toml"
    fi
}

synapse_config() {
    local dir="$1" port="$2" database="$3"
    local unlimited="{per_second: 100000, burst_count: 100000}"
    cat > "$dir/log.config" <<YAML
version: 1
formatters: {precise: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}
handlers: {file: {class: logging.FileHandler, formatter: precise, filename: $dir/synapse.log}}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
YAML
    cat > "$dir/homeserver.yaml" <<YAML
server_name: "localhost"
pid_file: $dir/homeserver.pid
listeners:
  - port: $port
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    resources: [{names: [client], compress: false}]
log_config: $dir/log.config
media_store_path: $dir/media
signing_key_path: $dir/signing.key
report_stats: false
registration_shared_secret: "perf"
macaroon_secret_key: "perf-macaroon"
form_secret: "perf-form"
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: true
enable_registration_without_verification: true
rc_message: $unlimited
rc_registration: $unlimited
rc_room_creation: $unlimited
rc_joins: {local: $unlimited, remote: $unlimited}
rc_joins_per_room: $unlimited
rc_invites: {per_room: $unlimited, per_user: $unlimited, per_issuer: $unlimited}
rc_login: {address: $unlimited, account: $unlimited, failed_attempts: $unlimited}
rc_presence: {per_user: $unlimited}
YAML
    if [ "$database" = sqlite ]; then
        printf 'database: {name: sqlite3, args: {database: %s/homeserver.db}}\n' "$dir" >> "$dir/homeserver.yaml"
    else
        printf 'database: {name: psycopg2, args: {user: postgres, host: 127.0.0.1, port: 5432, database: %s, cp_min: 5, cp_max: 10}}\n' "$database" >> "$dir/homeserver.yaml"
    fi
    "$venv/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" --generate-keys >/dev/null
}

run_one() {
    local name="$1" server="$2" database="$3"
    local dir port pid url
    dir=$(mktemp -d)
    port=$(free_port)
    url="http://127.0.0.1:$port"
    case "$server" in
        rechain)
            local db_url=""
            if [ "$database" = postgres ]; then
                fresh_pg_db rechain_perf
                db_url="$pg_url/rechain_perf"
            fi
            rechain_config "$dir" "$port" "$db_url"
            "$rechain" serve --config "$dir/rechain.toml" > "$dir/server.log" 2>&1 &
            ;;
        synapse)
            local db=sqlite
            if [ "$database" = postgres ]; then
                fresh_pg_db synapse_perf
                db=synapse_perf
            fi
            synapse_config "$dir" "$port" "$db"
            "$venv/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" > "$dir/server.log" 2>&1 &
            ;;
    esac
    pid=$!
    wait_for "$url"
    echo "== $name ($url, pid $pid)" >&2
    "$load" --homeserver "$url" --server-pid "$pid" --output "$out/$name.json" "${load_args[@]}" > /dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}

# Interleaved: each database's two servers run back to back.
run_one rechain-sqlite rechain sqlite
run_one synapse-sqlite synapse sqlite
run_one rechain-postgres rechain postgres
run_one synapse-postgres synapse postgres

python3 ci/perf/summary.py "$out" | tee "$out/summary.md"
