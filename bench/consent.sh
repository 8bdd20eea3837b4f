#!/usr/bin/env bash
# bench/consent.sh - the consent API under load: POST and GET
# /v1/sites/demo/consents[/{visitor}] on consentd, side by side with
# redis-benchmark sending Redis the very FCALL consentd sends (the ceiling),
# and consentd's CPU per consent beside one Ed25519 signature (libsodium),
# all measured in the same run. Prints a table and the budgets (issue 9, and
# issue 18 for the CPU per write: at most 2.2 signatures).
#
#   bench/consent.sh                        the full run (about 75 s after the build)
#   DURATION=5 WARMUP=1 bench/consent.sh    a quick look
#   KEEP=1 bench/consent.sh                 keep the logs, wrk output, captured FCALL
#
# Environment:
#   DURATION=10       seconds of each measured run at CONNS (after a WARMUP=2 s run)
#   CONNS=64          connections: wrk (one thread) and redis-benchmark alike
#   LAT_CONNS=8       connections of the extra, moderate-load latency runs
#   LAT_DURATION=5    seconds of each of those (0: skip them)
#   VISITORS=10000    visitors recorded first, then read at random by the GET runs
#   KEYSPACE=1000000  visitors the POST runs draw from (redis-benchmark -r)
#   CONSENTD_BIN=...  use this binary instead of building one
#   BUILD_DIR=build-bench   where to build consentd (Release) when CONSENTD_BIN is unset
#   SITES_DIR=ops/sites     the sites consentd serves (demo.json must be there)
#   SERVER_CPU=0 CLIENT_CPU=1   consentd's core; Redis', wrk's and redis-benchmark's core
#   KEEP=1            keep the temporary directory
#   STRICT=1          exit 2 when a budget is missed (default: report it, exit 0)
#
# Placement (2 cores): consentd alone on SERVER_CPU; redis-server, wrk and
# redis-benchmark share CLIENT_CPU. consentd's CPU per request is read from
# /proc/PID/stat (utime + stime), which does not depend on where Redis runs.
#
# Installs what is missing with apt-get. Everything runs on loopback ports
# under a temporary directory and is stopped on exit, failure included.
# Progress goes to stderr, the report to stdout. Exits non-zero on any
# failure: a server that does not start, a socket error, any answer that is
# not the expected 2xx (POST: 201, GET: 200), a failed FCALL.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BENCH_DIR=$ROOT/bench
SITE=demo
ORIGIN=http://localhost:8080
SIGN_RATIO_BUDGET=2.2 # issue 18; 1.7 in issue 9 was below this machine's kernel floor
P50_BUDGET_US=1000

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
LAT_CONNS=${LAT_CONNS:-8}
LAT_DURATION=${LAT_DURATION:-5}
VISITORS=${VISITORS:-10000}
KEYSPACE=${KEYSPACE:-1000000}
KEEP=${KEEP:-0}
STRICT=${STRICT:-0}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SITES_DIR=${SITES_DIR:-$ROOT/ops/sites}

cleanup_on_exit "logs, configs, wrk output, captured FCALL"

check_knobs() {
    check_whole_numbers DURATION WARMUP CONNS LAT_CONNS LAT_DURATION VISITORS KEYSPACE SERVER_CPU CLIENT_CPU
    if [ "$DURATION" -lt 1 ] || [ "$CONNS" -lt 1 ] || [ "$LAT_CONNS" -lt 1 ] || [ "$VISITORS" -lt 1 ] ||
        [ "$KEYSPACE" -lt 1 ]; then
        die "DURATION, CONNS, LAT_CONNS, VISITORS and KEYSPACE must be at least 1" "Unset them to use the defaults."
    fi
    [ "$VISITORS" -le 1000000 ] || die "VISITORS=$VISITORS: at most 1000000" "Lower VISITORS."
    check_cores consentd "Redis + load"
    local lat=0
    [ "$LAT_DURATION" = 0 ] || lat=$((2 * LAT_DURATION))
    local estimate=$((4 * (WARMUP + DURATION + 2) + lat + 15))
    say "plan: POST, GET, redis-benchmark FCALL, redis-benchmark GET, ${WARMUP} s warm-up + ${DURATION} s each at $CONNS connections;" \
        "POST and GET ${LAT_DURATION} s at $LAT_CONNS; two 1 s signature timings: about $estimate s"
    [ "$estimate" -le 180 ] || warn "this will take more than 3 minutes (lower DURATION for a quicker look)"
}

