/* tierd-http's own config file (examples/tierd-http.yaml, docs/http.md):
 * where it listens, how it reaches tierd, who may call it and its limits.
 * Read with the YAML reader every tierd file shares (common/td_yaml.h), so
 * every problem reads "file:line:column: what". It applies nothing: main.c
 * decides what a SIGHUP changes (the tokens). */
#ifndef TD_HTTP_CONFIG_H
#define TD_HTTP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "tierd/status.h"

#define HTTP_DEFAULT_LISTEN   "127.0.0.1:7480"
#define HTTP_MIN_TOKEN_BYTES  16
#define HTTP_MAX_TOKEN_BYTES  256
#define HTTP_MAX_TOKEN_NAME   64
#define HTTP_MAX_TOKENS       1024
#define HTTP_MAX_PATH         4096
#define HTTP_MAX_CONFIG_BYTES (1024 * 1024)
#define HTTP_MAX_PARTNER_ID   256
/* examples/tierd-http.yaml's tokens start with this (any case): refused,
 * so the installed example never serves with secrets everybody knows. */
#define HTTP_PLACEHOLDER_TOKEN "CHANGE-ME"

typedef enum http_role {
    HTTP_ROLE_PARTNER = 0, /* one partner's own routes only */
    HTTP_ROLE_READ,
    HTTP_ROLE_WRITE,
    HTTP_ROLE_ADMIN,
} http_role;

typedef struct http_token {
    char *name;
    char *secret;
    http_role role;
    char *partner; /* HTTP_ROLE_PARTNER: the partner id it sees */
} http_token;

typedef struct http_config {
    char *listen; /* HOST:PORT, numeric host */
    bool allow_remote;
    char *tierd_url;   /* NULL: libtierd-client's default */
    char *tierd_token; /* what tierd-http sends upstream; NULL = none */
    unsigned upstream_timeout_ms;
    unsigned upstream_sockets; /* REQ sockets at most, long-polls included */
    http_token *tokens;
    size_t n_tokens;
    size_t max_header_bytes;
    size_t max_body_bytes;
    double rate_per_second; /* per token */
    unsigned burst;
    unsigned idle_timeout_s;    /* a connection with no traffic this long is closed */
    unsigned request_timeout_s; /* a request must arrive whole within this */
    unsigned max_connections;
    char *static_dir;  /* NULL: the installed datadir */
    bool metrics_open; /* /metrics without a token (loopback listeners only) */
} http_config;

http_config *http_config_default(void);
void http_config_free(http_config *c);
/* Reads path over the defaults. 0, or -code with err "file:line:column: what". */
int http_config_load(const char *path, http_config **out, td_error *err);
/* "read", "write", "admin" or "partner". */
const char *http_role_name(http_role r);
/* "HOST:PORT" -> a socket address; refuses non-numeric hosts and, without
 * allow_remote, addresses beyond loopback. */
int http_listen_parse(const char *s, bool allow_remote, struct sockaddr_storage *addr,
                      socklen_t *len, td_error *err);

#endif
