# shellcheck shell=bash
# bench/lib.sh - what the bench scripts share: messages, free loopback
# ports, stopping what they started on exit, installing and building,
# starting Redis and consentd, reading wrk and consentd's figures, and
# formatting them. Sourced by bench/run.sh, consent.sh, analytics.sh and
# cluster.sh right after they set ROOT; the functions read the scripts'
# knobs (KEEP, BUILD_DIR, SERVER_CPU, CLIENT_CPU, ...) when called.

BENCH_SCRIPT=bench/$(basename "$0")

TMP=       # the script's temporary directory, once made
BG_PIDS=() # every long-running process the script started
FG_PID=    # the wrk or redis-benchmark run in progress, if any

say() { printf 'bench: %s\n' "$*" >&2; }
warn() { printf 'bench: WARNING: %s\n' "$*" >&2; }
# die MESSAGE [WHAT TO DO]
die() {
    printf 'bench: FAILED: %s\n' "$1" >&2
    [ -z "${2:-}" ] || printf 'bench: what to do: %s\n' "$2" >&2
    exit 1
}

# ---- stopping what the script started ----------------------------------------

# await_exit PID: waits up to 5 s for PID to end, then kills it.
await_exit() {
    for _ in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

# stop_pid PID: SIGTERM, then SIGKILL if PID still runs after 5 s.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    await_exit "$1"
}

# cleanup_on_exit WHAT: from here on, the script's exit (on failure, INT and
# TERM included, with its status kept) stops FG_PID and BG_PIDS and removes
# TMP; with KEEP=1 it keeps TMP and says it holds WHAT.
cleanup_on_exit() {
    KEPT_WHAT=$1
    trap cleanup EXIT
    trap 'say "interrupted"; exit 130' INT
    trap 'say "terminated"; exit 143' TERM
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in $FG_PID "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}" $FG_PID; do
        await_exit "$pid"
    done
    if [ -n "$TMP" ]; then
        if [ "${KEEP:-0}" = 1 ]; then
            say "kept $TMP ($KEPT_WHAT); rm -rf it when done"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$rc"
}

# ---- the knobs ---------------------------------------------------------------

# check_whole_numbers NAME...: dies unless each variable NAME is a whole number.
check_whole_numbers() {
    local name
    for name in "$@"; do
        [[ "${!name}" =~ ^[0-9]+$ ]] || die "$name=${!name} is not a whole number" "Unset it or give a number."
    done
}

# check_cores SERVER CLIENT: dies unless SERVER_CPU and CLIENT_CPU are two
# distinct cores of this machine; SERVER and CLIENT say what runs on each.
check_cores() {
    local cpus
    cpus=$(nproc)
    if [ "$SERVER_CPU" -ge "$cpus" ] || [ "$CLIENT_CPU" -ge "$cpus" ] || [ "$SERVER_CPU" = "$CLIENT_CPU" ]; then
        die "need two distinct cores for $1 (SERVER_CPU=$SERVER_CPU) and $2 (CLIENT_CPU=$CLIENT_CPU); this machine has $cpus" \
            "Run on a machine with at least 2 cores, or set SERVER_CPU and CLIENT_CPU."
    fi
}

# check_quiet: sets LOAD_AT_START (the 1-minute load average) and warns when
# it says something else is running.
check_quiet() {
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2034 # the scripts' reports print it
    LOAD_AT_START=$load
    if awk -v l="$load" 'BEGIN { exit !(l >= 1.5) }'; then
        warn "load average $load (1 min) on $(nproc) cores: something else is running; figures will be noisy (wait and run again)"
    fi
}

# ---- installing and building -------------------------------------------------

# ensure_packages CMD:PACKAGE... MODULE.pc:PACKAGE...: the PACKAGE of each
# command not on PATH, and of each pkg-config MODULE pkg-config does not
# find, installed with apt-get (as root; otherwise dies naming them).
ensure_packages() {
    local missing=() word name
    for word in "$@"; do
        name=${word%%:*}
        if [[ "$name" == *.pc ]]; then
            command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "${name%.pc}" && continue
        else
            command -v "$name" >/dev/null 2>&1 && continue
        fi
        missing+=("${word#*:}")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    # shellcheck disable=SC2207
    missing=($(printf '%s\n' "${missing[@]}" | sort -u))
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}" "Install them: sudo apt-get install ${missing[*]}"
    say "installing ${missing[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
        die "apt-get update failed" "Check the network access to the Debian mirror, then run $BENCH_SCRIPT again."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed" "Install them by hand, then run $BENCH_SCRIPT again."
}

