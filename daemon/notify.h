/* systemd notifications (Type=notify): READY=1, WATCHDOG=1, STOPPING=1 and
 * STATUS= lines. Built without libsystemd (TD_HAVE_SYSTEMD unset) they do
 * nothing; outside systemd (no NOTIFY_SOCKET) libsystemd ignores them. */
#ifndef TD_NOTIFY_H
#define TD_NOTIFY_H

#include <stdint.h>

void notify_ready(const char *status);
void notify_stopping(void);
void notify_watchdog(void);
void notify_status(const char *status);
/* The watchdog interval systemd asked for, in microseconds; 0 when none. */
uint64_t notify_watchdog_usec(void);

#endif
