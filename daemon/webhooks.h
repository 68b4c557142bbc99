/* Webhooks (docs/webhooks.md): what tierd tells configured HTTP endpoints.
 *
 * It owns the outbox side: turning a committed tier change, a move that
 * starts waiting for approval, and a partner's demotion date coming within
 * at_risk_lead (and leaving it) into deliveries, one per matching endpoint,
 * written to the store's outbox in the same transaction as the change (the
 * state's outbox hooks), so a crash loses none. It remembers per partner and
 * ladder what it last told (the store's notice table), so a restart repeats
 * nothing. After each commit it hands the turn's deliveries to the sender
 * (webhook_send.h) and makes the sender's results durable in batches: a
 * success leaves the outbox, a last failure moves to the dead letters.
 *
 * The at-risk date is TierState.demotion_at: when the partner really loses
 * the tier (after grace, at a review point), the date a nudge is about.
 * Partners are checked after every commit that touches them, on a sweep of
 * every partner each webhook_at_risk_check (real clock), and after every
 * `clock advance` (fake clock). */
#ifndef TD_WEBHOOKS_H
#define TD_WEBHOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "rpc.h"
#include "tierd.pb-c.h"
#include "tierd/status.h"

#define WEBHOOKS_LIST_DEFAULT 100
#define WEBHOOKS_LIST_MAX     1000
#define WEBHOOKS_SWEEP_SLICE  500 /* partners checked per turn in a real-clock sweep */

typedef struct webhooks webhooks;

/* With endpoints in d->config: loads the outbox into the sender, installs
 * the state's outbox hooks and (real clock) the at-risk sweep. *out NULL
 * with no endpoints. The endpoints stay as configured until a restart. */
int webhooks_open(tierd *d, webhooks **out, td_error *err);
/* Stops sending (what was not acknowledged goes out at the next start). */
void webhooks_close(webhooks *w);

/* Checks every partner for notices in the open turn (after a clock
 * advance). NULL is fine. */
int webhooks_check_all(webhooks *w, td_error *err);

/* ListDeliveries and ResendDeliveries (handlers_webhooks.c). */
int webhooks_list(tierd *d, rpc_call *call, const Tierd__ListDeliveriesRequest *r,
                  Tierd__ListDeliveriesResponse *out, td_error *err);
/* Moves dead letters back to the outbox in the open turn; *resent counts. */
int webhooks_resend(tierd *d, const Tierd__ResendDeliveriesRequest *r, uint64_t *resent,
                    td_error *err);

typedef struct webhooks_stats {
    uint64_t queued, dead, endpoints, delivered;
} webhooks_stats;
void webhooks_get_stats(tierd *d, webhooks_stats *out);

#endif
