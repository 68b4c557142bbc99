/* webhook-receiver: a small receiver for tierd's webhooks that checks each
 * POST's signature and prints it (docs/webhooks.md, "Verifying").
 *
 *   webhook-receiver --port 8787 --secret S [--tolerance SECONDS]
 *
 * It listens on 127.0.0.1 only; --port 0 picks a free port. The address
 * goes to stderr ("listening on http://127.0.0.1:PORT/").
 * Every notice prints one line on stdout:
 *   verified DELIVERY-ID BODY        signature good, timestamp fresh: 200
 *   REFUSED DELIVERY-ID WHY          anything else: 401
 * A receiver should also drop a delivery id it has already handled (tierd
 * sends a delivery again, with the same id, when it crashed between the
 * send and the acknowledgement); this one prints "duplicate" for those. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX   (1 << 20)
#define SEEN_MAX   4096
#define SHA256_LEN 32

typedef struct upload {
    char *body;
    size_t len;
    bool too_big;
} upload;

static const char *secret;
static long tolerance = 300;
static char *seen[SEEN_MAX];
static size_t n_seen;

/* "v1=" + hex(HMAC-SHA256(secret, timestamp "." body)) into out[68]. */
static int sign(const char *ts, const char *body, size_t len, char *out)
{
    size_t tlen = strlen(ts);
    char *msg = malloc(tlen + 1 + len);
    if (!msg)
        return -1;
    memcpy(msg, ts, tlen);
    msg[tlen] = '.';
    memcpy(msg + tlen + 1, body, len);
    unsigned char mac[SHA256_LEN];
    size_t mac_len = 0;
    unsigned char *ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
                                  (unsigned char *)msg, tlen + 1 + len, mac, sizeof mac, &mac_len);
    free(msg);
    if (!ok || mac_len != SHA256_LEN)
        return -1;
    strcpy(out, "v1=");
    for (size_t i = 0; i < SHA256_LEN; i++)
        sprintf(out + 3 + 2 * i, "%02x", mac[i]);
    return 0;
}

static bool already_seen(const char *id)
{
    for (size_t i = 0; i < n_seen; i++)
        if (strcmp(seen[i], id) == 0)
            return true;
    if (n_seen < SEEN_MAX)
        seen[n_seen++] = strdup(id);
    return false;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **state)
{
    (void)cls;
    (void)url;
    (void)version;
    upload *u = *state;
    if (!u) {
        if (strcmp(method, "POST") != 0)
            return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED);
        *state = u = calloc(1, sizeof *u);
        return u ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        if (u->len + *data_size > BODY_MAX) {
            u->too_big = true;
        } else {
            char *b = realloc(u->body, u->len + *data_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + u->len, data, *data_size);
            u->body = b;
            u->len += *data_size;
            u->body[u->len] = 0;
        }
        *data_size = 0;
        return MHD_YES;
    }
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tierd-Delivery");
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tierd-Timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tierd-Signature");
    char want[3 + 2 * SHA256_LEN + 1];
    const char *why = NULL;
    if (!id || !ts || !sig)
        why = "missing X-Tierd-Delivery, -Timestamp or -Signature";
    else if (u->too_big)
        why = "body too large";
    else if (labs((long)time(NULL) - atol(ts)) > tolerance)
        why = "timestamp too old or in the future (replayed?)";
    else if (sign(ts, u->body ? u->body : "", u->len, want) != 0)
        why = "cannot compute HMAC";
    else if (strlen(sig) != strlen(want) || CRYPTO_memcmp(sig, want, strlen(want)) != 0)
        why = "signature does not match";
    if (why)
        printf("REFUSED %s %s\n", id ? id : "-", why);
    else
        printf("%s %s %s\n", already_seen(id) ? "duplicate" : "verified", id, u->body);
    fflush(stdout);
    return reply(c, why ? MHD_HTTP_UNAUTHORIZED : MHD_HTTP_OK);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    upload *u = *state;
    if (u) {
        free(u->body);
        free(u);
    }
}

int main(int argc, char **argv)
{
    int port = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--secret") == 0)
            secret = argv[i + 1];
        else if (strcmp(argv[i], "--tolerance") == 0)
            tolerance = atol(argv[i + 1]);
    }
    if (port < 0 || port > 65535 || !secret) {
        fprintf(stderr, "usage: webhook-receiver --port N --secret S [--tolerance SECONDS]\n");
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "webhook-receiver: cannot listen on port %d\n", port);
        return 1;
    }
    /* The port the kernel picked for --port 0, from the listening socket. */
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_in bound = {0};
    socklen_t blen = sizeof bound;
    if (info && getsockname(info->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        port = ntohs(bound.sin_port);
    fprintf(stderr, "webhook-receiver: listening on http://127.0.0.1:%d/\n", port);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
