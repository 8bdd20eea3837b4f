#!/usr/bin/env bash
# ops/run.sh - install what is missing, build consentd, start a local Redis
# and run consentd in the foreground. Safe to run again and again.
#
#   ops/run.sh          start (Ctrl-C stops consentd; Redis keeps running)
#   ops/run.sh stop     stop the Redis that ops/run.sh started
#
# Environment:
#   PORT=8080                  where consentd listens
#   METRICS_PORT=8081          its operator listener on 127.0.0.1: /metrics, /healthz in detail
#   REDIS_URL=redis://...      use this Redis; start none
#   REDIS_PORT=6379            port of the local Redis started here
#   CONSENTD_DEMO_KEY=...      API key of the demo site (default demo-key-change-me)
#   CONSENTD_OPERATOR_KEY=...  an operator key (every site, creating sites, in the
#                              console and the API); none unless set
#   CONSENTD_THREADS=N         worker threads (default: one per core)
#
# Everything it creates lives in var/ (git-ignored): the Redis data
# (var/redis/), its pid and log files, its ACL users (var/redis/users.acl,
# made from ops/redis-users.acl) and their passwords
# (var/redis-admin.password, var/redis-consentd.password), the sites
# (var/sites/, copied from ops/sites/ at each start, then imported into
# Redis: consentd site import, idempotent), the signing keys
# (var/keys/) and the config (var/consentd.json, made from
# ops/consentd.json; it holds the consentd user's password).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=ops/lib.sh
. ops/lib.sh

