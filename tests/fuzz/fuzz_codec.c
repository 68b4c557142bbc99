/* Fuzzes the store's partner-record codec (daemon/engine/codec.c): the
 * bytes tierd reads back from LMDB at every start and every rollback.
 *
 * The input is a record. The engine has the example program in force, so
 * tier state can match real ladders. A refusal must be TD_DATA_LOSS with a
 * message and leave no partner behind. A record that restores must encode
 * again, and that encoding must be a fixed point: restoring and encoding it
 * once more gives the same bytes (the input itself may differ, being an
 * older version, naming ladders the program lacks, or carrying state the
 * engine prunes). The partner is then evaluated and explained, since the
 * engine trusts whatever restore let through. */
#include <stdbool.h>

#include "engine/engine.h"
#include "fuzz_common.h"

#define FUZZ_T0            ((td_time)1767225600) /* 2026-01-01T00:00:00Z */
#define FUZZ_LATER         (FUZZ_T0 + 400 * (td_time)TD_SECONDS_PER_DAY)
#define FUZZ_ID_OFFSET     4 /* after "TDP" and the version byte */
#define FUZZ_PROGRAM_LIMIT TD_MAX_PROGRAM_BYTES

static engine *eng;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(FUZZ_PROGRAM_LIMIT + 1);
    if (!buf)
        abort();
    *len = fread(buf, 1, FUZZ_PROGRAM_LIMIT, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    size_t len = 0;
    char *text = read_file(FUZZ_PROGRAM, &len);
    FUZZ_CHECK(text != NULL, "cannot read %s", FUZZ_PROGRAM);
    program *p = NULL;
    td_error err = {0};
    FUZZ_CHECK(program_parse(text, len, FUZZ_PROGRAM, &p, NULL, &err) == 0, "%s", err.message);
    free(text);
    eng = engine_new();
    FUZZ_CHECK(engine_program_apply(eng, p, FUZZ_T0, NULL, NULL) == 0, "program not applied");
    return 0;
}

/* The partner id, read the way the layout comment in codec.c describes it
 * (u32 little-endian length, then bytes). NULL when the record is too short
 * to hold one, which a restore that succeeded rules out. */
static char *record_id(const uint8_t *data, size_t size)
{
    if (size < FUZZ_ID_OFFSET + 4)
        return NULL;
    const uint8_t *p = data + FUZZ_ID_OFFSET;
    uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (n > size - FUZZ_ID_OFFSET - 4)
        return NULL;
    return fuzz_cstr(p + 4, n);
}

static void encode(const char *id, uint8_t **buf, size_t *len)
{
    td_partner *p = engine_partner_find(eng, id);
    FUZZ_CHECK(p != NULL, "restored partner '%s' is missing", id);
    FUZZ_CHECK(engine_partner_encode(eng, p, buf, len) == 0, "encode failed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_error err = {0};
    int rc = engine_partner_restore(eng, data, size, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -TD_DATA_LOSS && err.code == TD_DATA_LOSS && err.message[0],
                   "refusal %d is not DATA_LOSS: %s", rc, err.message);
        FUZZ_CHECK(engine_partner_count(eng) == 0, "a refused record left a partner behind");
        return 0;
    }
    char *id = record_id(data, size);
    FUZZ_CHECK(id != NULL, "restored a record with no readable id");
    FUZZ_CHECK(engine_partner_count(eng) == 1, "%zu partners", engine_partner_count(eng));

    uint8_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    encode(id, &a, &na);
    FUZZ_CHECK(engine_partner_restore(eng, a, na, &err) == 0, "own encoding refused: %s",
               err.message);
    encode(id, &b, &nb);
    FUZZ_CHECK(na == nb && memcmp(a, b, na) == 0, "encoding is not a fixed point (%zu vs %zu)", na,
               nb);
    free(a);
    free(b);

    td_partner *p = engine_partner_find(eng, id);
    const program *prog = engine_program(eng);
    for (size_t l = 0; l < prog->n_ladders; l++) {
        td_explanation x;
        if (engine_explain(eng, p, l, FUZZ_LATER, FUZZ_LATER, &x, &err) == 0)
            engine_explanation_free(&x);
    }
    td_tier_view views[TD_MAX_LADDERS];
    (void)engine_partner_tiers(eng, p, views, TD_MAX_LADDERS);
    (void)engine_partner_next_due(eng, p, FUZZ_LATER);
    engine_evaluate(eng, p, FUZZ_LATER, NULL, NULL);
    (void)engine_pending_count(eng);
    /* Back to an empty engine, so the next input starts from the same state. */
    FUZZ_CHECK(engine_partner_delete(eng, id, FUZZ_LATER, NULL, NULL, &err) == 0, "delete: %s",
               err.message);
    free(id);
    return 0;
}