# ---- installing and building -----------------------------------------------

build_sign_speed() {
    SIGN_SPEED=$TMP/sign_speed
    # shellcheck disable=SC2046
    cc -O2 -o "$SIGN_SPEED" "$BENCH_DIR/sign_speed.c" $(pkg-config --cflags --libs libsodium) 2>"$TMP/sign_speed.log" || {
        sed 's/^/    /' "$TMP/sign_speed.log" >&2
        die "building bench/sign_speed.c failed (above)" "Install libsodium-dev and a C compiler (apt-get install libsodium-dev gcc)."
    }
}

# Prints "sign_us" for a message of $1 bytes, timed on consentd's core; the
# cost of sealing a record of $2 bytes (the log entry, issue 19) goes to
# $TMP/seal_us.<n>, n = $3.
sign_us() {
    local out
    out=$(taskset -c "$SERVER_CPU" "$SIGN_SPEED" "$1" 1 "$2") || die "sign_speed failed" "Run it by hand: KEEP=1, then $SIGN_SPEED $1 1 $2"
    say "signature: $(head -n 1 <<<"$out") (libsodium crypto_sign_detached, cpu $SERVER_CPU)"
    say "seal: $(sed -n 2p <<<"$out") (XChaCha20-Poly1305 of the record, as src/seal.c)"
    sed -n 's/^seal_us=\([0-9.]*\) .*/\1/p' <<<"$out" >"$TMP/seal_us.$3"
    sed -n 's/^sign_us=\([0-9.]*\) .*/\1/p' <<<"$out"
}

# ---- processes ---------------------------------------------------------------

start_consentd() {
    local dir=$TMP/consentd
    mkdir -p "$dir/keys"
    [ -f "$SITES_DIR/$SITE.json" ] || die "$SITES_DIR/$SITE.json is missing" "Restore ops/sites/$SITE.json."
    timeout 30 "$BIN" keygen --keys "$dir/keys" >"$dir/keygen.log" 2>&1 ||
        die "'consentd keygen --keys $dir/keys' failed: no key, no proof, no consent" "Read $dir/keygen.log (KEEP=1)."
    launch_consentd "$dir" "$SITES_DIR"
    BASE=http://127.0.0.1:$CONSENTD_PORT
    POST_URL=$BASE/v1/sites/$SITE/consents
    wait_connected "$dir/consentd.log"
}

# ---- the FCALL consentd sends, captured ---------------------------------------

