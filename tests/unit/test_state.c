/* The state glue against a real LMDB store in a temporary dir: turns that
 * commit, turns that fail, and start-up restore.
 *
 * Programs are built by hand (engine_fixture.h) and put in force directly,
 * so these tests do not depend on the program parser; restoring a stored
 * program is proven end to end by the restart integration suite. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_fixture.h"
#include "event_view.h"
#include "state.h"
#include "store.h"
#include "tierd.pb-c.h"
#include "testutil.h"

#define DIR_MAX_TEST     256
#define FX_NOW           ((td_time)1780000000) /* 2026-05-28 */
#define MAX_PUBLISHED    32
#define TINY_MAP_BYTES   ((size_t)256 << 10)
#define FLOOD_PARTNERS   20000
#define FLOOD_NAME_BYTES 100
/* More than two of restore.c's batches (RESTORE_BATCH), so a restore
 * decodes several batches and places them in id order. */
#define MANY_PARTNERS    2500
#define MANY_STRIDE      7  /* coprime with MANY_PARTNERS: upserts out of id order */
#define MANY_WITH_EVENTS 10 /* every tenth partner also gets events */
#define MANY_LIST        3000
#define MANY_DAMAGED_AT  2001 /* in id order: in the second batch */

static char dir[DIR_MAX_TEST];
static tierd d;

/* tierd_now belongs to the daemon's main; the tests freeze it. */
td_time tierd_now(const tierd *t)
{
    return t->fake_now;
}

typedef struct published {
    char topic[MAX_PUBLISHED][128];
    uint64_t seq[MAX_PUBLISHED];
    size_t n;
} published;

static published pub;
/* What the watch heard: `everyone` calls, and the partners told. */
static int everyone_told;
static char partner_told[MAX_PUBLISHED][32];
static size_t n_partner_told;

static void count_everyone(void *ud)
{
    (void)ud;
    everyone_told++;
}

static void note_partner(void *ud, const char *id)
{
    (void)ud;
    if (n_partner_told < MAX_PUBLISHED)
        snprintf(partner_told[n_partner_told++], sizeof partner_told[0], "%s", id);
}

static void record_publish(void *ud, const char *topic, const uint8_t *payload, size_t len)
{
    published *p = ud;
    ck_assert_uint_lt(p->n, MAX_PUBLISHED);
    snprintf(p->topic[p->n], sizeof p->topic[p->n], "%s", topic);
    Tierd__TierChange *c = tierd__tier_change__unpack(NULL, len, payload);
    ck_assert_ptr_nonnull(c);
    p->seq[p->n++] = c->sequence;
    tierd__tier_change__free_unpacked(c, NULL);
}

static void open_state(const store_options *opt)
{
    td_error err;
    d.fake_clock = true;
    d.fake_now = FX_NOW;
    ck_assert_msg(state_open_with(&d, dir, opt, &err) == 0, "%s", err.message);
    state_set_publisher(&d, record_publish, &pub);
    state_set_watch(&d, &(state_watch){note_partner, count_everyone, NULL});
}

static void setup(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir("td-state", dir, sizeof dir));
    memset(&d, 0, sizeof d);
    memset(&pub, 0, sizeof pub);
    everyone_told = 0;
    n_partner_told = 0;
    store_options opt = {.no_sync = true};
    open_state(&opt);
}

static void teardown(void)
{
    state_close(&d);
    ck_assert_int_eq(tu_rm_rf(dir), 0);
}

static void put_program(void)
{
    ck_assert_int_eq(
        engine_program_apply(d.engine, fx_partners_program("v1", 50000), FX_NOW, NULL, NULL), 0);
}

static void upsert(const char *id, const char *name)
{
    td_error err;
    const char *types[] = {"reseller"};
    ck_assert_int_eq(state_begin(&d, &err), 0);
    ck_assert_msg(engine_partner_upsert(d.engine, id, name, types, 1, FX_NOW, state_change_sink, &d,
                                        &err) == 0,
                  "%s", err.message);
    state_partner_changed(&d, id);
}

