#!/usr/bin/env bash
# tests/lint/lint.sh c|shell - the formatting and lint checks that ctest runs
# (lint_c_format, lint_shellcheck): they fail on any difference, so that a
# change that is not formatted, or a script shellcheck finds fault with, does
# not land.
#   c      clang-format (the repository's .clang-format) over every C file of
#          src/, tests/ and bench/: prints the diff it would make.
#   shell  shellcheck, every finding at every severity, over every shell
#          script of the repository (*.sh and .ci/run).
# Fix a formatting failure with: clang-format -i FILE...
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
*)
    echo "usage: tests/lint/lint.sh c|shell" >&2
    exit 2
    ;;
esac
