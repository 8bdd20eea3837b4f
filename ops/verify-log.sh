#!/usr/bin/env bash
# ops/verify-log.sh - verify a site's consent log against its signed
# checkpoints, independently of consentd (Node's own crypto, no consentd code):
#
#   1. download the raw log (GET /v1/sites/SITE/log, with the site's API key,
#      every page), the checkpoints (GET /v1/sites/SITE/log/checkpoints,
#      public, every page) and the keys (GET /.well-known/jwks.json), or take
#      the files given (an auditor's own copies, a mirror of the checkpoints);
#   2. check every checkpoint's signature (EdDSA, the kid's key in the JWKS)
#      and that each names the one before it (no fork);
#   3. recompute every partition's hash chain from the raw entries and
#      compare it with the chain values and with every checkpoint's heads.
#
# It reports, naming partition, n and id: inserted, altered, reordered and
# missing entries, a fork, and a checkpoint that does not match the log.
# What it hashes, and why: docs/data.md ("The tamper-evident log").
#
# With --inclusion, it checks one entry instead: the inclusion proof of
# GET /v1/sites/SITE/log/inclusion (a file, or LOG_ID and VISITOR to fetch
# it) recomputes the partition's head signed in the checkpoint it names.
#
# Usage: ops/verify-log.sh [--log FILE] [--checkpoints FILE] [--jwks FILE] [--keep DIR] SITE
#        ops/verify-log.sh --inclusion FILE|LOG_ID:VISITOR [--jwks FILE] SITE
#   --log FILE          the raw log export (JSON lines) instead of downloading it
#   --checkpoints FILE  the checkpoints (one page of GET .../log/checkpoints per line)
#   --jwks FILE         the JWKS instead of downloading it
#   --keep DIR          keep what was downloaded in DIR (log.ndjson, checkpoints.json, jwks.json)
#   --inclusion X       verify one entry: a proof file, or LOG_ID:VISITOR (the log_id of an
#                       access request's history entry, and its visitor) to fetch one
# Environment:
#   CONSENTD_URL  where consentd answers (default http://localhost:8080)
#   CONSENTD_KEY  the site's API key (default $CONSENTD_DEMO_KEY, else demo-key-change-me)
# Exits 0 when everything verifies, 1 when something does not (it says what), 2 on bad usage.
set -euo pipefail

die() {
    printf 'verify-log: FAILED: %s\n' "$1" >&2
    exit 1
}
usage() {
    sed -n '/^# Usage:/,/^# Exits/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

log='' checkpoints='' jwks='' keep='' inclusion=''
while [ $# -gt 0 ]; do
    case "$1" in
    --log) [ $# -ge 2 ] || usage; log=$2; shift 2 ;;
    --checkpoints) [ $# -ge 2 ] || usage; checkpoints=$2; shift 2 ;;
    --jwks) [ $# -ge 2 ] || usage; jwks=$2; shift 2 ;;
    --keep) [ $# -ge 2 ] || usage; keep=$2; shift 2 ;;
    --inclusion) [ $# -ge 2 ] || usage; inclusion=$2; shift 2 ;;
    -h | --help) usage ;;
    --*) usage ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || usage
site=$1
url=${CONSENTD_URL:-http://localhost:8080}
url=${url%/}
key=${CONSENTD_KEY:-${CONSENTD_DEMO_KEY:-demo-key-change-me}}
for tool in curl node; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (apt-get install curl nodejs)"
done
here=$(cd "$(dirname "$0")" && pwd)

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    work=$keep
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/verify-log.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi

# GET $1 into $2 (with the site's key); prints the x-next-cursor header, if any.
get() {
    local status
    status=$(curl -sS -o "$2" -D "$work/headers" -w '%{http_code}' -H "Authorization: Bearer $key" "$url$1") ||
        die "cannot reach consentd at $url (set CONSENTD_URL)"
    [ "$status" = 200 ] || die "GET $1 answered $status: $(head -c 300 "$2")"
    sed -n 's/^x-next-cursor: *\([^[:space:]]*\).*$/\1/Ip' "$work/headers"
}

# Every page of $1 (cursor paging), appended to $2, a newline after each page.
get_all() {
    local target=$1 out=$2 cursor='' sep='?'
    case "$target" in *\?*) sep='&' ;; esac
    : >"$out"
    while :; do
        cursor=$(get "$target${cursor:+${sep}cursor=$cursor}" "$work/page")
        cat "$work/page" >>"$out"
        [ -z "$(tail -c 1 "$work/page")" ] || printf '\n' >>"$out"
        [ -n "$cursor" ] || break
    done
}

if [ -n "$inclusion" ]; then
    if [ ! -f "$inclusion" ]; then
        case "$inclusion" in *:*) ;; *) die "--inclusion: $inclusion is no file and not LOG_ID:VISITOR" ;; esac
        get "/v1/sites/$site/log/inclusion?id=${inclusion%%:*}&visitor=${inclusion#*:}" "$work/inclusion.json" >/dev/null
        inclusion=$work/inclusion.json
    fi
    if [ -z "$jwks" ]; then
        jwks=$work/jwks.json
        get "/.well-known/jwks.json" "$jwks" >/dev/null
    fi
    node "$here/verify-log.mjs" --inclusion "$inclusion" "$jwks" "$site"
    exit 0
fi
if [ -z "$log" ]; then
    log=$work/log.ndjson
    get_all "/v1/sites/$site/log?limit=1000" "$log"
fi
if [ -z "$checkpoints" ]; then
    checkpoints=$work/checkpoints.json
    get_all "/v1/sites/$site/log/checkpoints?limit=100" "$checkpoints"
fi
if [ -z "$jwks" ]; then
    jwks=$work/jwks.json
    get "/.well-known/jwks.json" "$jwks" >/dev/null
fi
node "$here/verify-log.mjs" "$log" "$checkpoints" "$jwks" "$site"
