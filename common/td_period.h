/* KPI periods: where a period of a program's `kpi.period` begins and ends
 * in its `time_zone` (docs/program.md, "KPI history").
 *
 * A zone is UTC or a fixed offset (+HH:MM / -HH:MM, seconds east of UTC);
 * periods begin at midnight there: every day (1d), every Monday (7d), every
 * 30 days counted from 1970-01-01 (30d), the first of every month (month)
 * or of January, April, July and October (quarter).
 *
 * In common/, below everything: pure calendar arithmetic on td_time. */
#ifndef TD_PERIOD_H
#define TD_PERIOD_H

#include <stddef.h>
#include <stdint.h>

#include "td_time.h"
#include "tierd/status.h"

#define TD_ZONE_MAX_OFFSET (14 * 3600) /* +14:00, the furthest real offset */
#define TD_ZONE_STRLEN     8           /* "+HH:MM" or "UTC", with its NUL */

typedef enum td_period_kind {
    TD_PERIOD_DAY = 0, /* 1d, the default */
    TD_PERIOD_WEEK,    /* 7d, weeks begin on Monday */
    TD_PERIOD_30D,     /* 30d, counted from 1970-01-01 in the zone */
    TD_PERIOD_MONTH,
    TD_PERIOD_QUARTER,
} td_period_kind;

typedef struct td_period {
    td_period_kind kind;
    int32_t offset; /* the zone: seconds east of UTC */
} td_period;

/* "1d", "7d", "30d", "month" or "quarter"; anything else is refused with
 * a message listing them. */
int td_period_parse(const char *s, td_period_kind *out, td_error *err);
/* The spelling td_period_parse takes. */
const char *td_period_name(td_period_kind k);
/* "UTC" (also "Z", "+00:00") or "+HH:MM" / "-HH:MM" up to 14:00; an IANA
 * name ("Europe/Paris") is refused with a message saying only UTC and
 * fixed offsets are supported. */
int td_zone_parse(const char *s, int32_t *offset, td_error *err);
/* "UTC" or "+HH:MM"; buf holds TD_ZONE_STRLEN bytes. */
void td_zone_format(int32_t offset, char *buf, size_t n);

/* The start of the period holding t: the last boundary at or before t. */
td_time td_period_start(td_period p, td_time t);
/* The first boundary strictly after t. */
td_time td_period_next(td_period p, td_time t);

#endif
