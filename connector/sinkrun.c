/* The sink delivery loop (see sinkrun.h for the promises).
 *
 * A batch: ListChanges after the last change fetched (a long-poll when
 * nothing is out, so an idle sink costs one request per SINKRUN_POLL_MS and
 * sees a change as soon as it commits), then GetTiers and GetBenefits for
 * the batch's partners, read after the changes so the standing handed out
 * is never older than the change it rides with. receive runs on a delivery
 * thread while the main thread fetches the next batch; once it returns 0
 * the main thread acknowledges it (SinkAck) and hands over the next. So
 * receive calls come one at a time, in sequence order, and nothing is
 * acked that receive did not take. A failure anywhere ends the process
 * (HOST_EXIT_RETRY) and the supervisor restarts it from the stored ack,
 * which is what makes delivery at-least-once without any state here. */
#include "sinkrun.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_number.h"

#define SINKRUN_CAUSE_MAX 64 /* Cause values named here; more read "unknown" */
#define SINKRUN_CAUSE_LEN 32

/* The lower-case name of a Cause value ("promotion"), from the proto's own
 * enum names so a cause added later needs nothing here. */
static const char *cause_name(int value)
{
    static char names[SINKRUN_CAUSE_MAX][SINKRUN_CAUSE_LEN];
    if (value < 0 || value >= SINKRUN_CAUSE_MAX)
        return "unknown";
    char *slot = names[value];
    if (!slot[0]) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&tierd__cause__descriptor, value);
        const char *src = v ? v->name : "unknown";
        size_t i = 0;
        for (; src[i] && i + 1 < SINKRUN_CAUSE_LEN; i++)
            slot[i] = (char)tolower((unsigned char)src[i]);
        slot[i] = '\0';
    }
    return slot;
}

static const char *str(const char *s)
{
    return s ? s : "";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What one batch holds; everything handed to receive points into it. */
typedef struct batch {
    Tierd__ChangesResponse *changes;
    Tierd__GetTiersResponse *tiers;
    Tierd__GetBenefitsResponse *benefits;
    const char **ids; /* the changes' partners, sorted, each once */
    size_t n_ids;
    tierd_tier_change *items;
    const tierd_tier_change **ptrs;
    tierd_benefit *pool; /* every benefit array of the batch */
    size_t pool_used;
} batch;

static void batch_free(batch *b)
{
    if (b->changes)
        tierd__changes_response__free_unpacked(b->changes, NULL);
    if (b->tiers)
        tierd__get_tiers_response__free_unpacked(b->tiers, NULL);
    if (b->benefits)
        tierd__get_benefits_response__free_unpacked(b->benefits, NULL);
    free(b->ids);
    free(b->items);
    free(b->ptrs);
    free(b->pool);
    memset(b, 0, sizeof *b);
}

static void copy_benefit(tierd_benefit *out, const Tierd__Benefit *in)
{
    *out = (tierd_benefit){.name = str(in->name),
                           .value = str(in->value),
                           .number = in->number,
                           .has_number = in->has_number,
                           .tier = str(in->tier)};
}

/* Appends the n benefits (those on ladder when ladder is not NULL) to the
 * pool; returns where they start and their count in *count. */
static const tierd_benefit *pool_add(batch *b, Tierd__Benefit **in, size_t n, const char *ladder,
                                     size_t *count)
{
    tierd_benefit *start = b->pool + b->pool_used;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        if (ladder && strcmp(str(in[i]->ladder), ladder) != 0)
            continue;
        copy_benefit(&start[(*count)++], in[i]);
    }
    b->pool_used += *count;
    return start;
}

/* The partners of the batch, each once, sorted. */
static int collect_ids(batch *b, td_error *err)
{
    size_t n = b->changes->n_changes;
    b->ids = malloc(n * sizeof *b->ids);
    if (!b->ids)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "sink: out of memory");
    for (size_t i = 0; i < n; i++)
        b->ids[i] = str(b->changes->changes[i]->partner);
    qsort(b->ids, n, sizeof *b->ids, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(b->ids[u - 1], b->ids[i]) != 0)
            b->ids[u++] = b->ids[i];
    b->n_ids = u;
    return 0;
}

/* Fills item from change c and the partner's standing (index idx of the
 * GetTiers and GetBenefits answers). */
