#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan + UBSan) and runs
# each for a bounded time on a copy of its seed corpus.
#
#   bash scripts/fuzz.sh                     every target, 20 s each
#   bash scripts/fuzz.sh -t 600 fuzz_rpc     one target, ten minutes
#   bash scripts/fuzz.sh --list              the target names
#
# Environment: FUZZ_BUILD (build dir, default build-fuzz), FUZZ_KEEP=1 keeps
# each run's temporary dir (grown corpus, log) even when nothing was found.
#
# The seed corpus in tests/fuzz/corpus/ is only read: every run works on a
# copy in a temporary dir, so new inputs never land in the repository.
# Exits non-zero when anything fails: configure, build, or any target
# reporting a crash, a leak, an UBSan finding, a timeout or running out of
# memory; it then prints the input that did it and the stack.
set -euo pipefail

targets_all=(fuzz_rpc fuzz_program fuzz_expr fuzz_ndjson fuzz_spool_csv fuzz_spool_xapi
    fuzz_status_pipe fuzz_codec)
seconds=20
# A single input slower than this is a finding (a hang in a decoder).
per_input_timeout=25
# libFuzzer's default; named so a finding over it reads as a memory problem.
rss_limit_mb=2048

usage() {
    echo "usage: $0 [-t SECONDS] [--list] [TARGET...]" >&2
    exit 2
}

targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    -t)
        [ $# -ge 2 ] || usage
        seconds=$2
        shift
        ;;
    --list)
        printf '%s\n' "${targets_all[@]}"
        exit 0
        ;;
    -*) usage ;;
    *) targets+=("$1") ;;
    esac
    shift
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")
for t in "${targets[@]}"; do
    [[ " ${targets_all[*]} " == *" $t "* ]] || {
        echo "fuzz.sh: unknown target $t (see --list)" >&2
        exit 2
    }
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${FUZZ_BUILD:-build-fuzz}

bash scripts/install-deps.sh

echo "== configure $build/"
# Shared modules (the plugins) link against the sanitizer runtimes of the
# process that loads them, so undefined symbols are allowed there.
options=(-Dfuzz=true -Dtests=disabled -Db_lundef=false -Dwerror=true)
if [ -f "$build/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$build" "${options[@]}" >/dev/null
else
    CC=clang meson setup "$build" "${options[@]}" >/dev/null
fi

echo "== build $build/ (fuzz targets only)"
ninja -C "$build" fuzz

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=()
printf '%-18s %10s %8s %6s %6s  %s\n' target execs exec/s cov ft result
for t in "${targets[@]}"; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/tierd-$t-XXXXXX")
    mkdir "$work/corpus" "$work/artifacts"
    cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
    args=(-max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb="$rss_limit_mb"
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")
    [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
    status=0
    "$build/tests/fuzz/$t" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || status=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$work/log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=("$work"/artifacts/*)
    if [ "$status" -eq 0 ] && [ ! -e "${crashes[0]}" ]; then
        printf '%-18s %10s %8s %6s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
            "${ft:-?}" "ok"
        if [ "${FUZZ_KEEP:-0}" = 1 ]; then
            echo "    kept $work"
        else
            rm -rf "$work"
        fi
        continue
    fi
    printf '%-18s %10s %8s %6s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
        "${ft:-?}" "FINDING (exit $status)"
    failed+=("$t")
    echo "---- $t: what libFuzzer reported (full log: $work/log)"
    # From the sanitizer's or the check's first line to libFuzzer's summary.
    sed -n '/^==[0-9]*==\|runtime error\|fuzz check failed\|^ALARM\|ERROR: libFuzzer/,/^SUMMARY\|Test unit written/p' \
        "$work/log" | head -80
    for a in "$work"/artifacts/*; do
        [ -e "$a" ] || continue
        echo "---- $t: input $a; replay with: $build/tests/fuzz/$t $a"
    done
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: findings in ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s), ${seconds} s each, no findings"