ROOT=$PWD
VAR=$ROOT/var
BIN=$ROOT/build/consentd
REDIS_PIDFILE=$VAR/redis.pid
REDIS_PORTFILE=$VAR/redis.port
REDIS_LOGFILE=$VAR/redis.log
REDIS_ACLFILE=$VAR/redis/users.acl
REDIS_ADMIN_PWFILE=$VAR/redis-admin.password
REDIS_CONSENTD_PWFILE=$VAR/redis-consentd.password
DEMO_KEY_DEFAULT=demo-key-change-me
REDIS_PORT_FALLBACKS=$(seq 6380 6399)

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# The pid of the Redis this script started, if it is still running.
redis_ours_pid() {
    local pid
    pid=$(cat "$REDIS_PIDFILE" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server; then
        echo "$pid"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# redis-cli as the operator (the ACL user `default`, with its password).
redis_admin() {
    local port=$1
    shift
    REDISCLI_AUTH=$(cat "$REDIS_ADMIN_PWFILE" 2>/dev/null || true) \
        redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

redis_pings() {
    [ "$(redis_admin "$1" ping)" = PONG ]
}

# The two passwords (created once, mode 600) and var/redis/users.acl: the
# users of ops/redis-users.acl with the SHA-256 of each password.
redis_acl_write() {
    local f
    mkdir -p "$VAR/redis"
    for f in "$REDIS_ADMIN_PWFILE" "$REDIS_CONSENTD_PWFILE"; do
        if [ ! -s "$f" ]; then
            (umask 077 && openssl rand -hex 24 >"$f") || ops_die "cannot create $f" "Check that var/ is writable."
        fi
    done
    [ -f ops/redis-users.acl ] || ops_die "ops/redis-users.acl is missing" "Restore it: git checkout ops/redis-users.acl"
    local admin_hash consentd_hash
    admin_hash=$(tr -d '\n' <"$REDIS_ADMIN_PWFILE" | sha256sum | cut -d' ' -f1)
    consentd_hash=$(tr -d '\n' <"$REDIS_CONSENTD_PWFILE" | sha256sum | cut -d' ' -f1)
    (umask 077 && grep -v '^#' ops/redis-users.acl | grep -v '^[[:space:]]*$' |
        sed -e "s/@ADMIN_PASSWORD_SHA256@/$admin_hash/" -e "s/@CONSENTD_PASSWORD_SHA256@/$consentd_hash/" \
            >"$REDIS_ACLFILE")
}

redis_stop() {
    local pid
    pid=$(redis_ours_pid)
    if [ -z "$pid" ]; then
        ops_say "redis: none of ours is running"
        rm -f "$REDIS_PIDFILE"
        return 0
    fi
    ops_say "redis: stopping ours (pid $pid); it flushes its append-only file first"
    kill -TERM "$pid"
    for _ in $(seq 1 150); do
        [ -e "/proc/$pid" ] || { ops_say "redis: stopped (data kept in var/redis/)"; return 0; }
        sleep 0.1
    done
    ops_die "redis (pid $pid) is still running after 15 s" "Look at $REDIS_LOGFILE; kill $pid if it is stuck."
}

# Sets REDIS_LOCAL_URL to the Redis consentd should use (empty with REDIS_URL):
# ours, as its ACL user `consentd`.
redis_start() {
    REDIS_LOCAL_URL=
    if [ -n "${REDIS_URL:-}" ]; then
        ops_say "redis: REDIS_URL is set, using that Redis and starting none"
        return 0
    fi
    local pid port
    redis_acl_write
    pid=$(redis_ours_pid)
    if [ -n "$pid" ]; then
        port=$(cat "$REDIS_PORTFILE" 2>/dev/null || echo "${REDIS_PORT:-6379}")
        if [ -n "${REDIS_PORT:-}" ] && [ "$REDIS_PORT" != "$port" ]; then
            ops_die "our Redis (pid $pid) already runs on port $port, not REDIS_PORT=$REDIS_PORT" \
                "Run 'ops/run.sh stop' first, or unset REDIS_PORT."
        fi
        # The users may have changed: load them again. A Redis started by
        # an older ops/run.sh has no ACL file: restart it (its data stays).
        if [ "$(redis_admin "$port" acl load)" = OK ]; then
            ops_say "redis: reusing ours (pid $pid, port $port), ACL users reloaded from var/redis/users.acl"
        else
            ops_say "redis: ours (pid $pid) runs without the ACL users of ops/redis-users.acl: restarting it (data kept)"
            redis_stop
            pid=
        fi
    fi
    if [ -z "$pid" ]; then
        port=${port:-${REDIS_PORT:-6379}}
        if port_in_use "$port"; then
            [ -z "${REDIS_PORT:-}" ] ||
                ops_die "port $port (REDIS_PORT) is in use by another program" \
                    "Choose another REDIS_PORT, or use that Redis with REDIS_URL=redis://127.0.0.1:$port"
            local p
            for p in $REDIS_PORT_FALLBACKS; do
                port_in_use "$p" || { port=$p; break; }
            done
            port_in_use "$port" && ops_die "ports 6379 to 6399 are all in use" "Set REDIS_PORT or REDIS_URL."
            ops_say "redis: port 6379 is taken by another program (the Debian redis-server service?); ours will use $port"
        fi
        mkdir -p "$VAR/redis"
        ops_say "redis: starting redis-server ops/redis.conf on 127.0.0.1:$port, data in var/redis/ (AOF), users var/redis/users.acl, log in var/redis.log"
        redis-server "$ROOT/ops/redis.conf" --port "$port" --dir "$VAR/redis" --daemonize yes \
            --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOGFILE" --aclfile "$REDIS_ACLFILE" ||
            ops_die "redis-server did not start" "Look at $REDIS_LOGFILE."
        echo "$port" >"$REDIS_PORTFILE"
    fi
    # Loading a large append-only file takes a while: Redis answers LOADING meanwhile.
    for _ in $(seq 1 300); do
        redis_pings "$port" && break
        sleep 0.1
    done
    redis_pings "$port" ||
        ops_die "Redis on port $port does not answer PING after 30 s" "Look at $REDIS_LOGFILE."
    REDIS_LOCAL_URL=redis://consentd:$(cat "$REDIS_CONSENTD_PWFILE")@127.0.0.1:$port
    REDIS_LOCAL_SHOWN="redis://consentd:***@127.0.0.1:$port"
}

# Import the sites into Redis (docs/sites.md): each var/sites/*.json becomes
# a published version of its site, unless Redis already has that exact
# document (then nothing changes: a console edit or a roll back stays).
sites_import() {
    local files=("$VAR"/sites/*.json)
    [ -e "${files[0]}" ] || return 0
    ops_say "sites: importing ${#files[@]} site file(s) into Redis (an unchanged file makes no new version)"
    "$BIN" site import --config "$VAR/consentd.json" --message "ops/run.sh: import of ops/sites/" "${files[@]}" ||
        ops_die "consentd site import failed (message above)" "Fix the file it names in ops/sites/, or check that Redis runs, then rerun ops/run.sh."
}

# Copy the sites and, with CONSENTD_DEMO_KEY, set the demo site's key hash.
sites_install() {
    mkdir -p "$VAR/sites"
    local files=(ops/sites/*.json)
    if [ ! -e "${files[0]}" ]; then
        ops_warn "ops/sites/ has no site file: consentd will serve no site"
        return 0
    fi
    ops_say "sites: copying ${files[*]} to var/sites/ (edit ops/sites/, var/sites/ is rewritten at each start)"
    cp "${files[@]}" "$VAR/sites/"
    if [ -n "${CONSENTD_DEMO_KEY:-}" ] && [ -f "$VAR/sites/demo.json" ]; then
        ops_say "sites: demo.json gets the SHA-256 of CONSENTD_DEMO_KEY as its api_key_sha256"
        # shellcheck disable=SC2016 # JavaScript, not shell: nothing to expand
        node -e '
            const fs = require("fs"), crypto = require("crypto");
            const file = process.argv[1];
            const site = JSON.parse(fs.readFileSync(file, "utf8"));
            site.api_key_sha256 = crypto.createHash("sha256")
                .update(process.env.CONSENTD_DEMO_KEY).digest("hex");
            fs.writeFileSync(file, JSON.stringify(site, null, 2) + "\n");
        ' "$VAR/sites/demo.json"
    fi
    # The demo page is served by consentd itself: on another PORT, its
    # origin is http://localhost:PORT, which the demo site must accept.
    local port=${PORT:-8080}
    if [ "$port" != 8080 ] && [ -f "$VAR/sites/demo.json" ]; then
        ops_say "sites: demo.json also accepts the origins http://localhost:$port and http://127.0.0.1:$port"
        # shellcheck disable=SC2016 # JavaScript in single quotes: nothing to expand
        node -e '
            const fs = require("fs");
            const file = process.argv[1], port = process.argv[2];
            const site = JSON.parse(fs.readFileSync(file, "utf8"));
            for (const host of ["localhost", "127.0.0.1"]) {
                const origin = `http://${host}:${port}`;
                if (!site.origins.includes(origin)) site.origins.push(origin);
            }
            fs.writeFileSync(file, JSON.stringify(site, null, 2) + "\n");
        ' "$VAR/sites/demo.json" "$port"
    fi
}

# var/consentd.json: ops/consentd.json with our directories (relative paths
# are resolved against var/) and the local Redis.
config_write() {
    [ -f ops/consentd.json ] || ops_die "ops/consentd.json is missing" "Restore it: git checkout ops/consentd.json"
    ops_say "config: writing var/consentd.json (ops/consentd.json with sites_dir var/sites, keys_dir var/keys, loopback clients not rate limited${REDIS_LOCAL_URL:+, redis ${REDIS_LOCAL_SHOWN:-}})"
    # It may hold a Redis password: readable by its owner only.
    (umask 077 && touch "$VAR/consentd.json" && chmod 600 "$VAR/consentd.json")
    REDIS_LOCAL_URL=$REDIS_LOCAL_URL METRICS_PORT=$METRICS_PORT OPERATOR_KEY=${CONSENTD_OPERATOR_KEY:-} node -e '
        const fs = require("fs");
        const [src, dst] = process.argv.slice(1);
        const cfg = JSON.parse(fs.readFileSync(src, "utf8"));
        cfg.sites_dir = "sites";
        cfg.keys_dir = "keys";
        // The demo tools (ops/demo-data.mjs) post from this machine.
        cfg.rate_limit = Object.assign({}, cfg.rate_limit, { exempt_loopback: true });
        if (process.env.REDIS_LOCAL_URL) {
            cfg.redis = Object.assign({}, cfg.redis, { url: process.env.REDIS_LOCAL_URL });
        }
        const listen = (cfg.metrics && cfg.metrics.listen) || { address: "127.0.0.1" };
        cfg.metrics = { listen: Object.assign({}, listen, { port: Number(process.env.METRICS_PORT) }) };
        // Only its SHA-256 is kept, as consentd wants it (docs/api.md, keys).
        if (process.env.OPERATOR_KEY) {
            const sha256 = require("crypto").createHash("sha256").update(process.env.OPERATOR_KEY).digest("hex");
            cfg.admin = Object.assign({}, cfg.admin, { operator_key_sha256: sha256 });
        }
        fs.writeFileSync(dst, JSON.stringify(cfg, null, 2) + "\n");
    ' ops/consentd.json "$VAR/consentd.json"
}

keys_install() {
    if [ -f "$VAR/keys/keys.json" ]; then
        ops_say "keys: reusing the signing keys in var/keys/"
    else
        ops_say "keys: creating the first Ed25519 signing key in var/keys/"
        "$BIN" keygen --config "$VAR/consentd.json"
    fi
}

# The demo key to print: the default one only if demo.json still has its hash.
demo_key_note() {
    [ -f "$VAR/sites/demo.json" ] || return 0
    if [ -n "${CONSENTD_DEMO_KEY:-}" ]; then
        echo "  demo site API key: the value of CONSENTD_DEMO_KEY"
    elif DEFAULT_KEY=$DEMO_KEY_DEFAULT node -e '
            const site = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
            const want = require("crypto").createHash("sha256")
                .update(process.env.DEFAULT_KEY).digest("hex");
            process.exit(String(site.api_key_sha256).toLowerCase() === want ? 0 : 1);
        ' "$VAR/sites/demo.json"; then
        echo "  demo site API key: $DEMO_KEY_DEFAULT (change it: CONSENTD_DEMO_KEY=... ops/run.sh)"
    else
        echo "  demo site API key: the one whose SHA-256 is in ops/sites/demo.json"
    fi
}

main() {
    case "${1:-}" in
    "") ;;
    stop)
        redis_stop
        return 0
        ;;
    -h | --help | help)
        usage
        return 0
        ;;
    *)
        usage >&2
        ops_die "unknown argument: $1" "Use 'ops/run.sh' to start or 'ops/run.sh stop' to stop Redis."
        ;;
    esac

    # shellcheck disable=SC2119 # no packages beyond the usual ones
    ops_install_deps
    ops_build build -DCMAKE_BUILD_TYPE=Release -DCONSENTD_SANITIZE=OFF
    mkdir -p "$VAR"
    redis_start
    sites_install
    export PORT=${PORT:-8080} METRICS_PORT=${METRICS_PORT:-8081}
    [ "$METRICS_PORT" != "$PORT" ] ||
        ops_die "PORT and METRICS_PORT are both $PORT" "Choose another one, e.g. METRICS_PORT=9091 ops/run.sh"
    config_write
    keys_install
    "$BIN" --check-config --config "$VAR/consentd.json" >/dev/null ||
        ops_die "consentd refuses the configuration (message above)" "Fix the file it names, then rerun ops/run.sh."
    sites_import

    port_in_use "$PORT" &&
        ops_die "port $PORT is in use (another consentd?)" "Stop it, or choose another port: PORT=8090 ops/run.sh"
    port_in_use "$METRICS_PORT" &&
        ops_die "port $METRICS_PORT (METRICS_PORT) is in use" "Stop what uses it, or choose another one: METRICS_PORT=9091 ops/run.sh"

    local base=http://localhost:$PORT site
    echo
    echo "consentd will listen on port $PORT. Open:"
    echo "  $base/healthz                      health (Redis included)"
    echo "  http://127.0.0.1:$METRICS_PORT/metrics         Prometheus metrics (operator listener, this machine only)"
    echo "  http://127.0.0.1:$METRICS_PORT/healthz         health with the reason in words (operator listener)"
    [ ! -f "$VAR/sites/demo.json" ] ||
        echo "  $base/demo/                        demo page: the demo site's banner at work"
    echo "  $base/dashboard                    dashboard: acceptance rates (sign in with a site id and its API key)"
    if [ -n "${CONSENTD_OPERATOR_KEY:-}" ]; then
        echo "  $base/console                      console: edit, preview and publish sites (the operator key: CONSENTD_OPERATOR_KEY)"
    else
        echo "  $base/console                      console: edit, preview and publish a site (its id and API key;"
        echo "                                                  the operator's view of every site: CONSENTD_OPERATOR_KEY=... ops/run.sh)"
    fi
    for site in "$VAR"/sites/*.json; do
        [ -e "$site" ] || continue
        site=$(basename "$site" .json)
        echo "  $base/v1/sites/$site/banner.js   banner script of site '$site'"
    done
    demo_key_note
    if [ -f "$VAR/sites/demo.json" ]; then
        echo
        echo "Demo traffic for the dashboard (from another terminal, once consentd is up):"
        echo "  node ops/demo-data.mjs $base      1000 visitors of the demo site, now (--help for more)"
    fi
    echo
    echo "Ctrl-C stops consentd. Redis keeps running (data in var/redis/): stop it with 'ops/run.sh stop'."
    echo
    exec "$BIN" --config "$VAR/consentd.json"
}

main "$@"
