#!/usr/bin/env bash
# Scale-of-data run: REChain alone, fresh, on SQLite (or PostgreSQL with --postgres), loaded by
# rechain-load with the sizes given, then the database's size per table and per event.
#
#   bash ci/perf/scale.sh [--postgres] [rechain-load flags...]
#   bash ci/perf/scale.sh --users 500 --senders 16 --messages 10000 --room-members 500
#
# Writes the load JSON and the size report to $out (default target/perf/scale-<timestamp>).
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
out="${out:-$target_dir/perf/scale-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
pg_url="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
database=sqlite
if [ "${1:-}" = --postgres ]; then
    database=postgres
    shift
fi

# PROFILE=dist measures the deployment build (link-time optimised).
profile="${PROFILE:-release}"
cargo build --profile "$profile" -q -p rechain-server -p rechain-load
# shellcheck source=ci/servers.sh
source ci/servers.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$(free_port)
url="http://127.0.0.1:$port"
db_url=""
if [ "$database" = postgres ]; then
    psql "$pg_url/postgres" -q -c "DROP DATABASE IF EXISTS rechain_scale WITH (FORCE)"
    psql "$pg_url/postgres" -q -c "CREATE DATABASE rechain_scale ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    db_url="$pg_url/rechain_scale"
fi
rechain_config "$dir" "$port" "$db_url"
"$target_dir/$profile/rechain" serve --config "$dir/rechain.toml" > "$dir/server.log" 2>&1 &
pid=$!
wait_for "$url"
"$target_dir/$profile/rechain-load" --homeserver "$url" --server-pid "$pid" \
    --output "$out/load.json" "$@" > /dev/null
kill "$pid"
wait "$pid" 2>/dev/null || true

{
    echo "# sizes ($database)"
    if [ "$database" = sqlite ]; then
        db=$(find "$dir/data" -name '*.db' | head -1)
        sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
        echo "database file: $(du -b "$db" | cut -f1) bytes"
        sqlite3 "$db" "SELECT count(*) || ' events' FROM events;"
        # Each table with its indexes, largest first.
        sqlite3 "$db" "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) AS bytes
                       FROM dbstat s LEFT JOIN sqlite_master m ON m.name = s.name
                       GROUP BY 1 ORDER BY bytes DESC LIMIT 12;"
    else
        psql "$pg_url/rechain_scale" -At -c "SELECT count(*) || ' events' FROM events"
        psql "$pg_url/rechain_scale" -At -c "SELECT relname, pg_total_relation_size(relid)
                       FROM pg_catalog.pg_statio_user_tables ORDER BY 2 DESC LIMIT 12"
    fi
} | tee "$out/sizes.txt"
echo "load results: $out/load.json" >&2
