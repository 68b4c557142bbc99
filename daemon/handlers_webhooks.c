/* ListDeliveries (read) and ResendDeliveries (admin): the outbox and the
 * dead letters as an operator sees them (docs/webhooks.md, docs/rpc.md). */
#include "handlers.h"
#include "webhooks.h"

int handle_list_deliveries(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           td_error *err)
{
    const Tierd__ListDeliveriesRequest *r = (const Tierd__ListDeliveriesRequest *)req;
    Tierd__ListDeliveriesResponse *out = rpc_alloc(call, sizeof *out);
    tierd__list_deliveries_response__init(out);
    int rc = webhooks_list(call->d, call, r, out, err);
    if (rc)
        return rc;
    *resp = &out->base;
    return 0;
}

int handle_resend_deliveries(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                             td_error *err)
{
    const Tierd__ResendDeliveriesRequest *r = (const Tierd__ResendDeliveriesRequest *)req;
    Tierd__ResendDeliveriesResponse *out = rpc_alloc(call, sizeof *out);
    tierd__resend_deliveries_response__init(out);
    uint64_t resent = 0;
    int rc = webhooks_resend(call->d, r, &resent, err);
    if (rc)
        return rc;
    out->resent = resent;
    *resp = &out->base;
    return 0;
}
