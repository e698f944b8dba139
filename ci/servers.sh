# Servers for the scripts that run one against a test client, sourced by ci/perf/compare.sh,
# ci/conformance-synapse.sh and clients/serve.sh: a free local port, waiting for a server to
# answer, a REChain configuration for a test run (open registration, rate limits off), and
# Synapse: the pinned release installed from PyPI into a virtualenv beside the build, and a
# configuration with every rate limit raised so the limits measure nothing.

synapse_version="1.163.2"
synapse_venv="${target_dir:-${CARGO_TARGET_DIR:-target}}/synapse-venv"

# rechain_config DIR PORT [DATABASE_URL]: DIR/rechain.toml for a test run (SQLite unless a
# database URL is given).
rechain_config() {
    local dir="$1" port="$2" db_url="${3:-}"
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

install_synapse() {
    if [ ! -x "$synapse_venv/bin/python" ]; then
        python3 -m venv "$synapse_venv"
    fi
    "$synapse_venv/bin/pip" install -q "matrix-synapse[postgres]==$synapse_version"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() {
    for _ in $(seq 1 300); do
        curl -sf "$1/_matrix/client/versions" >/dev/null && return 0
        sleep 0.2
    done
    echo "server at $1 did not start" >&2
    return 1
}

# synapse_config DIR PORT sqlite|DATABASE
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
    "$synapse_venv/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" --generate-keys >/dev/null
}