static void ingest(const char *id, const char *partner, const char *metric, double value,
                   const char *key)
{
    td_error err;
    ck_assert_int_eq(state_begin(&d, &err), 0);
    td_event ev = {"crm", id, partner, metric, value, FX_NOW - FX_DAY, key};
    ck_assert_msg(engine_ingest(d.engine, &ev, FX_NOW, state_change_sink, &d, &err) == 0, "%s",
                  err.message);
    state_partner_changed(&d, partner);
}

static void flush_ok(void)
{
    td_error err;
    ck_assert_msg(state_flush(&d, &err) == 0, "%s", err.message);
}

/* p-1 reaches Registered on the reseller ladder. */
static void register_p1(void)
{
    upsert("p-1", "Acme");
    ingest("c-1", "p-1", "contract_signed", 1, NULL);
    ingest("s-1", "p-1", "active_sellers", 3, NULL);
    ingest("l-1", "p-1", "certification", 1, "cert-a");
}

static const char *name_of(const char *id)
{
    td_partner *p = engine_partner_find(d.engine, id);
    if (!p)
        return NULL;
    td_partner_info info;
    engine_partner_info(p, &info);
    return info.name;
}

START_TEST(test_partners_written_in_a_turn_survive_close_and_open)
{
    upsert("p-1", "Acme");
    upsert("p-2", "Bolt");
    flush_ok();
    state_close(&d);
    ck_assert_ptr_null(d.engine);
    open_state(NULL);
    ck_assert_uint_eq(engine_partner_count(d.engine), 2);
    ck_assert_str_eq(name_of("p-1"), "Acme");
    ck_assert_str_eq(name_of("p-2"), "Bolt");
}
END_TEST

static int collect_change(void *ud, uint64_t seq, const uint8_t *pb, size_t len)
{
    Tierd__TierChange **out = ud;
    Tierd__TierChange *c = tierd__tier_change__unpack(NULL, len, pb);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->sequence, seq);
    out[seq - 1] = c;
    return 0;
}

START_TEST(test_a_partner_changed_through_state_reaches_the_watch_and_the_store)
{
    upsert("p-1", "Acme");
    ck_assert_uint_eq(n_partner_told, 1);
    ck_assert_str_eq(partner_told[0], "p-1");
    ck_assert_int_eq(everyone_told, 0);
    flush_ok();
    uint8_t *blob = NULL;
    size_t len = 0;
    td_error err;
    ck_assert_int_eq(store_get_partner(d.store, "p-1", &blob, &len, &err), 0);
    free(blob);
}
END_TEST

START_TEST(test_changes_are_logged_numbered_and_published_only_after_commit)
{
    put_program();
    register_p1();
    ck_assert_uint_eq(pub.n, 0);
    flush_ok();
    ck_assert_uint_eq(pub.n, 1);
    ck_assert_str_eq(pub.topic[0], "change/reseller/p-1");
    ck_assert_uint_eq(pub.seq[0], 1);
    ck_assert_uint_eq(store_last_sequence(d.store), 1);
    Tierd__TierChange *c[1] = {NULL};
    td_error err;
    ck_assert_int_eq(store_each_change_since(d.store, 0, 0, collect_change, c, &err), 0);
    ck_assert_ptr_nonnull(c[0]);
    ck_assert_str_eq(c[0]->partner, "p-1");
    ck_assert_str_eq(c[0]->from_tier, "");
    ck_assert_str_eq(c[0]->to_tier, "Registered");
    ck_assert_str_eq(c[0]->event_id, "crm/l-1");
    ck_assert_str_eq(c[0]->program_version, "v1");
    ck_assert_int_eq(c[0]->cause, TIERD__CAUSE__PROMOTION);
    ck_assert_uint_ge(c[0]->n_criteria, 2);
    tierd__tier_change__free_unpacked(c[0], NULL);
}
END_TEST

