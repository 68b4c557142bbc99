/* The timer queue on its own: (due time, partner id), at most one entry per
 * partner, earliest first (ties in id order). */
#ifndef TD_TIMER_HEAP_H
#define TD_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#include "td_time.h"
#include "tierd/status.h"

typedef struct timer_heap timer_heap;

timer_heap *timer_heap_new(void);
void timer_heap_free(timer_heap *h);
/* Inserts id with `due`, or moves its existing entry to `due`. due ==
 * TD_TIME_NONE removes the entry. 0, or -TD_RESOURCE_EXHAUSTED with the
 * queue unchanged. */
int timer_heap_set(timer_heap *h, const char *id, td_time due);
/* Removes id's entry; false when it had none. */
bool timer_heap_remove(timer_heap *h, const char *id);
/* The earliest entry (ties in id order). *id stays valid until the next
 * change to the queue. false when empty. */
bool timer_heap_peek(const timer_heap *h, const char **id, td_time *due);
/* id's due time, or TD_TIME_NONE when it has no entry. */
td_time timer_heap_due(const timer_heap *h, const char *id);
size_t timer_heap_size(const timer_heap *h);
void timer_heap_clear(timer_heap *h);

#endif
