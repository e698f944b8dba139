#!/usr/bin/env bash
# Dependencies point one way: main -> http -> service -> storage traits; core under everything;
# storage::diesel the only place with SQL. A forbidden path in a module fails the check.
# Comments are ignored; everything else (use lines and inline paths) counts.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0

# forbid DIR PATTERN WHY [EXCLUDE_DIR]
forbid() {
    local dir=$1 pattern=$2 why=$3 exclude=${4:-}
    local hits
    hits=$(grep -rnE --include='*.rs' "$pattern" "$dir" 2>/dev/null \
        | grep -vE '^[^:]+:[0-9]+:\s*//' \
        | { if [ -n "$exclude" ]; then grep -v "^$exclude" || true; else cat; fi; } || true)
    if [ -n "$hits" ]; then
        echo "check-layers: $why"
        echo "$hits" | sed 's/^/  /'
        status=1
    fi
}

S=server/src
forbid $S/core '\b(tokio|diesel|warp|redis|reqwest|hyper)::|crate::(storage|service|http|cache|app)\b|std::(fs|net)\b' \
    "core is pure: no I/O, runtime, storage, services or HTTP"
forbid $S/service '\b(warp|diesel|hyper)::|crate::http\b|crate::storage::diesel\b|StatusCode' \
    "services know no warp, diesel or status codes"
forbid $S/storage '\b(warp|hyper)::|crate::(http|service|app)\b' \
    "storage knows no HTTP and no services"
forbid $S/storage '\bdiesel::|sql_query|embed_migrations' \
    "SQL and diesel live only in storage::diesel" "$S/storage/diesel/"
forbid $S/http '\bdiesel::|crate::storage::diesel\b|sql_query' \
    "HTTP handlers reach storage only through services"
forbid $S/cache '\b(warp|diesel)::|crate::(http|service)\b' \
    "the cache knows no HTTP, SQL or services"
forbid conformance/src '\brechain_server\b' \
    "the conformance library is black-box: HTTP only, no REChain internals"
forbid load/src '\brechain_server\b' \
    "the load tool measures any server: HTTP only, no REChain internals"

# unsafe_code is denied workspace-wide; its one allowance is the allocator tuning in main.rs.
unsafe_allowances=$(grep -rn --include='*.rs' 'allow(unsafe_code)' server conformance load benches fuzz 2>/dev/null \
    | grep -v "^$S/main.rs:" || true)
if [ -n "$unsafe_allowances" ] || [ "$(grep -c 'allow(unsafe_code)' $S/main.rs)" -gt 1 ]; then
    echo "check-layers: unsafe code is allowed only in tune_allocator (server/src/main.rs)"
    echo "$unsafe_allowances" | sed 's/^/  /'
    status=1
fi

for f in $S/main.rs; do
    if grep -nE '\bdiesel::|sql_query' "$f" >/dev/null; then
        echo "check-layers: main.rs stays thin (no SQL)"
        status=1
    fi
done

if [ "$status" -eq 0 ]; then
    echo "check-layers: ok"
fi
exit "$status"
