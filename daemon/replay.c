/* Replayed imports (replay.h).
 *
 * Owns the replay position: opening it, moving it forward, storing it,
 * refusing what lies behind it, and closing it by catching up to the clock.
 * It does not walk the timer queue itself: timers_walk and timers_advance
 * are the one walk, the same `Clock advance` makes, so everything the timer
 * queue drives (KPI snapshots included, once they hang off it) happens
 * during a replay as it would have live. Nor does it judge events (the
 * Ingest handler and the engine do). */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "state.h"
#include "timers.h"

#define REPLAY_META_LEN 16

static void be64_put(uint8_t *b, td_time v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static td_time be64_get(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (td_time)v;
}

/* The version in force is deemed in force from `first` (replay_open). */
static int backfill_effective(tierd *d, td_time first, td_error *err)
{
    td_time eff = engine_program_effective(d->engine);
    if (!engine_program(d->engine) || eff == TD_TIME_NONE || first >= eff)
        return 0;
    uint8_t buf[REPLAY_META_LEN];
    be64_put(buf, (td_time)state_program_index(d));
    be64_put(buf + 8, first);
    int rc = state_put_meta(d, REPLAY_BACKFILL_META, buf, sizeof buf, err);
    if (!rc)
        engine_program_set_effective(d->engine, first);
    return rc;
}

/* Written in the turn; a failure poisons it (state_put_meta). */
static int replay_store(tierd *d, td_error *err)
{
    uint8_t buf[REPLAY_META_LEN];
    be64_put(buf, d->replay_at);
    be64_put(buf + 8, d->replay_started);
    return state_put_meta(d, REPLAY_META, buf, sizeof buf, err);
}

static td_time later(td_time a, td_time b)
{
    return a == TD_TIME_NONE ? b : b == TD_TIME_NONE ? a : a > b ? a : b;
}

td_time replay_partner_asof(const engine *e, const td_partner *p)
{
    td_partner_info info;
    engine_partner_info(p, &info);
    /* A partner put with no events yet has nothing dated to protect: its
     * `updated` is only when it was put. */
    td_time asof = info.events ? info.updated : TD_TIME_NONE;
    td_tier_view tv[TD_MAX_LADDERS];
    size_t n = engine_partner_tiers(e, p, tv, TD_MAX_LADDERS);
    for (size_t i = 0; i < n; i++) {
        if (tv[i].lifecycle_tier || tv[i].tier)
            asof = later(asof, tv[i].since);
        asof = later(asof, tv[i].below_since);
        asof = later(asof, tv[i].pending_since);
    }
    return asof;
}

int replay_restore(tierd *d, td_error *err)
{
    (void)err;
    d->replay_at = TD_TIME_NONE;
    uint8_t *val = NULL;
    size_t len = 0;
    td_error merr = {0};
    if (store_get_meta(d->store, REPLAY_META, &val, &len, &merr) != 0)
        return 0; /* none stored: no replay was ever open */
    if (len == REPLAY_META_LEN) {
        d->replay_at = be64_get(val);
        d->replay_started = be64_get(val + 8);
    }
    free(val);
    val = NULL;
    if (store_get_meta(d->store, REPLAY_BACKFILL_META, &val, &len, &merr) == 0) {
        if (len == REPLAY_META_LEN && engine_program(d->engine) &&
            (uint64_t)be64_get(val) == state_program_index(d))
            engine_program_set_effective(d->engine, be64_get(val + 8));
        free(val);
    }
    if (d->replay_at != TD_TIME_NONE) {
        char at[TD_TIME_STRLEN];
        td_time_format(d->replay_at, at, sizeof at);
        log_info("a replayed import is open at %s: time-driven evaluation waits there until it "
                 "finishes",
                 at);
    }
    return 0;
}

int replay_open(tierd *d, td_time first, bool publish_past, td_error *err)
{
    if (d->replay_at == TD_TIME_NONE) {
        d->replay_at = first;
        d->replay_started = tierd_now(d);
        int rc = replay_store(d, err);
        if (!rc)
            rc = backfill_effective(d, first, err);
        if (!rc && d->timers)
            rc = timers_rebuild(d->timers, err);
        if (rc) {
            d->replay_at = TD_TIME_NONE;
            return rc;
        }
    }
    state_set_publish_floor(d, publish_past ? TD_TIME_NONE : d->replay_started);
    return 0;
}

int replay_refuse(const tierd *d, const char *what, td_error *err)
{
    if (d->replay_at == TD_TIME_NONE)
        return 0;
    char at[TD_TIME_STRLEN];
    td_time_format(d->replay_at, at, sizeof at);
    return td_error_set(err, TD_FAILED_PRECONDITION,
                        "a replayed import is open (it has reached %s): %s waits until it "
                        "finishes, or it would act today in the middle of the past being "
                        "replayed (finish it: tierctl event import --replay with the rest of the "
                        "file, or an empty one)",
                        at, what);
}

const char *replay_refusal(const tierd *d, const td_partner *p, td_time at, char *buf, size_t cap)
{
    char when[TD_TIME_STRLEN], mark[TD_TIME_STRLEN];
    td_time_format(at, when, sizeof when);
    td_time now = tierd_now(d);
    if (at > now) {
        td_time_format(now, mark, sizeof mark);
        snprintf(buf, cap,
                 "at %s is after now (%s): a replay applies the past; send it as a live event",
                 when, mark);
        return buf;
    }
    if (at < d->replay_at) {
        td_time_format(d->replay_at, mark, sizeof mark);
        snprintf(buf, cap,
                 "at %s is older than the replay position %s: a replay only moves forward "
                 "(send events sorted by time; correct past facts with retract or amend)",
                 when, mark);
        return buf;
    }
    td_time asof = p ? replay_partner_asof(d->engine, p) : TD_TIME_NONE;
    if (asof != TD_TIME_NONE && at < asof) {
        td_time_format(asof, mark, sizeof mark);
        td_partner_info info;
        engine_partner_info(p, &info);
        snprintf(buf, cap,
                 "at %s is older than the newest instant already in partner '%s''s history (%s): "
                 "a replay only moves a partner forward (correct past facts with retract or "
                 "amend)",
                 when, info.id, mark);
        return buf;
    }
    return NULL;
}

/* Splits the turn's changed partners around a walk of the timer queue. The
 * events applied so far are in the ingest log, so their partners' records
 * may lag it (a restart replays them); what the walk moves (a window edge
 * crossed, a grace begun, a review-point demotion) is in no log, so those
 * partners are written with the turn. Left to the handler's final absorb,
 * they would be taken for replayable, and a restart would rebuild them
 * from their events alone, losing every time-driven move since. */
static void absorb_before_walk(tierd *d)
{
    state_absorb(d, true);
}

static void absorb_after_walk(tierd *d)
{
    state_absorb(d, false);
}

int replay_advance_to(tierd *d, td_time at, td_error *err)
{
    if (at <= d->replay_at)
        return 0;
    if (d->timers) {
        absorb_before_walk(d);
        int rc = timers_walk(d->timers, d->replay_at, at, err);
        absorb_after_walk(d);
        if (rc)
            return rc;
    }
    d->replay_at = at;
    return replay_store(d, err);
}

int replay_finish(tierd *d, td_error *err)
{
    if (d->replay_at == TD_TIME_NONE)
        return 0;
    td_time now = tierd_now(d);
    if (d->timers && now > d->replay_at) {
        absorb_before_walk(d);
        int rc = timers_advance(d->timers, d->replay_at, now, NULL, err);
        absorb_after_walk(d);
        if (rc)
            return rc;
    }
    td_time was = d->replay_at;
    d->replay_at = TD_TIME_NONE;
    int rc = replay_store(d, err);
    if (!rc && d->timers)
        rc = timers_rebuild(d->timers, err); /* arms the real timer again */
    if (rc) {
        d->replay_at = was;
        return rc;
    }
    return 0;
}
