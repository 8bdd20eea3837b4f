#!/usr/bin/env bash
# ops/gvl-update.sh - bring a newer IAB TCF Global Vendor List (GVL, v3) and
# its translations into consentd's store (tcf.gvl_dir), then reload consentd
# (issue 24, item 2; docs/tcf.md).
#
#   1. download the list from tcf.gvl_url (the IAB's by default:
#      https://vendor-list.consensu.org/v3/vendor-list.json), compressed, with
#      curl; or take a list already downloaded with --from-file;
#   2. check it is a v3 list and read its vendorListVersion N; refuse it when
#      N is not newer than the newest list in the store (a version is never
#      replaced, nor followed by an older one);
#   3. download its translations (tcf.translations_url, {lang} replaced by
#      each of tcf.translations); a language the IAB does not publish is a
#      warning, not a failure;
#   4. archive them as vendor-list-v<N>.json and purposes-<lang>-v<N>.json
#      (written to a temporary name, then renamed: consentd never reads half
#      a file); no version is ever deleted: a TC string and a proof name the
#      version they were made with;
#   5. check the new store with `consentd --check-config` (every TCF site
#      must still be valid against the new list: a vendor the list deleted
#      fails here), and on failure move the new files aside and exit 1;
#   6. reload consentd: SIGHUP to --pid PID or to the process in --pidfile.
#
# Usage: ops/gvl-update.sh --config FILE [--pid PID | --pidfile FILE] [--from-file LIST.json]
#   --config FILE      consentd's configuration (tcf.gvl_dir, tcf.gvl_url,
#                      tcf.translations_url, tcf.translations)
#   --pid PID          the consentd to reload (SIGHUP); without --pid or
#                      --pidfile the script says how to reload it
#   --from-file FILE   install this list (downloaded elsewhere) instead of
#                      downloading one; no translations are downloaded either
# Environment:
#   CONSENTD_BIN       the consentd binary for the check (default: consentd on
#                      the PATH, else build/consentd)
# Exits 0 when a newer list was installed, 3 when the store already has this
# version or a newer one (nothing changed), 1 on failure, 2 on bad usage.
# Run it from cron weekly or more: the IAB publishes on Thursdays at 17:00 CET
# and asks clients to honour the Cache-Control max-age of its answers.
set -euo pipefail

die() {
    printf 'gvl-update: error: %s\n' "$1" >&2
    [ $# -lt 2 ] || printf '            %s\n' "$2" >&2
    exit 1
}
say() { printf 'gvl-update: %s\n' "$*"; }
usage() {
    sed -n '/^# Usage:/,/^# Exits/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

config='' pid='' pidfile='' from_file=''
while [ $# -gt 0 ]; do
    case $1 in
    --config) [ $# -ge 2 ] || usage; config=$2; shift 2 ;;
    --pid) [ $# -ge 2 ] || usage; pid=$2; shift 2 ;;
    --pidfile) [ $# -ge 2 ] || usage; pidfile=$2; shift 2 ;;
    --from-file) [ $# -ge 2 ] || usage; from_file=$2; shift 2 ;;
    -h | --help) usage ;;
    *) printf 'gvl-update: unknown argument: %s\n' "$1" >&2; usage ;;
    esac
done
[ -n "$config" ] || usage
[ -r "$config" ] || die "cannot read the configuration $config"
command -v jq >/dev/null 2>&1 || die "jq is needed to read $config" "apt-get install jq"

config_dir=$(cd "$(dirname "$config")" && pwd)
gvl_dir=$(jq -r '.tcf.gvl_dir // empty' "$config")
[ -n "$gvl_dir" ] || die "$config: tcf.gvl_dir is not set" \
    'add "tcf": {"gvl_dir": "gvl"} (a directory beside the file), then run this again'
case $gvl_dir in /*) ;; *) gvl_dir=$config_dir/$gvl_dir ;; esac
gvl_url=$(jq -r '.tcf.gvl_url // "https://vendor-list.consensu.org/v3/vendor-list.json"' "$config")
tr_url=$(jq -r '.tcf.translations_url // "https://vendor-list.consensu.org/v3/purposes-{lang}.json"' "$config")
langs=$(jq -r '(.tcf.translations // ["bg","cs","da","de","el","es","et","fi","fr","ga","hr","hu","it","lt","lv","mt","nl","pl","pt","ro","sk","sl","sv"]) | .[]' "$config")
mkdir -p "$gvl_dir"

work=$(mktemp -d "${TMPDIR:-/tmp}/gvl-update.XXXXXX")
trap 'rm -rf "$work"' EXIT

fetch() { # fetch URL OUT: compressed, bounded, failing on an HTTP error
    curl --fail --silent --show-error --location --compressed --max-time 120 \
        --max-filesize 16777216 --proto '=https' -o "$2" "$1"
}

if [ -n "$from_file" ]; then
    [ -r "$from_file" ] || die "cannot read $from_file"
    cp "$from_file" "$work/list.json"
    say "installing $from_file"
else
    say "downloading $gvl_url"
    fetch "$gvl_url" "$work/list.json" || die "could not download $gvl_url" \
        "check the network and tcf.gvl_url; the store is unchanged"
fi

spec=$(jq -r '.gvlSpecificationVersion // empty' "$work/list.json" 2>/dev/null) ||
    die "the list is not JSON"
[ "$spec" = 3 ] || die "the list is not a v3 Global Vendor List (gvlSpecificationVersion: ${spec:-none})"
version=$(jq -r '.vendorListVersion' "$work/list.json")
case $version in '' | *[!0-9]* | 0*) die "the list has no valid vendorListVersion ($version)" ;; esac

current=0
for f in "$gvl_dir"/vendor-list-v*.json; do
    [ -e "$f" ] || continue
    n=${f##*/vendor-list-v}
    n=${n%.json}
    case $n in '' | *[!0-9]*) continue ;; esac
    [ "$n" -le "$current" ] || current=$n
