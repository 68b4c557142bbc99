/* The server: nanomsg sockets polled by the libuv loop, requests taken in
 * batches and answered after the turn's commit, and the PUB socket. */
#ifndef TD_SERVER_H
#define TD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "tierd/status.h"

#define SERVER_MAX_PER_TURN 10000 /* requests taken in one wake-up */
#define SERVER_IPC_MODE     0660

typedef struct server_endpoints {
    const char *const *listen;
    size_t n_listen;
    const char *const *publish;
    size_t n_publish;
    size_t max_request_bytes;
} server_endpoints;

/* Opens the RPC socket (raw REP) bound to every listen URL and the PUB
 * socket bound to every publish URL, chmods ipc socket files to 0660 and
 * starts polling on d->loop. A bind failure names the URL and the reason. */
int server_open(tierd *d, const server_endpoints *ep, server **out, td_error *err);

/* Sends topic + '\n' + payload on the PUB socket; drops it when no reader
 * keeps up (PUB semantics). Has the state_publish_fn shape, and must be the
 * state's publisher even with no PUB endpoint: a committed change passing
 * through here is what answers the ListChanges long-polls. */
void server_publish(void *server_ud, const char *topic, const uint8_t *payload, size_t len);

/* Requests over bytes are refused with RESOURCE_EXHAUSTED; the socket
 * itself takes up to about twice that, so the refusal can be sent. */
void server_set_max_request(server *s, size_t bytes);

/* The URLs the server bound, for Status. */
void server_listen_urls(const server *s, const char *const **urls, size_t *n);
void server_publish_urls(const server *s, const char *const **urls, size_t *n);

/* Stops taking requests, answers held long-polls with what there is, and
 * closes the sockets (removing ipc socket files). The poll handle closes on the loop; the server is
 * freed once it has, so run the loop to completion after this. */
void server_close(server *s);

#endif