START_TEST(test_failed_turn_restores_memory_from_the_store_and_publishes_nothing)
{
    put_program();
    register_p1();
    upsert("p-3", "Crane");
    flush_ok();
    size_t published_before = pub.n;

    /* a turn that promotes p-1, adds p-2, renames and deletes others */
    ingest("o-1", "p-1", "deal_closed", 60000, NULL);
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Selling");
    upsert("p-2", "Bolt");
    td_error err;
    ck_assert_int_eq(engine_partner_delete(d.engine, "p-3", FX_NOW, state_change_sink, &d, &err),
                     0);
    state_partner_changed(&d, "p-3");
    td_error injected;
    td_error_set(&injected, TD_RESOURCE_EXHAUSTED, "injected: disk full");
    state_fail(&d, &injected);
    ck_assert_int_eq(state_flush(&d, &err), -TD_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(err.message, "injected: disk full");
    ck_assert_int_eq(everyone_told, 1);

    ck_assert_uint_eq(pub.n, published_before);
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Registered");
    ck_assert_ptr_null(engine_partner_find(d.engine, "p-2"));
    ck_assert_str_eq(name_of("p-3"), "Crane");
    ck_assert_uint_eq(store_last_sequence(d.store), 1);

    /* the next turn starts clean and numbers on from the committed log */
    ingest("o-1", "p-1", "deal_closed", 60000, NULL);
    flush_ok();
    ck_assert_int_eq(everyone_told, 1);
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Selling");
    ck_assert_uint_eq(pub.n, published_before + 1);
    ck_assert_uint_eq(pub.seq[pub.n - 1], 2);
}
END_TEST

START_TEST(test_full_store_fails_the_turn_and_memory_forgets_it)
{
    state_close(&d);
    store_options tiny = {.map_size = TINY_MAP_BYTES, .map_max = TINY_MAP_BYTES, .no_sync = true};
    open_state(&tiny);
    upsert("p-0", "Kept");
    flush_ok();
    char id[32], name[FLOOD_NAME_BYTES + 1];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    td_error err;
    for (int i = 1; i <= FLOOD_PARTNERS; i++) {
        snprintf(id, sizeof id, "flood-%05d", i);
        upsert(id, name);
    }
    int rc = state_flush(&d, &err);
    ck_assert_int_eq(rc, -TD_RESOURCE_EXHAUSTED);
    ck_assert_uint_eq(engine_partner_count(d.engine), 1);
    ck_assert_str_eq(name_of("p-0"), "Kept");
    /* the store still takes small turns */
    upsert("p-1", "Small");
    flush_ok();
    state_close(&d);
    open_state(&tiny);
    ck_assert_uint_eq(engine_partner_count(d.engine), 2);
}
END_TEST

/* Writes `record` as partner id straight into the closed state's store,
 * then opens the state again: that must refuse with DATA_LOSS (*err says
 * why). */
static void expect_data_loss_with_record(const char *id, const uint8_t *record, size_t len,
                                         td_error *err)
{
    store *s;
    ck_assert_int_eq(store_open(dir, NULL, &s, err), 0);
    ck_assert_int_eq(store_begin(s, err), 0);
    ck_assert_int_eq(store_put_partner(s, id, record, len, err), 0);
    ck_assert_int_eq(store_commit(s, err), 0);
    store_close(s);
    memset(&d, 0, sizeof d);
    d.fake_clock = true;
    d.fake_now = FX_NOW;
    ck_assert_int_eq(state_open(&d, dir, err), -TD_DATA_LOSS);
}

START_TEST(test_damaged_partner_record_refuses_start_with_data_loss)
{
    upsert("p-1", "Acme");
    flush_ok();
    state_close(&d);
    td_error err;
    const uint8_t junk[] = "TDP\x01 not a partner";
    expect_data_loss_with_record("p-2", junk, sizeof junk, &err);
    ck_assert_msg(strstr(err.message, "partner record 2") != NULL, "%s", err.message);
    ck_assert_ptr_null(d.state);
    /* nothing was dropped: both records are still there to repair */
    store *s;
    ck_assert_int_eq(store_open(dir, NULL, &s, &err), 0);
    uint8_t *blob = NULL;
    size_t len = 0;
    ck_assert_int_eq(store_get_partner(s, "p-1", &blob, &len, &err), 0);
    free(blob);
    ck_assert_int_eq(store_get_partner(s, "p-2", &blob, &len, &err), 0);
    ck_assert_uint_eq(len, sizeof junk);
    free(blob);
    store_close(s);
}
END_TEST

/* ---- the ingest log ---- */

/* A restart or a rebuild reads the program from the store, so these tests
 * store one as PutProgram does. */
static const char *const LOGGED_PROGRAM =
    "program: st\n"
    "version: \"1\"\n"
    "metrics:\n"
    "  arr: { agg: sum, event: deal_closed, window: 365d }\n"
    "  active_sellers: { agg: latest }\n"
    "  contract_signed: { agg: latest }\n"
    "  certs: { agg: distinct, event: certification }\n"
    "ladders:\n"
    "  reseller:\n"
    "    partner_types: [reseller]\n"
    "    tiers:\n"
    "      - { name: Registered, when: contract_signed >= 1 and certs >= 1 }\n"
    "      - { name: Selling, when: arr >= 50k and active_sellers >= 3 }\n";

static void put_stored_program(void)
{
    td_error err;
    program *p = NULL;
    td_diags diags = {0};
    ck_assert_int_eq(
        program_parse(LOGGED_PROGRAM, strlen(LOGGED_PROGRAM), "st.yaml", &p, &diags, &err), 0);
    td_diags_free(&diags);
    int told = everyone_told;
    ck_assert_int_eq(state_put_program(&d, p, LOGGED_PROGRAM, "test", FX_NOW, &err), 0);
    ck_assert_int_eq(everyone_told, told + 1); /* every due time may have moved */
    flush_ok();
}

/* Ingests as the Ingest handler does: the event is logged and its
 * partner's record may wait for a checkpoint. */
static void ingest_logged(const char *id, const char *partner, const char *metric, double value)
{
    td_error err;
    ck_assert_int_eq(state_begin(&d, &err), 0);
    state_absorb(&d, false);
    Tierd__Event pe = TIERD__EVENT__INIT;
    pe.id = (char *)id;
    pe.source = "crm";
    pe.partner = (char *)partner;
    pe.metric = (char *)metric;
    pe.value = value;
    pe.has_value = true;
    char at[TD_TIME_STRLEN];
    td_time_format(FX_NOW - FX_DAY, at, sizeof at);
    pe.at = at;
    td_event ev;
    event_view(&pe, FX_NOW - FX_DAY, &ev);
    ck_assert_msg(engine_ingest(d.engine, &ev, FX_NOW, state_change_sink, &d, &err) == 0, "%s",
                  err.message);
    size_t told = n_partner_told;
    ck_assert_int_eq(state_record_event(&d, FX_NOW, &pe, &ev, &err), 0);
    ck_assert_uint_eq(n_partner_told, told + (told < MAX_PUBLISHED));
    state_absorb(&d, true);
}

/* The partner as the engine would store it now (malloc'd). */
static uint8_t *encoded(const char *id, size_t *len)
{
    uint8_t *blob = NULL;
    ck_assert_int_eq(engine_partner_encode(d.engine, engine_partner_find(d.engine, id), &blob, len),
                     0);
    return blob;
}

static int count_entry(void *ud, uint64_t pos, int64_t now, const uint8_t *pb, size_t len)
{
    (void)pos;
    (void)now;
    (void)pb;
    (void)len;
    (*(int *)ud)++;
    return 0;
}

static int log_entries(void)
{
    int n = 0;
    td_error err;
    ck_assert_int_eq(store_ilog_each(d.store, 0, count_entry, &n, &err), 0);
    return n;
}

static void many_id(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "m-%05u", i);
}

