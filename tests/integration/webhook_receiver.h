/* A real HTTP webhook receiver on 127.0.0.1 for the tests and the bench
 * (libmicrohttpd, a thread per connection): it checks every request's
 * signature with libcrypto, records it, and answers as the test says:
 * 200, a status (500, 302 with a Location), a stall, or a huge body. */
#ifndef TD_TEST_WEBHOOK_RECEIVER_H
#define TD_TEST_WEBHOOK_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wr_mode {
    WR_OK,       /* 200, empty body */
    WR_STATUS,   /* the status set with wr_set_mode (e.g. 500) */
    WR_STALL,    /* waits stall_ms (or until stopped), then 200 */
    WR_REDIRECT, /* 302 to /elsewhere */
    WR_HUGE,     /* 200 with a 64 MiB body */
} wr_mode;

typedef struct wr_request {
    char id[128];      /* X-Tierd-Delivery */
    char partner[128]; /* the payload's "partner" */
    char kind[32];
    char path[64];
    int64_t timestamp;
    bool signed_ok; /* the signature verified under the secret */
    int status;     /* what we answered */
    char *body;     /* malloc'd copy (wr_get), freed by the caller */
} wr_request;

typedef struct wr wr;

/* Listens on an ephemeral port of 127.0.0.1; NULL on failure. */
wr *wr_start(const char *secret);
unsigned wr_port(const wr *w);
void wr_stop(wr *w);
/* How requests from now on are answered; `first` > 0: only that many,
 * then WR_OK again. */
void wr_set_mode(wr *w, wr_mode mode, int status, long stall_ms, int first);
size_t wr_count(wr *w);
/* Connections the receiver holds open now (a request in progress among
 * them): 0 once a killed sender's sockets are all closed and answered. */
unsigned wr_open_connections(wr *w);
/* Requests answered 2xx (also those we counted as such, as WR_HUGE). */
size_t wr_count_ok(wr *w);
/* Requests for any path other than the configured one (redirect targets). */
size_t wr_count_other_path(wr *w);
/* Bytes of huge bodies written so far. */
uint64_t wr_huge_bytes(wr *w);
/* A copy of request i (0 = first); false past the end. */
bool wr_get(wr *w, size_t i, wr_request *out);

#endif
