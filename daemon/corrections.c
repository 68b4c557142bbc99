/* Corrections, the daemon's side (corrections.h). Owns reading the event
 * history for a correction; the writes are state.c's
 * (state_record_correction), the checks handlers_event.c's. */
#include "corrections.h"

#include <string.h>

#define CORR_KEY_MAX (TD_STORE_HIST_TEXT + 1)

typedef struct hist_walk {
    const corr_history *h;
    td_event_each_fn each;
    void *ud;
} hist_walk;

static bool counts(const corr_history *h, const store_hist_entry *e)
{
    if (h->at_position)
        return e->added <= h->position && (e->retired == 0 || e->retired > h->position);
    return e->retired == 0 && e->added != h->skip_added;
}

static int visit(void *ud, const store_hist_entry *e)
{
    hist_walk *w = ud;
    if (!counts(w->h, e))
        return 0;
    char key[CORR_KEY_MAX];
    size_t kl = e->key_len < sizeof key ? e->key_len : sizeof key - 1;
    memcpy(key, e->key, kl);
    key[kl] = '\0';
    td_event ev = {.source = e->source,
                   .id = e->id,
                   .partner = e->partner,
                   .metric = e->metric,
                   .value = e->value,
                   .at = e->at,
                   .key = kl ? key : NULL};
    return w->each(w->ud, &ev);
}

int corrections_history(void *hud, td_event_each_fn each, void *ud, td_error *err)
{
    const corr_history *h = hud;
    hist_walk w = {h, each, ud};
    int rc = store_hist_each(h->s, h->partner, h->metric, visit, &w, err);
    if (rc == 0 && !h->at_position && h->amended)
        rc = each(ud, h->amended);
    return rc;
}

typedef struct find_replaced {
    const char *source, *id;
    uint64_t pos;
    td_event *out;
    char *buf;
    size_t cap;
    bool found, too_long;
} find_replaced;

static int match(void *ud, const store_hist_entry *e)
{
    find_replaced *f = ud;
    if (e->retired != f->pos || strcmp(e->source, f->source) != 0 || strcmp(e->id, f->id) != 0)
        return 0;
    size_t pl = strlen(e->partner) + 1, ml = strlen(e->metric) + 1;
    if (pl + ml + e->key_len + 1 > f->cap) {
        f->too_long = true;
        return 1;
    }
    char *b = f->buf;
    memcpy(b, e->partner, pl);
    memcpy(b + pl, e->metric, ml);
    memcpy(b + pl + ml, e->key, e->key_len);
    b[pl + ml + e->key_len] = '\0';
    *f->out = (td_event){.source = f->source,
                         .id = f->id,
                         .partner = b,
                         .metric = b + pl,
                         .value = e->value,
                         .at = e->at,
                         .key = e->key_len ? b + pl + ml : NULL};
    f->found = true;
    return 1;
}

int corrections_replaced(store *s, const char *partner, const char *metric, const char *source,
                         const char *id, uint64_t pos, td_event *out, char *buf, size_t cap,
                         td_error *err)
{
    find_replaced f = {source, id, pos, out, buf, cap, false, false};
    int rc = store_hist_each(s, partner, metric, match, &f, err);
    if (rc < 0)
        return rc;
    if (f.too_long)
        return td_error_set(err, TD_DATA_LOSS, "event %s/%s: history entry too long", source, id);
    if (!f.found)
        return td_error_set(err, TD_NOT_FOUND, "event %s/%s: no version replaced at %llu", source,
                            id, (unsigned long long)pos);
    return 0;
}
