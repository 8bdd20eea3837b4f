# bench/lib.sh - what the bench scripts share: messages, free loopback
# ports, and the check that a server they started is still alive.
# Sourced by bench/run.sh, consent.sh, analytics.sh and cluster.sh.

BENCH_SCRIPT=bench/$(basename "$0")

say() { printf 'bench: %s\n' "$*" >&2; }
warn() { printf 'bench: WARNING: %s\n' "$*" >&2; }
# die MESSAGE [WHAT TO DO]
die() {
    printf 'bench: FAILED: %s\n' "$1" >&2
    [ -z "${2:-}" ] || printf 'bench: what to do: %s\n' "$2" >&2
    exit 1
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_port [pair]: sets PORT to a free loopback port in 20000-29999 not
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
