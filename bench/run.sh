#!/usr/bin/env bash
# bench/run.sh - serve the demo banner (GET /v1/sites/demo/banner.js, gzip)
# from consentd and from nginx, load each with wrk, and print a table:
# requests/s, latency, and the server's CPU time per request.
#
#   bench/run.sh                       the full comparison (about 90 s)
#   RUNS=1 DURATION=5 bench/run.sh     a quick look
#   BENCH_ONLY=nginx bench/run.sh      nginx alone, with a generated ~12 KB script
#   BENCH_ONLY=consentd bench/run.sh   consentd alone
#
# Environment:
#   DURATION=10       seconds of each measured wrk run (after a WARMUP=2 s run)
#   CONNS=64          wrk connections (one wrk thread)
#   RUNS=3            consentd/nginx pairs, order alternating; medians are reported
#   CONSENTD_BIN=...  use this binary instead of building one
#   BUILD_DIR=build   where to build consentd (Release) when CONSENTD_BIN is unset
#   KEEP=1            keep the temporary directory (configs, logs, wrk output)
#   SITES_DIR=ops/sites  the sites consentd serves (the demo site must be there)
#   SERVER_CPU=0 CLIENT_CPU=1   the cores of the servers and of wrk
#
# Installs what is missing (wrk, nginx-light, redis-server, curl) with
# apt-get. Starts everything on free loopback ports under a temporary
# directory and stops it all on exit, failure included. Progress goes to
# stderr, the table to stdout. Exits non-zero when anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
PATH=$PATH:/usr/sbin:/sbin # nginx lives there, outside a user's PATH
BENCH_DIR=$ROOT/bench
BANNER_PATH=/v1/sites/demo/banner.js

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
RUNS=${RUNS:-3}
KEEP=${KEEP:-0}
BENCH_ONLY=${BENCH_ONLY:-}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SITES_DIR=${SITES_DIR:-$ROOT/ops/sites}

cleanup_on_exit "logs, configs, wrk output"

check_knobs() {
    check_whole_numbers DURATION WARMUP CONNS RUNS SERVER_CPU CLIENT_CPU
    if [ "$DURATION" -lt 1 ] || [ "$CONNS" -lt 1 ] || [ "$RUNS" -lt 1 ]; then
        die "DURATION, CONNS and RUNS must be at least 1" "Unset them to use 10 s, 64 connections, 3 runs."
    fi
    case "$BENCH_ONLY" in
    '' | nginx | consentd) ;;
    *) die "BENCH_ONLY=$BENCH_ONLY" "Use BENCH_ONLY=nginx, BENCH_ONLY=consentd, or unset it." ;;
    esac
    check_cores "the server" wrk
    local servers=2
    [ -z "$BENCH_ONLY" ] || servers=1
    local estimate=$((RUNS * servers * (WARMUP + DURATION + 1) + 10))
    say "plan: $RUNS run(s) x $servers server(s) x (${WARMUP} s warm-up + ${DURATION} s measured), about $estimate s in all"
    [ "$estimate" -le 180 ] || warn "this will take more than 3 minutes (lower RUNS or DURATION for a quicker look)"
}

# ---- processes ---------------------------------------------------------------

# Waits until URL answers 200 while PID lives.
wait_http() {
    local url=$1 pid=$2 name=$3 log=$4
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ] && return 0
        require_alive "$pid" "$name" "$log"
        sleep 0.1
    done
    tail -n 20 "$log" | sed 's/^/    /' >&2
    die "$name does not answer 200 at $url after 10 s (the end of its log $log is above)" \
        "Check by hand: curl -i $url (run with KEEP=1 to keep the config)."
}

