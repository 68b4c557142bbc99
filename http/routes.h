/* The JSON routes of tierd-http (docs/openapi.yaml; the contract in
 * docs/http.md): each turns its request into one tierd RPC and the answer
 * into JSON with the shared protobuf -> JSON encoder (client/td_json.h). */
#ifndef TD_HTTP_ROUTES_H
#define TD_HTTP_ROUTES_H

#include <stddef.h>

#include "server.h"

extern const http_route http_routes[];
extern const size_t http_n_routes;

/* The most items one ingest request may carry (tierd's batch cap). */
#define HTTP_MAX_ITEMS 10000

#endif
