#!/usr/bin/env bash
# bench/analytics.sh - the analytics under load (issue 11, item 7):
#   1. POST /v1/sites/demo/events (banner impressions, counted in memory and
#      flushed to Redis in batches) side by side with GET
#      /v1/sites/demo/banner.js (gzip), the most requested route, in the same
#      run, alternating: requests/s, latency, consentd's CPU per request,
#      Redis' CPU and Redis commands per request; then a check that the
#      counters in Redis equal the events consentd answered 204;
#   2. the latency of GET /v1/sites/{site}/stats over 400 days x 20 purposes
#      x two variants of counters (written straight into Redis with the key
#      layout of the stats: cd:{<site>:stats}:d:<YYYYMMDD> hashes and their
#      HyperLogLogs, and the hour hashes of the last 31 days), a few
#      sequential queries: median and max, JSON and CSV, by day and by hour,
#      with consentd's and Redis' CPU per query.
#
#   bench/analytics.sh                          the full run (about 2 minutes after the build)
#   RUNS=1 DURATION=5 WARMUP=1 bench/analytics.sh   a quick look
#   KEEP=1 bench/analytics.sh                   keep the logs, wrk output and answers
#
# Environment:
#   DURATION=10       seconds of each measured wrk run (after a WARMUP=2 s run)
#   CONNS=64          wrk connections (one wrk thread)
#   RUNS=3            banner/events pairs, order alternating; medians are reported
#   DAYS=400          days of counters for the stats query (at most 400: the API's cap)
#   PURPOSES=20       purposes of the bench site (at most 31, plus "necessary")
#   QUERIES=11        measured stats queries per kind (after one not measured)
#   STATS_IDENTITY=1  the stats loop of the write budget asks identity answers, not gzip
#   WRITE_PAUSE_MS=1  the steady write load: each of the 8 connections pauses this long after an answer
#   PAIRS=3           write runs alone and with the stats loop, alternating, per way of measuring; medians
#   PARTS="events stats writes"   what to measure (PARTS=writes: the write budget alone, about 5 minutes)
#   CONSENTD_BIN=...  use this binary instead of building one
#   BUILD_DIR=build-bench   where to build consentd (Release) when CONSENTD_BIN is unset
#   SITES_DIR=ops/sites     the sites consentd serves (demo.json must be there)
#   SERVER_CPU=0 CLIENT_CPU=1   consentd's core; Redis', wrk's and curl's core
#   KEEP=1            keep the temporary directory
#   READ_REPLICA=1    a replica of the Redis (redis-server --replicaof, on
#                     CLIENT_CPU) as consentd's redis.read_url: the stats
#                     queries are timed with the replica's CPU beside the
#                     primary's (docs/scaling.md, the read path)
#
# Placement (2 cores): consentd (one worker thread) alone on SERVER_CPU;
# redis-server, wrk and curl on CLIENT_CPU. CPU per request comes from
# /proc/PID/stat (user + system), which does not depend on where others run.
#
# Installs what is missing with apt-get. Everything runs on loopback ports
# under a temporary directory and is stopped on exit, failure included.
# Progress goes to stderr, the report to stdout. Exits non-zero on any
# failure: a server that does not start, a socket error, an answer that is
# not the expected one, counters that do not add up, a stats answer whose
# totals are not the counters written.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BENCH_DIR=$ROOT/bench
SITE=demo
BENCH_SITE=bench
BENCH_KEY=bench-analytics-key
ORIGIN=http://localhost:8080
MAX_DAYS=400
HOUR_DAYS=31

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
RUNS=${RUNS:-3}
DAYS=${DAYS:-400}
PURPOSES=${PURPOSES:-20}
QUERIES=${QUERIES:-11}
KEEP=${KEEP:-0}
READ_REPLICA=${READ_REPLICA:-0}
WRITE_PAUSE_MS=${WRITE_PAUSE_MS:-1}
PAIRS=${PAIRS:-3}
PARTS=${PARTS:-events stats writes}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SITES_DIR=${SITES_DIR:-$ROOT/ops/sites}

cleanup_on_exit "logs, configs, wrk output, stats answers"

# has_part NAME: whether PARTS names it.
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

