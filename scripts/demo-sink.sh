#!/usr/bin/env bash
# The write-back demo (part E): tierd keeps a CRM table in PostgreSQL up to
# date through the postgres sink connector (direction: sink).
#
# Starts a throwaway PostgreSQL server (initdb in a temporary directory,
# Unix socket only; as root the server runs as the postgres user), starts
# tierd with the clock frozen at 2026-11-15 and a sink connector writing
# every partner's tier per ladder, with its benefits and since, into the
# table crm_partner_tiers (created by the sink), imports the example
# partners and a year of events, and shows the table with psql; then
# advances the clock 140 days and shows the rows that moved. Everything it
# starts is stopped however it ends.
#
# Uses build/ like demo.sh (installing and building what it runs), or the
# binaries named by TIERD_BIN, TIERCTL_BIN, TIERD_CONNECTOR_BIN and
# POSTGRES_SO when all are set.
set -euo pipefail

DEMO_CLOCK=2026-11-15T00:00:00Z
DEMO_ADVANCE=140d
START_TIMEOUT_S=30
SINK_TIMEOUT_S=60
STOP_TIMEOUT_S=15

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

section() {
    printf '\n==== %s ====\n' "$*"
}

if [ -n "${TIERD_BIN:-}" ] && [ -n "${TIERCTL_BIN:-}" ] && [ -n "${TIERD_CONNECTOR_BIN:-}" ] &&
    [ -n "${POSTGRES_SO:-}" ]; then
    tierd=$TIERD_BIN
    tierctl=$TIERCTL_BIN
    connector=$TIERD_CONNECTOR_BIN
    postgres_so=$POSTGRES_SO
else
    section "dependencies"
    bash scripts/install-deps.sh
    section "build (build/)"
    if [ -f build/meson-private/coredata.dat ]; then
        meson setup --reconfigure build >/dev/null
    else
        meson setup build >/dev/null
    fi
    ninja -C build daemon/tierd client/tierctl connector/tierd-connector plugins/postgres/postgres.so
    tierd=build/daemon/tierd
    tierctl=build/client/tierctl
    connector=build/connector/tierd-connector
    postgres_so=build/plugins/postgres/postgres.so
fi
export TIERD_CONNECTOR_BIN=$connector

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ]; then
    echo "demo-sink.sh: PostgreSQL is not installed (run scripts/install-deps.sh)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tierd-demo-sink-XXXXXX")
chmod 755 "$work"
pgdir=$work/pg
state=$work/state
url="ipc://$state/rpc.sock"
log=$work/tierd.log
pid=
pg_started=

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ctl() {
    "$tierctl" --url "$url" "$@"
}

psql_demo() {
    "$pgbin/psql" -X -h "$pgdir" -U postgres -d postgres -P pager=off "$@"
}

cleanup() {
    local status=$?
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((STOP_TIMEOUT_S * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if [ -n "$pg_started" ]; then
        as_pg "$pgbin/pg_ctl" -D "$pgdir" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$log" ]; then
        echo "demo-sink.sh: failed; the daemon's log follows" >&2
        cat "$log" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "start PostgreSQL (throwaway, in $pgdir)"
mkdir -p "$pgdir"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$pgdir"
fi
as_pg "$pgbin/initdb" -D "$pgdir" -U postgres --auth=trust -N -E UTF8 >"$work/initdb.log" 2>&1
as_pg "$pgbin/pg_ctl" -D "$pgdir" -l "$pgdir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k '$pgdir' -c fsync=off" start >/dev/null
pg_started=1
echo "PostgreSQL $("$pgbin/postgres" --version | awk '{ print $3 }') on $pgdir/.s.PGSQL.5432"

section "start tierd with a sink connector (tierd.yaml)"
mkdir -p "$work/plugins" "$state"
chmod 755 "$work/plugins"
chmod 700 "$state"
cp "$postgres_so" "$work/plugins/postgres.so"
chmod 755 "$work/plugins/postgres.so"
cat >"$work/tierd.yaml" <<EOF
plugin_dir: $work/plugins
connectors:
  - name: crm-tiers
    plugin: postgres
    direction: sink
    config:
      conninfo: "host=$pgdir dbname=postgres user=postgres"
      table: crm_partner_tiers
      create_table: true
EOF
sed -n '2,$p' "$work/tierd.yaml"
"$tierd" -c "$work/tierd.yaml" --state-dir "$state" --fake-clock "$DEMO_CLOCK" \
    --program examples/programs/partners.yaml --foreground >"$log" 2>&1 &
pid=$!
deadline=$((SECONDS + START_TIMEOUT_S))
until ctl status >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "demo-sink.sh: tierd exited" >&2; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "demo-sink.sh: tierd did not answer" >&2; exit 1; }
    sleep 0.2
done

# Waits until the sink acknowledged every change tierd committed.
wait_sink() {
    local deadline=$((SECONDS + SINK_TIMEOUT_S)) last acked
    while :; do
        last=$(ctl status | sed -n 's/^changes: *\([0-9]*\).*/\1/p')
        acked=$(ctl status | sed -n 's/.*crm-tiers (sink) running, .* at change \([0-9]*\),.*/\1/p')
        [ -n "$acked" ] && [ "$acked" = "$last" ] && break
        [ "$SECONDS" -lt "$deadline" ] || { echo "demo-sink.sh: the sink did not catch up" >&2; exit 1; }
        sleep 0.2
    done
    ctl status | grep -F 'connector:'
}

section "import partners and a year of events (tierctl event import --replay)"
ctl partner import examples/data/partners.ndjson | tail -n 1
ctl event import examples/data/events.ndjson --replay | tail -n 1
wait_sink

section "the CRM table the sink keeps (psql)"
psql_demo -c "SELECT ladder, coalesce(tier, '(unranked)') AS tier, count(*) AS partners
              FROM crm_partner_tiers GROUP BY 1, 2 ORDER BY 1, 3 DESC"
psql_demo -c "SELECT partner, ladder, tier, since::date, benefits, sequence
              FROM crm_partner_tiers WHERE partner IN ('p-0066', 'p-0068', 'p-0214')
              ORDER BY partner, ladder"

section "time passes: tierctl clock advance $DEMO_ADVANCE; the sink follows"
before=$(psql_demo -At -c "SELECT coalesce(max(sequence), 0) FROM crm_partner_tiers")
ctl clock advance "$DEMO_ADVANCE"
wait_sink
echo "-- $(psql_demo -At -c "SELECT count(*) FROM crm_partner_tiers WHERE sequence > $before") rows" \
    "rewritten; those whose tier moved (since after $DEMO_CLOCK):"
psql_demo -c "SELECT partner, ladder, coalesce(tier, '(unranked)') AS tier, since::date,
                     benefits->>'margin_points' AS margin_points, sequence
              FROM crm_partner_tiers
              WHERE sequence > $before AND (since >= '$DEMO_CLOCK' OR tier IS NULL)
              ORDER BY sequence LIMIT 12"

section "stop"
kill -TERM "$pid"
wait "$pid" || true
pid=
echo "tierd stopped; PostgreSQL stops and $work is removed"
