#!/usr/bin/env bash
# Every migration exists under the same name for both backends, each with up.sql and down.sql.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
sqlite=$(cd migrations/sqlite && ls -1d */ 2>/dev/null | sed 's#/$##' | sort)
postgres=$(cd migrations/postgres && ls -1d */ 2>/dev/null | sed 's#/$##' | sort)

if [ "$sqlite" != "$postgres" ]; then
    echo "check-migrations: migrations/sqlite and migrations/postgres differ:"
    diff <(echo "$sqlite") <(echo "$postgres") | sed 's/^/  /' || true
    status=1
fi
for backend in sqlite postgres; do
    for dir in migrations/$backend/*/; do
        for file in up.sql down.sql; do
            if [ ! -s "$dir$file" ]; then
                echo "check-migrations: $dir$file is missing or empty"
                status=1
            fi
        done
    done
done
if [ "$status" -eq 0 ]; then
    echo "check-migrations: $(echo "$sqlite" | grep -c .) migration(s), paired"
fi
exit "$status"