static void fill_item(batch *b, tierd_tier_change *it, const Tierd__TierChange *c, size_t idx)
{
    *it = (tierd_tier_change){.size = sizeof *it,
                              .sequence = c->sequence,
                              .partner = str(c->partner),
                              .ladder = str(c->ladder),
                              .from_tier = str(c->from_tier),
                              .to_tier = str(c->to_tier),
                              .at = c->at,
                              .cause = cause_name((int)c->cause),
                              .program_version = str(c->program_version),
                              .event_id = str(c->event_id),
                              .actor = str(c->actor),
                              .reason = str(c->reason),
                              .tier = "",
                              .pending = ""};
    it->benefits_gained =
        pool_add(b, c->benefits_gained, c->n_benefits_gained, NULL, &it->n_benefits_gained);
    it->benefits_lost =
        pool_add(b, c->benefits_lost, c->n_benefits_lost, NULL, &it->n_benefits_lost);
    const Tierd__PartnerTiers *pt = b->tiers->partners[idx];
    const Tierd__PartnerBenefits *pb = b->benefits->partners[idx];
    it->found = pt->found;
    for (size_t t = 0; pt->found && t < pt->n_tiers; t++)
        if (strcmp(str(pt->tiers[t]->ladder), it->ladder) == 0) {
            it->tier = str(pt->tiers[t]->tier);
            it->since = pt->tiers[t]->since;
            it->pending = str(pt->tiers[t]->pending);
        }
    if (pt->found && pb->found)
        it->benefits = pool_add(b, pb->benefits, pb->n_benefits, it->ladder, &it->n_benefits);
}

/* GetTiers and GetBenefits for the batch's partners, then the items. */
static int build_items(const sinkrun_io *io, batch *b, td_error *err)
{
    int rc = collect_ids(b, err);
    if (!rc && (rc = td_client_get_tiers(io->client, b->ids, b->n_ids, &b->tiers, err)))
        td_error_prefix(err, "GetTiers");
    if (!rc && (rc = td_client_get_benefits(io->client, b->ids, b->n_ids, &b->benefits, err)))
        td_error_prefix(err, "GetBenefits");
    if (rc)
        return rc;
    if (b->tiers->n_partners != b->n_ids || b->benefits->n_partners != b->n_ids)
        return td_error_set(err, TD_INTERNAL,
                            "sink: the daemon answered for %zu and %zu of %zu "
                            "partners",
                            b->tiers->n_partners, b->benefits->n_partners, b->n_ids);
    size_t n = b->changes->n_changes;
    size_t pool = 0;
    for (size_t i = 0; i < n; i++)
        pool += b->changes->changes[i]->n_benefits_gained + b->changes->changes[i]->n_benefits_lost;
    /* A partner's benefits are copied once per change of the batch on it. */
    size_t per_change = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = str(b->changes->changes[i]->partner);
        const char **hit = bsearch(&id, b->ids, b->n_ids, sizeof *b->ids, cmp_str);
        per_change += hit ? b->benefits->partners[hit - b->ids]->n_benefits : 0;
    }
    b->pool = malloc((pool + per_change + 1) * sizeof *b->pool);
    b->items = malloc(n * sizeof *b->items);
    b->ptrs = malloc(n * sizeof *b->ptrs);
    if (!b->pool || !b->items || !b->ptrs)
        return td_error_set(err, TD_RESOURCE_EXHAUSTED, "sink: out of memory");
    for (size_t i = 0; i < n; i++) {
        const Tierd__TierChange *c = b->changes->changes[i];
        const char *id = str(c->partner);
        const char **hit = bsearch(&id, b->ids, b->n_ids, sizeof *b->ids, cmp_str);
        fill_item(b, &b->items[i], c, (size_t)(hit - b->ids));
        b->ptrs[i] = &b->items[i];
    }
    return 0;
}

static int ack(const sinkrun_io *io, uint64_t seq, size_t n, td_error *err)
{
    Tierd__SinkAckRequest req = TIERD__SINK_ACK_REQUEST__INIT;
    req.connector = (char *)io->name;
    req.sequence = seq;
    req.delivered = (uint32_t)n;
    Tierd__SinkAckResponse *resp = NULL;
    int rc = td_client_call(io->client, "SinkAck", &req.base, &tierd__sink_ack_response__descriptor,
                            (ProtobufCMessage **)&resp, err);
    if (rc) {
        td_error_prefix(err, "SinkAck");
        return rc;
    }
    tierd__sink_ack_response__free_unpacked(resp, NULL);
    return 0;
}

/* Fetches the batch after since into b (nothing new: b->changes holds
 * none), waiting up to wait_ms for one. */
