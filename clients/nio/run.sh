#!/usr/bin/env bash
# Runs the matrix-nio session against a REChain built from this checkout: installs matrix-nio
# in a virtualenv (cached beside the build), starts a server (clients/serve.sh), runs the
# session.
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
venv="$target_dir/nio-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "matrix-nio[e2e]==0.26.0"

source clients/serve.sh
if ! "$venv/bin/python" clients/nio/session.py "$base_url"; then
    echo "--- server log ---"
    tail -n 50 "$server_log"
    exit 1
fi
