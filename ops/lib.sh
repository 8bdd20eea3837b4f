# shellcheck shell=bash
# ops/lib.sh - shell functions shared by ops/run.sh and ops/test.sh: messages,
# the Debian packages consentd needs, and the step that installs them.
#
# Sourced, never run: the caller has `set -euo pipefail` and has cd'ed to the
# repository root.

# What consentd needs to build, run and test, as Debian 12 package names
# (util-linux for flock, used by the banner build). node and npm are handled
# apart: the build minifies the banner with esbuild (npm ci in web/), the
# tests and run.sh use node; any `node` >= 18 and `npm` on the PATH will do,
# Debian's packages are only installed when there are none.
CONSENTD_PACKAGES=(
    build-essential cmake pkg-config
    libh2o-evloop-dev libh2o-dev-common
    libhiredis-dev libmsgpack-dev libjemalloc-dev libsodium-dev libssl-dev
    libjansson-dev libdeflate-dev libbrotli-dev
    redis-server curl util-linux openssl
)
CONSENTD_NODE_MIN_MAJOR=18

ops_say() { printf '==> %s\n' "$*"; }
ops_warn() { printf 'warning: %s\n' "$*" >&2; }
# ops_die MESSAGE [WHAT TO DO NEXT]
ops_die() {
    printf 'error: %s\n' "$1" >&2
    [ $# -lt 2 ] || printf '       %s\n' "$2" >&2
    exit 1
}

ops_pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# The major version of the node on the PATH, or nothing.
ops_node_major() {
    command -v node >/dev/null 2>&1 || return 0
    node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true
}

# ops_install_deps [MORE_PACKAGES...]: install the missing packages (ours and
# the caller's), and node and npm when there are none: `apt-get update` once,
# only when something is missing. Idempotent and non-interactive.
ops_install_deps() {
    command -v dpkg-query >/dev/null 2>&1 ||
        ops_die "dpkg-query not found: these scripts expect Debian 12 (bookworm)." \
            "Install the packages listed in ops/lib.sh by hand, then run cmake yourself."
    local missing=() pkg
    for pkg in "${CONSENTD_PACKAGES[@]}" "$@"; do
        ops_pkg_installed "$pkg" || missing+=("$pkg")
    done
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    if [ ${#missing[@]} -eq 0 ]; then
        ops_say "dependencies: all $((${#CONSENTD_PACKAGES[@]} + $#)) Debian packages, node and npm are installed"
    else
        ops_say "dependencies: installing ${missing[*]}"
        local sudo=()
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 ||
                ops_die "missing packages and not root: ${missing[*]}" \
                    "Run this script as root, or install them: apt-get install ${missing[*]}"
            sudo=(sudo)
        fi
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
            ops_die "apt-get update failed" "Check that the Debian package mirror is reachable."
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${missing[@]}" ||
            ops_die "apt-get install failed for: ${missing[*]}" \
                "Read apt's message above; then run this script again."
    fi
    local major
    major=$(ops_node_major)
    if [ -z "$major" ] || [ "$major" -lt "$CONSENTD_NODE_MIN_MAJOR" ]; then
        ops_die "node ${major:-?} at $(command -v node || echo '?') is too old: node >= ${CONSENTD_NODE_MIN_MAJOR} is needed" \
            "Put a newer node first on the PATH, or remove this one and rerun (Debian 12's nodejs is 18)."
    fi
}

# ops_build DIR CMAKE_ARGS...: configure (always, cheap and idempotent) and build.
ops_build() {
    local dir=$1
    shift
    ops_say "build: cmake -S . -B $dir $*"
    cmake -S . -B "$dir" "$@" >/dev/null ||
        ops_die "cmake could not configure $dir" "Read the message above; 'rm -rf $dir' and retry if the cache is stale."
    cmake --build "$dir" -j"$(nproc)" ||
        ops_die "the build in $dir failed" "Read the compiler's message above."
}

# ops_install_node_modules DIR: `npm ci` in DIR (its package-lock.json pins
# every version), skipped while DIR/node_modules is up to date with the lock.
ops_install_node_modules() {
    local dir=$1
    [ -f "$dir/package.json" ] || return 0
    if [ -f "$dir/node_modules/.package-lock.json" ] &&
        [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] &&
        [ "$dir/node_modules/.package-lock.json" -nt "$dir/package.json" ]; then
        ops_say "npm: $dir/node_modules is up to date"
        return 0
    fi
    ops_say "npm: installing the packages pinned in $dir/package-lock.json"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
        ops_die "npm ci failed in $dir" "Check that the npm registry is reachable, then rerun."
}