static int fetch(const sinkrun_io *io, uint64_t since, uint32_t wait_ms, batch *b, td_error *err)
{
    int rc =
        td_client_list_changes_wait(io->client, since, SINKRUN_BATCH, wait_ms, &b->changes, err);
    if (rc) {
        td_error_prefix(err, "ListChanges");
        return rc;
    }
    io->api->heartbeat(io->host);
    return b->changes->n_changes ? build_items(io, b, err) : 0;
}

static uint64_t batch_last(const batch *b)
{
    return b->changes->changes[b->changes->n_changes - 1]->sequence;
}

/* A batch being received on the delivery thread while the next is
 * fetched: the plugin's write overlaps the daemon's reads, one receive at
 * a time and in order. */
typedef struct delivery {
    const sinkrun_io *io;
    void *state;
    batch b;
    char cursor[24];
    pthread_t thread;
    bool running;
    int rc;
    td_error err;
} delivery;

static void *deliver_thread(void *arg)
{
    delivery *d = arg;
    size_t n = d->b.changes->n_changes;
    d->rc = d->io->sink->receive(d->state, d->b.ptrs, n, d->cursor, &d->err);
    if (d->rc)
        td_error_prefix(&d->err, "sink receive (changes %llu to %s)",
                        (unsigned long long)d->b.changes->changes[0]->sequence, d->cursor);
    return NULL;
}

static int deliver_start(delivery *d, batch *b, td_error *err)
{
    d->b = *b;
    memset(b, 0, sizeof *b);
    snprintf(d->cursor, sizeof d->cursor, "%llu", (unsigned long long)batch_last(&d->b));
    d->rc = 0;
    td_error_clear(&d->err);
    if (pthread_create(&d->thread, NULL, deliver_thread, d) != 0) {
        batch_free(&d->b);
        return td_error_set(err, TD_INTERNAL, "sink: cannot start the delivery thread");
    }
    d->running = true;
    return 0;
}

/* Waits for the batch being received; acknowledges it when receive took
 * it. Once the host is told to stop, tierd has stopped answering (it
 * closes its RPC socket before it signals connectors), so an ack would
 * only wait out the client's timeout and get the host killed: the batch
 * is left unacknowledged and delivered again after the restart, which the
 * sink must take anyway (at-least-once). */
static int deliver_finish(delivery *d, td_error *err)
{
    if (!d->running)
        return 0;
    pthread_join(d->thread, NULL);
    d->running = false;
    int rc = d->rc;
    bool stopping = d->io->api->stopping(d->io->host);
    if (rc)
        *err = d->err;
    else if (!stopping && !(rc = ack(d->io, batch_last(&d->b), d->b.changes->n_changes, err)))
        d->io->acked(d->io->host, d->b.changes->n_changes, d->cursor);
    batch_free(&d->b);
    return rc;
}

int sinkrun(const sinkrun_io *io, bool *fatal, td_error *err)
{
    *fatal = false;
    uint64_t since = 0;
    if (io->cursor && *io->cursor && td_number_parse(io->cursor, 0, UINT64_MAX, &since) != 0) {
        *fatal = true;
        return td_error_set(err, TD_FAILED_PRECONDITION,
                            "the stored cursor \"%s\" is not a change sequence (was %s a source "
                            "before?); give the sink connector a new name to start it afresh",
                            io->cursor, io->name);
    }
    delivery d = {.io = io};
    int rc = io->sink->open(io->api, io->host, &d.state, err);
    if (rc) {
        *fatal = err->code != TD_UNAVAILABLE;
        td_error_prefix(err, "sink open");
        return rc;
    }
    io->ready(io->host, io->cursor);
    /* since: the last change fetched, delivered or being delivered. While
     * a batch is out the fetch does not wait, so an idle sink acks at once. */
    while (!rc && !io->api->stopping(io->host)) {
        batch next = {0};
        rc = fetch(io, since, d.running ? 0 : SINKRUN_POLL_MS, &next, err);
        if (!rc)
            rc = deliver_finish(&d, err);
        if (!rc && next.changes && next.changes->n_changes) {
            since = batch_last(&next);
            rc = deliver_start(&d, &next, err);
        }
        batch_free(&next);
    }
    td_error ignored;
    if (rc)
        deliver_finish(&d, &ignored);
    else
        rc = deliver_finish(&d, err);
    io->sink->close(d.state);
    return rc;
}