/* Upserts MANY_PARTNERS partners in an order that is not their id order,
 * some with events (recorded, and logged), and commits. */
static void upsert_many(void)
{
    char id[32], ev[48];
    for (unsigned k = 0; k < MANY_PARTNERS; k++) {
        unsigned i = (k * MANY_STRIDE) % MANY_PARTNERS;
        many_id(id, sizeof id, i);
        upsert(id, id);
        if (i % MANY_WITH_EVENTS == 0) {
            snprintf(ev, sizeof ev, "cert-%u", i);
            ingest(ev, id, "certification", 1, ev);
        }
    }
    flush_ok();
    /* deals through the ingest log: a restore replays them past the
     * records' stamps */
    for (unsigned i = 0; i < MANY_PARTNERS; i += MANY_WITH_EVENTS) {
        many_id(id, sizeof id, i);
        snprintf(ev, sizeof ev, "deal-%u", i);
        ingest_logged(ev, id, "deal_closed", 1000.0 * i);
    }
    flush_ok();
}

/* Every partner's stored form, in id order. */
static uint8_t **encode_many(size_t *lens)
{
    uint8_t **out = calloc(MANY_PARTNERS, sizeof *out);
    ck_assert_ptr_nonnull(out);
    char id[32];
    for (unsigned i = 0; i < MANY_PARTNERS; i++) {
        many_id(id, sizeof id, i);
        td_partner *p = engine_partner_find(d.engine, id);
        ck_assert_msg(p != NULL, "%s missing", id);
        ck_assert_int_eq(engine_partner_encode(d.engine, p, &out[i], &lens[i]), 0);
    }
    return out;
}