# POSTs one consent while redis-cli MONITOR listens, and turns the FCALL it
# saw into redis-benchmark arguments (FCALL_ARGS): the same function, keys,
# record and arguments, with the visitor id replaced by bench-__rand_int__.
# Sets SIGNING_INPUT_BYTES (the part of the proof the signature covers),
# RECORD_BYTES, CAPTURE_TAG and GET_ARGS (redis-benchmark GET of copies of
# the captured record).
capture_fcall() {
    local visitor=bench-999999999999 dir=$TMP/capture
    mkdir -p "$dir"
    timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" MONITOR >"$dir/monitor.txt" 2>&1 &
    local mon=$!
    BG_PIDS+=("$mon")
    sleep 0.3
    local code
    code=$(curl -sS -o "$dir/post.json" -w '%{http_code}' -X POST -H "Origin: $ORIGIN" \
        -H 'Content-Type: application/json' \
        -d "{\"visitor\":\"$visitor\",\"decisions\":{\"audience\":true,\"personalisation\":true,\"advertising\":false,\"partners_sharing\":false},\"policy_version\":\"$POLICY_VERSION\",\"lang\":\"fr\"}" \
        "$POST_URL") || die "POST $POST_URL failed" "Check by hand with curl (see bench/README.md)."
    [ "$code" = 201 ] || {
        sed 's/^/    /' "$dir/post.json" >&2
        echo >&2
        die "POST $POST_URL answered $code, not 201 (body above)" "Check ops/sites/$SITE.json (origin $ORIGIN, policy_version) and consentd's log."
    }
    for _ in $(seq 1 50); do
        grep -q '"FCALL" "consentd_put"' "$dir/monitor.txt" && break
        sleep 0.1
    done
    kill -TERM "$mon" 2>/dev/null || true
    wait "$mon" 2>/dev/null || true
    grep -q '"FCALL" "consentd_put"' "$dir/monitor.txt" ||
        die "MONITOR saw no FCALL consentd_put during a 201 POST" "Read $dir/monitor.txt (KEEP=1): does consentd still write with one FCALL?"
    # One line per argument would break on newlines: NUL-terminated instead.
    perl -e '
        use strict; use warnings;
        my ($visitor, $mon, $out, $info) = @ARGV;
        open(my $fh, "<", $mon) or die "$mon: $!";
        my ($line) = grep { /"FCALL" "consentd_put"/ } <$fh>;
        $line =~ s/^[^\]]*\] //;
        my @args;
        while ($line =~ /\G\s*"((?:[^"\\]|\\.)*)"/gc) {
            my $a = $1;
            $a =~ s/\\(x([0-9a-fA-F]{2})|.)/defined $2 ? chr(hex $2)
                : {n=>"\n", r=>"\r", t=>"\t", a=>"\a", b=>"\b"}->{$1} \/\/ $1/ge;
            push @args, $a;
        }
        # FCALL consentd_put 8 state history log index writes-minute writes-day
        #   pseudonym seq | visitor record expires retention history_max
        #   per_minute per_day pseudonym-candidate sealed-record data-key
        # (7 keys, without seq, before library version 6)
        my $nk = $args[2] // "";
        ($nk eq "7" || $nk eq "8") && @args == 3 + $nk + 10
            or die "unexpected FCALL shape: " . scalar(@args) . " arguments, $nk keys\n";
        my $rec = $args[4 + $nk];
        my ($tag) = $args[3] =~ /(\{[^}]*\})/ or die "no hash tag in $args[3]\n";
        my ($jws) = $rec =~ /\xa3jws[\xd9\xda\xdb].{1,4}?(ey[A-Za-z0-9_.-]+)/s or die "no jws in the record\n";
        my $signing_input = substr($jws, 0, rindex($jws, "."));
        my $record_len = length $rec;
        # A command-line argument cannot hold NUL bytes. In a record they
        # only occur in the 8-byte big-endian ints iat and exp (msgpack 0xcf):
        # make those bytes 0x01 (same length, same shape, a far-future time
        # the function never reads); anything else is an error.
        for my $k ("iat", "exp") {
            my $i = index($rec, "\xa3$k\xcf");
            next if $i < 0;
            my $v = substr($rec, $i + 5, 8);
            $v =~ tr/\0/\x01/;
            substr($rec, $i + 5, 8) = $v;
        }
        $rec =~ /\0/ and die "the record holds NUL bytes outside iat and exp\n";
        $args[4 + $nk] = $rec;
        # The sealed record and its key are random bytes the function only
        # stores: their NUL bytes become 0x01 too (same length, same work).
        $args[$_] =~ tr/\0/\x01/ for 11 + $nk, 12 + $nk;
        for (@args) { s/\Q$visitor\E/bench-__rand_int__/g }
        open(my $o, ">", $out) or die "$out: $!";
        print $o map { "$_\0" } @args;
        open(my $i, ">", $info) or die "$info: $!";
        print $i "$tag " . length($signing_input) . " $record_len $nk\n";
    ' "$visitor" "$dir/monitor.txt" "$dir/fcall.args" "$dir/info" 2>"$dir/perl.log" || {
        sed 's/^/    /' "$dir/perl.log" >&2
        die "cannot turn the captured FCALL into redis-benchmark arguments (above)" "Read $dir/monitor.txt (KEEP=1)."
    }
    local nkeys
    read -r CAPTURE_TAG SIGNING_INPUT_BYTES RECORD_BYTES nkeys <"$dir/info"
    mapfile -d '' FCALL_ARGS <"$dir/fcall.args"
    say "captured: FCALL consentd_put $nkeys ${FCALL_ARGS[*]:3:$((nkeys + 1))} <record $RECORD_BYTES B> ${FCALL_ARGS[*]:$((nkeys + 5)):6} <sealed> <key>"
    # The arguments work: one FCALL by hand returns a stream entry id.
    local one=("${FCALL_ARGS[@]//__rand_int__/999999999998}") reply
    reply=$(rcli "${one[@]}" 2>&1)
    [[ "$reply" =~ ^[0-9]+-[0-9]+$ ]] || die "the replayed FCALL answered: $reply" "Read $dir/monitor.txt (KEEP=1)."
    # redis-benchmark GET reads VISITORS copies of the record consentd stored
    # (same bytes), under the captured tag: rbget-<12 digits>, same length as bench-<12 digits>.
    local state="cd:$CAPTURE_TAG:s:$visitor"
    rcli EVAL "local v = redis.call('GET', KEYS[1]) for i = 0, tonumber(ARGV[1]) - 1 do
        redis.call('SET', string.format(ARGV[2], i), v) end return #v" 1 "$state" "$VISITORS" \
        "cd:$CAPTURE_TAG:s:rbget-%012d" >/dev/null || die "cannot copy $state" "Read $TMP/redis.log (KEEP=1)."
    GET_ARGS=(GET "cd:$CAPTURE_TAG:s:rbget-__rand_int__")
}

