/* KPI snapshots (docs/kpi.md): at every period boundary of the program's
 * `kpi.period`, in its `time_zone`, the distribution of every ladder (and
 * per value of each `kpi.by` attribute), the audit's near misses, the
 * partners active in the period, and the tier moves the change log
 * recorded since the snapshot before, stored in the store's "kpi" table in
 * the open turn, so a snapshot commits with whatever else that turn does.
 *
 * The timers decide when (timers.c: boundaries take their place in the
 * queue's time order, also while a fake clock advances); this file decides
 * what. A snapshot at boundary B describes the state just before B:
 * things due at B itself happen after it. */
#ifndef TD_KPI_SNAP_H
#define TD_KPI_SNAP_H

#include "daemon.h"
#include "tierd/status.h"

#define KPI_NO_VALUE    "(none)"  /* the group of partners without the attribute */
#define KPI_OTHER_VALUE "(other)" /* values past KPI_MAX_VALUES share one group */
#define KPI_MAX_VALUES  256       /* distinct values kept per ladder and attribute */
#define KPI_NEAR        0.10      /* near miss: within 10% on every unmet criterion */

typedef struct kpi_snap kpi_snap;

/* Reads the last snapshot from d->store. `now` anchors the first boundary
 * when the store has none: the first snapshot is at the first boundary
 * after it. */
int kpi_snap_open(tierd *d, td_time now, kpi_snap **out, td_error *err);
void kpi_snap_free(kpi_snap *k);
/* Reads the last snapshot again (after a failed commit dropped one, or a
 * new program, which may change the period); `now` re-anchors when the
 * store holds none. */
int kpi_snap_reload(kpi_snap *k, td_time now, td_error *err);
/* The boundary the next snapshot is due at, or TD_TIME_NONE without a
 * program. */
td_time kpi_snap_due(const kpi_snap *k);
/* The boundary a snapshot taken at `now` is for: the last one at or
 * before now (TD_TIME_NONE without a program). */
td_time kpi_snap_boundary(const kpi_snap *k, td_time now);
/* Takes the snapshot due, in the open turn (the caller has called
 * state_begin), for the last boundary at or before `now` (>= the due
 * boundary). Boundaries skipped (the daemon was down over them) get no
 * snapshot of their own: the one taken is marked late, and so is one whose
 * boundary fell before the daemon started. On a store error the turn is
 * poisoned (state_fail) and the code returned. */
int kpi_snap_take(kpi_snap *k, td_time now, td_error *err);

#endif