start_consentd() {
    local dir=$TMP/consentd
    mkdir -p "$dir/keys"
    [ -f "$SITES_DIR/demo.json" ] ||
        die "$SITES_DIR/demo.json is missing: consentd would serve no demo banner" "Restore ops/sites/demo.json."
    if ! timeout 30 "$BIN" keygen --keys "$dir/keys" >"$dir/keygen.log" 2>&1; then
        warn "'consentd keygen --keys $dir/keys' failed; starting consentd without keys ($dir/keygen.log)"
    fi
    launch_consentd "$dir" "$SITES_DIR"
    CONSENTD_URL=http://127.0.0.1:$CONSENTD_PORT$BANNER_PATH
    wait_http "$CONSENTD_URL" "$CONSENTD_PID" consentd "$dir/consentd.log"
}

# A deterministic stand-in for the banner (~12 KB, ~3 KB gzipped) when
# consentd is not part of the run.
write_placeholder_banner() {
    awk 'BEGIN {
        srand(42)
        n = split("consent banner purpose analytics marketing accept refuse choice visitor " \
                  "cookie storage element button dialog text label title policy version " \
                  "language region signal gate render update", w, " ")
        c = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        print "/* placeholder banner written by bench/run.sh (BENCH_ONLY=nginx), not consentd output */"
        for (i = 0; ; i++) {
            r = ""
            for (j = 0; j < 14; j++) r = r substr(c, int(rand() * 62) + 1, 1)
            s = sprintf("function %s_%s_%d(o){const k=\"%s\";return o&&o[k]!==undefined?o[k]+%d:\"%s %s %s\";}\n",
                        w[int(rand() * n) + 1], w[int(rand() * n) + 1], i, w[int(rand() * n) + 1],
                        int(rand() * 100000), w[int(rand() * n) + 1], w[int(rand() * n) + 1], r)
            t += length(s)
            if (t > 12200) break
            printf "%s", s
        }
    }' >"$1"
}

# Fetches consentd's banner, identity and gzip, into $TMP/body/.
fetch_consentd_banner() {
    local d=$TMP/body
    mkdir -p "$d"
    curl -sS --fail -o "$d/identity" -D "$d/identity.headers" "$CONSENTD_URL" ||
        die "GET $CONSENTD_URL failed" "Check by hand: curl -i $CONSENTD_URL"
    curl -sS --fail -H 'Accept-Encoding: gzip' -o "$d/gzip" -D "$d/gzip.headers" "$CONSENTD_URL" ||
        die "GET $CONSENTD_URL (Accept-Encoding: gzip) failed" "Check by hand: curl -i -H 'Accept-Encoding: gzip' $CONSENTD_URL"
    [ -s "$d/identity" ] || die "consentd served an empty banner.js" "Check the demo site and web/banner/."
    if grep -qi '^content-encoding: *gzip' "$d/gzip.headers"; then
        [ "$(gzip -dc <"$d/gzip" | sha256sum)" = "$(sha256sum <"$d/identity")" ] ||
            die "consentd's gzip banner does not decompress to its identity banner" \
                "Compare: curl -s $CONSENTD_URL | sha256sum; curl -s -H 'Accept-Encoding: gzip' $CONSENTD_URL | gzip -dc | sha256sum"
        GZIP_SOURCE="consentd's own gzip bytes"
    else
        warn "consentd did not gzip banner.js for Accept-Encoding: gzip; nginx gets gzip -9 and sends fewer bytes"
        gzip -9nc <"$d/identity" >"$d/gzip"
        GZIP_SOURCE="gzip -9 (consentd sent identity)"
    fi
}