# build_consentd [PATH...]: sets BIN to a Release consentd: CONSENTD_BIN
# (made absolute), or BUILD_DIR/consentd, built when missing or older than a
# file under the PATHs of ROOT (default: src CMakeLists.txt; web/node_modules
# is not looked at). Refuses a BUILD_DIR configured Debug or with sanitizers.
build_consentd() {
    local rel sources=()
    [ "$#" -gt 0 ] || set -- src CMakeLists.txt
    for rel in "$@"; do sources+=("$ROOT/$rel"); done
    if [ -n "${CONSENTD_BIN:-}" ]; then
        [ -x "$CONSENTD_BIN" ] || die "CONSENTD_BIN=$CONSENTD_BIN is not an executable file" \
            "Point CONSENTD_BIN at a built consentd, or unset it and $BENCH_SCRIPT builds one in $BUILD_DIR."
        BIN=$(cd "$(dirname "$CONSENTD_BIN")" && pwd)/$(basename "$CONSENTD_BIN")
        say "consentd: using CONSENTD_BIN=$BIN"
    else
        BIN=$BUILD_DIR/consentd
        local cache=$BUILD_DIR/CMakeCache.txt
        if [ -f "$cache" ]; then
            grep -q '^CMAKE_BUILD_TYPE:[A-Z]*=Release$' "$cache" ||
                die "$BUILD_DIR is configured as $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache"), not Release" \
                    "Benchmark a Release build: BUILD_DIR=$ROOT/build-bench $BENCH_SCRIPT"
            if grep -q '^CONSENTD_SANITIZE:BOOL=ON$' "$cache"; then
                die "$BUILD_DIR is a sanitizer build" "Benchmark a Release build: BUILD_DIR=$ROOT/build-bench $BENCH_SCRIPT"
            fi
        fi
        if [ -x "$BIN" ] && [ -z "$(find "${sources[@]}" -path "$ROOT/web/node_modules" -prune -o -newer "$BIN" -print -quit)" ]; then
            say "consentd: $BIN is up to date"
        else
            command -v cmake >/dev/null ||
                die "cmake is missing" "Install the build tools (ops/run.sh does), or set CONSENTD_BIN."
            say "consentd: building $BIN (Release)"
            if ! cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >&2 ||
                ! cmake --build "$BUILD_DIR" -j2 --target consentd >&2; then
                die "building consentd failed (output above)" \
                    "Fix the build, or install its dependencies (ops/run.sh does), or set CONSENTD_BIN."
            fi
        fi
    fi
    if grep -q __asan_init "$BIN"; then
        warn "$BIN is built with AddressSanitizer: its figures mean nothing"
    fi
}

# ---- processes ---------------------------------------------------------------

# port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_port single|pair: sets PORT to a free loopback port in 20000-29999 not
# given before; with "pair", PORT + 10000 must be free too (a Redis Cluster
# node's bus port).
PORTS_GIVEN=" "
pick_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 10000))
        [[ "$PORTS_GIVEN" == *" $p "* ]] && continue
        port_in_use "$p" && continue
        [ "${1:-}" != pair ] || ! port_in_use $((p + 10000)) || continue
        PORTS_GIVEN+="$p "
        PORT=$p
        return 0
    done
    die "found no free loopback port in 20000-29999${1:+ (with its +10000 pair)}" \
        "Stop whatever holds them, then run $BENCH_SCRIPT again."
}

# require_alive PID NAME LOG: dies with the end of LOG when PID has exited.
require_alive() {
    local pid=$1 name=$2 log=$3
    kill -0 "$pid" 2>/dev/null && return 0
    sed 's/^/    /' "$log" | tail -n 20 >&2
    die "$name exited (the end of its log $log is above; KEEP=1 keeps it)" \
        "Fix what the log says, then run $BENCH_SCRIPT again."
}

# rcli ARGS...: redis-cli against the Redis at REDIS_PORT.
rcli() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# start_redis [CPU]: a redis-server without persistence in TMP (log
# TMP/redis.log), on CPU when given, answering PING; sets REDIS_PORT and
# REDIS_PID.
start_redis() {
    local cpu=${1:-} pin=()
    pick_port single
    REDIS_PORT=$PORT
    if [ -n "$cpu" ]; then
        pin=(taskset -c "$cpu")
        say "redis: starting $(redis-server --version | cut -d' ' -f3) on 127.0.0.1:$REDIS_PORT, no persistence, on cpu $cpu"
    else
        say "redis: starting redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
    fi
    "${pin[@]}" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$TMP" --logfile "$TMP/redis.log" --daemonize no >/dev/null 2>&1 &
    REDIS_PID=$!
    BG_PIDS+=("$REDIS_PID")
    for _ in $(seq 1 100); do
        [ "$(rcli ping 2>/dev/null)" = PONG ] && return 0
        require_alive "$REDIS_PID" redis-server "$TMP/redis.log"
        sleep 0.1
    done
    die "redis-server does not answer PING after 10 s" "Look at $TMP/redis.log (run with KEEP=1)."
}