# ---- measuring ---------------------------------------------------------------

# "name calls failed" per command, from INFO commandstats.
cmdstats() {
    rcli info commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*rejected_calls=\([0-9]*\),failed_calls=\([0-9]*\).*/\1 \2 \3 \4/p'
}

# From two cmdstats outputs taken WINDOW_MS apart (cmd_delta OLD NEW MAIN
# WINDOW_MS): "main_calls main_failed other_toplevel_calls".
# Commands that only run inside the functions (every redis.call of
# src/store.lua, read from the file) and this script's own INFO/CONFIG are
# not top-level calls. Nor is the site watcher's registry read (FCALL_RO
# consentd_sites_list, one every SITE_WATCH_POLL_MS of src/site_watch.h,
# whatever the load: 5 in a 10 s run): up to one per poll and two more of
# the window's FCALL_RO calls are the watcher's; any beyond count as other.
cmd_delta() {
    local inner poll
    inner=$(grep -o "redis\.call('[A-Za-z]*'" "$ROOT/src/store.lua" | sed "s/.*('//; s/'//" | tr '[:upper:]' '[:lower:]' | sort -u | tr '\n' ' ')
    poll=$(sed -n 's/^#define SITE_WATCH_POLL_MS \([0-9][0-9]*\).*/\1/p' "$ROOT/src/site_watch.h")
    [ -n "$poll" ] || die "SITE_WATCH_POLL_MS is not in src/site_watch.h" "Update cmd_delta in $BENCH_SCRIPT."
    awk -v main="$3" -v inner_list="$inner" -v watch_max=$(($4 / poll + 2)) '
        BEGIN {
            n = split(inner_list, c, " ")
            for (i = 1; i <= n; i++) inner[c[i]]
        }
        FNR == NR { c0[$1] = $2; f0[$1] = $3 + $4; next }
        {
            d = $2 - c0[$1]; fd = $3 + $4 - f0[$1]
            if ($1 == main) { calls = d; failed = fd }
            else if ($1 == "info" || $1 ~ /^config/ || $1 == "ping") { }
            else if (main == "fcall" && ($1 in inner)) { }
            else if ($1 == "fcall_ro") other += (d > watch_max ? d - watch_max : 0)
            else other += d
        }
        END { printf "%d %d %d\n", calls, failed, other }' "$1" "$2"
}

# FCALLs the acceptance counters sent (applied or not): consentd's /metrics.
flushes() {
    curl -sS "$BASE/metrics" | awk '
        /^consentd_stats_flushes_total / || /^consentd_stats_flush_failures_total / { n += $NF }
        END { printf "%d\n", n }'
}

