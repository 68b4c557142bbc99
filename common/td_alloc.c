/* td_xstrdup (td_alloc.h). In common/'s shell part: it may end the
 * process. */
#include "td_alloc.h"

#include <stdlib.h>
#include <string.h>

char *td_xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort(); /* the daemon cannot run without memory; see rpc_alloc */
    return d;
}
