#!/usr/bin/env bash
# ops/test.sh - install what is missing, build consentd with AddressSanitizer
# and UndefinedBehaviorSanitizer into build-test/, and run every test with
# ctest: the C unit tests (tests/unit/), the black-box HTTP tests (tests/http/,
# node's test runner against a real consentd and redis-server; their npm
# packages are pinned in tests/package-lock.json) and the banner tests in
# Chromium (tests/browser/).
# It also builds the Release tree of ops/run.sh (build/), so that a warning
# only -O2 shows fails here and not on a newcomer's first run.
# Exits with ctest's status. Leaves no server running, pass or fail.
#
# Environment:
#   CI=true          print more, and run the heavier suites (CONSENTD_TEST_HEAVY=1:
#                    the 10-minute soak of tests/fault/, fuzzing 40 s per harness)
#   CTEST_ARGS="..." extra ctest arguments, e.g. CTEST_ARGS="-R http_health"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=ops/lib.sh
. ops/lib.sh

BUILD=build-test
# Besides what the build needs: Debian's Chromium for the banner tests in
# tests/browser/ (driven by playwright-core from web/node_modules, never a
# downloaded browser), fixed fonts so that screenshots do not vary, and
# clang with its compiler-rt (libFuzzer, the sanitizers) for the fuzz
# harnesses of tests/fuzz/ (consentd itself stays built with gcc), and
# clang-format, shellcheck and luacheck for the lint tests (tests/lint/),
# and prometheus for its promtool, which tests/http/metrics.test.mjs runs on
# /metrics (`promtool check metrics`).
TEST_PACKAGES=(chromium fonts-liberation clang libclang-rt-dev clang-format shellcheck lua-check prometheus faketime)

# Everything the tests create goes under one directory (TMPDIR for ctest),
# removed at the end. The HTTP harness also notes there the pid of every
# consentd and redis-server it starts (file name: pid, content: the program):
# if a test runner is killed before its own clean-up (ctest's timeout), what
# it left running is stopped here too.
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/consentd-test.XXXXXX")
CONSENTD_TEST_PIDDIR=$TEST_TMP/pids
mkdir "$CONSENTD_TEST_PIDDIR"
export CONSENTD_TEST_PIDDIR
# shellcheck disable=SC2317 # called by the EXIT trap
stop_leftovers() {
    local f pid prog
    for f in "$CONSENTD_TEST_PIDDIR"/*; do
        [ -e "$f" ] || continue
        pid=$(basename "$f")
        prog=$(cat "$f" 2>/dev/null || true)
        if [[ "$pid" =~ ^[0-9]+$ ]] && [ -n "$prog" ] &&
            tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1 | grep -qF "$prog"; then
            ops_warn "stopping leftover test process $pid ($prog)"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$TEST_TMP"
}
trap stop_leftovers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ctest_args=(--output-on-failure --no-tests=error)
if [ "${CI:-}" = true ]; then
    # Hook for suites too slow for every local run (soak, fuzzing, long
    # benchmarks):
    # they run only when CONSENTD_TEST_HEAVY=1.
    export CONSENTD_TEST_HEAVY=1
    ctest_args+=(--verbose)
fi
# Serial on purpose: the HTTP tests measure latencies and shutdown deadlines,
# which two sanitized servers on two cores would make flaky.
read -r -a extra <<<"${CTEST_ARGS:-}"
ctest_args+=("${extra[@]}")

ops_install_deps "${TEST_PACKAGES[@]}"
ops_install_node_modules tests
if [ "${CI:-}" = true ]; then
    ops_say "tools: $(gcc --version | head -n 1); $(cmake --version | head -n 1); node $(node --version); $(redis-server --version | cut -d' ' -f1-3)"
    ops_say "h2o: $(dpkg-query -W -f='${Version}' libh2o-evloop-dev); hiredis: $(dpkg-query -W -f='${Version}' libhiredis-dev)"
fi
ops_build "$BUILD" -DCONSENTD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCONSENTD_FUZZ=ON
# The Release build ops/run.sh makes, built too: at -O2 gcc inlines more and
# -Werror refuses what the Debug build cannot see (a possible truncation).
ops_build build -DCMAKE_BUILD_TYPE=Release -DCONSENTD_SANITIZE=OFF

# After a failure, what each failing test printed that says why, last: a CI
# log is often read from its end.
failure_digest() {
    local log=$BUILD/Testing/Temporary/LastTest.log failed=$BUILD/Testing/Temporary/LastTestsFailed.log name
    [ -f "$log" ] && [ -f "$failed" ] || return 0
    while IFS=: read -r _ name; do
        ops_say "test: why $name failed (its lines that say so; all of it is above):"
        awk -v t="$name" 'match($0, /^[0-9]+\/[0-9]+ Test: /) { on = substr($0, RLENGTH + 1) == t; next }
                          on && /^<end of output>/ { exit } on' "$log" |
            grep -E '✖|not ok|Error|assert|expected|actual|FAIL|ERROR|Sanitizer|timed out|lost' |
            head -n 25 | sed 's/^/    /' || true
    done <"$failed"
}

ops_say "test: ctest ${ctest_args[*]} (in $BUILD/)"
status=0
(cd "$BUILD" && TMPDIR=$TEST_TMP ctest "${ctest_args[@]}") || status=$?
if [ "$status" -eq 0 ]; then
    ops_say "test: all tests passed"
else
    failure_digest
    ops_say "test: FAILED (ctest exit $status); rerun one with: cd $BUILD && ctest --output-on-failure -R NAME"
fi
exit "$status"