static void reopen(void)
{
    state_close(&d);
    memset(&d, 0, sizeof d);
    store_options opt = {.no_sync = true};
    open_state(&opt);
}

static void free_many(uint8_t **blobs)
{
    for (unsigned i = 0; i < MANY_PARTNERS; i++)
        free(blobs[i]);
    free(blobs);
}

/* Every partner's stored form equals `want` (from encode_many). */
static void expect_many(uint8_t **want, const size_t *want_len, const char *when)
{
    size_t len[MANY_PARTNERS];
    uint8_t **got = encode_many(len);
    for (unsigned i = 0; i < MANY_PARTNERS; i++)
        ck_assert_msg(len[i] == want_len[i] && memcmp(got[i], want[i], len[i]) == 0,
                      "partner %u differs %s", i, when);
    free_many(got);
}

/* Every one of the MANY_PARTNERS gets a logged event, so all of them lag. */
static void lag_every_partner(const char *tag)
{
    char id[32], ev[48];
    for (unsigned i = 0; i < MANY_PARTNERS; i++) {
        many_id(id, sizeof id, i);
        snprintf(ev, sizeof ev, "%s-%u", tag, i);
        ingest_logged(ev, id, "deal_closed", 10);
    }
    flush_ok();
}

/* More lagging partners than one turn's checkpoint slice: the checkpoint
 * takes several turns, events keep arriving between them, and restarts
 * land in the middle. Nothing may change, and once done the log holds
 * only what records still lack. */
START_TEST(test_a_checkpoint_in_slices_survives_restarts_between_its_turns)
{
    put_stored_program();
    upsert_many();
    lag_every_partner("a");
    ck_assert_uint_eq(state_lagging(&d), MANY_PARTNERS);
    int logged = log_entries();

    state_checkpoint(&d);
    ck_assert_int_eq(state_begin(&d, &(td_error){0}), 0);
    flush_ok(); /* the first slice: not everyone yet, the log intact */
    ck_assert_uint_gt(state_lagging(&d), 0);
    ck_assert_uint_lt(state_lagging(&d), MANY_PARTNERS);
    ck_assert_int_eq(log_entries(), logged);
    /* a partner the slice wrote lags again */
    ingest_logged("late-0", "m-00000", "deal_closed", 20);
    flush_ok();

    size_t len[MANY_PARTNERS];
    uint8_t **mem = encode_many(len);
    reopen(); /* mid-checkpoint: the replay gives everything back */
    expect_many(mem, len, "after a restart in the middle of a checkpoint");

    /* Finish, across turns, with one more event in between. */
    state_checkpoint(&d);
    for (int turn = 0; turn < 8 && (state_lagging(&d) || log_entries()); turn++) {
        if (turn == 1)
            ingest_logged("late-1", "m-02400", "deal_closed", 30);
        else
            ck_assert_int_eq(state_begin(&d, &(td_error){0}), 0);
        flush_ok();
        if (state_lagging(&d) && turn > 1)
            state_checkpoint(&d);
    }
    ck_assert_uint_eq(state_lagging(&d), 0);
    ck_assert_int_eq(log_entries(), 0);
    free_many(mem);
    mem = encode_many(len);
    reopen();
    expect_many(mem, len, "after the checkpoint finished");
    ck_assert_uint_eq(state_lagging(&d), 0);
    free_many(mem);
}
END_TEST

/* A checkpoint that finishes while newer events wait keeps their entries
 * and trims only what records hold, over several turns; a restart in the
 * middle of the trimming reads the log from where records stop. */
