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
# DEMO_SERVE=1 keeps tierd and tierd-http running at the end, serving the
# partner page and the dashboard until Ctrl-C.
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
# The re-tier: version 2027.2 (examples/programs/partners-2027.2.yaml) is
# calibrated on this data, simulated, and loaded 92 days before it takes
# effect (2027-02-15; its notice is 90 days). Demotions it causes wait for
# grace, the 2027-07-01 quarterly review and, out of Specialist and
# Strategic, a person's review (30-day deadline).
# A deal of SHOW_PARTNER the CRM corrects: amended up past Specialist's
# ARR threshold, then back (the demo's "correction" section).
CORRECTED_DEAL=opp-006111
CORRECTED_DEAL_AT=2026-10-22T10:58:37Z
RETIER_PROGRAM=examples/programs/partners-2027.2.yaml
RETIER_TARGET=Registered=40%,Selling=30%,Specialist=20%,Strategic=10%
# From 2027-04-04 to just after the 2027-07-01 review, then past the
# review deadline of 2027-07-31.
RETIER_ADVANCE_REVIEW=89d
RETIER_ADVANCE_DEADLINE=30d

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

section() {
    printf '\n==== %s ====\n' "$*"
}

if [ -n "${TIERD_BIN:-}" ] && [ -n "${TIERCTL_BIN:-}" ]; then
    tierd=$TIERD_BIN
    tierctl=$TIERCTL_BIN
    tierd_http=${TIERD_HTTP_BIN:-} # part A: tierd-http
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
    ninja -C build daemon/tierd client/tierctl http/tierd-http
    tierd=build/daemon/tierd
    tierctl=build/client/tierctl
    tierd_http=build/http/tierd-http # part A: tierd-http
fi
state=${DEMO_STATE:-"$root/demo-state"}
url="ipc://$state/rpc.sock"
log=$(mktemp)
pid=
watch_pid=
watch_out=
http_pid=  # part A: tierd-http
http_conf=
http_log=

ctl() {
    "$tierctl" --url "$url" "$@"
}

