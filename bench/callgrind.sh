#!/usr/bin/env bash
# bench/callgrind.sh - instructions per request of consentd's two write
# routes, counted by valgrind's callgrind: POST consents and POST events,
# each after a warm-up, with the share of the Ed25519 signature. A count of
# instructions does not move with the machine's load (the other core may be
# busy), so it compares two builds of consentd exactly where wall-clock
# figures are noisy; bench/consent.sh gives the CPU time beside it.
#
#   bench/callgrind.sh                      this tree's Release build
#   CONSENTD_BIN=/path/to/consentd bench/callgrind.sh    another build
#
# Environment:
#   REQUESTS=2000     measured requests of each route (after WARMUP=200)
#   CONNS=4           keep-alive connections of the load (node, bench/callgrind_load.mjs)
#   BUILD_DIR=build-bench   where to build consentd (Release) when CONSENTD_BIN is unset
#   KEEP=1            keep the temporary directory (callgrind's output files)
#
# Everything runs on loopback ports under a temporary directory and is
# stopped on exit. Under valgrind consentd is about 50 times slower: a run
# takes a minute or two. Prints one line per route to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
CONNS=${CONNS:-4}
KEEP=${KEEP:-0}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
check_whole_numbers REQUESTS WARMUP CONNS

cleanup_on_exit "callgrind output, logs"
ensure_packages valgrind:valgrind callgrind_annotate:valgrind redis-server:redis-server curl:curl node:nodejs
build_consentd
TMP=$(mktemp -d /tmp/consentd-callgrind.XXXXXX)
start_redis "" # any CPU: instructions do not depend on it
mkdir -p "$TMP/keys"
"$BIN" keygen --keys "$TMP/keys" >"$TMP/keygen.log" 2>&1 || die "consentd keygen failed" "Read $TMP/keygen.log (KEEP=1)."
launch_consentd "$TMP" "$ROOT/ops/sites" valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out"
for _ in $(seq 1 600); do # start-up (the banner's brotli) is slow under valgrind
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CONSENTD_PORT/healthz" 2>/dev/null)" = 200 ] && break
    require_alive "$CONSENTD_PID" consentd "$TMP/consentd.log"
    sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CONSENTD_PORT/healthz")" = 200 ] ||
    die "consentd under callgrind did not answer /healthz in 2 minutes" "Read $TMP/consentd.log (KEEP=1)."

# measure ROUTE: warm-up, zero the counts, REQUESTS requests, dump; prints
# the instructions per request, and the signature's share when there is one.
measure() {
    local route=$1 n dump total sign
    node "$ROOT/bench/callgrind_load.mjs" "$CONSENTD_PORT" "$route" "$WARMUP" "$CONNS" ||
        die "the warm-up of $route failed (above)" "Read $TMP/consentd.log (KEEP=1)."
    callgrind_control -z "$CONSENTD_PID" >/dev/null 2>&1
    node "$ROOT/bench/callgrind_load.mjs" "$CONSENTD_PORT" "$route" "$REQUESTS" "$CONNS" ||
        die "the measured $route requests failed (above)" "Read $TMP/consentd.log (KEEP=1)."
    n=$(find "$TMP" -name 'callgrind.out.*' | wc -l)
    callgrind_control -d "$CONSENTD_PID" >/dev/null 2>&1
    dump=$TMP/callgrind.out.$((n + 1))
    for _ in $(seq 1 50); do [ -s "$dump" ] && break; sleep 0.1; done
    [ -s "$dump" ] || die "callgrind wrote no dump for $route" "Read $TMP/consentd.log (KEEP=1)."
    total=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    sign=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | awk '/:crypto_sign_ed25519_detached / { gsub(",", "", $1); print $1; exit }')
    [ -n "$total" ] || die "no total in $dump" "Run with KEEP=1 and read it with callgrind_annotate."
    awk -v r="$route" -v t="$total" -v s="${sign:-0}" -v n="$REQUESTS" 'BEGIN {
        printf "%-8s %9.0f instructions per request", r, t / n
        if (s > 0) printf ", of which the Ed25519 signature %.0f and the rest %.0f", s / n, (t - s) / n
        printf " (%d requests)\n", n }'
}

say "measuring: $WARMUP + $REQUESTS requests per route over $CONNS connections"
measure consents
measure events
