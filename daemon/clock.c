/* The daemon clock. The engine never reads a clock; everything that needs
 * "now" asks tierd_now, which is the wall clock or, with --fake-clock, a
 * frozen time that only `Clock advance` moves (tests and demos). */
#include <time.h>

#include "daemon.h"

td_time tierd_now(const tierd *d)
{
    if (d && d->fake_clock)
        return d->fake_now;
    return (td_time)time(NULL);
}