start_nginx() {
    local dir=$TMP/nginx www=$TMP/nginx/www
    mkdir -p "$www$(dirname "$BANNER_PATH")" "$dir/client_body"
    if [ "$BENCH_ONLY" = nginx ]; then
        mkdir -p "$TMP/body"
        write_placeholder_banner "$TMP/body/identity"
        gzip -9nc <"$TMP/body/identity" >"$TMP/body/gzip"
        GZIP_SOURCE="gzip -9 of a generated placeholder"
    fi
    cp "$TMP/body/identity" "$www$BANNER_PATH"
    cp "$TMP/body/gzip" "$www$BANNER_PATH.gz"
    # nginx's worker runs as nobody when started as root: let it reach the files.
    chmod a+x "$TMP" "$dir"
    chmod -R a+rX "$www"
    pick_port single
    NGINX_PORT=$PORT
    local mask=1
    for _ in $(seq 1 "$SERVER_CPU"); do mask=${mask}0; done
    sed -e "s|@DIR@|$dir|g" -e "s|@ROOT@|$www|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@CPU_MASK@|$mask|g" \
        "$BENCH_DIR/nginx.conf.tmpl" >"$dir/nginx.conf"
    nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 2>"$dir/check.log" || {
        sed 's/^/    /' "$dir/check.log" >&2
        die "nginx refuses $dir/nginx.conf (above)" "Fix bench/nginx.conf.tmpl."
    }
    say "nginx: starting $(nginx -v 2>&1 | sed 's/.*: //') on 127.0.0.1:$NGINX_PORT, 1 worker, on cpu $SERVER_CPU"
    taskset -c "$SERVER_CPU" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    NGINX_PID=$!
    BG_PIDS+=("$NGINX_PID")
    NGINX_URL=http://127.0.0.1:$NGINX_PORT$BANNER_PATH
    wait_http "$NGINX_URL" "$NGINX_PID" nginx "$dir/error.log"
    NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
    [ -n "$NGINX_WORKERS" ] || die "nginx started no worker" "Look at $dir/error.log (run with KEEP=1)."
    # So that cleanup reaches them even if the master dies first.
    # shellcheck disable=SC2206
    BG_PIDS+=($NGINX_WORKERS)
}

# Both servers answer 200 with the same bytes; sets BODY_RAW and BODY_GZ.
check_bodies() {
    local d=$TMP/body name url want_id want_gz got
    want_id=$(sha256sum <"$d/identity")
    want_gz=$(sha256sum <"$d/gzip")
    for name in consentd nginx; do
        [ "$name" = consentd ] && url=${CONSENTD_URL:-}
        [ "$name" = nginx ] && url=${NGINX_URL:-}
        [ -n "$url" ] || continue
        got=$(curl -sS --fail "$url" | sha256sum) ||
            die "$name: GET $url did not answer 200" "Check by hand: curl -i $url"
        [ "$got" = "$want_id" ] || die "$name serves other bytes than consentd at $BANNER_PATH" \
            "Compare: curl -s $url | sha256sum; and $d/identity (run with KEEP=1)."
        curl -sS --fail -H 'Accept-Encoding: gzip' -D "$d/$name.gzip.headers" -o "$d/$name.gzip" "$url" ||
            die "$name: GET $url (gzip) did not answer 200" "Check by hand: curl -i -H 'Accept-Encoding: gzip' $url"
        if [ "$(sha256sum <"$d/$name.gzip")" != "$want_gz" ]; then
            if [ "$name" = nginx ]; then
                die "nginx does not send banner.js.gz as it is" "Check gzip_static in bench/nginx.conf.tmpl."
            fi
            warn "$name's gzip body differs between two requests"
        fi
    done
    BODY_RAW=$(wc -c <"$d/identity")
    BODY_GZ=$(wc -c <"$d/gzip")
    say "bodies: identical, banner.js $BODY_RAW B raw, $BODY_GZ B gzip ($GZIP_SOURCE)"
}

# ---- measuring -------------------------------------------------------------

# Prints "wall_ms server_ticks core_ticks", read together by one process:
#   wall_ms       /proc/uptime, in ms (10 ms resolution)
#   server_ticks  user + system CPU clock ticks used so far by the processes PID...
#   core_ticks    non-idle ticks so far of the server's core: every process,
#                 interrupts and steal included
# or "gone PID" when a process has exited.
snapshot_pids() {
    awk -v cpu="cpu$SERVER_CPU" -v pids="$*" 'BEGIN {
        getline line <"/proc/uptime"
        split(line, u, " ")
        while ((getline line <"/proc/stat") > 0) {
            split(line, f, " ")
            if (f[1] == cpu) core = f[2] + f[3] + f[4] + f[7] + f[8] + f[9]
        }
        n = split(pids, p, " ")
        for (i = 1; i <= n; i++) {
            file = "/proc/" p[i] "/stat"
            if ((getline line <file) <= 0) { print "gone " p[i]; exit }
            sub(/.*\) /, "", line) # fields from the 3rd (state) on: utime is the 14th, stime the 15th
            split(line, f, " ")
            ticks += f[12] + f[13]
        }
        printf "%.0f %d %d\n", u[1] * 1000, ticks, core
    }'
}

