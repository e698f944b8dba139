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

# PROFILE=dist measures the deployment build (link-time optimised).
profile="${PROFILE:-release}"
cargo build --profile "$profile" -q -p rechain-server -p rechain-load
rechain="$target_dir/$profile/rechain"
load="$target_dir/$profile/rechain-load"

# shellcheck source=ci/servers.sh
source ci/servers.sh
install_synapse

fresh_pg_db() {
    local name="$1"
    psql "$pg_url/postgres" -q -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"
    psql "$pg_url/postgres" -q -c "CREATE DATABASE $name ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
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
            "$synapse_venv/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" > "$dir/server.log" 2>&1 &
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
