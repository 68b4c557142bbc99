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
# common/ sits below the whole line: any engine file may use it, and it
# uses nothing above it (its files include only each other and the public
# tierd/ headers, and call nothing the engine defines). Only its pure part
# is the engine's: the engine must not include or call COMMON_SHELL, the
# files of common/ that touch the file system or end the process when
# memory runs out (the engine does no I/O and reports every failure).
#
# usage: test_engine_layers.sh ENGINE_DIR COMMON_DIR [ENGINE_LIBRARY COMMON_LIBRARY NM]
# Without the libraries and nm only the includes are checked (and it says so).
# Uses only sh, sed and awk.
set -u

LINE='
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
ingest.h ingest.c
correct.c
membership.c
benefits.c
decision.c
explain.h explain.c
forecast.h forecast.c
versions.c
whatif.h whatif.c
'

# common/'s files the engine may not use (see above).
COMMON_SHELL='td_file td_alloc'

if [ $# -lt 2 ] || [ ! -d "$1" ] || [ ! -d "$2" ]; then
    echo "usage: $0 ENGINE_DIR COMMON_DIR [ENGINE_LIBRARY COMMON_LIBRARY NM]" >&2
    exit 2
fi
dir=$1
common=$2
lib=${3:-}
common_lib=${4:-}
nm=${5:-}

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

# common/ below the line: its files include only common/ and tierd/ headers,
# no header name is both common/'s and the engine's (an include would be
# ambiguous), and no engine file includes a header of COMMON_SHELL.
for f in "$common"/*.c "$common"/*.h; do
    [ -e "$f" ] || continue
    echo "${f##*/}"
done >"$tmp/common_files"
while read -r f; do
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$common/$f" |
        while read -r inc; do echo "$f $inc"; done
done <"$tmp/common_files" >"$tmp/common_includes"
awk -v io="$COMMON_SHELL" -v cf="$tmp/common_files" -v ef="$tmp/files" -v ci="$tmp/common_includes" '
     FILENAME == cf { common[$1] = 1; next }
     FILENAME == ef { engine[$1] = 1; next }
     FILENAME == ci {
         if (!($2 in common) && $2 !~ /^tierd\//) {
             printf "FAIL: common/%s includes %s: common/ uses only its own files and tierd/ headers\n", $1, $2
             bad = 1
         }
         n++
         next
     }
     {
         split($2, base, ".")
         if (($2 in common) && (" " io " ") ~ (" " base[1] " ")) {
             printf "FAIL: %s includes %s: the engine uses only the pure part of common/ (no I/O, no abort)\n", $1, $2
             bad = 1
         }
     }
     END {
         for (f in common)
             if (f in engine) {
                 printf "FAIL: %s is both in common/ and in the engine\n", f
                 bad = 1
             }
         printf "includes: %d in common/ checked\n", n
         exit bad
     }' "$tmp/common_files" "$tmp/files" "$tmp/common_includes" "$tmp/includes" || status=1

# Calls: every symbol one object uses that another object defines.
if [ -n "$lib" ] && [ -n "$common_lib" ] && [ -n "$nm" ] && [ -x "$nm" ]; then
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
    # common/ calls nothing the engine defines; the engine calls nothing
    # of COMMON_SHELL.
    if ! "$nm" -P -A -g "$common_lib" >"$tmp/nm_common" 2>"$tmp/nm.err"; then
        echo "FAIL: $nm could not read $common_lib:"
        cat "$tmp/nm.err"
        status=1
    fi
    awk -v io="$COMMON_SHELL" -v nmc="$tmp/nm_common" 'function member(line) {
             if (!match(line, /\[[^]]*\]: /))
                 return ""
             m = substr(line, RSTART + 1, RLENGTH - 4)
             sub(/.*\//, "", m)
             sub(/\.o$/, "", m)
             return m
         }
         {
             obj = member($0)
             if (obj == "")
                 next
             split(substr($0, RSTART + RLENGTH), f, " ")
             if (FILENAME == nmc) {
                 if (f[2] == "U")
                     use_common[++nc] = obj " " f[1]
                 else if (f[2] ~ /^[A-TV-Z]$/)
                     def_common[f[1]] = obj
             } else {
                 if (f[2] == "U")
                     use_engine[++ne] = obj " " f[1]
                 else if (f[2] ~ /^[A-TV-Z]$/)
                     def_engine[f[1]] = obj
             }
         }
         END {
             for (i = 1; i <= nc; i++) {
                 split(use_common[i], u, " ")
                 if (u[2] in def_engine) {
                     printf "FAIL: common/%s calls %s in the engine (%s): common/ sits below the line\n", u[1], u[2], def_engine[u[2]]
                     bad = 1
                 }
             }
             for (i = 1; i <= ne; i++) {
                 split(use_engine[i], u, " ")
                 if (!(u[2] in def_common))
                     continue
                 n++
                 d = def_common[u[2]]
                 sub(/\.c$/, "", d)
                 if ((" " io " ") ~ (" " d " ")) {
                     printf "FAIL: %s calls %s of common/%s: the engine uses only the pure part of common/ (no I/O, no abort)\n", u[1], u[2], d
                     bad = 1
                 }
             }
             printf "calls: %d from the engine into common/ checked\n", n
             exit bad
         }' "$tmp/nm_common" "$tmp/nm" || status=1
else
    echo "calls: not checked (no libraries or nm given)"
fi

if [ "$status" -eq 0 ]; then
    echo "the engine forms a line of $(awk 'END { print NR }' "$tmp/files") files"
fi
exit "$status"
