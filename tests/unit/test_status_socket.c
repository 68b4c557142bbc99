/* The daemon's reader of a connector child's status socket (read_status in
 * daemon/connectors.c), driven over a real SOCK_SEQPACKET socketpair with
 * SO_PASSCRED, as the daemon makes one per child. It proves that only the
 * end of the stream closes the socket: an empty message, which recvmsg
 * also returns as 0 bytes but with the sender's credentials, is one more
 * sign of life, so neither the child nor anything it forked can make the
 * daemon stop listening and then kill a healthy child as hung (found by
 * tests/fuzz/fuzz_status_pipe).
 *
 * connectors.c is compiled into this file to reach its static reader. */
#include "../../daemon/connectors.c"
#include "testutil.h"

#include <check.h>

typedef struct fixture {
    uv_loop_t loop;
    tierd d;
    connectors sup;
    conn one;
    int child_end;
} fixture;

static char name[] = "status-test";

static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    int on = 1;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
    f->child_end = sv[1];
    f->d.loop = &f->loop;
    f->sup.d = &f->d;
    f->sup.loop = &f->loop;
    f->sup.conns = &f->one;
    f->sup.n = 1;
    f->sup.open_handles = 1; /* the poll handle; not stopping, so nothing is freed */
    f->one.owner = &f->sup;
    f->one.conf.name = name;
    f->one.host_pid = (int)getpid(); /* this process plays the child */
    f->one.status_fd = sv[0];
    ck_assert_int_eq(uv_poll_init(&f->loop, &f->one.status, sv[0]), 0);
    f->one.status_open = true;
    f->one.state = CONN_RESTARTING;
}

static void fixture_close(fixture *f)
{
    close_status(&f->one);
    if (f->child_end >= 0)
        close(f->child_end);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void child_says(fixture *f, const char *text)
{
    ssize_t n = send(f->child_end, text, strlen(text), MSG_NOSIGNAL);
    ck_assert_int_eq(n, (ssize_t)strlen(text));
}

START_TEST(test_empty_status_message_keeps_the_socket_open)
{
    fixture f;
    fixture_open(&f);
    child_says(&f, "");
    child_says(&f, "ready\tc-1\n");
    read_status(&f.one, STATUS_READS_PER_WAKE);
    ck_assert_msg(f.one.status_open, "an empty message was taken for end of file");
    ck_assert_int_eq(f.one.state, CONN_RUNNING);
    fixture_close(&f);
}
END_TEST

START_TEST(test_end_of_stream_closes_the_status_socket)
{
    fixture f;
    fixture_open(&f);
    child_says(&f, "hb\n");
    close(f.child_end);
    f.child_end = -1;
    read_status(&f.one, STATUS_READS_PER_WAKE);
    ck_assert(!f.one.status_open);
    ck_assert_int_eq(f.one.status_fd, -1);
    fixture_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("status_socket");
    TCase *tc = tcase_create("read_status");
    tcase_add_test(tc, test_empty_status_message_keeps_the_socket_open);
    tcase_add_test(tc, test_end_of_stream_closes_the_status_socket);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
