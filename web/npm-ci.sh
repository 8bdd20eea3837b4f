#!/bin/sh
# npm-ci.sh - install web/'s build and test tools (esbuild, playwright-core,
# axe-core, prettier, eslint) exactly as web/package-lock.json pins them, unless they already
# are. The CMake build runs it under flock on web/, so that build
# directories sharing this tree do not install at the same time.
set -eu
cd "$(dirname "$0")"
stamp=node_modules/.consentd-npm-ci.stamp
if [ -f "$stamp" ] && [ -z "$(find package-lock.json package.json -newer "$stamp")" ]; then
    exit 0
fi
echo "web: npm ci (from web/package-lock.json)"
npm ci --no-audit --no-fund || {
    echo "web: npm ci failed: the banner build needs the npm registry once (see web/README.md)" >&2
    exit 1
}
touch "$stamp"
