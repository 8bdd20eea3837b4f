#!/usr/bin/env bash
# bench/sites.sh - what many sites cost a fleet (issue 22, item 4): start-up
# with N copies of the demo site (time to /healthz, to the first banner, to
# every banner compressed, and the CPU spent compressing), then a second
# node on the same Redis (which reads the compressed banners the first one
# stored instead of compressing them), then one publish with both nodes up
# (a site imported into Redis, hence published: time until both serve its
# new banner, the sites each node parsed again, the banners it rebuilt, and
# how many encodings the two nodes compressed for it).
#
#   bench/sites.sh                                  1,000 and 10,000 sites
#   COUNTS=1000 bench/sites.sh                      a quick look
#   BASELINE_BIN=/path/to/main/consentd bench/sites.sh   main's behaviour too
#
# Environment:
#   COUNTS="1000 10000"  the numbers of sites
#   CONSENTD_BIN=...     use this binary instead of building one
#   BASELINE_BIN=...     a second binary measured the same way (e.g. main's,
#                        built from a `git worktree` of it); unset: none
#   BUILD_DIR=build-bench   where to build consentd (Release) when CONSENTD_BIN is unset
#   START_TIMEOUT=600    seconds a node may take to answer /healthz
#   KEEP=1               keep the temporary directory
#
# consentd runs with 1 worker thread, not pinned (the background compression
# runs on a thread of its own). Each measure starts a fresh Redis, shared by
# its two nodes. The sites are files (sites_dir); the publish is `consentd
# site import` of one of them, changed. Figures a build does not log or
# export (an older one) read "-". Progress goes to stderr, the table to
# stdout. Exits non-zero when a node does not start or a banner is not
# served.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

COUNTS=${COUNTS:-1000 10000}
KEEP=${KEEP:-0}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
START_TIMEOUT=${START_TIMEOUT:-600}
SERVER_CPU=0

cleanup_on_exit "site files, configs, logs"

# ms: a monotonic clock in milliseconds.
ms() { date +%s%3N; }

# status URL [ENCODING]: the HTTP status of a GET (000: no answer).
status() {
    curl -s -o /dev/null -w '%{http_code}' ${2:+-H "accept-encoding: $2"} "$1" 2>/dev/null || true
}

# make_sites DIR N: N copies of ops/sites/demo.json, s00000 ... .
make_sites() {
    local dir=$1 n=$2 i id
    mkdir -p "$dir"
    for ((i = 0; i < n; i++)); do
        printf -v id 's%05d' "$i"
        sed "s/\"id\": \"demo\"/\"id\": \"$id\"/" "$ROOT/ops/sites/demo.json" >"$dir/$id.json"
    done
}

# counter PORT SAMPLE: the value of one /metrics sample (name and labels
# as exposed), "-" when the node does not export it.
counter() {
    curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null |
        awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print "-" }'
}

# compressed_here PORT: encodings (gzip, brotli) the node compressed itself.
compressed_here() {
    counter "$1" 'consentd_banner_compressions_total{source="local"}'
}

# start_node LABEL DIR N: start a node on the sites of N; sets NODE_PID,
# NODE_PORT, NODE_HEALTHZ, NODE_FIRST, NODE_ALL (ms from its start) and
# NODE_CPU (ms the compression cost its thread, "-" when not logged).
start_node() {
    local label=$1 dir=$2 n=$3 t0 last
    mkdir -p "$dir"
    "$BIN" keygen --keys "$dir/keys" >/dev/null 2>&1 || die "consentd keygen failed"
    printf -v last 's%05d' $((n - 1))
    t0=$(ms)
    launch_consentd "$dir" "$TMP/sites-$n" env
    NODE_PID=$CONSENTD_PID
    NODE_PORT=$CONSENTD_PORT
    local base=http://127.0.0.1:$NODE_PORT
    while [ "$(status "$base/healthz")" = 000 ]; do
        require_alive "$NODE_PID" consentd "$dir/consentd.log"
        [ $(($(ms) - t0)) -lt $((START_TIMEOUT * 1000)) ] || die "$label: no /healthz after $START_TIMEOUT s"
        sleep 0.02
    done
    NODE_HEALTHZ=$(($(ms) - t0))
    [ "$(status "$base/v1/sites/$last/banner.js" br)" = 200 ] || die "$label: no banner.js for $last"
    NODE_FIRST=$(($(ms) - t0))
    # Every banner compressed: a build that compresses in the background logs
    # it; one that compresses before it answers had them all at /healthz.
    NODE_CPU=-
    if grep -aq "banners: compressed" "$BIN"; then
        until grep -q "banners: compressed $n of $n" "$dir/consentd.log"; do
            require_alive "$NODE_PID" consentd "$dir/consentd.log"
            sleep 0.1
        done
        NODE_ALL=$(($(ms) - t0))
        NODE_CPU=$(grep -o "banners: compressed $n of $n in [0-9]* ms (cpu [0-9]* ms" "$dir/consentd.log" |
            head -n1 | sed -E 's/.*cpu ([0-9]+) ms/\1/' || true)
        [ -n "$NODE_CPU" ] || NODE_CPU=-
    else
        NODE_ALL=$NODE_HEALTHZ
    fi
    wait_connected "$dir/consentd.log"
}

