#!/usr/bin/env bash
# Builds the Debian packages (debian/), checks them with lintian, installs
# them on this machine and runs the installed tierd and tierctl against the
# example program.
#
#   bash scripts/deb.sh            build, lintian, install, run, then purge
#   bash scripts/deb.sh --keep     leave the packages installed
#   bash scripts/deb.sh --build    build and lintian only
#
# The packages land in build-deb/ (tierd, tierctl, libtierd-client0,
# libtierd-client-dev, tierd-plugin-postgres, tierd-http). Runs as root (or through
# sudo): it installs build dependencies and the packages with apt.
# Exits non-zero when the build fails, lintian reports an error, or the
# installed programs do not work. Lintian's warnings are printed, not fatal.
set -euo pipefail

usage() {
    echo "usage: $0 [--keep | --build]" >&2
    exit 2
}
keep=0
install=1
case "${1:-}" in
"") ;;
--keep) keep=1 ;;
--build) install=0 ;;
*) usage ;;
esac
[ $# -le 1 ] || usage

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
else
    as_root=(sudo)
fi
apt_get() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends "$@"
}
t0=$(date +%s)
step() { echo "== $* ($(($(date +%s) - t0)) s)"; }

bash scripts/install-deps.sh

# Build in a copy of the tree: dpkg-buildpackage writes beside the source
# directory and into debian/, neither of which belongs to the repository.
out="$root/build-deb"
work=$(mktemp -d "${TMPDIR:-/tmp}/tierd-deb-XXXXXX")
tierd_pid=""
http_pid=""
cleanup() {
    [ -z "$http_pid" ] || kill "$http_pid" 2>/dev/null || true
    [ -z "$tierd_pid" ] || kill "$tierd_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
version=$(dpkg-parsechangelog -S Version)
src="$work/tierd-$version"
mkdir -p "$src"
step "copy the tree to $src"
# Tracked files and new ones not ignored (build dirs are ignored).
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$src/" 2>/dev/null ||
    true
[ -f "$src/debian/control" ] || {
    echo "deb.sh: copying the tree failed" >&2
    exit 1
}

step "build dependencies"
missing=$(cd "$src" && dpkg-checkbuilddeps 2>&1 | sed -n 's/.*Unmet build dependencies: //p' |
    sed 's/([^)]*)//g; s/|[^ ]*//g')
if [ -n "$missing" ]; then
    echo "installing: $missing"
    # shellcheck disable=SC2086 # one word per package
    apt_get install $missing
fi

step "dpkg-buildpackage"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=${DEB_JOBS:-2}" dpkg-buildpackage -us -uc -b)
rm -rf "$out"
mkdir -p "$out"
packages=(tierd tierctl libtierd-client0 libtierd-client-dev tierd-plugin-postgres tierd-http)
# (debug symbols come as PKG-dbgsym packages; kept, never installed here)
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out/"
ls -l "$out"

step "lintian"
lintian_log="$out/lintian.txt"
# --fail-on error: warnings are listed but do not fail the run.
lintian --fail-on error --info --display-info "$out"/*.changes | tee "$lintian_log" || {
    echo "deb.sh: lintian reports errors (see $lintian_log)" >&2
    exit 1
}
echo "lintian: $(grep -c '^E:' "$lintian_log" || true) errors, $(grep -c '^W:' "$lintian_log" || true) warnings"
[ "$install" -eq 1 ] || {
    step "done"
    exit 0
}

step "install with apt (dpkg underneath, dependencies from the archive)"
debs=()
for pkg in "${packages[@]}"; do
    debs+=("$(ls "$out/${pkg}_"*.deb)")
done
apt_get install "${debs[@]}"
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Package} ${Version} ${Status}\n' "$pkg"
done

step "check what the packages installed"
grep -q '^ExecStart=/usr/bin/tierd ' /lib/systemd/system/tierd.service
# systemd's own check of the installed units (works without systemd as
# PID 1): every binary, directive and Documentation= page must resolve.
# It prints what it finds and still exits 0 on some, so any output fails.
verify=$(systemd-analyze verify /lib/systemd/system/tierd.service \
    /lib/systemd/system/tierd-http.service 2>&1) || true
if [ -n "$verify" ]; then
    echo "deb.sh: systemd-analyze verify found problems in the installed units:" >&2
    echo "$verify" >&2
    exit 1
fi
getent passwd tierd >/dev/null
[ "$(stat -c '%a %U %G' /etc/tierd)" = "750 root tierd" ]
[ "$(stat -c '%a %U %G' /etc/tierd/tierd.yaml)" = "640 root tierd" ]
[ "$(stat -c '%a %U %G' /etc/tierd/tierd-http.yaml)" = "640 root tierd" ]
test -f /usr/share/man/man8/tierd-connector.8.gz
for page in /usr/share/man/man8/tierd.8.gz /usr/share/man/man1/tierctl.1.gz \
    /usr/share/man/man5/tierd.yaml.5.gz /usr/share/man/man5/tierd-program.5.gz \
    /usr/share/man/man7/tierd-plugin.7.gz /usr/share/man/man8/tierd-http.8.gz \
    /usr/share/man/man8/tierd-connector.8.gz; do
    MANWIDTH=80 man -l --warnings "$page" >/dev/null
done
test -f /usr/share/bash-completion/completions/tierctl
test -f /usr/lib/x86_64-linux-gnu/tierd/plugins/postgres.so -o \
    -n "$(find /usr/lib -path '*/tierd/plugins/postgres.so')"
/usr/bin/tierd --version
/usr/bin/tierd-http --version
test -f /usr/share/tierd/www/partner.html
test -f /usr/share/tierd/openapi.yaml
# the example config is tierd-http's conffile, and its placeholder tokens
# keep tierd-http from serving until an operator replaces them
dpkg-query -W -f='${Conffiles}\n' tierd-http | grep -q ' /etc/tierd/tierd-http.yaml '
if /usr/bin/tierd-http -c /etc/tierd/tierd-http.yaml --listen 127.0.0.1:0 >"$work/http-example.log" 2>&1; then
    echo "deb.sh: tierd-http served with the example's CHANGE-ME tokens" >&2
    exit 1
fi
grep -q "CHANGE-ME.*placeholder" "$work/http-example.log" || {
    echo "deb.sh: tierd-http refused the example config without naming its placeholder tokens:" >&2
    cat "$work/http-example.log" >&2
    exit 1
}
! systemctl is-enabled tierd-http >/dev/null 2>&1 || {
    echo "deb.sh: the package enabled tierd-http before its tokens are set" >&2
    exit 1
}

examples=/usr/share/tierd/examples
step "run the installed tierd"
if [ -d /run/systemd/system ] && systemctl is-system-running >/dev/null 2>&1; then
    # systemd is PID 1: the recommended way, as the README says.
    systemctl enable --now tierd
    url=ipc:///var/lib/tierd/rpc.sock
    started_by=systemd
else
    # No systemd here (a container): the unit's command line, as the tierd
    # user, on a temporary state dir with a fake clock for the example data.
    state="$work/state"
    chmod 0711 "$work" # mktemp's 0700 would keep the tierd user out
    install -d -m 0750 -o tierd -g tierd "$state"
    setpriv --reuid=tierd --regid=tierd --init-groups \
        /usr/bin/tierd -c /etc/tierd/tierd.yaml --state-dir "$state" \
        --fake-clock 2026-11-15 >"$work/tierd.log" 2>&1 &
    tierd_pid=$!
    url="ipc://$state/rpc.sock"
    started_by="setpriv (no systemd)"
fi
tierctl() { /usr/bin/tierctl --url "$url" "$@"; }
for _ in $(seq 100); do
    tierctl status >/dev/null 2>&1 && break
    sleep 0.1
done
tierctl status || {
    [ -z "$tierd_pid" ] || cat "$work/tierd.log" >&2
    [ -n "$tierd_pid" ] || journalctl -u tierd --no-pager -n 50 >&2 || true
    exit 1
}
echo "tierd started by $started_by"

step "tierctl against the example program"
tierctl program load "$examples/programs/partners.yaml"
tierctl partner import "$examples/data/partners.ndjson"
tierctl event import "$examples/data/events.ndjson"
tierctl stats
tierctl explain p-0214 --ladder reseller

step "the installed tierd-http against it"
http_token=$(head -c 24 /dev/urandom | base64)
cat >"$work/tierd-http.yaml" <<EOF
listen: 127.0.0.1:0
tierd:
  url: $url
tokens:
  - {name: deb, token: "$http_token", role: read}
EOF
/usr/bin/tierd-http -c "$work/tierd-http.yaml" >"$work/tierd-http.log" 2>&1 &
http_pid=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/tierd-http.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || {
    cat "$work/tierd-http.log" >&2
    exit 1
}
curl -fsS -o "$work/partner.json" -H "Authorization: Bearer $http_token" \
    "http://127.0.0.1:$port/v1/partners/p-0214"
grep -q '"p-0214"' "$work/partner.json"
curl -fsS -o "$work/partner.html" "http://127.0.0.1:$port/partner"
grep -qi '<html' "$work/partner.html"
kill -TERM "$http_pid"
wait "$http_pid"
http_pid=""
echo "tierd-http answered on port $port"

step "the example client against the installed library (pkg-config, no source tree)"
cc -std=c11 -Wall -Wextra -Werror -o "$work/tierd-status" "$examples/client/tierd-status.c" \
    $(pkg-config --cflags --libs tierd-client)
ldd "$work/tierd-status" | grep -E 'libtierd-client.so.0 => /(usr/)?lib/' || {
    echo "deb.sh: the example does not load the packaged libtierd-client.so.0" >&2
    exit 1
}
"$work/tierd-status" --url "$url" p-0214

if [ -n "$tierd_pid" ]; then
    kill -TERM "$tierd_pid"
    wait "$tierd_pid"
    tierd_pid=""
else
    systemctl stop tierd
fi

if [ "$keep" -eq 0 ]; then
    step "purge the packages"
    apt_get purge "${packages[@]}"
fi
step "deb.sh: ok"
