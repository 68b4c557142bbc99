#!/bin/sh
# test_engine_layers: the engine's files form a line, not a web.
#
# LINE below is the order, lowest first, one noun (a .c and its header) to
# a row. A file may include only the engine headers of its own row or rows
# above it, and (read from the compiled library with nm) call only
# functions defined in rows above it. So no two engine files depend on
# each other, and a reader can take the files in this order, each one
# making sense with only those before it. Every .c and .h in daemon/engine
# must stand in the line: a new file is placed on purpose.
#
# usage: test_engine_layers.sh ENGINE_DIR [ENGINE_LIBRARY NM]
# Without a library and nm only the includes are checked (and it says so).
# Uses only sh, sed and awk.
set -u

LINE='
status.c
td_time.h td_time.c
text.h text.c
hash.h
expr.h expr.c
program.h program.c
engine.h
mtree.h mtree.c
metric.h metric.c
partner.h partner.c
pmap.h pmap.c
names.h names.c
eng_prog.h eng_prog.c
engine_state.h engine.c
codec.c
criteria.h criteria.c
change.h change.c
lifecycle.h lifecycle.c
evaluate.h evaluate.c
ingest.c
membership.c
decision.c
explain.c
versions.c
'

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 ENGINE_DIR [ENGINE_LIBRARY NM]" >&2
    exit 2
fi
dir=$1
lib=${2:-}
nm=${3:-}

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' INT TERM

# "file row" for every file in the line.
printf '%s\n' "$LINE" | awk 'NF { row++; for (i = 1; i <= NF; i++) print $i, row }' >"$tmp/rows"

status=0

# Every engine source stands in the line, and the line names no stale file.
for f in "$dir"/*.c "$dir"/*.h; do
    [ -e "$f" ] || continue
    echo "${f##*/}"
done >"$tmp/files"
awk 'NR == FNR { row[$1] = $2; next }
     !($1 in row) { printf "FAIL: %s is not in the line: add it to LINE in %s at the row of the files it needs\n", $1, script; bad = 1 }
     { seen[$1] = 1 }
     END {
         for (f in row)
             if (!(f in seen)) { printf "FAIL: %s is in the line but not in the engine\n", f; bad = 1 }
         exit bad
     }' script="$0" "$tmp/rows" "$tmp/files" || status=1

# Includes: "file included" for every quoted include of an engine header.
while read -r f; do
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$dir/$f" |
        while read -r inc; do echo "$f $inc"; done
done <"$tmp/files" >"$tmp/includes"
awk 'NR == FNR { row[$1] = $2; next }
     ($1 in row) && ($2 in row) {
         n++
         if (row[$2] > row[$1]) {
             printf "FAIL: %s (row %d) includes %s (row %d): a file may use only the files before it in the line\n", $1, row[$1], $2, row[$2]
             bad = 1
         }
     }
     END { printf "includes: %d between engine files checked\n", n; exit bad }' \
    "$tmp/rows" "$tmp/includes" || status=1

# Calls: every symbol one object uses that another object defines.
if [ -n "$lib" ] && [ -n "$nm" ] && [ -x "$nm" ]; then
    if ! "$nm" -P -A -g "$lib" >"$tmp/nm" 2>"$tmp/nm.err"; then
        echo "FAIL: $nm could not read $lib:"
        cat "$tmp/nm.err"
        status=1
    fi
    # nm -P -A: "ARCHIVE[MEMBER]: NAME TYPE ...", MEMBER a path to FILE.c.o
    awk 'NR == FNR { row[$1] = $2; next }
         {
             if (!match($0, /\[[^]]*\]: /))
                 next
             obj = substr($0, RSTART + 1, RLENGTH - 4)
             sub(/.*\//, "", obj)
             sub(/\.o$/, "", obj)
             split(substr($0, RSTART + RLENGTH), f, " ")
             if (f[2] == "U")
                 use[++nu] = obj " " f[1]
             else if (f[2] ~ /^[A-TV-Z]$/)
                 def[f[1]] = obj
         }
         END {
             for (i = 1; i <= nu; i++) {
                 split(use[i], u, " ")
                 if (!(u[2] in def) || def[u[2]] == u[1])
                     continue
                 n++
                 d = def[u[2]]
                 if (!(u[1] in row) || !(d in row)) {
                     printf "FAIL: %s or %s is not in the line\n", u[1], d
                     bad = 1
                 } else if (row[d] >= row[u[1]]) {
                     printf "FAIL: %s (row %d) calls %s in %s (row %d): calls go down the line only\n", u[1], row[u[1]], u[2], d, row[d]
                     bad = 1
                 }
             }
             if (!n) {
                 print "FAIL: nm found no call between engine files: the check would prove nothing"
                 bad = 1
             }
             printf "calls: %d between engine files checked\n", n
             exit bad
         }' "$tmp/rows" "$tmp/nm" || status=1
else
    echo "calls: not checked (no library or nm given)"
fi

if [ "$status" -eq 0 ]; then
    echo "the engine forms a line of $(awk 'END { print NR }' "$tmp/files") files"
fi
exit "$status"