# Runs wrk against URL for SECONDS; the output goes to OUT. Dies when wrk
# failed, saw a socket error or a non-2xx answer (check_wrk).
run_wrk() {
    local url=$1 seconds=$2 out=$3 rc=0
    timeout $((seconds + 20)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNS" -d"${seconds}s" --latency -H 'Accept-Encoding: gzip' "$url" >"$out" 2>&1 &
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    check_wrk "$out" "against $url" "$rc" "the server"
}

# One measurement of server NAME (consentd|nginx) in run RUN; appends a line
# "rps p50 p90 p99 cpu_us_per_req cpu_percent bytes_per_resp requests others_percent" to $TMP/results/NAME.
measure() {
    local name=$1 run=$2 url pids out t0 t1 c0 c1 k0 k1
    if [ "$name" = consentd ]; then
        url=$CONSENTD_URL
        pids="$CONSENTD_PID"
    else
        url=$NGINX_URL
        pids="$NGINX_PID $NGINX_WORKERS"
    fi
    out=$TMP/wrk/$name.run$run
    [ "$WARMUP" = 0 ] || run_wrk "$url" "$WARMUP" "$out.warmup"
    read -r t0 c0 k0 < <(snapshot_pids "$pids")
    run_wrk "$url" "$DURATION" "$out"
    read -r t1 c1 k1 < <(snapshot_pids "$pids")
    if [ "$t0" = gone ] || [ "$t1" = gone ]; then
        die "$name exited in the middle of the run" "Run again with KEEP=1 and read $name's log in the kept directory."
    fi
    local requests rps p50 p90 p99 rd
    read -r requests rps p50 p99 _ _ p90 rd < <(parse_wrk "$out")
    [ "$requests" -gt 0 ] || die "$name: wrk completed no request" "Check by hand: curl -i $url"
    # ticks / CLK_TCK seconds of CPU, per request, in µs; and as a share of the wall time.
    awk -v r="$requests" -v rps="$rps" -v p50="$p50" -v p90="$p90" -v p99="$p99" -v rd="$rd" \
        -v ticks=$((c1 - c0)) -v core=$((k1 - k0)) -v hz="$CLK_TCK" -v ms=$((t1 - t0)) 'BEGIN {
            other = (core - ticks) / hz * 1e5 / ms
            printf "%s %s %s %s %.2f %.0f %.0f %s %.0f\n", rps, p50, p90, p99,
                ticks / hz * 1e6 / r, ticks / hz * 1e5 / ms, rd / r, r, (other < 0 ? 0 : other)
        }' >>"$TMP/results/$name"
    local line
    line=$(tail -n 1 "$TMP/results/$name")
    local cpu pct bpr other
    read -r rps p50 p90 p99 cpu pct bpr requests other <<<"$line"
    say "$(printf 'run %d/%d %-8s %8d req/s  p50 %6s  p99 %6s  %6.2f us CPU/req (%s%% of a core, others %s%%)  %s B/resp' \
        "$run" "$RUNS" "$name" "$rps" "$(fmt_us "$p50")" "$(fmt_us "$p99")" "$cpu" "$pct" "$other" "$bpr")"
}