check_knobs() {
    local part
    for part in $PARTS; do
        case $part in events | stats | writes) ;; *) die "PARTS: unknown part '$part'" "Use events, stats and/or writes." ;; esac
    done
    check_whole_numbers DURATION WARMUP CONNS RUNS DAYS PURPOSES QUERIES SERVER_CPU CLIENT_CPU WRITE_PAUSE_MS PAIRS
    if [ "$DURATION" -lt 1 ] || [ "$CONNS" -lt 1 ] || [ "$RUNS" -lt 1 ] || [ "$DAYS" -lt 1 ] ||
        [ "$PURPOSES" -lt 1 ] || [ "$QUERIES" -lt 1 ]; then
        die "DURATION, CONNS, RUNS, DAYS, PURPOSES and QUERIES must be at least 1" "Unset them to use the defaults."
    fi
    [ "$DAYS" -le "$MAX_DAYS" ] || die "DAYS=$DAYS: the stats API answers at most $MAX_DAYS days by day" "Lower DAYS."
    [ "$PURPOSES" -le 31 ] || die "PURPOSES=$PURPOSES: a site has at most 32 purposes, necessary included" "Lower PURPOSES."
    check_cores consentd "Redis + load"
    local estimate=$((2 * RUNS * (WARMUP + DURATION + 1) + 3 * QUERIES + 20))
    say "plan: $RUNS x (banner, events) at $CONNS connections, ${WARMUP} s warm-up + ${DURATION} s each;" \
        "then $QUERIES stats queries per kind over $DAYS days x $PURPOSES purposes: about $estimate s"
}

# ---- processes ---------------------------------------------------------------

