#!/usr/bin/env bash
# Every man page the build rendered from docs/man/*.scd shows with
# `man -l` at 80 columns: non-empty, its NAME section present, and not one
# warning from man or groff (--warnings passes -ww to groff).
#   test_man_render.sh PAGE...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 PAGE..." >&2; exit 2; }
status=0
for page in "$@"; do
    err=$(mktemp)
    out=$(MANWIDTH=80 man -l --warnings "$page" 2>"$err") || {
        echo "FAIL $page: man exited $?: $(cat "$err")"
        status=1
    }
    if [ -s "$err" ]; then
        echo "FAIL $page: warnings:"
        cat "$err"
        status=1
    elif ! grep -q '^NAME$' <<<"$out"; then
        echo "FAIL $page: no NAME section in:"
        head -20 <<<"$out"
        status=1
    elif [ "$(wc -l <<<"$out")" -lt 20 ]; then
        echo "FAIL $page: only $(wc -l <<<"$out") lines"
        status=1
    else
        echo "ok $page ($(wc -l <<<"$out") lines)"
    fi
    rm -f "$err"
done
exit "$status"