# run_wrk OUT SECONDS CONNS SCRIPT URL [SCRIPT ARGS...]
run_wrk() {
    local out=$1 seconds=$2 conns=$3 script=$4 url=$5 rc=0
    shift 5
    timeout $((seconds + 20)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$script" "$url" -- "$@" >"$out" 2>&1 &
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    check_wrk "$out" "against $url" "$rc"
}

# Records VISITORS choices (bench-000000000000 ...) so that GET finds them.
populate() {
    local out=$TMP/wrk/populate before got
    read -r before _ _ < <(metrics consent_post 201)
    say "populate: recording $VISITORS visitors with wrk"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d120s -s "$BENCH_DIR/consent_populate.lua" "$POST_URL" \
        -- "$POLICY_VERSION" "$VISITORS" >"$out" 2>&1 &
    FG_PID=$!
    # The wrk thread stops itself after VISITORS answers, but wrk waits for -d: end it then.
    for _ in $(seq 1 1200); do
        read -r got _ _ < <(metrics consent_post 201)
        [ $((got - before)) -lt "$VISITORS" ] || break
        kill -0 "$FG_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -INT "$FG_PID" 2>/dev/null || true
    wait "$FG_PID" || true
    FG_PID=
    local bad
    read -r got bad _ < <(metrics consent_post 201)
    if [ $((got - before)) -lt "$VISITORS" ] || [ "$bad" != 0 ]; then
        sed 's/^/    /' "$out" >&2
        die "populate: $((got - before)) POSTs answered 201 of $VISITORS, $bad other answers" "Rerun with KEEP=1 and read consentd's log."
    fi
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: $ORIGIN" "$POST_URL/bench-$(printf '%012d' $((VISITORS - 1)))")
    [ "$code" = 200 ] || die "GET of the last visitor recorded answered $code" "Rerun with KEEP=1 and read consentd's log."
}

# Appends a result line to $TMP/results: see report().
result() {
    printf '%s\n' "$*" >>"$TMP/results"
}

# measure_consentd NAME CONNS SECONDS WARMUP post|get
measure_consentd() {
    local name=$1 conns=$2 seconds=$3 warm=$4 kind=$5 script url route want main args
    if [ "$kind" = post ]; then
        script=$BENCH_DIR/consent_post.lua url=$POST_URL route=consent_post want=201 main=fcall
        args=("$POLICY_VERSION" "$KEYSPACE")
    else
        script=$BENCH_DIR/consent_get.lua url=$POST_URL/ route=consent_get want=200 main=get
        args=("$VISITORS")
    fi
    local out=$TMP/wrk/$name
    [ "$warm" = 0 ] || run_wrk "$out.warmup" "$warm" "$conns" "$script" "$url" "${args[@]}"
    local m0 m1 b0 b1 t0 t1 c0 c1 r0 r1 k0 k1
    cmdstats >"$TMP/cmd0"
    local f0 f1
    f0=$(flushes)
    read -r m0 b0 _ < <(metrics "$route" "$want")
    read -r t0 c0 r0 k0 u0 < <(snapshot)
    run_wrk "$out" "$seconds" "$conns" "$script" "$url" "${args[@]}"
    read -r t1 c1 r1 k1 u1 < <(snapshot)
    if [ "$t0" = gone ] || [ "$t1" = gone ]; then
        die "consentd or Redis exited during $name" "Rerun with KEEP=1 and read the logs."
    fi
    sleep 0.2 # let the last answers land before counting
    read -r m1 b1 _ < <(metrics "$route" "$want")
    cmdstats >"$TMP/cmd1"
    f1=$(flushes)
    [ "$b1" = "$b0" ] || die "$name: consentd answered $((b1 - b0)) requests with another status than $want" \
        "Rerun with KEEP=1 and read consentd's log."
    local calls failed other requests rps p50 p99
    read -r calls failed other < <(cmd_delta "$TMP/cmd0" "$TMP/cmd1" "$main" $((t1 - t0)))
    [ "$failed" = 0 ] || die "$name: $failed failed ${main^^} calls in Redis" "Read $TMP/redis.log (KEEP=1)."
    # The acceptance counters' own FCALLs (about one a second per thread)
    # are not part of any consent.
    [ "$main" != fcall ] || calls=$((calls - (f1 - f0)))
    read -r requests rps p50 p99 _ _ < <(parse_wrk "$out")
    awk -v n="$name" -v c="$conns" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v req="$requests" \
        -v cd=$((c1 - c0)) -v rd=$((r1 - r0)) -v core=$((k1 - k0)) -v hz="$CLK_TCK" -v ms=$((t1 - t0)) \
        -v served=$((m1 - m0)) -v calls="$calls" -v other="$other" -v ud=$((u1 - u0)) 'BEGIN {
            o = (core - cd) / hz * 1e5 / ms
            printf "%s %d %s %s %s %.2f %.0f %.2f %.4f %d %.0f %.2f\n", n, c, rps, p50, p99, cd / hz * 1e6 / req,
                cd / hz * 1e5 / ms, rd / hz * 1e6 / req, (calls + other) / served, other, (o < 0 ? 0 : o),
                ud / hz * 1e6 / req
        }' >>"$TMP/results"
    say "$(tail -n 1 "$TMP/results" | awk '{ printf "%-14s c=%-3s %7d req/s  p50 %6dus  p99 %6dus  consentd %6.2f us CPU/req (%d%% of a core)  redis %5.2f us/req  %s Redis cmds/req", $1, $2, $3, $4, $5, $6, $7, $8, $9 }')"
}

