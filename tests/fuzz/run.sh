#!/bin/sh
# tests/fuzz/run.sh FUZZER NAME - run one libFuzzer harness for a bounded
# time (ctest's fuzz_NAME; CMakeLists.txt builds FUZZER with clang when
# CONSENTD_FUZZ=ON).
#
# It starts from the seed corpus tests/fuzz/corpus/NAME/ and the inputs that
# once crashed, tests/fuzz/regressions/NAME/ (both run first, in full), and
# writes what it discovers to a temporary directory, never to the repository.
#
# Environment:
#   CONSENTD_FUZZ_SECONDS  time per harness (default 20; 40 with
#                          CONSENTD_TEST_HEAVY=1, which ops/test.sh sets in CI)
#   TMPDIR                 where the new corpus and any crash input go
#
# On a crash, libFuzzer prints the sanitizer report; this script then prints
# the input (base64) and where to put it so that it becomes a regression.
set -eu
bin=$1
name=$2
src=$(cd "$(dirname "$0")" && pwd)
if [ -n "${CONSENTD_FUZZ_SECONDS:-}" ]; then
    secs=$CONSENTD_FUZZ_SECONDS
elif [ "${CONSENTD_TEST_HEAVY:-}" = 1 ]; then
    secs=40
else
    secs=20
fi
# Inputs up to the largest the code accepts, and a little more.
case $name in
site_file | gvl) maxlen=65536 ;;
*) maxlen=8192 ;;
esac
[ -x "$bin" ] || { echo "error: $bin not built (configure with -DCONSENTD_FUZZ=ON, needs clang)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/crash"
dirs="$work/corpus $src/corpus/$name"
[ -d "$src/regressions/$name" ] && dirs="$dirs $src/regressions/$name"
echo "fuzz: $name for ${secs} s, corpus $src/corpus/$name"
status=0
# shellcheck disable=SC2086 # $dirs is a list of paths without spaces
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
    -print_final_stats=1 -artifact_prefix="$work/crash/" $dirs || status=$?
if [ "$status" -ne 0 ]; then
    for f in "$work"/crash/*; do
        [ -e "$f" ] || continue
        echo "fuzz: $name found $(basename "$f"); its bytes (base64):"
        base64 "$f"
        echo "fuzz: to keep it as a regression: base64 -d > tests/fuzz/regressions/$name/<what-it-is>"
    done
    exit "$status"
fi
echo "fuzz: $name: no finding in ${secs} s"
