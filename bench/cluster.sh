#!/usr/bin/env bash
# bench/cluster.sh - the consent write route (POST /v1/sites/demo/consents)
# on one Redis and on a 3-master Redis Cluster, side by side in one run, with
# the durability setting off and on (redis.wait_replicas 0 and 1).
#
#   bench/cluster.sh                        the full run (about 2 minutes after the build)
#   DURATION=5 WARMUP=1 bench/cluster.sh    a quick look
#   KEEP=1 bench/cluster.sh                 keep the logs and wrk output
#
# Environment:
#   DURATION=10       seconds of each measured run at CONNS (after a WARMUP=2 s run)
#   CONNS=64          wrk connections (one thread)
#   LAT_CONNS=8       connections of the moderate-load latency runs
#   LAT_DURATION=5    seconds of each of those
#   KEYSPACE=1000000  visitors the POSTs draw from
#   CONSENTD_BIN=...  use this binary instead of building one
#   BUILD_DIR=build-bench   where to build consentd (Release) when CONSENTD_BIN is unset
#   SERVER_CPU=0 CLIENT_CPU=1   consentd's core; every redis-server's and wrk's core
#   KEEP=1            keep the temporary directory
#
# Topologies, started once and kept for both settings (so that off and on
# differ only by the WAIT): one Redis with one replica; a cluster of 3
# masters with one replica each (redis-cli --cluster create). consentd runs
# one thread, alone on SERVER_CPU; all the redis-servers and wrk share
# CLIENT_CPU (on a 2-core machine the cluster's 6 servers and wrk compete for
# one core: compare CPU per write, and req/s only within this run).
#
# Installs what is missing with apt-get. Everything runs on loopback ports
# under a temporary directory and is stopped on exit, failure included.
# Progress goes to stderr, the report to stdout. Exits non-zero on any
# failure: a server that does not start, a socket error, an answer other
# than 201.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BENCH_DIR=$ROOT/bench
SITE=demo

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
LAT_CONNS=${LAT_CONNS:-8}
LAT_DURATION=${LAT_DURATION:-5}
KEYSPACE=${KEYSPACE:-1000000}
KEEP=${KEEP:-0}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SITES_DIR=$ROOT/ops/sites

CONSENTD_PID= # the consentd of the setting being measured
cleanup_on_exit "logs, configs, wrk output"

check_knobs() {
    check_whole_numbers DURATION WARMUP CONNS LAT_CONNS LAT_DURATION KEYSPACE SERVER_CPU CLIENT_CPU
    if [ "$DURATION" -lt 1 ] || [ "$CONNS" -lt 1 ] || [ "$LAT_CONNS" -lt 1 ] || [ "$KEYSPACE" -lt 1 ]; then
        die "DURATION, CONNS, LAT_CONNS and KEYSPACE must be at least 1" "Unset them to use the defaults."
    fi
    check_cores consentd "Redis + wrk"
    local lat=0
    [ "$LAT_DURATION" = 0 ] || lat=$((LAT_DURATION + 1))
    say "plan: 4 settings x (${WARMUP} s warm-up + ${DURATION} s at $CONNS connections + ${LAT_DURATION} s at $LAT_CONNS):" \
        "about $((4 * (WARMUP + DURATION + lat + 3) + 20)) s"
}

# ---- processes ---------------------------------------------------------------

# start_node NAME [redis-server flags...]: sets PORT and the pid in PID_OF[NAME].
declare -A PID_OF
start_node() {
    local name=$1
    shift
    pick_port pair
    mkdir -p "$TMP/$name"
    taskset -c "$CLIENT_CPU" redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
        --dir "$TMP/$name" --logfile "$TMP/$name/redis.log" --daemonize no --repl-diskless-sync-delay 0 "$@" \
        >/dev/null 2>&1 &
    PID_OF[$name]=$!
    BG_PIDS+=("$!")
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && return 0
        require_alive "${PID_OF[$name]}" "redis-server $name" "$TMP/$name/redis.log"
        sleep 0.1
    done
    die "redis-server $name does not answer PING after 10 s" "Read $TMP/$name/redis.log (KEEP=1)."
}

wait_until() { # SECONDS WHAT COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq 1 $((seconds * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$what after $seconds s" "Rerun with KEEP=1 and read the redis logs under the temporary directory."
}

replica_up() { redis-cli -p "$1" info replication | grep -q 'master_link_status:up'; }
cluster_ok() {
    local p
    for p in "$@"; do
        redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' || return 1
    done
}