# measure_rb NAME main ARGS...: redis-benchmark at CONNS for about DURATION s.
measure_rb() {
    local name=$1 main=$2 rc=0
    shift 2
    local out=$TMP/rb.$name keyspace=$KEYSPACE
    [ "$main" != get ] || keyspace=$VISITORS
    # A short run first: warm-up, and how many requests make DURATION seconds.
    local n_cal=$((CONNS * 300))
    taskset -c "$CLIENT_CPU" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CONNS" -n "$n_cal" -r "$keyspace" \
        --csv "$@" >"$out.cal" 2>&1 || rc=$?
    local cal
    cal=$(rb_parse "$out.cal") || die "redis-benchmark $name (calibration) failed (rc $rc): $(tail -c 300 "$out.cal")" \
        "Run it by hand with KEEP=1: the arguments are in $TMP/capture/fcall.args."
    local rps0 n
    read -r rps0 _ _ <<<"$cal"
    n=$(awk -v r="$rps0" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
    local t0 t1 c0 c1 r0 r1 k0 k1
    cmdstats >"$TMP/cmd0"
    read -r t0 c0 r0 k0 < <(snapshot)
    timeout $((DURATION * 3 + 30)) taskset -c "$CLIENT_CPU" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" \
        -c "$CONNS" -n "$n" -r "$keyspace" --csv "$@" >"$out" 2>&1 &
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    read -r t1 c1 r1 k1 < <(snapshot)
    cmdstats >"$TMP/cmd1"
    local res calls failed other rps p50 p99
    res=$(rb_parse "$out") || die "redis-benchmark $name failed (rc $rc): $(tail -c 300 "$out")" "Run it by hand with KEEP=1."
    read -r rps p50 p99 <<<"$res"
    read -r calls failed other < <(cmd_delta "$TMP/cmd0" "$TMP/cmd1" "$main" $((t1 - t0)))
    [ "$failed" = 0 ] || die "redis-benchmark $name: $failed failed ${main^^} calls" "Run it by hand with KEEP=1."
    awk -v nm="$name" -v c="$CONNS" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v n="$n" \
        -v rd=$((r1 - r0)) -v hz="$CLK_TCK" -v calls="$calls" -v other="$other" 'BEGIN {
            printf "%s %d %.0f %.0f %.0f - - %.2f %.4f %d - -\n", nm, c, rps, p50, p99, rd / hz * 1e6 / n, (calls + other) / n, other
        }' >>"$TMP/results"
    say "$(tail -n 1 "$TMP/results" | awk '{ printf "%-14s c=%-3s %7d ops/s  p50 %6dus  p99 %6dus  redis %5.2f us/op  %s Redis cmds/op", $1, $2, $3, $4, $5, $8, $9 }')"
}

# redis-benchmark --csv: "rps p50_us p99_us" from its last line (the test
# name before the figures may hold any byte of the record).
rb_parse() {
    perl -ne '
        $l = $_ if /\S/;
        END {
            $l =~ /"([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)"\s*$/ or exit 1;
            printf "%.0f %.0f %.0f\n", $1, $4 * 1000, $6 * 1000;
        }' "$1"
}

# ---- report ------------------------------------------------------------------