# launch_consentd DIR SITES_DIR [WRAPPER...]: writes DIR/consentd.json (1
# thread, the Redis at REDIS_PORT (and redis.read_url READ_URL when set),
# SITES_DIR, keys in DIR/keys, no access
# log, wrk on loopback exempt from the rate limits) and starts BIN with it
# on SERVER_CPU (or under WRAPPER, e.g. valgrind), logging to
# DIR/consentd.log; sets CONSENTD_PORT and CONSENTD_PID. Does not wait for it.
# The stats answers are not kept in memory (stats.cache_seconds 0, or
# STATS_CACHE_SECONDS): the benchmarks time the query itself, repeated. The log's checkpointer is off
# unless CHECKPOINT_SECONDS is set: with one worker thread, its hashing of
# every entry written (about one interval later) would land in the write
# path's CPU per request; bench/consent.sh measures it apart.
launch_consentd() {
    local dir=$1 sites=$2
    shift 2
    local wrapper=("$@")
    [ "${#wrapper[@]}" -gt 0 ] || wrapper=(taskset -c "$SERVER_CPU")
    pick_port single
    CONSENTD_PORT=$PORT
    local read_json=""
    [ -z "${READ_URL:-}" ] || read_json=", \"read_url\": \"$READ_URL\""
    cat >"$dir/consentd.json" <<EOF
{
  "listen": { "address": "127.0.0.1", "port": $CONSENTD_PORT },
  "threads": 1,
  "redis": { "url": "redis://127.0.0.1:$REDIS_PORT"$read_json },
  "sites_dir": "$sites",
  "keys_dir": "$dir/keys",
  "rate_limit": { "exempt_loopback": true },
  "stats": { "cache_seconds": ${STATS_CACHE_SECONDS:-0}, "cache_closed_seconds": ${STATS_CACHE_SECONDS:-0} },
  "log": { "access_log": false, "checkpoint_seconds": ${CHECKPOINT_SECONDS:-0} }
}
EOF
    say "consentd: starting $BIN on 127.0.0.1:$CONSENTD_PORT, 1 thread, under ${wrapper[*]}"
    # The environment overrides the file: keep the caller's PORT & co. out.
    env -u PORT -u REDIS_URL -u CONSENTD_THREADS -u CONSENTD_CONFIG \
        "${wrapper[@]}" "$BIN" --config "$dir/consentd.json" --threads 1 >"$dir/consentd.log" 2>&1 &
    CONSENTD_PID=$!
    BG_PIDS+=("$CONSENTD_PID")
}

# wait_connected LOG: waits until consentd (CONSENTD_PID, CONSENTD_PORT)
# answers /metrics 200 and LOG says it is connected to Redis; dies with the
# end of LOG after 10 s.
wait_connected() {
    local log=$1 base=http://127.0.0.1:$CONSENTD_PORT
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics" 2>/dev/null)" = 200 ] &&
            grep -q 'connected to Redis' "$log" && return 0
        require_alive "$CONSENTD_PID" consentd "$log"
        sleep 0.1
    done
    tail -n 20 "$log" | sed 's/^/    /' >&2
    die "consentd is not up and connected to Redis after 10 s (its log is above)" "Check by hand: curl -i $base/metrics"
}

# ---- reading figures ---------------------------------------------------------