# The sites: the demo site as shipped, and the bench site: the demo site with
# PURPOSES consent purposes (p01, p02, ...) besides "necessary", two variants
# and the API key BENCH_KEY.
write_sites() {
    local dir=$TMP/sites
    mkdir -p "$dir"
    [ -f "$SITES_DIR/$SITE.json" ] || die "$SITES_DIR/$SITE.json is missing" "Restore ops/sites/$SITE.json."
    cp "$SITES_DIR/$SITE.json" "$dir/"
    local hash
    hash=$(printf '%s' "$BENCH_KEY" | sha256sum | cut -d' ' -f1)
    perl -MJSON::PP -e '
        my ($src, $dst, $id, $n, $hash) = @ARGV;
        local $/;
        open(my $in, "<", $src) or die "$src: $!";
        my $site = JSON::PP->new->decode(<$in>);
        my ($necessary) = grep { $_->{legal_basis} eq "necessary" } @{$site->{purposes}};
        my ($consent) = grep { $_->{legal_basis} eq "consent" } @{$site->{purposes}};
        my @purposes = $necessary ? ($necessary) : ();
        for my $i (1 .. $n) {
            my %p = %$consent;
            $p{id} = sprintf("p%02d", $i);
            delete $p{consent_mode};
            push @purposes, \%p;
        }
        $site->{id} = $id;
        $site->{purposes} = \@purposes;
        $site->{api_key_sha256} = $hash;
        $site->{variants} = [{id => "a", weight => 50}, {id => "b", weight => 50}];
        $site->{stats_retention_days} = 400;
        open(my $out, ">", $dst) or die "$dst: $!";
        print $out JSON::PP->new->canonical->pretty->encode($site);
    ' "$SITES_DIR/$SITE.json" "$dir/$BENCH_SITE.json" "$BENCH_SITE" "$PURPOSES" "$hash" ||
        die "cannot write the bench site from $SITES_DIR/$SITE.json" "Check that it is a valid site file."
    SITES_RUN_DIR=$dir
    POLICY_VERSION=$(perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; print JSON::PP->new->decode(<$f>)->{policy_version}' "$dir/$SITE.json")
    # The demo site's variants, for the events' "variant" field (none: no field).
    read -r -a DEMO_VARIANTS < <(perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; print join(" ", map { $_->{id} } @{JSON::PP->new->decode(<$f>)->{variants} || []}), "\n"' "$dir/$SITE.json")
}

start_consentd() {
    local dir=$TMP/consentd
    mkdir -p "$dir/keys"
    timeout 30 "$BIN" keygen --keys "$dir/keys" >"$dir/keygen.log" 2>&1 ||
        die "'consentd keygen --keys $dir/keys' failed" "Read $dir/keygen.log (KEEP=1)."
    launch_consentd "$dir" "$SITES_RUN_DIR"
    BASE=http://127.0.0.1:$CONSENTD_PORT
    BANNER_URL=$BASE/v1/sites/$SITE/banner.js
    EVENTS_URL=$BASE/v1/sites/$SITE/events
    wait_connected "$dir/consentd.log"
    local code
    code=$(curl -s -o "$TMP/event.out" -w '%{http_code}' -X POST -H "Origin: $ORIGIN" -H 'Content-Type: application/json' \
        -d "{\"type\":\"shown\",\"lang\":\"fr\"}" "$EVENTS_URL")
    [ "$code" = 204 ] || die "POST $EVENTS_URL answered $code, not 204: $(head -c 300 "$TMP/event.out")" \
        "Does this consentd have the events endpoint (issue 11)? Check ops/sites/$SITE.json's origins ($ORIGIN)."
}

# The replica (READ_REPLICA=1): on CLIENT_CPU, linked to the Redis at
# REDIS_PORT; sets REPLICA_PORT, REPLICA_PID and READ_URL.
start_replica() {
    pick_port single
    REPLICA_PORT=$PORT
    say "replica: starting on 127.0.0.1:$REPLICA_PORT, replica of 127.0.0.1:$REDIS_PORT, on cpu $CLIENT_CPU"
    taskset -c "$CLIENT_CPU" redis-server --bind 127.0.0.1 --port "$REPLICA_PORT" --save '' --appendonly no \
        --dir "$TMP/replica" --logfile "$TMP/replica.log" --daemonize no \
        --replicaof 127.0.0.1 "$REDIS_PORT" >/dev/null 2>&1 &
    REPLICA_PID=$!
    BG_PIDS+=("$REPLICA_PID")
    for _ in $(seq 1 100); do
        redis-cli -p "$REPLICA_PORT" info replication 2>/dev/null | grep -q 'master_link_status:up' && {
            READ_URL=redis://127.0.0.1:$REPLICA_PORT
            return 0
        }
        require_alive "$REPLICA_PID" redis-server "$TMP/replica.log"
        sleep 0.1
    done
    die "the replica did not link to its primary within 10 s" "Look at $TMP/replica.log (KEEP=1)."
}

# CPU ticks (user + system) of PID so far.
proc_ticks() {
    awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"
}

# ---- measuring ---------------------------------------------------------------

# Calls of FCALL so far (INFO commandstats): what consentd sends Redis for
# counters; the commands the functions run inside Redis are counted apart
# by Redis, and not here.
redis_calls() {
    rcli info commandstats | tr -d '\r' | awk -F'[:=,]' '$1 == "cmdstat_fcall" { n = $3 } END { print n + 0 }'
}

# The metrics label of the events route (whatever src/server/router.c names it).
events_route() {
    curl -sS "$BASE/metrics" | sed -n 's/^consentd_http_requests_total{route="\([^"]*event[^"]*\)",.*status="204".*/\1/p' | head -n 1
}

# run_wrk OUT SECONDS banner|events
run_wrk() {
    local out=$1 seconds=$2 kind=$3 rc=0
    if [ "$kind" = banner ]; then
        timeout $((seconds + 20)) taskset -c "$CLIENT_CPU" \
            wrk -t1 -c"$CONNS" -d"${seconds}s" --latency -H 'Accept-Encoding: gzip' "$BANNER_URL" >"$out" 2>&1 &
    else
        timeout $((seconds + 20)) taskset -c "$CLIENT_CPU" \
            wrk -t1 -c"$CONNS" -d"${seconds}s" --latency -s "$BENCH_DIR/events_post.lua" "$EVENTS_URL" \
            -- "$ORIGIN" "$POLICY_VERSION" 1000000 "${DEMO_VARIANTS[@]}" >"$out" 2>&1 &
    fi
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    check_wrk "$out" "($kind)" "$rc"
}

# measure banner|events RUN: appends "rps p50 p99 consentd_us/req consentd_% redis_us/req fcalls/1000req others_%".
measure() {
    local kind=$1 run=$2 out=$TMP/wrk/$1.run$2
    [ "$WARMUP" = 0 ] || run_wrk "$out.warmup" "$WARMUP" "$kind"
    local t0 c0 r0 k0 t1 c1 r1 k1 n0 n1
    n0=$(redis_calls)
    read -r t0 c0 r0 k0 _ < <(snapshot)
    run_wrk "$out" "$DURATION" "$kind"
    read -r t1 c1 r1 k1 _ < <(snapshot)
    # The last batch of counters: flushed within a second.
    [ "$kind" = banner ] || sleep 1.2
    n1=$(redis_calls)
    if [ "$t0" = gone ] || [ "$t1" = gone ]; then
        die "consentd or Redis exited during the $kind run" "Rerun with KEEP=1 and read the logs."
    fi
    local requests rps p50 p99
    read -r requests rps p50 p99 _ _ < <(parse_wrk "$out")
    awk -v rps="$rps" -v p50="$p50" -v p99="$p99" -v req="$requests" -v cd=$((c1 - c0)) -v rd=$((r1 - r0)) \
        -v core=$((k1 - k0)) -v hz="$CLK_TCK" -v ms=$((t1 - t0)) -v cmds=$((n1 - n0)) 'BEGIN {
            o = (core - cd) / hz * 1e5 / ms
            printf "%s %s %s %.2f %.0f %.2f %.2f %.0f\n", rps, p50, p99, cd / hz * 1e6 / req, cd / hz * 1e5 / ms,
                rd / hz * 1e6 / req, cmds * 1000 / req, (o < 0 ? 0 : o)
        }' >>"$TMP/results/$kind"
    local line
    line=$(tail -n 1 "$TMP/results/$kind")
    say "$(awk -v k="$kind" -v r="$run" -v n="$RUNS" '{ printf "run %d/%d %-7s %7d req/s  p50 %6dus  p99 %6dus  consentd %6.2f us CPU/req (%d%% of a core)  redis %5.2f us/req  %.2f FCALL per 1000 req  others %d%%", r, n, k, $1, $2, $3, $4, $5, $6, $7, $8 }' <<<"$line")"
}

# The events counted in Redis for the demo site (every day hash), against
# the events consentd answered 204: they must be equal once flushed.
check_counted() {
    local route answered counted
    route=$(events_route)
    [ -n "$route" ] || die "no 204 answers of an events route in /metrics" "Read consentd's log (KEEP=1)."
    read -r answered _ < <(metrics "$route" 204)
    counted=$(rcli --scan --pattern "cd:{$SITE:stats}:d:*" | while read -r key; do
        rcli hmget "$key" 'all|shown' 'all|dismissed' 'all|panel_opened'
    done | awk '{ n += $1 } END { print n + 0 }')
    EVENTS_ANSWERED=$answered
    EVENTS_COUNTED=$counted
    [ "$answered" = "$counted" ] || die "consentd answered $answered events with 204 but Redis counts $counted" \
        "The counters lost or doubled events: read consentd's log (KEEP=1)."
    say "counters: $counted events in Redis = $answered answered 204 (route $route)"
}

# ---- the stats query over DAYS days x PURPOSES purposes -------------------------

# Writes the bench site's counters into Redis with the stats key layout:
# per day a hash of <dim>|<metric> fields for dims all, v.a, v.b, l.fr, l.en,
# s.banner and metrics shown ... withdrawn, g.<p> and r.<p> for every
# purpose, and a HyperLogLog of 50 visitor ids; per hour of the last 31 days
# the same hash with a 24th of the figures; every key expiring as a flush
# sets it (end of its day + 400 days). Prints the expected total
# "shown" over DAYS days by day and over 31 days by hour.
fill_counters() {
    perl -MPOSIX=strftime -e '
        use strict; use warnings;
        my ($site, $days, $purposes, $hour_days, $out) = @ARGV;
        open(my $o, ">", $out) or die "$out: $!";
        sub cmd { my @a = @_; print $o "*" . @a . "\r\n"; print $o "\$" . length($_) . "\r\n$_\r\n" for @a; }
        my @dims = ("all", "v.a", "v.b", "l.fr", "l.en", "s.banner");
        my @p = map { sprintf("p%02d", $_) } 1 .. $purposes;
        sub fields {
            my ($shown) = @_;
            my $dec = int($shown * 0.85); my $acc = int($dec * 0.6); my $rej = int($dec * 0.25);
            my $cus = $dec - $acc - $rej;
            my %m = (shown => $shown, dismissed => int($shown * 0.03), panel_opened => int($shown * 0.12),
                decisions => $dec, accept_all => $acc, reject_all => $rej, custom => $cus, withdrawn => 1);
            for my $i (0 .. $#p) { my $g = $acc + int($cus * ($i + 1) / ($purposes + 1)); $m{"g.$p[$i]"} = $g; $m{"r.$p[$i]"} = $dec - $g; }
            my @f;
            for my $d (@dims) { for my $k (sort keys %m) { push @f, "$d|$k", $m{$k}; } }
            return @f;
        }
        my $now = time; my $today = $now - $now % 86400;
        my ($day_total, $hour_total, $fields) = (0, 0, 0);
        for my $d (0 .. $days - 1) {
            my $t = $today - $d * 86400;
            my $ymd = strftime("%Y%m%d", gmtime $t);
            my $shown = 1000 + ($d * 37) % 400;
            my @f = fields($shown);
            $fields += @f / 2;
            # Expiring as a flush sets them: the end of the day + 400 days.
            my $at = ($t + 86400 + 400 * 86400) * 1000;
            cmd("HSET", "cd:{$site:stats}:d:$ymd", @f);
            cmd("PFADD", "cd:{$site:stats}:u:$ymd", map { sprintf("v%06d-%02d", $d, $_) } 1 .. 50);
            cmd("PEXPIREAT", "cd:{$site:stats}:d:$ymd", $at);
            cmd("PEXPIREAT", "cd:{$site:stats}:u:$ymd", $at);
            $day_total += $shown;
            next if $d >= $hour_days;
            for my $h (0 .. 23) {
                my $hs = 40 + ($d + $h) % 7;
                cmd("HSET", "cd:{$site:stats}:h:$ymd" . sprintf("%02d", $h), fields($hs));
                cmd("PEXPIREAT", "cd:{$site:stats}:h:$ymd" . sprintf("%02d", $h), $at);
                $hour_total += $hs;
            }
        }
        print "$day_total $hour_total $fields\n";
    ' "$BENCH_SITE" "$DAYS" "$PURPOSES" "$HOUR_DAYS" "$TMP/fill.resp"
}

fill() {
    local day_total hour_total fields
    read -r day_total hour_total fields < <(fill_counters) || die "cannot generate the counters" "Is perl installed?"
    local out
    out=$(rcli --pipe <"$TMP/fill.resp" 2>&1) || die "redis-cli --pipe failed: $out" "Read $TMP/redis.log (KEEP=1)."
    grep -q 'errors: 0' <<<"$out" || die "redis-cli --pipe reported errors: $out" "Read $TMP/redis.log (KEEP=1)."
    EXPECT_DAY_SHOWN=$day_total EXPECT_HOUR_SHOWN=$hour_total
    local keys mem
    keys=$(rcli dbsize)
    mem=$(rcli info memory | tr -d '\r' | sed -n 's/^used_memory_human://p')
    FILL_NOTE="$DAYS day hashes of $((fields / DAYS)) fields ($PURPOSES purposes, 2 variants, 2 languages), $DAYS HyperLogLogs, $((HOUR_DAYS * 24)) hour hashes; $keys keys, Redis $mem"
    say "filled: $FILL_NOTE"
}

# time_stats NAME QUERY [CHECK]: QUERIES sequential GETs after one unmeasured;
# appends "name median_ms max_ms bytes consentd_ms_per_query redis_ms_per_query" to results/stats.
time_stats() {
    local name=$1 expect=${3:-} url="$BASE/v1/sites/$BENCH_SITE/stats?$2" out=$TMP/stats.$1
    local code
    code=$(curl -sS -o "$out.first" -w '%{http_code}' -H "Authorization: Bearer $BENCH_KEY" "$url") ||
        die "GET $url failed" "Is consentd still running? (KEEP=1, read its log)"
    [ "$code" = 200 ] || die "GET $url answered $code: $(head -c 300 "$out.first")" "Does this consentd have the stats API?"
    if [ -n "$expect" ]; then
        local shown
        shown=$(perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; print JSON::PP->new->decode(<$f>)->{total}{shown}' "$out.first") ||
            die "the stats answer is not the JSON of the spec: $(head -c 300 "$out.first")" "Read $out.first (KEEP=1)."
        [ "$shown" = "$expect" ] || die "$name: total.shown is $shown, the counters written add up to $expect" \
            "The stats query does not read the key layout this bench writes (cd:{site:stats}:d:YYYYMMDD): compare with src/store.c."
    fi
    local t0 c0 r0 t1 c1 r1 p0=0 p1=0 times=()
    if [ "$READ_REPLICA" = 1 ]; then
        # What the first query packed on the primary reaches the replica.
        rcli wait 1 5000 >/dev/null
        p0=$(proc_ticks "$REPLICA_PID")
    fi
    read -r t0 c0 r0 _ < <(snapshot)
    for _ in $(seq 1 "$QUERIES"); do
        local w
        w=$(taskset -c "$CLIENT_CPU" curl -sS -o "$out" -w '%{http_code} %{time_total} %{size_download}' \
            -H "Authorization: Bearer $BENCH_KEY" "$url") || die "GET $url failed" "Is consentd still running?"
        read -r code t bytes <<<"$w"
        [ "$code" = 200 ] || die "GET $url answered $code" "Read $out (KEEP=1)."
        times+=("$t")
    done
    read -r t1 c1 r1 _ < <(snapshot)
    [ "$READ_REPLICA" = 0 ] || p1=$(proc_ticks "$REPLICA_PID")
    printf '%s\n' "${times[@]}" | sort -n | awk -v name="$name" -v bytes="$bytes" -v cd=$((c1 - c0)) -v rd=$((r1 - r0)) \
        -v pd=$((p1 - p0)) -v hz="$CLK_TCK" -v n="$QUERIES" '
        { t[NR] = $1 * 1000 }
        END {
            m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            printf "%s %.1f %.1f %d %.1f %.1f %.1f\n", name, m, t[NR], bytes, cd / hz * 1e3 / n, rd / hz * 1e3 / n, pd / hz * 1e3 / n
        }' >>"$TMP/results/stats"
    say "$(tail -n 1 "$TMP/results/stats" | awk -v rr="$READ_REPLICA" '{ printf "stats %-10s median %6.1f ms  max %6.1f ms  %8d B  consentd %5.1f ms CPU/query  redis %5.1f ms CPU/query", $1, $2, $3, $4, $5, $6; if (rr == 1) printf "  replica %5.1f ms CPU/query", $7 }')"
}

# ---- consent writes while stats queries run ---------------------------------

# run_writes OUT [PAUSE_MS]: wrk POSTs consents (8 connections, the demo
# site) for DURATION: as fast as answers come back, or, with PAUSE_MS, each
# connection pausing that long after each answer (a steady rate).
run_writes() {
    local out=$1 pause=${2:-} rc=0
    timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c8 -d"${DURATION}s" --latency -s "$BENCH_DIR/consent_post.lua" "$BASE/v1/sites/$SITE/consents" \
        -- "$POLICY_VERSION" 1000000 ${pause:+"$pause"} >"$out" 2>&1 &
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    check_wrk "$out" "(consent writes)" "$rc"
}

# The issue's budget: consent writes at a steady load (wrk, 8 connections)
# while a client loops 400-day stats queries as fast as it can: write p99
# within 1.5 x the p99 without them. Measured twice, each alone then with the
# loop: "saturated", each connection sending as soon as its answer is back
# (consentd's core at 100 %, so the p99 is mostly queueing, and it moves with
# whatever else the client core runs: the loop's wrk, Redis, the writes' own
# wrk share it); "steady", each connection pausing WRITE_PAUSE_MS after each
# answer (about a third of what consentd takes: the load a live site puts on
# it, where the p99 is what a banner waits). The p99 of one 10 s run moves
# by as much as the loop moves it between runs of the same build on this
# 2-core host, so each is measured PAIRS times, alone and with the loop
# alternating (every other pair starts with the loop, so that neither side
# always runs first), and the budget is read on the medians. Appends
# "<cache>/<mode>-alone|<cache>/<mode>-loaded rps p50 p99 queries pair",
# cache being the argument (off: every query rendered, as a loop of ranges
# all different would have it; 5s: the shipped stats.cache_seconds).
writes_under_stats() {
    local cache=$1 mode pause pair side
    [ "$WARMUP" = 0 ] || run_writes "$TMP/wrk/writes.warmup"
    for mode in saturated steady; do
        pause=
        [ "$mode" = saturated ] || pause=$WRITE_PAUSE_MS
        for ((pair = 1; pair <= PAIRS; pair++)); do
            if ((pair % 2 == 1)); then
                for side in alone loaded; do writes_once "$cache" "$mode" "$pause" "$pair" "$side"; done
            else
                for side in loaded alone; do writes_once "$cache" "$mode" "$pause" "$pair" "$side"; done
            fi
        done
    done
}

# writes_once CACHE MODE PAUSE PAIR alone|loaded: one run of the writes,
# with the stats loop beside them when loaded.
writes_once() {
    local cache=$1 mode=$2 pause=$3 pair=$4 side=$5
    local out=$TMP/wrk/writes.$cache.$mode.$pair.$side loop='' queries=0
    local url="$BASE/v1/sites/$BENCH_SITE/stats?from=$FROM_DAY&to=$TO&by=day"
    if [ "$side" = loaded ]; then
        # The stats loop: one query after the other, as fast as they come
        # back, on one keep-alive connection (wrk -c1: the client is one
        # process that reads the answers, not a curl started per query, whose
        # start-up on the Redis core was most of what the loop cost there).
        # It accepts gzip, as the dashboard's browser and any HTTP library
        # do: otherwise the loop's own reading of 630 KB a query, on the core
        # that also runs Redis and the writes' wrk, weighs on the writes'
        # latency (STATS_IDENTITY=1: identity).
        local enc=(-H 'Accept-Encoding: gzip')
        [ "${STATS_IDENTITY:-0}" = 1 ] && enc=()
        timeout $((DURATION + 25)) taskset -c "$CLIENT_CPU" \
            wrk -t1 -c1 -d"$((DURATION + 1))s" --timeout 10s --latency -H "Authorization: Bearer $BENCH_KEY" "${enc[@]}" "$url" \
            >"$out.stats-loop" 2>&1 &
        loop=$!
        BG_PIDS+=("$loop")
        sleep 0.5
    fi
    run_writes "$out" "$pause"
    if [ -n "$loop" ]; then
        local lrc=0
        wait "$loop" || lrc=$?
        check_wrk "$out.stats-loop" "(the stats loop)" "$lrc"
        read -r queries _ < <(parse_wrk "$out.stats-loop")
    fi
    local requests rps p50 p99
    read -r requests rps p50 p99 _ _ < <(parse_wrk "$out")
    echo "$cache/$mode-$side $rps $p50 $p99 $queries $pair" >>"$TMP/results/writes"
    say "$(tail -n 1 "$TMP/results/writes" | awk '{ printf "writes %-20s pair %d %7d req/s  p50 %6dus  p99 %6dus  %s 400-day stats queries meanwhile\n", $1, $6, $2, $3, $4, $5 }')"
}

# restart_cached SECONDS: consentd again, the same keys and sites, keeping
# stats answers SECONDS (the shipped stats.cache_seconds is 5).
restart_cached() {
    stop_pid "$CONSENTD_PID"
    local dir=$TMP/consentd-cached
    mkdir -p "$dir"
    cp -r "$TMP/consentd/keys" "$dir/keys"
    STATS_CACHE_SECONDS=$1 launch_consentd "$dir" "$SITES_RUN_DIR"
    BASE=http://127.0.0.1:$CONSENTD_PORT
    wait_connected "$dir/consentd.log"
}

# ---- report ------------------------------------------------------------------

report() {
    local cpu_model consentd_version rev
    cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    consentd_version=$(timeout 5 "$BIN" --version 2>/dev/null | head -n 1) || consentd_version=consentd
    rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null) || rev="no commit yet"
    echo
    echo "# $(date -u '+%F %H:%M UTC') | kernel $(uname -r) | $cpu_model | nproc $(nproc) | load $LOAD_AT_START at start"
    echo "# $consentd_version, git $rev | $(redis-server --version | cut -d' ' -f1-3)"
    echo "# placement: consentd (1 thread) on cpu $SERVER_CPU alone; redis-server, wrk (1 thread) and curl on cpu $CLIENT_CPU"
    echo "# wrk -t1 -c$CONNS -d${DURATION}s after ${WARMUP} s warm-up, $RUNS runs each, alternating; medians"
    echo "# banner: GET /v1/sites/$SITE/banner.js, Accept-Encoding: gzip; events: POST /v1/sites/$SITE/events,"
    echo "#   80% shown, 10% panel_opened, 10% dismissed, visitor of 1000000, fr/en, variant ${DEMO_VARIANTS[*]:-(none)}"
    echo
    if has_part events; then
        printf '| %-16s | %8s | %8s | %8s | %12s | %10s | %12s | %12s | %8s |\n' route req/s p50 p99 'consentd CPU' 'consentd %' 'Redis CPU' 'FCALL per' 'others %'
        printf '| %-16s | %8s | %8s | %8s | %12s | %10s | %12s | %12s | %8s |\n' '' '' '' '' 'us/req' 'of a core' 'us/req' '1000 req' 'cpu '"$SERVER_CPU"
        printf '|%s|%s:|%s:|%s:|%s:|%s:|%s:|%s:|%s:|\n' ------------------ --------- --------- --------- ------------- ----------- ------------- ------------- ---------
        local kind rps p50 p99 cd pct rd cmds other label
        for kind in banner events; do
            read -r rps p50 p99 cd pct rd cmds other < <(medians "$TMP/results/$kind")
            label="GET banner.js"
            [ "$kind" = banner ] || label="POST events"
            printf '| %-16s | %8.0f | %6.0fus | %6.0fus | %12.2f | %9.0f%% | %12.2f | %12.2f | %7.0f%% |\n' "$label" "$rps" "$p50" "$p99" "$cd" "$pct" "$rd" "$cmds" "$other"
        done
        local b e
        b=$(medians "$TMP/results/banner")
        e=$(medians "$TMP/results/events")
        echo
        awk -v b="$b" -v e="$e" 'BEGIN { split(b, x, " "); split(e, y, " ");
            printf "events/banner: req/s x%.2f, consentd CPU per request x%.2f\n", y[1] / x[1], y[4] / x[4] }'
        echo "counters: $EVENTS_COUNTED events in Redis after the runs = $EVENTS_ANSWERED answered 204 (none lost, none doubled)"
    fi
    echo
    if has_part stats; then
        echo "# stats: GET /v1/sites/$BENCH_SITE/stats, $QUERIES sequential queries each after one unmeasured (curl on cpu $CLIENT_CPU)"
        echo "# data: $FILL_NOTE"
        echo
        [ "$READ_REPLICA" = 0 ] || echo "# redis.read_url: a replica on cpu $CLIENT_CPU; Redis CPU is the primary's, the replica's beside it"
        printf '| %-26s | %9s | %9s | %10s | %14s | %12s |%s\n' query median max 'answer' 'consentd CPU' 'Redis CPU' \
            "$([ "$READ_REPLICA" = 0 ] || printf ' %12s |' 'replica CPU')"
        printf '| %-26s | %9s | %9s | %10s | %14s | %12s |%s\n' '' '' '' 'bytes' 'ms/query' 'ms/query' \
            "$([ "$READ_REPLICA" = 0 ] || printf ' %12s |' 'ms/query')"
        printf '|%s|%s:|%s:|%s:|%s:|%s:|%s\n' ---------------------------- ---------- ---------- ----------- --------------- ------------- \
            "$([ "$READ_REPLICA" = 0 ] || printf '%s:|' -------------)"
        local name med max bytes cq rq pq
        while read -r name med max bytes cq rq pq; do
            case $name in
            day-json) label="$DAYS days by day, JSON" ;;
            day-csv) label="$DAYS days by day, CSV" ;;
            hour-json) label="$HOUR_DAYS days by hour, JSON" ;;
            week-json) label="$DAYS days by week, JSON" ;;
            month-json) label="365 days by month, JSON" ;;
            *) label=$name ;;
            esac
            printf '| %-26s | %6.1f ms | %6.1f ms | %10d | %14.1f | %12.1f |%s\n' "$label" "$med" "$max" "$bytes" "$cq" "$rq" \
                "$([ "$READ_REPLICA" = 0 ] || printf ' %12.1f |' "$pq")"
        done <"$TMP/results/stats"
        echo
        echo "consentd CPU: user+system time of consentd (/proc/PID/stat) over the run / requests; % of a core: over the wall time."
        echo "Redis CPU: the same for redis-server (the counters' flushes, the stats function). FCALL per 1000 requests: calls"
        echo "consentd made to Redis during the run (INFO commandstats), each a flush of many events. others %: the rest of the"
        echo "busy time of consentd's core (other processes); above a few %, run again. Stats CPU per query: ticks of 10 ms over"
        echo "$QUERIES queries, so +-$(awk -v n="$QUERIES" 'BEGIN { printf "%.1f", 10 / n }') ms."
    fi
    echo
    if has_part writes; then
        echo "# consent writes (wrk, 8 connections, ${DURATION} s) alone, then while a client (wrk, 1 keep-alive connection) loops $DAYS-day stats queries by day;"
        echo "#   saturated: each connection sends as soon as its answer is back; steady: each pauses ${WRITE_PAUSE_MS} ms after an answer;"
        echo "#   off: stats answers not kept (every query rendered, as ranges all different would be); 5s: kept 5 s, the shipped stats.cache_seconds"
        echo
        printf '| %-26s | %4s | %8s | %8s | %8s | %14s |\n' 'cache/writes' 'pair' 'req/s' 'p50' 'p99' 'stats queries'
        printf '|%s|%s:|%s:|%s:|%s:|%s:|\n' ---------------------------- ------ ---------- ---------- ---------- ----------------
        local kind rps p50 p99 nq pair
        while read -r kind rps p50 p99 nq pair; do
            printf '| %-26s | %4d | %8d | %6dus | %6dus | %14d |\n' "$kind" "$pair" "$rps" "$p50" "$p99" "$nq"
        done <"$TMP/results/writes"
        echo
        # Per cache/mode: the median p99 alone and with the loop (over the
        # pairs), their ratio (the budget's figure), and each pair's ratio.
        awk '{ split($1, c, "/"); split(c[2], m, "-"); k = c[1] "/" m[1]
               if (!(k in seen)) { seen[k] = 1; order[++n] = k }
               v[k, m[2], ++cnt[k, m[2]]] = $4; pr[k, m[2], $6] = $4 }
            function median(k, side,   i, j, t, a, c) {
                c = cnt[k, side]; for (i = 1; i <= c; i++) a[i] = v[k, side, i]
                for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2 }
            END { for (i = 1; i <= n; i++) { k = order[i]; a = median(k, "alone"); l = median(k, "loaded")
                if (a <= 0) continue
                pairs = ""; for (p = 1; p <= cnt[k, "alone"]; p++) if (pr[k, "alone", p] > 0)
                    pairs = pairs sprintf("%s x%.2f", p > 1 ? "," : "", pr[k, "loaded", p] / pr[k, "alone", p])
                printf "write p99 with the stats loop / without, cache %s: median %d -> %d us, x%.2f (budget x1.5: %s); pairs%s\n",
                    k, a, l, l / a, l / a <= 1.5 ? "met" : "missed", pairs } }' "$TMP/results/writes"
    fi
}