report() {
    local cpu_model consentd_version rev
    cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    consentd_version=$(timeout 5 "$BIN" --version 2>/dev/null | head -n 1) || consentd_version=consentd
    rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null) || rev="no commit yet"
    local sign_mean
    sign_mean=$(awk -v a="$SIGN1" -v b="$SIGN2" 'BEGIN { printf "%.2f", (a + b) / 2 }')

    echo
    echo "# $(date -u '+%F %H:%M UTC') | kernel $(uname -r) | $cpu_model | nproc $(nproc) | load $LOAD_AT_START at start"
    echo "# $consentd_version, git $rev | $(redis-server --version | cut -d' ' -f1-3) | libsodium $(pkg-config --modversion libsodium)"
    echo "# placement: consentd (1 thread) on cpu $SERVER_CPU alone; redis-server, wrk (1 thread) and redis-benchmark on cpu $CLIENT_CPU"
    echo "# POST: random visitor of $KEYSPACE, 4 decision sets, fr/en; GET: random visitor of the $VISITORS recorded first"
    echo "# redis-benchmark FCALL: the FCALL consentd sent for one POST (MONITOR), record $RECORD_BYTES B, visitor -> bench-__rand_int__ (-r $KEYSPACE), tag $CAPTURE_TAG"
    echo "# ${DURATION} s per run after ${WARMUP} s warm-up; latency runs ${LAT_DURATION} s at $LAT_CONNS connections"
    echo
    printf '| %-22s | %5s | %8s | %8s | %8s | %12s | %10s | %12s | %13s |\n' \
        run conns req/s p50 p99 'consentd CPU' 'consentd %' 'Redis CPU' 'Redis cmds'
    printf '| %-22s | %5s | %8s | %8s | %8s | %12s | %10s | %12s | %13s |\n' \
        '' '' '' '' '' 'us/req' 'of a core' 'us/req' 'per request'
    printf '|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|\n' ------------------------ ------ --------- --------- --------- \
        -------------- ------------ -------------- ---------------
    local label n c rps p50 p99 cd pct rd cmds other o ud
    while read -r n c rps p50 p99 cd pct rd cmds other o ud; do
        case $n in
        post) label="consentd POST" ;;
        get) label="consentd GET" ;;
        post-lat) label="consentd POST" ;;
        get-lat) label="consentd GET" ;;
        rb-fcall) label="redis-benchmark FCALL" ;;
        rb-get) label="redis-benchmark GET" ;;
        esac
        [ "$cd" = - ] || cd=$(printf '%.2f' "$cd")
        [ "$pct" = - ] || pct="$pct%"
        printf '| %-22s | %5s | %8s | %8s | %8s | %12s | %10s | %12.2f | %13.2f |\n' \
            "$label" "$c" "$rps" "$(fmt_us "$p50")" "$(fmt_us "$p99")" "$cd" "$pct" "$rd" "$cmds"
    done <"$TMP/results"

    local -A rps_of cpu_of p50_of cmds_of other_of o_of user_of
    while read -r n c rps p50 p99 cd pct rd cmds other o ud; do
        rps_of[$n]=$rps cpu_of[$n]=$cd p50_of[$n]=$p50 cmds_of[$n]=$cmds other_of[$n]=$other o_of[$n]=$o user_of[$n]=$ud
    done <"$TMP/results"
    echo
    awk -v a="${rps_of[post]}" -v b="${rps_of[rb-fcall]}" -v c="${rps_of[get]}" -v d="${rps_of[rb-get]}" -v k="$CONNS" 'BEGIN {
        printf "consent writes: consentd POST %d req/s / redis-benchmark FCALL %d ops/s = %.2f of the Redis ceiling (c=%d)\n", a, b, a / b, k
        printf "consent reads:  consentd GET %d req/s / redis-benchmark GET %d ops/s = %.2f of the Redis ceiling (c=%d)\n", c, d, c / d, k }'
    RATIO=$(awk -v c="${cpu_of[post]}" -v s="$sign_mean" 'BEGIN { printf "%.2f", c / s }')
    echo "CPU per consent write = ${cpu_of[post]} us = $RATIO x one Ed25519 signature ($sign_mean us, libsodium, same run: $SIGN1 before, $SIGN2 after; $SIGNING_INPUT_BYTES-byte signing input)"
    echo "CPU per consent read  = ${cpu_of[get]} us"
    awk -v pu="${user_of[post]}" -v pt="${cpu_of[post]}" -v gu="${user_of[get]}" -v gt="${cpu_of[get]}" -v s="$sign_mean" 'BEGIN {
        printf "  of which in user space: write %.2f us = %.2fx one signature, kernel %.2f us; read %.2f us, kernel %.2f us\n", pu, pu / s, pt - pu, gu, gt - gu
        printf "  (the kernel share is the sockets: per request h2o 2.2.5 reads, writes, and re-arms epoll twice for an answer that waits on Redis)\n" }'
    echo

    MISSED=0
    local verdict
    # Budget 1: one Redis round trip per consent.
    verdict=met
    if [ "${cmds_of[post]}" != 1.0000 ] || [ "${other_of[post]}" != 0 ]; then verdict=MISSED MISSED=1; fi
    echo "budget: one Redis round trip per consent write: ${cmds_of[post]} top-level Redis commands per 201 (FCALL consentd_put; ${other_of[post]} other commands): $verdict"
    # Budget 2: CPU per write <= SIGN_RATIO_BUDGET x one signature.
    verdict=met
    # Issue 19: plus the seal of the record (crypto-erasure of the log).
    local seal_mean budget_us
    seal_mean=$(awk -v a="$(cat "$TMP/seal_us.1")" -v b="$(cat "$TMP/seal_us.2")" 'BEGIN { printf "%.2f", (a + b) / 2 }')
    budget_us=$(awk -v s="$sign_mean" -v b="$SIGN_RATIO_BUDGET" -v e="$seal_mean" 'BEGIN { printf "%.1f", s * b + e }')
    if awk -v c="${cpu_of[post]}" -v u="$budget_us" 'BEGIN { exit !(c > u) }'; then verdict=MISSED MISSED=1; fi
    echo "budget: consentd CPU per consent write <= $SIGN_RATIO_BUDGET x one signature + one seal of the record ($seal_mean us) = $budget_us us: ${cpu_of[post]} us, ${RATIO}x a signature: $verdict"
    # Budget 3: median latency under load below 1 ms.
    local lat_runs=(post get) r line=""
    [ "$LAT_DURATION" = 0 ] || lat_runs=(post-lat get-lat post get)
    verdict=met
    for r in "${lat_runs[@]}"; do
        line+=" ${r%-lat} c=$([ "${r%-lat}" = "$r" ] && echo "$CONNS" || echo "$LAT_CONNS") $(fmt_us "${p50_of[$r]}");"
    done
    local judged=post get_judged=get
    if [ "$LAT_DURATION" != 0 ]; then judged=post-lat get_judged=get-lat; fi
    if [ "${p50_of[$judged]}" -ge "$P50_BUDGET_US" ] || [ "${p50_of[$get_judged]}" -ge "$P50_BUDGET_US" ]; then
        verdict=MISSED MISSED=1
    fi
    echo "budget: median latency under load < 1 ms (judged at c=$([ "$LAT_DURATION" = 0 ] && echo "$CONNS" || echo "$LAT_CONNS")):${line% ;}: $verdict"
    echo
    echo "consentd CPU: user+system time of consentd (/proc/PID/stat) over the run / requests; % of a core: over the wall time."
    echo "Redis CPU: the same for redis-server. Redis cmds per request: top-level commands in INFO commandstats (the ones"
    echo "consentd_put runs inside Redis, and the site watcher's periodic registry read, excluded) over the requests"
    echo "consentd answered with 201/200 (consentd's /metrics)."
    echo "With closed-loop clients, p50 ~ connections / req/s: the latency budget is judged at a moderate load (LAT_CONNS)."
    local max_o
    max_o=$(printf '%s\n' "${o_of[post]}" "${o_of[get]}" | sort -n | tail -n 1)
    [ "$max_o" -le 5 ] || echo "WARNING: other processes used ${max_o}% of cpu $SERVER_CPU during a consentd run: figures disturbed, run again."
}