START_TEST(test_a_finished_checkpoint_trims_only_what_records_hold)
{
    put_stored_program();
    upsert_many();
    /* more entries than one turn trims (STATE_TRIM_SLICE) */
    lag_every_partner("a");
    lag_every_partner("b");
    lag_every_partner("c");
    lag_every_partner("d");
    state_checkpoint(&d);
    ck_assert_int_eq(state_begin(&d, &(td_error){0}), 0);
    flush_ok();
    ingest_logged("late-0", "m-00007", "deal_closed", 20);
    flush_ok(); /* the last slice, and the first turn of trimming */
    ck_assert_int_gt(log_entries(), 1);
    ck_assert_uint_eq(state_lagging(&d), 1);
    size_t len[MANY_PARTNERS];
    uint8_t **mem = encode_many(len);
    reopen();
    expect_many(mem, len, "after a restart in the middle of trimming");
    ck_assert_uint_eq(state_lagging(&d), 1);
    /* the next checkpoint takes the late partner and the log empties */
    for (int turn = 0; turn < 4 && log_entries(); turn++) {
        state_checkpoint(&d);
        ck_assert_int_eq(state_begin(&d, &(td_error){0}), 0);
        flush_ok();
    }
    ck_assert_int_eq(log_entries(), 0);
    ck_assert_uint_eq(state_lagging(&d), 0);
    reopen();
    expect_many(mem, len, "after the log emptied");
    free_many(mem);
}
END_TEST

START_TEST(test_a_restore_over_several_batches_gives_back_every_partner_byte_for_byte)
{
    put_stored_program();
    upsert_many();
    size_t before_len[MANY_PARTNERS], after_len[MANY_PARTNERS];
    uint8_t **before = encode_many(before_len);
    ck_assert_int_eq(log_entries(), MANY_PARTNERS / MANY_WITH_EVENTS);
    reopen();
    ck_assert_uint_eq(engine_partner_count(d.engine), MANY_PARTNERS);
    /* the logged deals were replayed, not read from records */
    ck_assert_uint_eq(state_lagging(&d), MANY_PARTNERS / MANY_WITH_EVENTS);
    uint8_t **after = encode_many(after_len);
    for (unsigned i = 0; i < MANY_PARTNERS; i++) {
        ck_assert_msg(before_len[i] == after_len[i] &&
                          memcmp(before[i], after[i], before_len[i]) == 0,
                      "partner %u differs after the restore", i);
        free(before[i]);
        free(after[i]);
    }
    free(before);
    free(after);

    /* The sorted view comes from the restore's id order: listing must
     * still give every id once, in order. */
    static td_partner *page[MANY_LIST];
    bool more = true;
    td_error err = {0};
    size_t n = engine_partner_list(d.engine, NULL, NULL, NULL, page, MANY_LIST, &more, &err);
    ck_assert_uint_eq(n, MANY_PARTNERS);
    ck_assert(!more);
    char id[32];
    for (unsigned i = 0; i < MANY_PARTNERS; i++) {
        td_partner_info info;
        engine_partner_info(page[i], &info);
        many_id(id, sizeof id, i);
        ck_assert_str_eq(info.id, id);
    }
    /* and the ids handed to the timers, in the same order */
    size_t count = 0, len = 0;
    char *ids = state_take_restored_ids(&d, &count, &len);
    ck_assert_uint_eq(count, MANY_PARTNERS);
    size_t off = 0;
    for (unsigned i = 0; i < MANY_PARTNERS; i++) {
        many_id(id, sizeof id, i);
        ck_assert_str_eq(ids + off, id);
        off += strlen(ids + off) + 1;
    }
    ck_assert_uint_eq(off, len);
    free(ids);
    ck_assert_ptr_null(state_take_restored_ids(&d, &count, &len));
    ck_assert_uint_eq(count, 0);
}
END_TEST

START_TEST(test_a_damaged_record_in_a_later_batch_is_named_by_its_place_in_id_order)
{
    put_stored_program();
    upsert_many();
    state_close(&d);
    td_error err;
    char id[32];
    many_id(id, sizeof id, MANY_DAMAGED_AT - 1);
    const uint8_t junk[] = "TDP\x02 not a partner";
    expect_data_loss_with_record(id, junk, sizeof junk, &err);
    char want[48];
    snprintf(want, sizeof want, "partner record %d (in id order)", MANY_DAMAGED_AT);
    ck_assert_msg(strstr(err.message, want) != NULL, "%s", err.message);
    ck_assert_ptr_null(d.state);
}
END_TEST

