#!/usr/bin/env bash
# tests/lint/lint.sh c|shell|web|lua|docs - the formatting and lint checks
# that ctest runs (lint_c, lint_shell, lint_web, lint_lua, lint_docs): they
# fail on any difference, so that a change that is not formatted, or a
# script shellcheck finds fault with, or a broken link in the docs, does not
# land.
#   c      clang-format (the repository's .clang-format) over every C file of
#          src/, tests/ and bench/: prints the diff it would make; and no
#          Redis command, connection or reply call (nor redis.h include) in
#          src/api/ or src/http/: they go through store.h.
#   shell  shellcheck, every finding at every severity, over every shell
#          script of the repository (*.sh and .ci/run).
#   web    Prettier (web/.prettierrc.json) in --check mode, then ESLint
#          (web/eslint.config.js: its recommended rules) with no warning
#          allowed, over the JavaScript of web/ (*.js, *.mjs) and ops/ (*.mjs);
#          both as web/package-lock.json pins them in web/node_modules.
#   lua    luacheck (.luacheckrc: Redis' Lua 5.1 globals) over the Redis
#          Function library src/store.lua, and its VERSION checked against
#          tests/fixtures/store_lua.sha256 (a changed library needs a new one).
#   docs   every relative link of every Markdown file names a file that
#          exists, and its #fragment a heading there (tests/lint/links.mjs).
# Fix a formatting failure with: clang-format -i FILE...
# or, for JavaScript, from the repository root:
#   web/node_modules/.bin/prettier --config web/.prettierrc.json --write FILE...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

files_of() { # files_of NAME-PATTERN DIR...: the repository's files, sorted, without build trees
    local pattern=$1
    shift
    find "$@" -path '*/node_modules' -prune -o -name "$pattern" -type f -print | sort
}

case "${1:-}" in
c)
    command -v clang-format >/dev/null || { echo "lint: clang-format not found (apt-get install clang-format)" >&2; exit 1; }
    mapfile -t files < <(files_of '*.[ch]' src tests bench)
    status=0
    for f in "${files[@]}"; do
        if ! clang-format --dry-run --Werror "$f" 2>/dev/null; then
            echo "lint: $f is not formatted; its diff:"
            diff -u "$f" <(clang-format "$f") | head -n 40 || true
            status=1
        fi
    done
    # The layering rule no compiler checks: endpoints and the HTTP layer talk
    # to Redis through store.h only (redis.h's types and its error helpers
    # pass through it; its commands, connection state and replies do not).
    if grep -nE '\bredis_(command[a-z_]*|send|is_connected|last_error|reply_[a-z_]+)\(|#include "redis\.h"' \
        src/api/*.[ch] src/http/*.[ch]; then
        echo "lint: the lines above call redis.h from src/api or src/http: go through store.h"
        status=1
    fi
    echo "lint: clang-format checked ${#files[@]} C files"
    exit "$status"
    ;;
shell)
    command -v shellcheck >/dev/null || { echo "lint: shellcheck not found (apt-get install shellcheck)" >&2; exit 1; }
    mapfile -t files < <(files_of '*.sh' ops bench tests web)
    files+=(.ci/run)
    shellcheck --severity=style "${files[@]}"
    echo "lint: shellcheck checked ${#files[@]} scripts"
    ;;
web)
    bin=web/node_modules/.bin
    if [ ! -x "$bin/prettier" ] || [ ! -x "$bin/eslint" ]; then
        echo "lint: prettier or eslint not in web/node_modules: run the build once, or sh web/npm-ci.sh" >&2
        exit 1
    fi
    mapfile -t files < <({ files_of '*.js' web; files_of '*.mjs' web ops; } | sort)
    status=0
    if ! "$bin/prettier" --config web/.prettierrc.json --no-editorconfig --check "${files[@]}"; then
        echo "lint: fix the formatting with: web/node_modules/.bin/prettier --config web/.prettierrc.json --write FILE..."
        status=1
    fi
    # From the repository root: ESLint reads the config's file patterns from here.
    if ! "$bin/eslint" --config web/eslint.config.js --max-warnings 0 "${files[@]}"; then
        echo "lint: ESLint found the mistakes above (rules: https://eslint.org/docs/latest/rules/);"
        echo "      fix the code, or, where a finding is intended, say why in web/eslint.config.js"
        status=1
    fi
    echo "lint: prettier and eslint checked ${#files[@]} JavaScript files"
    exit "$status"
    ;;
lua)
    command -v luacheck >/dev/null || { echo "lint: luacheck not found (apt-get install lua-check)" >&2; exit 1; }
    luacheck --no-color --config .luacheckrc src/store.lua
    # The library's VERSION must change with its bytes: consentd loads it only
    # into a Redis whose version is older (src/store.c, THE LIBRARY VERSION).
    version=$(sed -n 's/^local VERSION = \([0-9][0-9]*\)$/\1/p' src/store.lua)
    sum=$(sha256sum src/store.lua | cut -d' ' -f1)
    recorded=$(awk -v v="$version" '$1 == v { print $2 }' tests/fixtures/store_lua.sha256)
    if [ "$sum" != "$recorded" ]; then
        echo "lint: src/store.lua changed but its VERSION ($version) did not, or its hash is not recorded."
        echo "      Raise VERSION in src/store.lua, then add this line to tests/fixtures/store_lua.sha256:"
        echo "      <the new VERSION> $sum"
        exit 1
    fi
    echo "lint: src/store.lua version $version, sha256 as recorded"
    ;;
docs)
    node tests/lint/links.mjs
    ;;
*)
    echo "usage: tests/lint/lint.sh c|shell|web|lua|docs" >&2
    exit 2
    ;;
esac
