/* Fuzzes the code that turns one NDJSON line into a partner or an event
 * request: tierctl's `partner import` / `event import` (take_line and its
 * parsers in client/tierctl_import.c) and the spool connector's .ndjson
 * reader (through spool_harness.c).
 *
 * The input is a file of lines. tierctl reads it once as events and once
 * as partners; every line it accepts lands in a batch, which is packed as
 * the IngestRequest / UpsertPartnersRequest tierctl would send and read
 * back. Rejected lines must carry a reason naming their line. The spool
 * reader gets the same bytes.
 *
 * tierctl_import.c is compiled into this file so its static parsers run as
 * shipped; nothing in it is called that would talk to a daemon. */
#include "../../client/tierctl_import.c"

#include <stdbool.h>

#include "fuzz_common.h"
#include "spool_harness.h"

static import_run *run;
static import_batch *batch;

/* Every rejection tierctl found on its own is listed, naming its line. */
static void check_errors(const import_batch *b)
{
    FUZZ_CHECK(json_array_size(b->errors) == b->rejected, "%zu errors for %lu rejected",
               json_array_size(b->errors), b->rejected);
    for (size_t i = 0; i < json_array_size(b->errors); i++) {
        json_t *e = json_array_get(b->errors, i);
        const char *reason = json_string_value(json_object_get(e, "reason"));
        FUZZ_CHECK(reason && strncmp(reason, "line ", strlen("line ")) == 0,
                   "reason without its line: %s", reason ? reason : "(none)");
    }
}

/* What send_items would put on the wire, packed and read back. */
static void pack_batch(const import_run *r, import_batch *b)
{
    check_errors(b);
    size_t n;
    uint8_t *buf;
    if (is_events(r)) {
        Tierd__IngestRequest req = TIERD__INGEST_REQUEST__INIT;
        req.n_events = b->n;
        req.events = b->event_ptrs;
        n = tierd__ingest_request__get_packed_size(&req);
        buf = malloc(n ? n : 1);
        if (!buf)
            abort();
        FUZZ_CHECK(tierd__ingest_request__pack(&req, buf) == n, "packed size changed");
        Tierd__IngestRequest *back = tierd__ingest_request__unpack(NULL, n, buf);
        FUZZ_CHECK(back && back->n_events == b->n, "batch does not read back");
        tierd__ingest_request__free_unpacked(back, NULL);
    } else {
        Tierd__UpsertPartnersRequest req = TIERD__UPSERT_PARTNERS_REQUEST__INIT;
        req.n_partners = b->n;
        req.partners = b->partner_ptrs;
        n = tierd__upsert_partners_request__get_packed_size(&req);
        buf = malloc(n ? n : 1);
        if (!buf)
            abort();
        FUZZ_CHECK(tierd__upsert_partners_request__pack(&req, buf) == n, "packed size changed");
        Tierd__UpsertPartnersRequest *back = tierd__upsert_partners_request__unpack(NULL, n, buf);
        FUZZ_CHECK(back && back->n_partners == b->n, "batch does not read back");
        tierd__upsert_partners_request__free_unpacked(back, NULL);
    }
    free(buf);
    clear_batch(b);
}

/* import_file's loop, over the input instead of a FILE, without sending. */
static void import_bytes(const char *what, const uint8_t *data, size_t size)
{
    import_run *r = run;
    import_batch *b = batch;
    r->what = what;
    r->lines = 0;
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
        r->lines++;
        /* getline hands over a NUL-terminated copy; so does this. */
        char *line = fuzz_cstr(data + pos, len);
        if (!blank(line, len))
            take_line(r, b, line, len);
        free(line);
        if (b->n == IMPORT_BATCH || b->bytes >= IMPORT_BATCH_BYTES)
            pack_batch(r, b);
        pos += len;
    }
    pack_batch(r, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!run) {
        run = calloc(1, sizeof *run);
        batch = calloc(1, sizeof *batch);
        if (!run || !batch)
            abort();
        batch->errors = json_array();
    }
    import_bytes("event", data, size);
    import_bytes("partner", data, size);
    spool_harness_ndjson(data, size);
    return 0;
}
