/* The test receiver (webhook_receiver.h). */
#include "webhook_receiver.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WR_BODY_MAX  (1 << 20)
#define WR_HUGE_SIZE ((uint64_t)64 << 20)
#define WR_BLOCK     (32 * 1024)
#define WR_SHA256    32

struct wr {
    struct MHD_Daemon *d;
    char secret[256];
    pthread_mutex_t mu;
    wr_mode mode;
    int status;
    long stall_ms;
    int first; /* > 0: requests left in `mode` */
    volatile bool stopping;
    wr_request *reqs;
    size_t n, cap;
    size_t ok, other;
    uint64_t huge;
};

typedef struct upload {
    char *body;
    size_t len;
} upload;

static bool verify(const wr *w, const char *ts, const char *sig, const char *body, size_t len)
{
    if (!ts || !sig)
        return false;
    size_t tlen = strlen(ts);
    char *msg = malloc(tlen + 1 + len + 1);
    if (!msg)
        return false;
    memcpy(msg, ts, tlen);
    msg[tlen] = '.';
    memcpy(msg + tlen + 1, body, len);
    unsigned char mac[WR_SHA256];
    size_t mac_len = 0;
    bool ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, w->secret, strlen(w->secret),
                        (unsigned char *)msg, tlen + 1 + len, mac, sizeof mac, &mac_len) != NULL;
    free(msg);
    char want[3 + 2 * WR_SHA256 + 1] = "v1=";
    for (size_t i = 0; ok && i < WR_SHA256; i++)
        sprintf(want + 3 + 2 * i, "%02x", mac[i]);
    return ok && strlen(sig) == strlen(want) && CRYPTO_memcmp(sig, want, strlen(want)) == 0;
}

static ssize_t huge_block(void *cls, uint64_t pos, char *buf, size_t max)
{
    wr *w = cls;
    if (pos >= WR_HUGE_SIZE || w->stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = max < WR_BLOCK ? max : WR_BLOCK;
    memset(buf, 'x', n);
    pthread_mutex_lock(&w->mu);
    w->huge += n;
    pthread_mutex_unlock(&w->mu);
    return (ssize_t)n;
}

static enum MHD_Result answer(wr *w, struct MHD_Connection *c, wr_mode mode, int status)
{
    struct MHD_Response *r;
    if (mode == WR_HUGE)
        r = MHD_create_response_from_callback(WR_HUGE_SIZE, WR_BLOCK, huge_block, w, NULL);
    else
        r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (mode == WR_REDIRECT)
        MHD_add_response_header(r, "Location", "/elsewhere");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **state)
{
    (void)method;
    (void)version;
    wr *w = cls;
    upload *u = *state;
    if (!u) {
        *state = u = calloc(1, sizeof *u);
        return u ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        if (u->len + *data_size <= WR_BODY_MAX) {
            char *b = realloc(u->body, u->len + *data_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + u->len, data, *data_size);
            u->body = b;
            u->len += *data_size;
            b[u->len] = 0;
        }
        *data_size = 0;
        return MHD_YES;
    }
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tierd-Timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tierd-Signature");
    wr_request r = {0};
    copy(r.id, sizeof r.id, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Tierd-Delivery"));
    copy(r.path, sizeof r.path, url);
    r.timestamp = ts ? atoll(ts) : 0;
    r.signed_ok = verify(w, ts, sig, u->body ? u->body : "", u->len);
    r.body = strdup(u->body ? u->body : "");
    json_t *doc = json_loads(r.body ? r.body : "", 0, NULL);
    copy(r.partner, sizeof r.partner, json_string_value(json_object_get(doc, "partner")));
    copy(r.kind, sizeof r.kind, json_string_value(json_object_get(doc, "kind")));
    json_decref(doc);

    pthread_mutex_lock(&w->mu);
    bool other = strcmp(url, "/hook") != 0;
    wr_mode mode = other ? WR_OK : w->mode;
    int status = mode == WR_STATUS ? w->status : mode == WR_REDIRECT ? 302 : 200;
    long stall = w->stall_ms;
    if (!other && w->first > 0 && --w->first == 0)
        w->mode = WR_OK;
    r.status = status;
    if (other)
        w->other++;
    if (status >= 200 && status < 300 && mode != WR_STALL)
        w->ok++;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        wr_request *nr = realloc(w->reqs, cap * sizeof *nr);
        if (nr) {
            w->reqs = nr;
            w->cap = cap;
        }
    }
    if (w->n < w->cap)
        w->reqs[w->n++] = r;
    else
        free(r.body);
    pthread_mutex_unlock(&w->mu);

    if (mode == WR_STALL) {
        for (long waited = 0; waited < stall && !w->stopping; waited += 10)
            usleep(10 * 1000);
        pthread_mutex_lock(&w->mu);
        w->ok++;
        pthread_mutex_unlock(&w->mu);
    }
    return answer(w, c, mode, status);
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
    *state = NULL;
}

wr *wr_start(const char *secret)
{
    wr *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->secret, sizeof w->secret, "%s", secret);
    pthread_mutex_init(&w->mu, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    w->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, on_request, w, MHD_OPTION_SOCK_ADDR, &addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!w->d) {
        free(w);
        return NULL;
    }
    return w;
}

unsigned wr_port(const wr *w)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void wr_stop(wr *w)
{
    if (!w)
        return;
    w->stopping = true;
    MHD_stop_daemon(w->d);
    for (size_t i = 0; i < w->n; i++)
        free(w->reqs[i].body);
    free(w->reqs);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void wr_set_mode(wr *w, wr_mode mode, int status, long stall_ms, int first)
{
    pthread_mutex_lock(&w->mu);
    w->mode = mode;
    w->status = status;
    w->stall_ms = stall_ms;
    w->first = first;
    pthread_mutex_unlock(&w->mu);
}

#define WR_LOCKED(w, expr)                                                                         \
    do {                                                                                           \
        pthread_mutex_lock(&(w)->mu);                                                              \
        expr;                                                                                      \
        pthread_mutex_unlock(&(w)->mu);                                                            \
    } while (0)

unsigned wr_open_connections(wr *w)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

size_t wr_count(wr *w)
{
    size_t n;
    WR_LOCKED(w, n = w->n);
    return n;
}

size_t wr_count_ok(wr *w)
{
    size_t n;
    WR_LOCKED(w, n = w->ok);
    return n;
}

size_t wr_count_other_path(wr *w)
{
    size_t n;
    WR_LOCKED(w, n = w->other);
    return n;
}

uint64_t wr_huge_bytes(wr *w)
{
    uint64_t n;
    WR_LOCKED(w, n = w->huge);
    return n;
}

bool wr_get(wr *w, size_t i, wr_request *out)
{
    bool ok;
    WR_LOCKED(
        w, ok = i < w->n; if (ok) {
            *out = w->reqs[i];
            out->body = strdup(w->reqs[i].body ? w->reqs[i].body : "");
        });
    return ok;
}
