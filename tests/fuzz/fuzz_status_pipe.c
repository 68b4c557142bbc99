/* Fuzzes the daemon's reader of the connector host's status socket
 * (read_status, message_sender and status_line in daemon/connectors.c): the
 * messages a tierd-connector child, or whatever plugin code runs in it,
 * writes on fd 3.
 *
 * The messages really travel: the target holds both ends of a
 * SOCK_SEQPACKET socketpair with SO_PASSCRED, as the daemon makes for a
 * child, sends the input as messages from this process and lets read_status
 * take them, credentials and all. Input: byte 0 is the message length (0 =
 * as long as the reader's buffer and more, so cut messages are covered);
 * byte 1 holds flags (FLAG_FOREIGN: the lines come from a process other
 * than the child's; FLAG_FDS: every message carries a descriptor, which the
 * reader must close; FLAG_EMPTY: an empty message goes before each one,
 * which recvmsg returns as 0 bytes just like the end of the stream); the
 * rest is the stream.
 *
 * Afterwards the socket must still be open (no content may close it), no
 * descriptor may be left behind, the last error must be a terminated string
 * inside its buffer, and the Status answer built from the connector must
 * pack and read back unchanged.
 *
 * connectors.c is compiled into this file so its static reader runs as
 * shipped; no child is spawned and the poll handle is never started. */
#include "../../daemon/connectors.c"

#include <dirent.h>
#include <fcntl.h>

#include "fuzz_common.h"

#define FLAG_FOREIGN 0x01
#define FLAG_FDS     0x02
#define FLAG_EMPTY   0x04
/* Longer than the reader's buffer, so MSG_TRUNC is reached. */
#define FUZZ_MESSAGE_MAX (2 * HOST_LINE_MAX)

static uv_loop_t loop;
static tierd daemon_ctx; /* no store: Status then shows what the conn holds */
static connectors sup;
static conn one;
static char name[] = "fuzz";
static int sender_fd = -1;
static int smuggled_fd = -1;

static void setup(void)
{
    if (sup.loop)
        return;
    FUZZ_CHECK(uv_loop_init(&loop) == 0, "no loop");
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
               strerror(errno));
    int on = 1;
    FUZZ_CHECK(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0, "SO_PASSCRED");
    FUZZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
    sender_fd = sv[1];
    smuggled_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(smuggled_fd >= 0, "/dev/null");
    daemon_ctx.loop = &loop;
    sup.d = &daemon_ctx;
    sup.loop = &loop;
    sup.conns = &one;
    sup.n = 1;
    one.owner = &sup;
    one.conf.name = name;
    one.status_fd = sv[0];
    FUZZ_CHECK(uv_poll_init(&loop, &one.status, sv[0]) == 0, "uv_poll_init");
    one.status_open = true;
}

static size_t open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    FUZZ_CHECK(dir != NULL, "/proc/self/fd");
    size_t n = 0;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

static void send_message(const uint8_t *data, size_t n, bool with_fd)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = n};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (with_fd) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.bytes;
        mh.msg_controllen = sizeof ctl.bytes;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &smuggled_fd, sizeof(int));
    }
    ssize_t w = sendmsg(sender_fd, &mh, MSG_NOSIGNAL);
    FUZZ_CHECK(w == (ssize_t)n, "sendmsg: %s", w < 0 ? strerror(errno) : "short");
}

static void check_status(void)
{
    rpc_arena *arena = rpc_arena_new();
    rpc_call call = {.d = &daemon_ctx, .arena = arena};
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
    FUZZ_CHECK(strcmp(back->connectors[0]->last_error, one.last_error) == 0, "error changed");
    FUZZ_CHECK(strcmp(back->connectors[0]->state, conn_state_names[one.state]) == 0,
               "state changed");
    tierd__status_response__free_unpacked(back, NULL);
    free(buf);
    rpc_arena_free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    conn *k = &one;
    k->state = CONN_RESTARTING;
    k->got_error = false;
    k->warned_foreign = false;
    k->last_error[0] = '\0';
    size_t step = fuzz_take_u8(&data, &size);
    uint8_t flags = fuzz_take_u8(&data, &size);
    k->host_pid = (int)getpid() + (flags & FLAG_FOREIGN ? 1 : 0);
    if (!step)
        step = FUZZ_MESSAGE_MAX;
    size_t fds_before = open_fds();
    for (size_t pos = 0; pos < size;) {
        size_t n = size - pos < step ? size - pos : step;
        if (flags & FLAG_EMPTY)
            send_message(data + pos, 0, false);
        send_message(data + pos, n, flags & FLAG_FDS);
        pos += n;
        /* Read as the daemon does on each readable event, so the socket's
         * buffer never fills. */
        read_status(k, STATUS_READS_PER_WAKE);
        FUZZ_CHECK(k->status_open, "the status socket was closed by what came over it");
    }
    while (read_status(k, STATUS_DRAIN_MAX))
        ;
    FUZZ_CHECK(k->status_open, "the status socket was closed by what came over it");
    FUZZ_CHECK(open_fds() == fds_before, "a smuggled descriptor was left open");
    FUZZ_CHECK(memchr(k->last_error, '\0', sizeof k->last_error), "error not terminated");
    if (flags & FLAG_FOREIGN)
        FUZZ_CHECK(!k->got_error && k->state == CONN_RESTARTING,
                   "a line from another process was believed");
    check_status();
    return 0;
}
