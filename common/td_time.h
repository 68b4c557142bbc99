/* The one place that turns time strings into time (and back).
 *
 * tierd keeps time as td_time: whole seconds since the Unix epoch, UTC.
 * Fractions of a second in input are truncated. 0 means "no time". Calendar
 * helpers (quarters, years, review anchors) are proleptic Gregorian, UTC.
 *
 * In common/, below everything: uses td_error only. The engine, the
 * daemon, tierctl and the connector config all read time through it. */
#ifndef TD_TIME_H
#define TD_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "tierd/status.h"

typedef int64_t td_time;

#define TD_TIME_NONE       ((td_time)0)
#define TD_SECONDS_PER_DAY 86400
/* Accepted range for any time from outside: 1970-01-01T00:00:01Z through
 * 9999-12-31T23:59:59Z. Anything else is refused, never wrapped. */
#define TD_TIME_MIN ((td_time)1)
#define TD_TIME_MAX ((td_time)253402300799)

/* Parses RFC 3339 ("2026-05-01T00:00:00Z", "…T02:00:00.5+02:00") or a bare
 * date ("2026-05-01", midnight UTC). Refuses anything else, out-of-range
 * fields (month 13, 30 February, hour 24) and times outside the range above,
 * with a message naming what was wrong. */
int td_time_parse(const char *s, td_time *out, td_error *err);

/* Parses a duration: a positive integer followed by s, m, h, d or w
 * ("90d", "12h"). Refuses zero-length, negative, fractional, unit-less or
 * overflowing values, and any longer than TD_TIME_MAX seconds (so adding one
 * to a valid time cannot overflow). */
int td_duration_parse(const char *s, int64_t *seconds, td_error *err);
/* Parses a wait in milliseconds: as td_duration_parse, plus "ms" ("500ms"),
 * zero ("0s": no wait) and bare whole seconds ("5"). The caller caps it. */
int td_wait_parse_ms(const char *s, int64_t *ms, td_error *err);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (or "-" for TD_TIME_NONE); returns the
 * length. buf must hold TD_TIME_STRLEN bytes. */
#define TD_TIME_STRLEN 32
size_t td_time_format(td_time t, char *buf, size_t n);

/* Calendar arithmetic, UTC. */
int64_t td_days_from_civil(int64_t y, unsigned m, unsigned d);
void td_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
int64_t td_day_of(td_time t);             /* floor(t / 86400) */
td_time td_quarter_start(td_time t);      /* first instant of t's quarter */
td_time td_next_quarter_start(td_time t); /* first instant of the next one */
td_time td_year_start(td_time t);
td_time td_next_year_start(td_time t);
/* The first instant strictly after t that falls on month/day (an annual
 * anchor). 29 February anchors fall on 1 March in common years. A month/day
 * that no year has (13-01, 04-31) gives TD_TIME_NONE. */
td_time td_next_anniversary(td_time t, unsigned month, unsigned day);

#endif
