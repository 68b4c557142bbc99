/* sd_notify wrappers. They own nothing and never fail the caller: a
 * notification systemd cannot take is not a reason to stop serving. */
#include "notify.h"

#include <stdio.h>

#ifdef TD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

#define NOTIFY_LINE_MAX 512

void notify_ready(const char *status)
{
    char line[NOTIFY_LINE_MAX];
    snprintf(line, sizeof line, "READY=1\nSTATUS=%s", status ? status : "ready");
    sd_notify(0, line);
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void notify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

void notify_status(const char *status)
{
    char line[NOTIFY_LINE_MAX];
    snprintf(line, sizeof line, "STATUS=%s", status ? status : "");
    sd_notify(0, line);
}

uint64_t notify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

#else

void notify_ready(const char *status)
{
    (void)status;
}

void notify_stopping(void) {}

void notify_watchdog(void) {}

void notify_status(const char *status)
{
    (void)status;
}

uint64_t notify_watchdog_usec(void)
{
    return 0;
}

#endif