# measure LABEL BIN N: two nodes' start-ups and one publish; prints a row.
measure() {
    local label=$1 bin=$2 n=$3 dir t0 last
    dir=$TMP/$label-$n
    BIN=$bin
    start_redis "" # any CPU
    printf -v last 's%05d' $((n - 1))
    start_node "$label" "$dir/a" "$n"
    local a_pid=$NODE_PID a_port=$NODE_PORT healthz=$NODE_HEALTHZ first=$NODE_FIRST all=$NODE_ALL
    local cpu=$NODE_CPU
    start_node "$label" "$dir/b" "$n"
    local b_pid=$NODE_PID b_port=$NODE_PORT b_all=$NODE_ALL b_cpu=$NODE_CPU
    local b_local
    b_local=$(compressed_here "$b_port")
    # One publish, both nodes up: the last site with another policy version,
    # imported through node a's configuration.
    sed 's/"policy_version": "[^"]*"/"policy_version": "bench-2"/' "$TMP/sites-$n/$last.json" >"$dir/$last.json"
    local before_a before_b local_a0 local_b0 marks rebuilt parsed fleet
    before_a=$(wc -l <"$dir/a/consentd.log")
    before_b=$(wc -l <"$dir/b/consentd.log")
    local_a0=$(compressed_here "$a_port")
    local_b0=$(compressed_here "$b_port")
    t0=$(ms)
    "$BIN" site import --config "$dir/a/consentd.json" "$dir/$last.json" >/dev/null 2>&1 ||
        die "$label: consentd site import failed"
    until tail -n +"$((before_a + 1))" "$dir/a/consentd.log" | grep -q 'sites: serving .* published site' &&
        tail -n +"$((before_b + 1))" "$dir/b/consentd.log" | grep -q 'sites: serving .* published site'; do
        require_alive "$a_pid" consentd "$dir/a/consentd.log"
        require_alive "$b_pid" consentd "$dir/b/consentd.log"
        [ $(($(ms) - t0)) -lt 120000 ] || die "$label: the publish was not applied within 120 s"
        sleep 0.01
    done
    local publish=$(($(ms) - t0))
    marks=$(tail -n +"$((before_a + 1))" "$dir/a/consentd.log" | grep -o 'banners rebuilt: [0-9]* of [0-9]*' | head -n1)
    rebuilt=${marks#banners rebuilt: }
    parsed=$(tail -n +"$((before_a + 1))" "$dir/a/consentd.log" | grep -o 'sites parsed: [0-9]*' | head -n1 || true)
    parsed=${parsed#sites parsed: }
    [ -n "$parsed" ] || parsed=-
    fleet=-
    if [ "$local_a0" != - ]; then
        fleet=$(($(compressed_here "$a_port") - local_a0 + $(compressed_here "$b_port") - local_b0))
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$n" "$healthz" "$first" \
        "$all" "$cpu" "$b_all" "$b_cpu" "$b_local" "$publish" "$parsed" "$rebuilt" "$fleet"
    stop_pid "$a_pid"
    stop_pid "$b_pid"
    stop_pid "$REDIS_PID"
}

command -v redis-server >/dev/null || ensure_packages redis-server
command -v curl >/dev/null || ensure_packages curl
check_whole_numbers START_TIMEOUT
build_consentd
HEAD_BIN=$BIN
TMP=$(mktemp -d "${TMPDIR:-/tmp}/consentd-bench-sites.XXXXXX")
for n in $COUNTS; do
    say "sites: writing $n site files"
    make_sites "$TMP/sites-$n" "$n"
done
printf '| build | sites | /healthz (ms) | first banner.js (ms) | all compressed (ms) | compressing CPU (ms) | 2nd node: all compressed (ms) | 2nd node: compressing CPU (ms) | 2nd node: encodings compressed | one publish served by both (ms) | sites parsed | banners rebuilt | encodings compressed for the publish, both nodes |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for n in $COUNTS; do
    [ -z "${BASELINE_BIN:-}" ] || measure baseline "$BASELINE_BIN" "$n"
    measure this "$HEAD_BIN" "$n"
done
