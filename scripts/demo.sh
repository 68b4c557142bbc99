#!/usr/bin/env bash
# The tierd demo: build, start a daemon on a fresh state directory with the
# example program, feed it the example partners and a year of events, and
# show what it decided and why.
#
# The clock is frozen at 2026-11-15 (--fake-clock) so the output is the same
# on every run. Uses build/ like scripts/test.sh; the daemon's state goes to
# ./demo-state (removed first) and its log to a temporary file that is
# printed if anything fails. The daemon never outlives the script.
#
# For tests: TIERD_BIN and TIERCTL_BIN name binaries already built (then
# nothing is installed or built) and DEMO_STATE another state directory.
set -euo pipefail

DEMO_CLOCK=2026-11-15T00:00:00Z
START_TIMEOUT_S=30 # first answer from a freshly started daemon
STOP_TIMEOUT_S=15  # SIGTERM to exit
# Partners the example data set puts in interesting places (see
# examples/data/generate.py): p-0214 runs two motions and sits just below
# the next tier on both; p-0066 sold early in the year and is about to lose
# its reseller tier as those deals leave the 365-day window; p-0068
# qualifies for Strategic, which waits for a person's approval.
SHOW_PARTNER=p-0214
AT_RISK_PARTNER=p-0066
APPROVAL_PARTNER=p-0068
# Long enough for p-0066's old deals to expire, its 90-day grace to run out
# and the next quarterly review (2027-04-01) to pass.
DEMO_ADVANCE=140d

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

section() {
    printf '\n==== %s ====\n' "$*"
}

if [ -n "${TIERD_BIN:-}" ] && [ -n "${TIERCTL_BIN:-}" ]; then
    tierd=$TIERD_BIN
    tierctl=$TIERCTL_BIN
else
    section "dependencies"
    bash scripts/install-deps.sh

    section "build (build/)"
    if [ -f build/meson-private/coredata.dat ]; then
        meson setup --reconfigure build >/dev/null
    else
        meson setup build >/dev/null
    fi
    # Only what the demo runs: the test suites are scripts/test.sh's business.
    ninja -C build daemon/tierd client/tierctl
    tierd=build/daemon/tierd
    tierctl=build/client/tierctl
fi
state=${DEMO_STATE:-"$root/demo-state"}
url="ipc://$state/rpc.sock"
log=$(mktemp)
pid=
watch_pid=
watch_out=

ctl() {
    "$tierctl" --url "$url" "$@"
}

# Stops what the demo started (the watcher, then the daemon), however the
# script ends: at the end, on an error, or on SIGINT/SIGTERM.
cleanup() {
    local status=$?
    if [ -n "$watch_pid" ] && kill -0 "$watch_pid" 2>/dev/null; then
        kill -TERM "$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
    fi
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ]; then
        echo "demo.sh: failed; the daemon's log follows" >&2
        cat "$log" >&2
    fi
    rm -f "$log" ${watch_out:+"$watch_out"}
    exit "$status"
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

section "start tierd (clock frozen at $DEMO_CLOCK)"
rm -rf "$state"
"$tierd" --state-dir "$state" --fake-clock "$DEMO_CLOCK" \
    --program examples/programs/partners.yaml --foreground >"$log" 2>&1 &
pid=$!
echo "tierd pid $pid, state $state, rpc $url"

deadline=$((SECONDS + START_TIMEOUT_S))
until ctl status >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "demo.sh: tierd exited before answering" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "demo.sh: tierd did not answer within ${START_TIMEOUT_S}s" >&2
        exit 1
    fi
    sleep 0.2
done

section "tierctl status"
ctl status

section "import partners (examples/data/partners.ndjson)"
ctl partner import examples/data/partners.ndjson

section "import events (examples/data/events.ndjson)"
# One batch at a time: batches in flight may be applied in any order, and
# the demo should print the same story every run.
ctl event import examples/data/events.ndjson --in-flight 1

section "import the same events again: source+id make them duplicates"
ctl event import examples/data/events.ndjson

section "tier distribution (tierctl stats)"
echo "(promotions into Strategic and Lead Implementer wait for approval)"
ctl stats

section "tierctl partner show $SHOW_PARTNER"
ctl partner show "$SHOW_PARTNER"

section "tierctl explain $SHOW_PARTNER (what the next tier still needs)"
ctl explain "$SHOW_PARTNER"

section "tierctl explain $AT_RISK_PARTNER --ladder reseller (activity about to expire)"
ctl explain "$AT_RISK_PARTNER" --ladder reseller

section "tierctl pending (promotions waiting for a person)"
ctl pending

section "tierctl approve $APPROVAL_PARTNER --ladder reseller"
ctl approve "$APPROVAL_PARTNER" --ladder reseller
ctl history "$APPROVAL_PARTNER"

section "time passes: tierctl clock advance $DEMO_ADVANCE, with tierctl watch on the change feed"
# The watcher subscribes to the PUB socket and fills any gap from
# ListChanges, so it prints every change of the advance exactly once.
# tierctl runs directly, not through ctl: $! must be tierctl itself (a
# backgrounded function is a subshell, and killing that left tierctl
# running).
watch_out=$(mktemp)
"$tierctl" --url "$url" watch --ladder reseller >"$watch_out" 2>&1 &
watch_pid=$!
sleep 0.5
ctl clock advance "$DEMO_ADVANCE"
sleep 1
kill -TERM "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=
echo "-- tierctl watch --ladder reseller printed $(wc -l <"$watch_out") changes," \
    "$(grep -c 'denial by system' "$watch_out" || true) of them withdrawn approvals; the tier moves:"
grep -v 'denial by system' "$watch_out" | head -n 12 || true
rm -f "$watch_out"
watch_out=

section "tierctl history $AT_RISK_PARTNER (demoted at a review, no event needed)"
ctl history "$AT_RISK_PARTNER"

section "tier distribution after $DEMO_ADVANCE"
ctl stats

section "stop tierd (SIGTERM)"
kill -TERM "$pid"
for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "demo.sh: tierd still running ${STOP_TIMEOUT_S}s after SIGTERM" >&2
    exit 1
fi
rc=0
wait "$pid" || rc=$?
pid=
if [ "$rc" -ne 0 ]; then
    echo "demo.sh: tierd exited with status $rc after SIGTERM" >&2
    exit 1
fi
echo "tierd stopped cleanly; its state stays in $state"
