#!/usr/bin/env bash
# bench/sites.sh - what many sites cost a node (issue 22, item 4): start-up
# with N copies of the demo site (time to /healthz, to the first banner, to
# every banner compressed) and one publish (a site imported into Redis,
# hence published: time until the node serves its new banner, and the
# banners it rebuilt).
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
# runs on a thread of its own). Each node starts on a fresh Redis. The sites
# are files (sites_dir); the publish is `consentd site import` of one of
# them, changed. Progress goes to stderr, the table to stdout. Exits
# non-zero when a node does not start or a banner is not served.
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

# measure LABEL BIN N: one start-up and one publish; prints a table row.
measure() {
    local label=$1 bin=$2 n=$3 dir t0 healthz=- first=- all=- publish=- rebuilt=- last
    dir=$TMP/$label-$n
    mkdir -p "$dir"
    BIN=$bin
    "$BIN" keygen --keys "$dir/keys" >/dev/null 2>&1 || die "consentd keygen failed"
    start_redis "" # any CPU
    printf -v last 's%05d' $((n - 1))
    t0=$(ms)
    launch_consentd "$dir" "$TMP/sites-$n" env
    local base=http://127.0.0.1:$CONSENTD_PORT
    while [ "$(status "$base/healthz")" = 000 ]; do
        require_alive "$CONSENTD_PID" consentd "$dir/consentd.log"
        [ $(($(ms) - t0)) -lt $((START_TIMEOUT * 1000)) ] || die "$label: no /healthz after $START_TIMEOUT s"
        sleep 0.02
    done
    healthz=$(($(ms) - t0))
    [ "$(status "$base/v1/sites/$last/banner.js" br)" = 200 ] || die "$label: no banner.js for $last"
    first=$(($(ms) - t0))
    # Every banner compressed: this branch logs it; a build that compresses
    # before it answers (main) had them all at /healthz.
    if grep -aq "banners: compressed" "$BIN"; then
        until grep -q "banners: compressed $n of $n" "$dir/consentd.log"; do
            require_alive "$CONSENTD_PID" consentd "$dir/consentd.log"
            sleep 0.1
        done
        all=$(($(ms) - t0))
    else
        all=$healthz
    fi
    wait_connected "$dir/consentd.log"
    # One publish: the last site with another policy version, imported.
    sed 's/"policy_version": "[^"]*"/"policy_version": "bench-2"/' "$TMP/sites-$n/$last.json" >"$dir/$last.json"
    local before marks
    before=$(wc -l <"$dir/consentd.log")
    t0=$(ms)
    "$BIN" site import --config "$dir/consentd.json" "$dir/$last.json" >/dev/null 2>&1 ||
        die "$label: consentd site import failed"
    until tail -n +"$((before + 1))" "$dir/consentd.log" | grep -q 'sites: serving .* published site'; do
        require_alive "$CONSENTD_PID" consentd "$dir/consentd.log"
        [ $(($(ms) - t0)) -lt 120000 ] || die "$label: the publish was not applied within 120 s"
        sleep 0.01
    done
    publish=$(($(ms) - t0))
    marks=$(tail -n +"$((before + 1))" "$dir/consentd.log" | grep -o 'banners rebuilt: [0-9]* of [0-9]*' | head -n1)
    rebuilt=${marks#banners rebuilt: }
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$n" "$healthz" "$first" "$all" "$publish" "$rebuilt"
    stop_pid "$CONSENTD_PID"
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
printf '| build | sites | /healthz (ms) | first banner.js (ms) | all compressed (ms) | one publish served (ms) | banners rebuilt |\n'
printf '|---|---|---|---|---|---|---|\n'
for n in $COUNTS; do
    [ -z "${BASELINE_BIN:-}" ] || measure baseline "$BASELINE_BIN" "$n"
    measure this "$HEAD_BIN" "$n"
done
