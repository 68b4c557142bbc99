#!/usr/bin/env bash
# Installs what tierd needs to build, test and run on Debian 12.
#
# Idempotent: asks dpkg which packages are missing and installs only those;
# when nothing is missing it touches neither the network nor apt's lists.
# Runs as root, or through sudo when that exists.
#
#   bash scripts/install-deps.sh            install what is missing
#   bash scripts/install-deps.sh --dry-run  only list what would be installed
#   bash scripts/install-deps.sh --list     print every package and stop
set -euo pipefail

PACKAGES=(
    gcc libc6-dev pkg-config      # compiler and headers
    meson ninja-build             # build system
    libuv1-dev                    # event loop, timers, signals, child processes
    libnanomsg-dev                # REQ/REP and PUB/SUB transport
    libprotobuf-c-dev protobuf-c-compiler  # wire messages (protoc-c at build time)
    liblmdb-dev                   # the durable store
    libyaml-dev                   # tierd.yaml and program files
    libjansson-dev                # NDJSON import, JSON output, connectors
    libssl-dev                    # libcrypto: SHA-256 of backups (tierctl backup)
    libsystemd-dev                # sd_notify readiness and watchdog
    check                         # unit and integration test suites
    libpq-dev                     # PostgreSQL connector
    libcurl4-openssl-dev          # webhooks: HTTP POSTs on the loop (multi-socket API)
    libssl-dev                    # webhooks: HMAC-SHA256 signatures (libcrypto)
    libmicrohttpd-dev             # a real HTTP receiver inside the webhook tests
    postgresql                    # a real server for the connector tests
    clang-format                  # style check in CI
    clang libfuzzer-14-dev        # fuzz targets (scripts/fuzz.sh): clang, libFuzzer
    procps                        # ps and pgrep, for the tests and for operators
    prometheus                    # promtool: test_metrics checks the Metrics text with it
    scdoc man-db                  # man pages: rendered from docs/man, checked with man -l
    bash-completion               # where tierctl's completion installs; its test runs bash
    debhelper dpkg-dev fakeroot lintian  # the .deb (scripts/deb.sh): build and check
    libmicrohttpd-dev             # tierd-http's HTTP server
    libcurl4-openssl-dev          # HTTP client: tierd-http's tests and bench, the browser tests' WebDriver calls, webhooks
    curl                          # the demo fetches tierd-http's /metrics
    chromium chromium-driver      # headless browser for the pages' tests (tests/browser)
)

usage() {
    echo "usage: $0 [--dry-run | --list]" >&2
    exit 2
}

dry_run=0
case "${1:-}" in
"") ;;
--dry-run) dry_run=1 ;;
--list)
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
    ;;
*) usage ;;
esac
[ $# -le 1 ] || usage

missing=()
for pkg in "${PACKAGES[@]}"; do
    # An unknown package makes dpkg-query fail; that also means "missing".
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$dry_run" -eq 1 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 1
fi

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${#missing[@]} package(s)"