done
if [ "$version" -le "$current" ]; then
    say "version $version is not newer than the store's newest, $current: nothing to do"
    exit 3
fi

new_files=()
install_file() { # install_file TMP NAME
    cp "$1" "$gvl_dir/.$2.tmp"
    mv "$gvl_dir/.$2.tmp" "$gvl_dir/$2"
    new_files+=("$gvl_dir/$2")
}
if [ -z "$from_file" ]; then
    for lang in $langs; do
        url=${tr_url//\{lang\}/$lang}
        if fetch "$url" "$work/purposes-$lang.json" 2>"$work/err"; then
            install_file "$work/purposes-$lang.json" "purposes-$lang-v$version.json"
        else
            printf 'gvl-update: warning: no %s translation (%s): %s\n' "$lang" "$url" "$(cat "$work/err")" >&2
        fi
    done
fi
# The list last: a store whose newest list is there has its translations.
install_file "$work/list.json" "vendor-list-v$version.json"
say "archived version $version in $gvl_dir (previous newest: $current)"

bin=${CONSENTD_BIN:-}
if [ -z "$bin" ]; then
    if command -v consentd >/dev/null 2>&1; then bin=consentd; else bin=$(dirname "$0")/../build/consentd; fi
fi
if [ -x "$bin" ] || command -v "$bin" >/dev/null 2>&1; then
    if ! "$bin" --config "$config" --check-config >"$work/check" 2>&1; then
        mkdir -p "$gvl_dir/refused"
        for f in "${new_files[@]}"; do mv "$f" "$gvl_dir/refused/"; done
        cat "$work/check" >&2
        die "consentd refuses its configuration with version $version; the new files are in $gvl_dir/refused/" \
            "fix the sites (a vendor the list deleted?), move them back and run consentd --check-config"
    fi
else
    printf 'gvl-update: warning: no consentd binary to check the sites with (set CONSENTD_BIN)\n' >&2
fi

if [ -n "$pidfile" ]; then
    [ -r "$pidfile" ] || die "cannot read $pidfile" "the list is archived; reload consentd yourself (SIGHUP)"
    pid=$(cat "$pidfile")
fi
if [ -n "$pid" ]; then
    kill -HUP "$pid" || die "could not signal consentd (pid $pid)" "the list is archived; reload consentd yourself (SIGHUP)"
    say "reloaded consentd (pid $pid): it serves version $version"
else
    say "reload consentd to use it: kill -HUP \"\$(pidof consentd)\""
fi