# One Redis (SINGLE_PORT) with one replica.
start_single() {
    start_node single
    SINGLE_PORT=$PORT
    start_node single-replica --replicaof 127.0.0.1 "$SINGLE_PORT"
    wait_until 15 "the replica of the single Redis is not in sync" replica_up "$PORT"
    SINGLE_PIDS="${PID_OF[single]}"
    SINGLE_REPLICA_PIDS="${PID_OF[single-replica]}"
    say "redis: one master on 127.0.0.1:$SINGLE_PORT, one replica on $PORT (cpu $CLIENT_CPU)"
}

# Three masters with one replica each, joined by redis-cli --cluster create.
start_cluster() {
    local i ports=()
    for i in 1 2 3 4 5 6; do
        start_node "node$i" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
        ports+=("$PORT")
    done
    local addrs=()
    for i in "${ports[@]}"; do addrs+=("127.0.0.1:$i"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
        >"$TMP/cluster-create.log" 2>&1 || {
        tail -n 20 "$TMP/cluster-create.log" | sed 's/^/    /' >&2
        die "redis-cli --cluster create failed (above)" "Rerun with KEEP=1 and read the node logs."
    }
    wait_until 30 "the cluster is not ok" cluster_ok "${ports[@]}"
    CLUSTER_URL=redis+cluster://$(printf '127.0.0.1:%s,' "${ports[@]}")
    CLUSTER_URL=${CLUSTER_URL%,}
    CLUSTER_PIDS=''
    CLUSTER_REPLICA_PIDS=
    for i in 1 2 3 4 5 6; do
        local p=${ports[$((i - 1))]}
        if redis-cli -p "$p" info replication | grep -q 'role:slave'; then
            wait_until 15 "replica $p is not in sync" replica_up "$p"
            CLUSTER_REPLICA_PIDS+="${PID_OF[node$i]} "
        else
            CLUSTER_PIDS+="${PID_OF[node$i]} "
        fi
    done
    say "redis: a cluster of 3 masters and 3 replicas on 127.0.0.1:${ports[*]} (cpu $CLIENT_CPU)"
}

# start_consentd URL WAIT_REPLICAS: consentd, 1 thread, on SERVER_CPU; healthy.
start_consentd() {
    local url=$1 wait=$2 dir=$TMP/consentd
    mkdir -p "$dir"
    [ -d "$dir/keys" ] || timeout 30 "$BIN" keygen --keys "$dir/keys" >"$dir/keygen.log" 2>&1 ||
        die "'consentd keygen' failed" "Read $dir/keygen.log (KEEP=1)."
    pick_port pair
    CONSENTD_PORT=$PORT
    cat >"$dir/consentd.json" <<EOF
{
  "listen": { "address": "127.0.0.1", "port": $CONSENTD_PORT },
  "threads": 1,
  "redis": { "url": "$url", "wait_replicas": $wait, "wait_timeout_ms": 500 },
  "sites_dir": "$SITES_DIR",
  "keys_dir": "$dir/keys",
  "rate_limit": { "consents_per_second": 0, "exempt_loopback": true },
  "log": { "access_log": false }
}
EOF
    env -u PORT -u REDIS_URL -u CONSENTD_THREADS -u CONSENTD_CONFIG \
        taskset -c "$SERVER_CPU" "$BIN" --config "$dir/consentd.json" --threads 1 >>"$dir/consentd.log" 2>&1 &
    CONSENTD_PID=$!
    BG_PIDS+=("$CONSENTD_PID")
    POST_URL=http://127.0.0.1:$CONSENTD_PORT/v1/sites/$SITE/consents
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CONSENTD_PORT/healthz")" = 200 ] && return 0
        require_alive "$CONSENTD_PID" consentd "$dir/consentd.log"
        sleep 0.1
    done
    die "consentd does not answer /healthz 200 after 10 s" "Read $dir/consentd.log (KEEP=1)."
}

stop_consentd() {
    stop_pid "$CONSENTD_PID"
    CONSENTD_PID=
}

# ---- measuring ---------------------------------------------------------------

used_memory() {
    redis-cli -p "$SINGLE_PORT" info memory | tr -d '\r' | sed -n 's/^used_memory://p'
}

