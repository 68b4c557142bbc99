/* Runs the spool plugin's readers (see spool_harness.h) inside a fuzz
 * target, with an in-process host that checks and packs what they emit.
 *
 * The plugin source is included whole, so its readers are the shipped ones;
 * the plugin's init/run/fini and its directory handling are never called
 * (spool_config only reads the config block). Every emitted item is checked
 * with hostcheck_* as tierd-connector does; one the checks accept is packed
 * into a tierd.Event / tierd.Partner and unpacked again, and must come back
 * equal. A problem line is fine; a crash, a leak or an item that does not
 * survive the round trip is a finding. */
#include "../../plugins/spool/spool.c"

#include "fuzz_common.h"
#include "hostcheck.h"
#include "spool_harness.h"
#include "tierd.pb-c.h"

#define HARNESS_NAME "fuzz"

struct tierd_host {
    json_t *config;
    const char *config_text;
};

static void host_log(tierd_host *h, tierd_log_level level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}

static const char *host_name(tierd_host *h)
{
    (void)h;
    return HARNESS_NAME;
}

static const char *host_config_json(tierd_host *h)
{
    return h->config_text;
}

static const char *host_config_get(tierd_host *h, const char *path)
{
    return hostcheck_config_get(h->config, path);
}

static const char *host_cursor(tierd_host *h)
{
    (void)h;
    return NULL;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static void same_str(const char *what, const char *sent, const char *got)
{
    FUZZ_CHECK(strcmp(nz(sent), nz(got)) == 0, "%s changed in the round trip", what);
}

static int host_emit_partner(tierd_host *h, const tierd_partner *p, td_error *err)
{
    (void)h;
    int rc = hostcheck_partner(p, err);
    if (rc)
        return rc;
    Tierd__Partner m = TIERD__PARTNER__INIT;
    m.id = (char *)nz(p->id);
    m.name = (char *)nz(p->name);
    m.n_types = p->n_types;
    m.types = (char **)p->types;
    size_t n = tierd__partner__get_packed_size(&m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    FUZZ_CHECK(tierd__partner__pack(&m, buf) == n, "partner packed to a different size");
    Tierd__Partner *back = tierd__partner__unpack(NULL, n, buf);
    FUZZ_CHECK(back != NULL, "a checked partner does not unpack");
    same_str("partner id", m.id, back->id);
    same_str("partner name", m.name, back->name);
    FUZZ_CHECK(back->n_types == m.n_types, "types changed in the round trip");
    for (size_t i = 0; i < m.n_types; i++)
        same_str("partner type", m.types[i], back->types[i]);
    tierd__partner__free_unpacked(back, NULL);
    free(buf);
    return 0;
}

static int host_emit_event_op(tierd_host *h, const tierd_event *e, tierd_event_op op,
                              uint64_t revision, td_error *err)
{
    (void)h;
    int rc = hostcheck_event_op(e, op, revision, err);
    if (rc)
        return rc;
    Tierd__Event m = TIERD__EVENT__INIT;
    m.id = (char *)nz(e->id);
    m.source = (char *)(e->source && *e->source ? e->source : HARNESS_NAME);
    m.partner = (char *)nz(e->partner);
    m.metric = (char *)nz(e->metric);
    m.value = e->has_value ? e->value : 1;
    m.has_value = e->has_value;
    m.at = (char *)nz(e->at);
    m.key = (char *)nz(e->key);
    m.op = (char *)hostcheck_op_name(op);
    m.revision = revision;
    size_t n = tierd__event__get_packed_size(&m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    FUZZ_CHECK(tierd__event__pack(&m, buf) == n, "event packed to a different size");
    Tierd__Event *back = tierd__event__unpack(NULL, n, buf);
    FUZZ_CHECK(back != NULL, "a checked event does not unpack");
    same_str("event id", m.id, back->id);
    same_str("event source", m.source, back->source);
    same_str("event partner", m.partner, back->partner);
    same_str("event metric", m.metric, back->metric);
    same_str("event at", m.at, back->at);
    same_str("event key", m.key, back->key);
    same_str("event op", m.op, back->op);
    FUZZ_CHECK(back->revision == m.revision, "revision changed in the round trip");
    FUZZ_CHECK(back->has_value == m.has_value && (!m.has_value || back->value == m.value),
               "value changed in the round trip");
    tierd__event__free_unpacked(back, NULL);
    free(buf);
    return 0;
}

static int host_emit_event(tierd_host *h, const tierd_event *e, td_error *err)
{
    return host_emit_event_op(h, e, TIERD_EVENT_NEW, 0, err);
}

static int host_commit(tierd_host *h, const char *cursor, td_error *err)
{
    (void)h;
    return hostcheck_cursor(cursor, err);
}

static void host_heartbeat(tierd_host *h)
{
    (void)h;
}

static bool host_stopping(tierd_host *h)
{
    (void)h;
    return false;
}

static const tierd_host_api harness_api = {
    .abi_version = TIERD_PLUGIN_ABI_VERSION,
    .size = sizeof(tierd_host_api),
    .log = host_log,
    .name = host_name,
    .config_json = host_config_json,
    .config_get = host_config_get,
    .cursor = host_cursor,
    .emit_partner = host_emit_partner,
    .emit_event = host_emit_event,
    .commit = host_commit,
    .heartbeat = host_heartbeat,
    .stopping = host_stopping,
    .emit_event_op = host_emit_event_op,
};

/* ---- configurations ---- */

/* The directory is never touched: only spool_init would stat or create it. */
#define HARNESS_DIR "/nonexistent/tierd-fuzz-spool"

/* CSV: {events, partners} x {',' ';' '\t' '|'}; odd configs rename every
 * column and supply the metric or types as constants instead. */
static const char *const csv_delims[] = {",", ";", "\\t", "|"};

typedef struct harness_spool {
    tierd_host host;
    spool s;
    char *text;
} harness_spool;

static harness_spool *csv_spools[SPOOL_HARNESS_CSV_CONFIGS];
static harness_spool *ndjson_spool, *xapi_spool;

static harness_spool *make_spool(const char *config_json)
{
    harness_spool *hs = calloc(1, sizeof *hs);
    if (!hs)
        abort();
    hs->text = strdup(config_json);
    td_error err = {0};
    FUZZ_CHECK(hostcheck_config_parse(hs->text, &hs->host.config, &err) == 0, "%s", err.message);
    hs->host.config_text = hs->text;
    hs->s.api = &harness_api;
    hs->s.host = &hs->host;
    FUZZ_CHECK(spool_config(&hs->s, &err) == 0, "config refused: %s", err.message);
    return hs;
}

static char *csv_config(unsigned i)
{
    bool partners = i & 1;
    bool renamed = i & 4;
    const char *delim = csv_delims[(i >> 1) % 2 + (renamed ? 2 : 0)];
    char *out = NULL;
    int n;
    if (partners && !renamed)
        n = asprintf(&out,
                     "{\"dir\":\"%s\",\"format\":\"csv\",\"csv\":{\"kind\":\"partners\","
                     "\"delimiter\":\"%s\",\"columns\":{\"partner\":\"partner\",\"name\":\"name\","
                     "\"types\":\"types\"}}}",
                     HARNESS_DIR, delim);
    else if (partners)
        n = asprintf(&out,
                     "{\"dir\":\"%s\",\"format\":\"csv\",\"csv\":{\"kind\":\"partners\","
                     "\"delimiter\":\"%s\",\"types\":\"reseller;services\",\"columns\":{"
                     "\"id\":\"Partner Code\",\"name\":\"Company\"}}}",
                     HARNESS_DIR, delim);
    else if (!renamed)
        n = asprintf(&out,
                     "{\"dir\":\"%s\",\"format\":\"csv\",\"source\":\"crm\",\"csv\":{\"kind\":"
                     "\"events\",\"delimiter\":\"%s\",\"columns\":{\"id\":\"id\",\"source\":"
                     "\"source\",\"partner\":\"partner\",\"metric\":\"metric\",\"value\":"
                     "\"value\",\"at\":\"at\",\"key\":\"key\"}}}",
                     HARNESS_DIR, delim);
    else
        n = asprintf(&out,
                     "{\"dir\":\"%s\",\"format\":\"csv\",\"source\":\"crm\",\"csv\":{\"kind\":"
                     "\"events\",\"delimiter\":\"%s\",\"metric\":\"deal_closed\",\"columns\":{"
                     "\"id\":\"Opportunity ID\",\"partner\":\"Partner Code\",\"value\":"
                     "\"Amount\",\"at\":\"Close Date\"}}}",
                     HARNESS_DIR, delim);
    if (n < 0)
        abort();
    return out;
}

static void harness_init(void)
{
    if (ndjson_spool)
        return;
    ndjson_spool = make_spool("{\"dir\":\"" HARNESS_DIR "\",\"format\":\"ndjson\"}");
    xapi_spool = make_spool(
        "{\"dir\":\"" HARNESS_DIR "\",\"format\":\"xapi\",\"source\":\"lrs\",\"xapi\":{"
        "\"metric\":\"certification\",\"verbs\":[\"http://adlnet.gov/expapi/verbs/completed\","
        "\"passed\"],\"actors\":{\"acme.example\":\"p-001\",\"beta.example\":\"p-002\","
        "\"freelancer@mail.example\":\"p-017\"}}}");
    for (unsigned i = 0; i < SPOOL_HARNESS_CSV_CONFIGS; i++) {
        char *text = csv_config(i);
        csv_spools[i] = make_spool(text);
        free(text);
    }
}

/* ---- one file ---- */

typedef enum harness_reader { READ_NDJSON, READ_CSV, READ_XAPI } harness_reader;

/* What process_file does between opening the file and committing, on the
 * input as the file's contents. */
static void read_file(spool *s, harness_reader how, const uint8_t *data, size_t size)
{
    if (size == 0)
        return; /* fmemopen refuses an empty buffer; an empty file has no lines */
    FILE *in = fmemopen((void *)data, size, "r");
    if (!in)
        abort();
    problems probs = {.file = "fuzz"};
    probs.mem = open_memstream(&probs.buf, &probs.len);
    if (!probs.mem)
        abort();
    file_ctx f = {.s = s, .probs = &probs, .name = "fuzz"};
    read_items(&f, in, how == READ_NDJSON ? FMT_NDJSON : how == READ_CSV ? FMT_CSV : FMT_XAPI);
    fclose(in);
    fclose(probs.mem);
    /* Problems are written to NAME.err; they must at least be text. */
    FUZZ_CHECK(probs.len == strlen(probs.buf), "a problem line holds a NUL byte");
    FUZZ_CHECK(f.send_rc == 0, "a send failed without a daemon: %s", f.send_err.message);
    free(probs.buf);
}

void spool_harness_ndjson(const uint8_t *data, size_t size)
{
    harness_init();
    read_file(&ndjson_spool->s, READ_NDJSON, data, size);
}

void spool_harness_csv(unsigned config, const uint8_t *data, size_t size)
{
    harness_init();
    read_file(&csv_spools[config % SPOOL_HARNESS_CSV_CONFIGS]->s, READ_CSV, data, size);
}

void spool_harness_xapi(const uint8_t *data, size_t size)
{
    harness_init();
    read_file(&xapi_spool->s, READ_XAPI, data, size);
}