START_TEST(test_logged_events_wait_for_a_checkpoint_and_a_restart_replays_them)
{
    put_stored_program();
    register_p1();
    flush_ok();
    ingest_logged("o-1", "p-1", "deal_closed", 30000);
    flush_ok();
    ingest_logged("o-2", "p-1", "deal_closed", 30000);
    flush_ok();
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Selling");
    ck_assert_uint_eq(state_lagging(&d), 1);
    ck_assert_int_eq(log_entries(), 2);
    size_t mem_len, disk_len;
    uint8_t *mem = encoded("p-1", &mem_len);
    uint8_t *disk = NULL;
    td_error err;
    ck_assert_int_eq(store_get_partner(d.store, "p-1", &disk, &disk_len, &err), 0);
    /* The record lags: the two deals live in the log only. */
    ck_assert(disk_len != mem_len || memcmp(disk, mem, mem_len) != 0);
    free(disk);

    state_close(&d);
    open_state(NULL);
    size_t again_len;
    uint8_t *again = encoded("p-1", &again_len);
    ck_assert_uint_eq(again_len, mem_len);
    ck_assert(memcmp(again, mem, mem_len) == 0);
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Selling");
    ck_assert_uint_eq(state_lagging(&d), 1);
    free(again);

    /* A checkpoint writes the record and empties the log. */
    state_checkpoint(&d);
    ck_assert_int_eq(state_begin(&d, &err), 0);
    flush_ok();
    ck_assert_uint_eq(state_lagging(&d), 0);
    ck_assert_int_eq(log_entries(), 0);
    ck_assert_int_eq(store_get_partner(d.store, "p-1", &disk, &disk_len, &err), 0);
    ck_assert_uint_eq(disk_len, mem_len);
    ck_assert(memcmp(disk, mem, mem_len) == 0);
    free(disk);
    free(mem);
    state_close(&d);
    open_state(NULL);
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Selling");
    ck_assert_uint_eq(state_lagging(&d), 0);
}
END_TEST

START_TEST(test_a_failed_turn_keeps_logged_events_of_committed_turns)
{
    put_stored_program();
    register_p1();
    flush_ok();
    ingest_logged("o-1", "p-1", "deal_closed", 60000);
    flush_ok();
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Selling");
    /* The next turn adds a deal and fails: memory must return to the
     * committed state, which the partner's record alone does not hold. */
    ingest_logged("o-2", "p-1", "deal_closed", 300000);
    td_error injected, err;
    td_error_set(&injected, TD_RESOURCE_EXHAUSTED, "injected: disk full");
    state_fail(&d, &injected);
    int told = everyone_told;
    ck_assert_int_eq(state_flush(&d, &err), -TD_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(everyone_told, told + 1);
    ck_assert_str_eq(fx_tier_of(d.engine, "p-1", "reseller"), "Selling");
    td_partner_info info;
    engine_partner_info(engine_partner_find(d.engine, "p-1"), &info);
    ck_assert_uint_eq(info.events, 4); /* three to register, one deal */
    ck_assert_int_eq(log_entries(), 1);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_partners_written_in_a_turn_survive_close_and_open);
    tcase_add_test(tc, test_a_restore_over_several_batches_gives_back_every_partner_byte_for_byte);
    tcase_add_test(tc, test_a_damaged_record_in_a_later_batch_is_named_by_its_place_in_id_order);
    tcase_add_test(tc, test_a_checkpoint_in_slices_survives_restarts_between_its_turns);
    tcase_add_test(tc, test_a_finished_checkpoint_trims_only_what_records_hold);
    tcase_add_test(tc, test_a_partner_changed_through_state_reaches_the_watch_and_the_store);
    tcase_add_test(tc, test_changes_are_logged_numbered_and_published_only_after_commit);
    tcase_add_test(tc, test_failed_turn_restores_memory_from_the_store_and_publishes_nothing);
    tcase_add_test(tc, test_full_store_fails_the_turn_and_memory_forgets_it);
    tcase_add_test(tc, test_damaged_partner_record_refuses_start_with_data_loss);
    tcase_add_test(tc, test_logged_events_wait_for_a_checkpoint_and_a_restart_replays_them);
    tcase_add_test(tc, test_a_failed_turn_keeps_logged_events_of_committed_turns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(state_suite());
}