# What the single Redis holds per consent recorded: its used_memory growth
# over the consents in the 64 log streams of the demo site (each consent is
# one log entry, one history entry and the visitor's state; a visitor drawn
# twice keeps one state).
memory_per_consent() {
    local mem1 entries=0 p n states record
    mem1=$(used_memory)
    for p in $(seq 0 63); do
        n=$(redis-cli -p "$SINGLE_PORT" xlen "cd:{$SITE:$p}:log")
        entries=$((entries + n))
    done
    local first
    redis-cli -p "$SINGLE_PORT" --scan --pattern "cd:{$SITE:*}:s:*" >"$TMP/states"
    states=$(wc -l <"$TMP/states")
    first=$(sed -n 1p "$TMP/states")
    record=$(redis-cli -p "$SINGLE_PORT" strlen "$first")
    # MEMORY USAGE of 500 states and of their histories, and of the 64 logs.
    local state_b history_b log_b
    state_b=$(sed -n 1,500p "$TMP/states" | sed 's/^/MEMORY USAGE /' | redis-cli -p "$SINGLE_PORT" |
        awk '{ s += $1; n++ } END { printf "%.0f", s / n }')
    history_b=$(sed -n 1,500p "$TMP/states" | sed 's/^\(.*\):s:/MEMORY USAGE \1:h:/' | redis-cli -p "$SINGLE_PORT" |
        awk '{ s += $1; n++ } END { printf "%.0f", s / n }')
    log_b=$(for p in $(seq 0 63); do echo "MEMORY USAGE cd:{$SITE:$p}:log SAMPLES 0"; done | redis-cli -p "$SINGLE_PORT" |
        awk -v e="$entries" '{ s += $1 } END { printf "%.0f", s / e }')
    MEMORY_LINE=$(awk -v m0="$MEM0" -v m1="$mem1" -v e="$entries" -v s="$states" -v r="$record" \
        -v sb="$state_b" -v hb="$history_b" -v lb="$log_b" 'BEGIN {
        printf "Redis memory: %.0f bytes per consent (used_memory +%.1f MB for %d consents, %d visitor states; a record is %d bytes;\n", (m1 - m0) / e, (m1 - m0) / 1048576, e, s, r
        printf "  MEMORY USAGE: a state %d bytes, a one-entry history %d bytes, a log entry %d bytes)", sb, hb, lb }')
    say "$MEMORY_LINE"
}

# Sum of utime + stime (ticks) of the pids given.
ticks() {
    local pid sum=0 f
    for pid in "$@"; do
        read -r -a f < <(sed 's/.*) //' "/proc/$pid/stat") || die "process $pid is gone" "Rerun with KEEP=1 and read the logs."
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}

