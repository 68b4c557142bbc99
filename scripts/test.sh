#!/usr/bin/env bash
# Installs what is missing, builds tierd and runs every test suite.
#
#   bash scripts/test.sh                 build/ , debugoptimized (meson.build's default)
#   bash scripts/test.sh --sanitize      build-san/ , ASan + UBSan, leaks checked
#   bash scripts/test.sh --release       build-release/ , -O3 as `meson setup --buildtype=release`
#   bash scripts/test.sh --clang         build-clang/ , CC=clang (clang's warnings differ from gcc's)
#   bash scripts/test.sh [--sanitize] -- ARGS   ARGS go to `meson test`
#                                        (e.g. -- --suite unit, -- test_engine)
#
# Every build here passes -Dwerror=true: the project's own builds treat
# warnings as errors, while a packager's build (meson.build's defaults) does not.
#
# Exits non-zero when anything fails: dependencies, configure, build or any
# test. The last lines repeat meson's summary so a CI log ends with it.
set -euo pipefail

usage() {
    echo "usage: $0 [--sanitize | --release | --clang] [-- MESON_TEST_ARGS...]" >&2
    exit 2
}

sanitize=0
release=0
clang=0
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --sanitize) sanitize=1 ;;
    --release) release=1 ;;
    --clang) clang=1 ;;
    --)
        shift
        extra=("$@")
        break
        ;;
    *) usage ;;
    esac
    shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

[ $((sanitize + release + clang)) -gt 1 ] && usage

bash scripts/install-deps.sh

if [ "$sanitize" -eq 1 ]; then
    build="build-san"
    options=(-Dsanitize=true -Dtests=enabled)
    # Leaks fail the run; UBSan findings stop the process with a stack.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # Sanitized binaries run a few times slower than the timeouts assume.
    test_options=(--timeout-multiplier 3)
elif [ "$release" -eq 1 ]; then
    # The README's install step builds this way; -O3 finds warnings
    # (maybe-uninitialized, format-truncation) that -O2 does not.
    build="build-release"
    options=(--buildtype=release -Dtests=enabled)
    test_options=()
elif [ "$clang" -eq 1 ]; then
    build="build-clang"
    options=(-Dtests=enabled)
    test_options=()
    export CC=clang
else
    build="build"
    options=(-Dtests=enabled)
    test_options=()
fi

options+=(-Dwerror=true)

echo "== configure $build/"
if [ -f "$build/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$build" "${options[@]}"
else
    meson setup "$build" "${options[@]}"
fi

echo "== build $build/"
ninja -C "$build"

echo "== test $build/"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
meson test -C "$build" --print-errorlogs "${test_options[@]}" "${extra[@]}" 2>&1 |
    tee "$log" || status=$?

echo "== summary ($build/)"
grep -E '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout): ' "$log" || true
if [ "$status" -ne 0 ]; then
    echo "test.sh: tests failed in $build/ (full log: $build/meson-logs/testlog.txt)" >&2
fi
exit "$status"