report() {
    local cpu_model kernel nginx_version consentd_version servers name
    cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    kernel=$(uname -r)
    nginx_version=$(nginx -v 2>&1 | sed 's/.*: //')
    consentd_version=-
    if [ "$BENCH_ONLY" != nginx ]; then
        consentd_version=$(timeout 5 "$BIN" --version 2>/dev/null | head -n 1) || true
        [ -n "$consentd_version" ] || consentd_version="consentd (no --version; binary of $(date -r "$BIN" '+%F %T'))"
        local rev
        rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null) || rev="no commit yet"
        consentd_version="$consentd_version, git $rev"
    fi
    servers=(consentd nginx)
    [ -z "$BENCH_ONLY" ] || servers=("$BENCH_ONLY")

    echo
    echo "# $(date -u '+%F %H:%M UTC') | kernel $kernel | $cpu_model | nproc $(nproc)"
    echo "# $nginx_version | $consentd_version"
    echo "# banner.js $BODY_RAW B raw, $BODY_GZ B gzip ($GZIP_SOURCE)"
    echo "# wrk -t1 -c$CONNS -d${DURATION}s, Accept-Encoding: gzip, keep-alive; server on cpu $SERVER_CPU, wrk on cpu $CLIENT_CPU;" \
        "$( [ "$RUNS" -gt 1 ] && echo "median of $RUNS runs" || echo "1 run")"
    echo
    printf '| %-8s | %8s | %8s | %8s | %8s | %11s | %9s | %9s | %10s |\n' \
        server req/s p50 p90 p99 'CPU us/req' 'CPU %' 'others %' 'bytes/resp'
    printf '|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|\n' ---------- --------- --------- --------- --------- ------------ ---------- ---------- -----------
    local rps p50 p90 p99 cpu pct bpr requests other
    local -A med_rps med_cpu
    for name in "${servers[@]}"; do
        read -r rps p50 p90 p99 cpu pct bpr requests other < <(medians "$TMP/results/$name")
        printf '| %-8s | %8.0f | %8s | %8s | %8s | %11.2f | %8.0f%% | %8.0f%% | %10.0f |\n' \
            "$name" "$rps" "$(fmt_us "$p50")" "$(fmt_us "$p90")" "$(fmt_us "$p99")" "$cpu" "$pct" "$other" "$bpr"
        med_rps[$name]=$rps
        med_cpu[$name]=$cpu
    done
    if [ -z "$BENCH_ONLY" ]; then
        awk -v cr="${med_rps[consentd]}" -v nr="${med_rps[nginx]}" -v cc="${med_cpu[consentd]}" -v nc="${med_cpu[nginx]}" 'BEGIN {
            printf "\nconsentd/nginx: req/s x%.2f, CPU per request x%.2f\n", cr / nr, cc / nc }'
    fi
    echo
    echo "CPU us/req: the server's user+system CPU time during the measured run (/proc/PID/stat) per request."
    echo "CPU %: that time over the run's wall time; near 100% the server is the bottleneck, well below it wrk is."
    echo "others %: the rest of that core's busy time (other processes, the VM's steal): above a few %, the run was disturbed."
    echo "bytes/resp: headers and body, from wrk's rounded total: approximate."
}

# ---- main --------------------------------------------------------------------

check_knobs
pkgs=(wrk:wrk nginx:nginx-light curl:curl taskset:util-linux pgrep:procps gzip:gzip sha256sum:coreutils)
[ "$BENCH_ONLY" = nginx ] || pkgs+=(redis-server:redis-server redis-cli:redis-tools)
ensure_packages "${pkgs[@]}"
CLK_TCK=$(getconf CLK_TCK)
[ "$BENCH_ONLY" = nginx ] || build_consentd

TMP=$(mktemp -d /tmp/consentd-bench.XXXXXX)
mkdir -p "$TMP/wrk" "$TMP/results"
say "working in $TMP"

if [ "$BENCH_ONLY" != nginx ]; then
    start_redis "" # any CPU
    start_consentd
    fetch_consentd_banner
fi
[ "$BENCH_ONLY" = consentd ] || start_nginx
check_bodies

for run in $(seq 1 "$RUNS"); do
    if [ -n "$BENCH_ONLY" ]; then
        order=("$BENCH_ONLY")
    elif [ $((run % 2)) = 1 ]; then
        order=(consentd nginx)
    else
        order=(nginx consentd)
    fi
    for name in "${order[@]}"; do
        measure "$name" "$run"
    done
done

report
