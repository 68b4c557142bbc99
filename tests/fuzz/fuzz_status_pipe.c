/* Fuzzes the daemon's reader of the connector host's status pipe
 * (on_status_read and status_line in daemon/connectors.c): the bytes a
 * tierd-connector child, or whatever plugin code runs in it, writes on fd 3.
 *
 * The first byte sets how many bytes each read delivers (1 up to the whole
 * buffer libuv is lent), so lines split across reads are covered; the rest
 * is the stream. Afterwards the connector's cursor and last error must be
 * terminated strings inside their buffers, and the Status answer built from
 * them must pack and read back unchanged.
 *
 * connectors.c is compiled into this file so its static reader runs as
 * shipped; no child is spawned and no handle is started. */
#include "../../daemon/connectors.c"

#include "fuzz_common.h"

static uv_loop_t loop;
static connectors sup;
static conn one;
static char name[] = "fuzz";

static void setup(void)
{
    if (sup.loop)
        return;
    if (uv_loop_init(&loop) != 0)
        abort();
    sup.loop = &loop;
    sup.conns = &one;
    sup.n = 1;
    one.owner = &sup;
    one.conf.name = name;
}

static void reset(conn *k)
{
    k->state = CONN_RUNNING;
    k->events_sent = 0;
    k->got_error = false;
    k->cursor[0] = '\0';
    k->last_error[0] = '\0';
    k->line_len = 0;
    k->line_overflow = false;
}

static void check_status(void)
{
    rpc_arena *arena = rpc_arena_new();
    rpc_call call = {.arena = arena};
    Tierd__StatusResponse resp = TIERD__STATUS_RESPONSE__INIT;
    connectors_status(&sup, &call, &resp);
    FUZZ_CHECK(resp.n_connectors == 1, "%zu connectors in Status", resp.n_connectors);
    size_t n = tierd__status_response__get_packed_size(&resp);
    uint8_t *buf = malloc(n);
    if (!buf)
        abort();
    FUZZ_CHECK(tierd__status_response__pack(&resp, buf) == n, "packed size changed");
    Tierd__StatusResponse *back = tierd__status_response__unpack(NULL, n, buf);
    FUZZ_CHECK(back && back->n_connectors == 1, "Status does not read back");
    FUZZ_CHECK(strcmp(back->connectors[0]->cursor, one.cursor) == 0, "cursor changed");
    FUZZ_CHECK(strcmp(back->connectors[0]->last_error, one.last_error) == 0, "error changed");
    FUZZ_CHECK(back->connectors[0]->events_sent == one.events_sent, "events changed");
    tierd__status_response__free_unpacked(back, NULL);
    free(buf);
    rpc_arena_free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    conn *k = &one;
    reset(k);
    size_t step = fuzz_take_u8(&data, &size);
    uv_stream_t *stream = (uv_stream_t *)&k->status;
    size_t pos = 0;
    while (pos < size) {
        uv_buf_t buf;
        on_status_alloc((uv_handle_t *)stream, STATUS_LINE_MAX, &buf);
        size_t n = size - pos;
        if (n > buf.len)
            n = buf.len;
        if (step && n > step)
            n = step;
        memcpy(buf.base, data + pos, n);
        on_status_read(stream, (ssize_t)n, &buf);
        pos += n;
        FUZZ_CHECK(k->line_len < sizeof k->line, "line length %zu", k->line_len);
    }
    /* End of stream: with the pipe not open, only the bookkeeping runs. */
    uv_buf_t none = uv_buf_init(NULL, 0);
    on_status_read(stream, UV_EOF, &none);
    FUZZ_CHECK(memchr(k->cursor, '\0', sizeof k->cursor), "cursor not terminated");
    FUZZ_CHECK(memchr(k->last_error, '\0', sizeof k->last_error), "error not terminated");
    check_status();
    return 0;
}