# snapshot: prints "wall_ms consentd_ticks redis_ticks server_core_busy_ticks
# consentd_user_ticks", read together: /proc/uptime in ms; user + system CPU
# ticks of CONSENTD_PID and REDIS_PID; the non-idle ticks of SERVER_CPU
# (every process, interrupts and steal included); consentd's user ticks.
# Prints "gone" when either process has exited.
snapshot() {
    awk -v cpu="cpu$SERVER_CPU" -v cd="$CONSENTD_PID" -v rd="$REDIS_PID" '
        function ticks(pid, line, f, file) {
            file = "/proc/" pid "/stat"
            if ((getline line <file) <= 0) { print "gone"; exit 1 }
            close(file)
            sub(/.*\) /, "", line)
            split(line, f, " ")
            user = f[12]
            return f[12] + f[13]
        }
        BEGIN {
            getline line <"/proc/uptime"
            split(line, u, " ")
            while ((getline line <"/proc/stat") > 0) {
                split(line, f, " ")
                if (f[1] == cpu) core = f[2] + f[3] + f[4] + f[7] + f[8] + f[9]
            }
            total = ticks(cd)
            cu = user
            printf "%.0f %d %d %d %d\n", u[1] * 1000, total, ticks(rd), core, cu
        }'
}

# metrics ROUTE STATUS: consentd's own count of its answers on ROUTE, from
# its /metrics: "count_of_STATUS other_statuses redis_roundtrips".
metrics() {
    curl -sS "http://127.0.0.1:$CONSENTD_PORT/metrics" | awk -v route="$1" -v want="$2" '
        index($0, "consentd_http_requests_total{route=\"" route "\",") == 1 {
            if (index($0, "status=\"" want "\"")) ok += $NF; else bad += $NF
        }
        /^consentd_redis_roundtrip_seconds_count / { rt = $NF }
        END { printf "%d %d %d\n", ok, bad, rt }'
}

# parse_wrk FILE: reads wrk --latency output; prints "requests rps p50_us
# p99_us socket_errors non2xx p90_us bytes_read"; fails when FILE holds no
# count, rate or percentiles.
parse_wrk() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /m$/) return v * 60000000
            if (v ~ /s$/) return v * 1000000
            return -1
        }
        function bytes(v, n) {
            n = v + 0
            if (v ~ /KB$/) return n * 1024
            if (v ~ /MB$/) return n * 1048576
            if (v ~ /GB$/) return n * 1073741824
            if (v ~ /TB$/) return n * 1099511627776
            return n
        }
        / requests in / { req = $1; sub(/,$/, "", req); rd = bytes($5) }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "90%" { p90 = us($2) }
        $1 == "99%" { p99 = us($2) }
        /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        END {
            if (req == "" || rps == "" || p50 == "" || p99 == "") exit 1
            printf "%d %.0f %.0f %.0f %d %d %.0f %.0f\n", req, rps, p50, p99, err + 0, non2xx + 0, p90, rd
        }' "$1"
}

# check_wrk OUT WHAT RC [SERVER]: dies, showing OUT, when wrk (named "wrk
# WHAT" in the message) exited with RC other than 0, printed no figures, or
# saw a socket error or a non-2xx answer; the advice names SERVER (default
# consentd).
check_wrk() {
    local out=$1 what=$2 rc=$3 server=${4:-consentd}
    [ "$rc" = 0 ] || {
        sed 's/^/    /' "$out" >&2
        die "wrk $what exited with $rc (output above)" "Check that $server still answers (KEEP=1, read its log)."
    }
    local requests err non2xx
    read -r requests _ _ _ err non2xx _ < <(parse_wrk "$out" || echo x) || true
    [[ "${requests:-x}" =~ ^[0-9]+$ ]] || {
        sed 's/^/    /' "$out" >&2
        die "cannot read wrk's output (above)" "Check that wrk prints --latency percentiles (wrk 4.x)."
    }
    if [ "$err" != 0 ] || [ "$non2xx" != 0 ]; then
        sed 's/^/    /' "$out" >&2
        die "wrk $what saw $err socket errors and $non2xx non-2xx answers (above)" \
            "Rerun with KEEP=1 and read $server's log; lower CONNS if connections are refused."
    fi
}

# medians FILE: the median of each column of FILE, as one line.
medians() {
    awk '{ for (i = 1; i <= NF; i++) v[i, NR] = $i; nf = NF }
        END {
            for (i = 1; i <= nf; i++) {
                n = 0
                for (j = 1; j <= NR; j++) a[++n] = v[i, j] + 0
                for (x = 2; x <= n; x++) for (y = x; y > 1 && a[y - 1] > a[y]; y--) { t = a[y]; a[y] = a[y - 1]; a[y - 1] = t }
                m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
                printf "%s%s", m, (i < nf ? " " : "\n")
            }
        }' "$1"
}

# fmt_us US: prints a latency in µs as "850us", "1.25ms" or "12.5ms"; "-" as is.
fmt_us() {
    awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v >= 10000) printf "%.1fms", v / 1000; else if (v >= 1000) printf "%.2fms", v / 1000; else printf "%dus", v }'
}
