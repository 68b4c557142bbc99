/* tierctl webhook (docs/tierctl.md): the outbox and the dead letters
 * (ListDeliveries), and sending dead letters again (ResendDeliveries,
 * admin). One entry in tierctl.c's table hands it the words after
 * `webhook`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tierctl.h"

#define WEBHOOK_PAGE 1000

static int usage_error(const char *usage, const char *why)
{
    fprintf(stderr, "tierctl: %s\nusage: tierctl %s\n", why, usage);
    return TCTL_EXIT_USAGE;
}

static int deliveries(tctl *t, bool dead, const char *endpoint, const char *limit_s)
{
    unsigned long limit = 0;
    if (limit_s) {
        char *end = NULL;
        limit = strtoul(limit_s, &end, 10);
        if (!*limit_s || *end || limit == 0) {
            fprintf(stderr, "tierctl: --limit must be a positive whole number\n");
            return TCTL_EXIT_USAGE;
        }
    }
    json_t *all = t->json ? json_array() : NULL;
    char *after = NULL;
    unsigned long shown = 0;
    int rc = 0;
    do {
        Tierd__ListDeliveriesRequest req = TIERD__LIST_DELIVERIES_REQUEST__INIT;
        req.dead = dead;
        req.endpoint = (char *)(endpoint ? endpoint : "");
        req.after = after ? after : "";
        req.limit = WEBHOOK_PAGE;
        if (limit && limit - shown < WEBHOOK_PAGE)
            req.limit = (uint32_t)(limit - shown);
        Tierd__ListDeliveriesResponse *r = NULL;
        td_error err;
        rc = td_client_call(t->cli, "ListDeliveries", &req.base,
                            &tierd__list_deliveries_response__descriptor, (ProtobufCMessage **)&r,
                            &err);
        free(after);
        after = NULL;
        if (rc) {
            json_decref(all);
            return tctl_fail_rc(rc, &err);
        }
        for (size_t i = 0; i < r->n_deliveries; i++) {
            const Tierd__WebhookDelivery *d = r->deliveries[i];
            if (all) {
                json_array_append_new(
                    all, json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:i, s:o, s:o, s:b}", "id",
                                   tctl_str(d->id), "endpoint", tctl_str(d->endpoint), "seq",
                                   (json_int_t)d->seq, "partner", tctl_str(d->partner), "ladder",
                                   tctl_str(d->ladder), "kind", tctl_str(d->kind), "attempts",
                                   (int)d->attempts, "last_error", tctl_str_or_null(d->last_error),
                                   "created", tctl_time_json(d->created), "dead", d->dead));
            } else {
                char created[64];
                tctl_time_rfc3339(d->created, created, sizeof created);
                printf("%-24s %-16s %-20s %-12s %s  attempts %u%s%s\n", d->id, d->kind, d->partner,
                       d->ladder, created, d->attempts,
                       d->last_error && *d->last_error ? "  last error: " : "",
                       d->last_error ? d->last_error : "");
            }
        }
        shown += r->n_deliveries;
        if (r->next && *r->next && (!limit || shown < limit))
            after = strdup(r->next);
        tierd__list_deliveries_response__free_unpacked(r, NULL);
    } while (after);
    if (all)
        tctl_print_json(all);
    else if (!shown)
        printf(dead ? "no dead letters\n" : "no deliveries waiting\n");
    return 0;
}

static int resend(tctl *t, const char *id, bool all_dead)
{
    Tierd__ResendDeliveriesRequest req = TIERD__RESEND_DELIVERIES_REQUEST__INIT;
    char *ids[1] = {(char *)id};
    if (id) {
        req.ids = ids;
        req.n_ids = 1;
    }
    req.all_dead = all_dead;
    Tierd__ResendDeliveriesResponse *r = NULL;
    td_error err;
    int rc = td_client_call(t->cli, "ResendDeliveries", &req.base,
                            &tierd__resend_deliveries_response__descriptor, (ProtobufCMessage **)&r,
                            &err);
    if (rc)
        return tctl_fail_rc(rc, &err);
    if (t->json)
        tctl_print_json(json_pack("{s:I}", "resent", (json_int_t)r->resent));
    else
        printf("%llu dead letters queued again\n", (unsigned long long)r->resent);
    tierd__resend_deliveries_response__free_unpacked(r, NULL);
    return 0;
}

int tctl_webhook(tctl *t, const char *const *pos, int npos, bool dead, bool all_dead,
                 const char *endpoint, const char *limit, const char *usage)
{
    const char *sub = npos > 0 ? pos[0] : "";
    if (strcmp(sub, "deliveries") == 0) {
        if (npos > 1 || all_dead)
            return usage_error(usage, "webhook deliveries takes no ID and no --all-dead");
        return deliveries(t, dead, endpoint, limit);
    }
    if (strcmp(sub, "resend") == 0) {
        if (dead || endpoint || limit)
            return usage_error(usage, "webhook resend takes an ID or --all-dead only");
        if ((npos == 2) == all_dead)
            return usage_error(usage, "webhook resend needs one delivery ID or --all-dead");
        return resend(t, npos == 2 ? pos[1] : NULL, all_dead);
    }
    return usage_error(usage, "webhook needs deliveries or resend");
}