# ---- main --------------------------------------------------------------------

check_knobs
check_quiet
ensure_packages wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl taskset:util-linux perl:perl \
    sha256sum:coreutils
CLK_TCK=$(getconf CLK_TCK)
build_consentd src web CMakeLists.txt

TMP=$(mktemp -d /tmp/consentd-analytics-bench.XXXXXX)
mkdir -p "$TMP/wrk" "$TMP/results"
say "working in $TMP"

start_redis "$CLIENT_CPU"
if [ "$READ_REPLICA" = 1 ]; then
    mkdir -p "$TMP/replica"
    start_replica
fi
write_sites
start_consentd

if has_part events; then
    for run in $(seq 1 "$RUNS"); do
        if [ $((run % 2)) = 1 ]; then
            measure banner "$run"
            measure events "$run"
        else
            measure events "$run"
            measure banner "$run"
        fi
    done
    check_counted
fi

fill
TO=$(date -u +%F)
FROM_DAY=$(date -u -d "$TO - $((DAYS - 1)) days" +%F)
FROM_HOUR=$(date -u -d "$TO - $((HOUR_DAYS - 1)) days" +%F)
if has_part stats; then
    time_stats day-json "from=$FROM_DAY&to=$TO&by=day" "$EXPECT_DAY_SHOWN"
    time_stats day-csv "from=$FROM_DAY&to=$TO&by=day&format=csv"
    time_stats hour-json "from=$FROM_HOUR&to=$TO&by=hour" "$EXPECT_HOUR_SHOWN"
    # Weeks and months read rollups, built by the first (unmeasured) query.
    time_stats week-json "from=$FROM_DAY&to=$TO&by=week"
    time_stats month-json "from=$(date -u -d "$TO - 364 days" +%F)&to=$TO&by=month"
fi
if has_part writes; then
    writes_under_stats off
    restart_cached 5
    writes_under_stats 5s
fi

report
