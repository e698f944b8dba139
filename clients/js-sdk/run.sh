#!/usr/bin/env bash
# Runs the matrix-js-sdk session against a REChain built from this checkout: installs the
# pinned matrix-js-sdk from package-lock.json, starts a server (clients/serve.sh), runs the
# session.
set -euo pipefail
cd "$(dirname "$0")/../.."

(cd clients/js-sdk && npm ci --no-audit --no-fund --loglevel=error)

source clients/serve.sh
if ! node clients/js-sdk/session.mjs "$base_url" > "${server_log%.log}.session.log" 2>&1; then
    grep -E '^(PASS|FAIL)|passed,' "${server_log%.log}.session.log" || true
    echo "--- server log ---"
    tail -n 50 "$server_log"
    exit 1
fi
grep -E '^(PASS|FAIL)|passed,' "${server_log%.log}.session.log"