# Stops what the demo started (the watcher, then the daemon), however the
# script ends: at the end, on an error, or on SIGINT/SIGTERM.
cleanup() {
    local status=$?
    # part A: tierd-http first, while tierd still answers
    if [ -n "$http_pid" ] && kill -0 "$http_pid" 2>/dev/null; then
        kill -TERM "$http_pid" 2>/dev/null || true
        wait "$http_pid" 2>/dev/null || true
    fi
    rm -f ${http_conf:+"$http_conf"} ${http_log:+"$http_log"}
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

section "import a year of events with their real dates (tierctl event import --replay)"
# --replay sorts the file by event time and moves the clock with it, so
# every promotion, grace period and review lands when it would have had
# tierd run all year (it sends one batch at a time, in order).
ctl event import examples/data/events.ndjson --replay

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

section "KPIs over the year just imported (tierctl kpi --ladder reseller)"
ctl kpi --ladder reseller

section "tierctl pending (promotions waiting for a person)"
ctl pending

section "tierctl approve $APPROVAL_PARTNER --ladder reseller"
ctl approve "$APPROVAL_PARTNER" --ladder reseller
ctl history "$APPROVAL_PARTNER"

section "a deal is corrected: tierctl event add --op amend (crm/$CORRECTED_DEAL of $SHOW_PARTNER)"
echo "-- the CRM amends the deal to 25,000 (revision 1): ARR passes Specialist's 250k"
ctl event add --op amend --revision 1 --source crm --id "$CORRECTED_DEAL" \
    --partner "$SHOW_PARTNER" --metric deal_closed --value 25000 --at "$CORRECTED_DEAL_AT"
ctl history "$SHOW_PARTNER" --ladder reseller --limit 1
echo "-- then back to 10,263 (revision 2): below Specialist again, grace starts"
ctl event add --op amend --revision 2 --source crm --id "$CORRECTED_DEAL" \
    --partner "$SHOW_PARTNER" --metric deal_closed --value 10263 --at "$CORRECTED_DEAL_AT"
ctl partner show "$SHOW_PARTNER" | sed -n 1,4p
echo "-- sending revision 1 again changes nothing (a duplicate)"
ctl event add --op amend --revision 1 --source crm --id "$CORRECTED_DEAL" \
    --partner "$SHOW_PARTNER" --metric deal_closed --value 25000 --at "$CORRECTED_DEAL_AT"

section "re-tier 1/4: every partner against the program in force (tierctl audit)"
echo "(held above or below the tier it qualifies for, near misses within 10%, failing the gate)"
ctl audit | sed -n 1,16p

section "re-tier 2/4: reseller thresholds from the data (tierctl calibrate)"
ctl calibrate --ladder reseller --metric arr --target "$RETIER_TARGET"

section "re-tier 3/4: what 2027.2 would really do (tierctl simulate $RETIER_PROGRAM)"
echo "(the calibrated ARR thresholds, rounded; demotions out of Specialist and"
echo " Strategic reviewed by a person; effective 2027-02-15, 90 days' notice)"
ctl simulate "$RETIER_PROGRAM" | sed -n 1,24p

section "re-tier 4/4: load it with notice (tierctl program load $RETIER_PROGRAM)"
ctl program load "$RETIER_PROGRAM"
ctl program show | grep -F 'version 2027.2'

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
    "$(grep -c 'withdrawn' "$watch_out" || true) of them withdrawn approvals; the tier moves:"
grep -v 'withdrawn' "$watch_out" | head -n 12 || true
rm -f "$watch_out"
watch_out=

section "tierctl history $AT_RISK_PARTNER (demoted at a review, no event needed)"
ctl history "$AT_RISK_PARTNER"


section "tier distribution after $DEMO_ADVANCE"
ctl stats

section "2027.2's demotions land on their dates: tierctl clock advance $RETIER_ADVANCE_REVIEW (past the 2027-07-01 review)"
ctl clock advance "$RETIER_ADVANCE_REVIEW"
echo "-- tierctl pending: demotions out of Specialist and Strategic wait for a person"
ctl pending | grep -F demotion | sed -n 1,6p || true
# The first three demotions in the queue: one approved, one denied, one
# left for its deadline.
mapfile -t review < <(ctl pending | awk '/demotion/ { print $1 }' | head -n 3)
if [ "${#review[@]}" -eq 3 ]; then
    echo "-- tierctl approve ${review[0]} --ladder reseller"
    ctl approve "${review[0]}" --ladder reseller --reason "no pipeline this half; agreed with the partner"
    echo "-- tierctl deny ${review[1]} --ladder reseller"
    ctl deny "${review[1]}" --ladder reseller --reason "big renewal signs next month"
fi

section "tierctl clock advance $RETIER_ADVANCE_DEADLINE: the review deadline passes, the rest go through"
ctl clock advance "$RETIER_ADVANCE_DEADLINE"
if [ "${#review[@]}" -eq 3 ]; then
    for p in "${review[@]}"; do
        echo "-- tierctl history $p --ladder reseller --limit 1"
        ctl history "$p" --ladder reseller --limit 1
    done
fi
ctl stats

section "tierctl history $SHOW_PARTNER --ladder reseller (the corrected deal: up at once, back after grace and review)"
ctl history "$SHOW_PARTNER" --ladder reseller --limit 4

section "KPIs since the demo began (tierctl kpi --ladder reseller --from 2026-11-01)"
ctl kpi --ladder reseller --from 2026-11-01T00:00:00Z

# ---- tierd-http (part A) ----
section "tierd-http: the HTTP/JSON API, the pages and /metrics (docs/http.md)"
if [ -n "$tierd_http" ] && [ -x "$tierd_http" ]; then
    http_conf="$state-http.yaml"
    http_log=$(mktemp)
    # demo tokens only: a real config takes random ones (examples/tierd-http.yaml)
    cat >"$http_conf" <<HTTPCONF
listen: ${DEMO_HTTP_LISTEN:-127.0.0.1:7480}
tierd:
  url: $url
tokens:
  - {name: demo-admin, token: demo-admin-token-0001, role: admin}
  - {name: demo-dashboard, token: demo-read-token-00001, role: read}
  - {name: $SHOW_PARTNER, token: demo-partner-token-001, role: partner, partner: $SHOW_PARTNER}
static_dir: $root/http/www
metrics_open: true
HTTPCONF
    "$tierd_http" -c "$http_conf" 2>"$http_log" &
    http_pid=$!
    base=
    deadline=$((SECONDS + START_TIMEOUT_S))
    until base=$(grep -o 'http://[0-9.]*:[0-9]*' "$http_log" | head -1) && [ -n "$base" ]; do
        if ! kill -0 "$http_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            echo "demo.sh: tierd-http did not start" >&2
            cat "$http_log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "tierd-http pid $http_pid on $base"
    echo "partner page:  $base/partner#token=demo-partner-token-001"
    echo "dashboard:     $base/dashboard#token=demo-read-token-00001"
    echo "-- curl -H 'Authorization: Bearer demo-partner-token-001' $base/v1/partners/$SHOW_PARTNER (first bytes)"
    curl -sS -H "Authorization: Bearer demo-partner-token-001" "$base/v1/partners/$SHOW_PARTNER" | head -c 300 || true
    echo
    echo "-- curl $base/metrics | head -12"
    curl -sS "$base/metrics" | head -12 || true
    if [ "${DEMO_SERVE:-}" != 1 ]; then
        kill -TERM "$http_pid"
        wait "$http_pid" || { echo "demo.sh: tierd-http did not stop cleanly" >&2; exit 1; }
        http_pid=
    fi
else
    echo "(tierd-http not built: skipped)"
fi
# ---- end tierd-http (part A) ----

# ---- postgres sink (part E) ----
# Write-back into a CRM table: scripts/demo-sink.sh runs its own tierd (a
# sink connector needs its tierd.yaml at start) and a throwaway PostgreSQL,
# both stopped when it ends; it adds some ten seconds. It uses this demo's
# binaries and the connector host and postgres plugin beside them.
bindir=$(dirname "$tierd")
sink_connector=${TIERD_CONNECTOR_BIN:-$bindir/../connector/tierd-connector}
sink_plugin=${POSTGRES_SO:-$bindir/../plugins/postgres/postgres.so}
if [ -z "${TIERD_BIN:-}" ]; then
    ninja -C build connector/tierd-connector plugins/postgres/postgres.so >/dev/null
fi
if [ -x "$sink_connector" ] && [ -f "$sink_plugin" ] && ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    section "write-back: the postgres sink fills a CRM table (scripts/demo-sink.sh)"
    TIERD_BIN=$tierd TIERCTL_BIN=$tierctl TIERD_CONNECTOR_BIN=$sink_connector \
        POSTGRES_SO=$sink_plugin bash scripts/demo-sink.sh
else
    echo "(write-back demo skipped: no tierd-connector, postgres.so or PostgreSQL here)"
fi
# ---- end postgres sink (part E) ----

# ---- webhooks (part D) ----
# A second tierd, on a state dir of its own, tells a webhook receiver
# (examples/webhook-receiver: it checks each HMAC-SHA256 signature and
# prints the notice) of a tier change, an at-risk partner and its recovery
# while the clock advances. docs/webhooks.md has the payloads.
wh_state="$state.webhooks"
wh_url="ipc://$wh_state/rpc.sock"
wh_recv_bin=${WEBHOOK_RECEIVER_BIN:-"$(dirname "$tierd")/../examples/webhook-receiver/webhook-receiver"}
if [ -z "${TIERD_BIN:-}" ] && [ ! -x "$wh_recv_bin" ]; then
    ninja -C build examples/webhook-receiver/webhook-receiver >/dev/null || true
fi
wh_pid=
wh_recv_pid=
wh_dir=
# Stops the webhook demo's tierd and receiver, keeping the exit status for
# the cleanup that follows it.
wh_stop() {
    local status=$?
    for p in $wh_pid $wh_recv_pid; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    wh_pid=
    wh_recv_pid=
    [ -n "$wh_dir" ] && rm -rf "$wh_dir"
    return "$status"
}
trap 'wh_stop; cleanup' EXIT
whctl() {
    "$tierctl" --url "$wh_url" "$@"
}
if [ -x "$wh_recv_bin" ]; then
    section "webhooks: signed tier-change and at-risk notices to a receiver on 127.0.0.1"
    rm -rf "$wh_state"
    mkdir -p "$wh_state"
    wh_dir=$(mktemp -d)
    wh_secret="demo-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    "$wh_recv_bin" --port 0 --secret "$wh_secret" >"$wh_dir/received" 2>"$wh_dir/receiver.err" &
    wh_recv_pid=$!
    wh_port=
    for _ in $(seq 1 50); do
        wh_port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$wh_dir/receiver.err")
        [ -n "$wh_port" ] && break
        sleep 0.1
    done
    [ -n "$wh_port" ] || { echo "demo.sh: the webhook receiver did not start" >&2; exit 1; }
    cat >"$wh_dir/tierd.yaml" <<YAML
webhooks:
  - name: crm
    url: http://127.0.0.1:$wh_port/tierd
    secret: "$wh_secret"
at_risk_lead: 30d
YAML
    cat >"$wh_dir/program.yaml" <<'YAML'
program: webhook-demo
version: "1"
metrics:
  arr: { agg: sum, event: deal_closed, window: 90d }
ladders:
  reseller:
    partner_types: [reseller]
    policy: { grace: 30d }
    tiers:
      - { name: Silver, when: arr >= 100 }
      - { name: Gold, when: arr >= 1000 }
YAML
    "$tierd" -c "$wh_dir/tierd.yaml" --state-dir "$wh_state" --fake-clock 2026-01-01T00:00:00Z \
        --program "$wh_dir/program.yaml" >>"$log" 2>&1 &
    wh_pid=$!
    for _ in $(seq 1 $((START_TIMEOUT_S * 5))); do
        whctl status >/dev/null 2>&1 && break
        sleep 0.2
    done
    echo "receiver on http://127.0.0.1:$wh_port/tierd; tierd.yaml: webhooks: [{name: crm, url, secret}]"
    whctl partner put acme --type reseller
    echo "-- a 1,500 deal on 2026-01-01 (Gold needs 1,000 over 90 days, then 30 days' grace)"
    whctl event add --partner acme --metric deal_closed --value 1500 \
        --at 2026-01-01T00:00:00Z --id deal-1 --source crm
    echo "-- tierctl clock advance 80d: the deal leaves the window on 04-01, Gold goes on 05-01"
    whctl clock advance 80d
    echo "-- tierctl clock advance 20d: 05-01 is within at_risk_lead (30d)"
    whctl clock advance 20d
    echo "-- a 2,000 deal: the risk is over"
    whctl event add --partner acme --metric deal_closed --value 2000 \
        --at 2026-04-11T00:00:00Z --id deal-2 --source crm
    for _ in $(seq 1 50); do
        [ "$(grep -c '^verified' "$wh_dir/received" || true)" -ge 3 ] && break
        sleep 0.1
    done
    echo "-- the receiver printed (each signature checked against the secret):"
    cut -c1-240 "$wh_dir/received"
    whctl status | grep '^webhooks:'
    wh_stop
fi
# ---- end webhooks (part D) ----

# DEMO_SERVE=1 keeps tierd and tierd-http running, so the pages printed
# above can be opened in a browser; Ctrl-C stops both.
if [ "${DEMO_SERVE:-}" = 1 ] && [ -n "${http_pid:-}" ]; then
    section "serving (DEMO_SERVE=1): open the URLs above; Ctrl-C stops tierd-http and tierd"
    wait "$http_pid" || true
    http_pid=
fi

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
