/* The checked whole-number parse (td_number.h). Self-contained: uses only
 * the C library. */
#include "td_number.h"

#include <errno.h>
#include <stdlib.h>

int td_number_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    /* strtoull alone would take leading space, a sign (and wrap a minus
     * round) and stop quietly at the first non-digit. */
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