run_wrk() { # OUT SECONDS CONNS
    local out=$1 rc=0
    timeout $(($2 + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$3" -d"$2s" --latency \
        -s "$BENCH_DIR/consent_post.lua" "$POST_URL" -- "$POLICY_VERSION" "$KEYSPACE" >"$out" 2>&1 &
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    [ "$rc" = 0 ] || die "wrk exited with $rc: $(tail -n 5 "$out")" "Rerun with KEEP=1 and read consentd's log."
    local req rps p50 p99 err non2xx
    read -r req rps p50 p99 err non2xx _ < <(parse_wrk "$out") || die "cannot read wrk's output $out" "Check wrk 4.x."
    [ "$err" = 0 ] && [ "$non2xx" = 0 ] && return 0
    die "wrk saw $err socket errors and $non2xx answers other than 201 ($out)" "Rerun with KEEP=1 and read consentd's log."
}

# measure LABEL WAIT CONNS SECONDS WARM MASTER_PIDS REPLICA_PIDS
measure() {
    local label=$1 wait=$2 conns=$3 seconds=$4 warm=$5 masters=$6 replicas=$7 out=$TMP/wrk.$1.$3
    # shellcheck disable=SC2086
    {
        [ "$warm" = 0 ] || run_wrk "$out.warmup" "$warm" "$conns"
        local c0 m0 r0 c1 m1 r1
        c0=$(ticks "$CONSENTD_PID") m0=$(ticks $masters) r0=$(ticks $replicas)
        run_wrk "$out" "$seconds" "$conns"
        c1=$(ticks "$CONSENTD_PID") m1=$(ticks $masters) r1=$(ticks $replicas)
    }
    local req rps p50 p99
    read -r req rps p50 p99 _ _ < <(parse_wrk "$out")
    awk -v l="$label" -v w="$wait" -v c="$conns" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v req="$req" \
        -v cd=$((c1 - c0)) -v md=$((m1 - m0)) -v rd=$((r1 - r0)) -v hz="$CLK_TCK" 'BEGIN {
            printf "%s %s %d %s %s %s %.2f %.2f %.2f\n", l, w, c, rps, p50, p99, cd / hz * 1e6 / req, md / hz * 1e6 / req, rd / hz * 1e6 / req
        }' >>"$TMP/results"
    say "$(tail -n 1 "$TMP/results" | awk '{ printf "%-8s wait=%s c=%-3s %6d req/s  p50 %6dus  p99 %6dus  consentd %6.2f us/req  masters %5.2f  replicas %5.2f us/write", $1, $2, $3, $4, $5, $6, $7, $8, $9 }')"
}

# run_setting LABEL URL WAIT MASTER_PIDS REPLICA_PIDS
run_setting() {
    start_consentd "$2" "$3"
    measure "$1" "$3" "$CONNS" "$DURATION" "$WARMUP" "$4" "$5"
    [ "$LAT_DURATION" = 0 ] || measure "$1" "$3" "$LAT_CONNS" "$LAT_DURATION" 0 "$4" "$5"
    stop_consentd
}

report() {
    local cpu_model rev
    cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null) || rev="no commit yet"
    echo
    echo "# $(date -u '+%F %H:%M UTC') | kernel $(uname -r) | $cpu_model | nproc $(nproc) | load $LOAD_AT_START at start"
    echo "# consentd git $rev, 1 thread on cpu $SERVER_CPU | $(redis-server --version | cut -d' ' -f1-3), every server and wrk on cpu $CLIENT_CPU"
    echo "# POST consents, random visitor of $KEYSPACE; ${DURATION} s at $CONNS connections after ${WARMUP} s, ${LAT_DURATION} s at $LAT_CONNS"
    echo "# one Redis: 1 master + 1 replica; cluster: 3 masters + 3 replicas; WAIT 1 500 (redis.wait_replicas 1) or none"
    echo
    printf '| %-8s | %-4s | %5s | %8s | %8s | %8s | %14s | %16s | %17s |\n' store WAIT conns req/s p50 p99 \
        'consentd CPU' 'Redis masters' 'Redis replicas'
    printf '| %-8s | %-4s | %5s | %8s | %8s | %8s | %14s | %16s | %17s |\n' '' '' '' '' '' '' 'us/write' 'CPU us/write' 'CPU us/write'
    printf '|%s|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|\n' ---------- ------ ------ --------- --------- --------- \
        ---------------- ------------------ -------------------
    local l w c rps p50 p99 cd md rd
    while read -r l w c rps p50 p99 cd md rd; do
        printf '| %-8s | %-4s | %5s | %8s | %8s | %8s | %14s | %16s | %17s |\n' "$l" \
            "$([ "$w" = 0 ] && echo off || echo on)" "$c" "$rps" "$(fmt_us "$p50")" "$(fmt_us "$p99")" "$cd" "$md" "$rd"
    done <"$TMP/results"
    echo
    awk -v conns="$CONNS" -v lat="$LAT_CONNS" '
        { k = $1 " " $2 " " $3; rps[k] = $4; p50[k] = $5; cpu[k] = $7 }
        END {
            for (i = 0; i < 2; i++) {
                s = i ? "cluster" : "single"
                printf "%s: WAIT costs req/s x%.2f at c=%d, p50 %+d us at c=%d, consentd CPU %+.2f us per write\n", s,
                    rps[s " 1 " conns] / rps[s " 0 " conns], conns, p50[s " 1 " lat] - p50[s " 0 " lat], lat,
                    cpu[s " 1 " conns] - cpu[s " 0 " conns]
            }
            printf "cluster / single, WAIT off: req/s x%.2f at c=%d, consentd CPU %+.2f us per write\n",
                rps["cluster 0 " conns] / rps["single 0 " conns], conns, cpu["cluster 0 " conns] - cpu["single 0 " conns]
        }' "$TMP/results"
    echo "$MEMORY_LINE"
    echo
    echo "CPU: user+system time (/proc/PID/stat) over the run / writes answered 201; masters and replicas summed."
    echo "With closed-loop clients p50 ~ connections / req/s: compare latency at $LAT_CONNS connections."
}

# ---- main --------------------------------------------------------------------

check_knobs
check_quiet
ensure_packages wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl taskset:util-linux
CLK_TCK=$(getconf CLK_TCK)
build_consentd
TMP=$(mktemp -d /tmp/consentd-cluster-bench.XXXXXX)
: >"$TMP/results"
say "working in $TMP"
POLICY_VERSION=$(sed -n 's/^ *"policy_version": *"\([^"]*\)".*/\1/p' "$SITES_DIR/$SITE.json" | head -n 1)
[ -n "$POLICY_VERSION" ] || die "no policy_version in $SITES_DIR/$SITE.json" "Restore ops/sites/$SITE.json."

start_single
start_cluster
MEM0=$(used_memory)
run_setting single "redis://127.0.0.1:$SINGLE_PORT" 0 "$SINGLE_PIDS" "$SINGLE_REPLICA_PIDS"
run_setting single "redis://127.0.0.1:$SINGLE_PORT" 1 "$SINGLE_PIDS" "$SINGLE_REPLICA_PIDS"
memory_per_consent
run_setting cluster "$CLUSTER_URL" 0 "$CLUSTER_PIDS" "$CLUSTER_REPLICA_PIDS"
run_setting cluster "$CLUSTER_URL" 1 "$CLUSTER_PIDS" "$CLUSTER_REPLICA_PIDS"
report