# ---- main --------------------------------------------------------------------

check_knobs
check_quiet
ensure_packages wrk:wrk redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools curl:curl \
    taskset:util-linux perl:perl cc:gcc pkg-config:pkg-config libsodium.pc:libsodium-dev
CLK_TCK=$(getconf CLK_TCK)
build_consentd

TMP=$(mktemp -d /tmp/consentd-consent-bench.XXXXXX)
mkdir -p "$TMP/wrk"
: >"$TMP/results"
say "working in $TMP"
build_sign_speed

POLICY_VERSION=$(sed -n 's/^ *"policy_version": *"\([^"]*\)".*/\1/p' "$SITES_DIR/$SITE.json" | head -n 1)
[ -n "$POLICY_VERSION" ] || die "no policy_version in $SITES_DIR/$SITE.json" "Restore ops/sites/$SITE.json."

start_redis "$CLIENT_CPU"
start_consentd
capture_fcall
SIGN1=$(sign_us "$SIGNING_INPUT_BYTES" "$RECORD_BYTES" 1)
populate

measure_consentd post "$CONNS" "$DURATION" "$WARMUP" post
measure_consentd get "$CONNS" "$DURATION" "$WARMUP" get
if [ "$LAT_DURATION" != 0 ]; then
    measure_consentd post-lat "$LAT_CONNS" "$LAT_DURATION" 0 post
    measure_consentd get-lat "$LAT_CONNS" "$LAT_DURATION" 0 get
fi
measure_rb rb-fcall fcall "${FCALL_ARGS[@]}"
measure_rb rb-get get "${GET_ARGS[@]}"
SIGN2=$(sign_us "$SIGNING_INPUT_BYTES" "$RECORD_BYTES" 2)

report
if [ "$MISSED" = 1 ] && [ "$STRICT" = 1 ]; then
    say "a budget was missed (STRICT=1)"
    exit 2
fi
