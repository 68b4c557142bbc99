/* Benefit handlers: GetBenefits and ListBenefitHolders (docs/rpc.md,
 * "Benefits"), the batched reads a deal-registration or MDF service makes.
 *
 * Owns checking these requests and turning the engine's grants into
 * replies. Reads only; nothing here changes state. A page of holders is
 * one walk of the engine's id-sorted view (engine_benefit_holders), so a
 * generous page costs no sort at any number of partners. */
#include <string.h>

#include "handlers.h"
#include "pbconv.h"

#define HOLDERS_DEFAULT_LIMIT 10000
#define HOLDERS_MAX_LIMIT     100000

int handle_get_benefits(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        td_error *err)
{
    const Tierd__GetBenefitsRequest *r = (const Tierd__GetBenefitsRequest *)req;
    engine *e = call->d->engine;
    int rc = pbconv_check_batch(e, r->n_partners, "partners", err);
    if (rc)
        return rc;
    Tierd__GetBenefitsResponse *out = rpc_alloc(call, sizeof *out);
    tierd__get_benefits_response__init(out);
    out->n_partners = r->n_partners;
    out->partners = rpc_alloc(call, (r->n_partners ? r->n_partners : 1) * sizeof *out->partners);
    for (size_t i = 0; i < r->n_partners; i++) {
        const char *id = r->partners[i];
        Tierd__PartnerBenefits *pb = rpc_alloc(call, sizeof *pb);
        tierd__partner_benefits__init(pb);
        td_partner *p = td_text_ok(id, TD_MAX_ID) ? engine_partner_find(e, id) : NULL;
        pb->partner = rpc_strdup(call, p ? id : pbconv_quote(id, TD_MAX_ID));
        pb->found = p != NULL;
        if (p)
            pb->benefits = pbconv_benefits(call, p, &pb->n_benefits);
        out->partners[i] = pb;
    }
    *resp = &out->base;
    return 0;
}

int handle_list_benefit_holders(rpc_call *call, const ProtobufCMessage *req,
                                ProtobufCMessage **resp, td_error *err)
{
    const Tierd__ListBenefitHoldersRequest *r = (const Tierd__ListBenefitHoldersRequest *)req;
    engine *e = call->d->engine;
    const program *prog = engine_program(e);
    if (!prog)
        return td_error_set(err, TD_FAILED_PRECONDITION, TD_NO_PROGRAM_MESSAGE);
    if (!r->benefit || !*r->benefit)
        return td_error_set(err, TD_INVALID_ARGUMENT, "benefit: a benefit name is required");
    const char *ladder = r->ladder && *r->ladder ? r->ladder : NULL;
    const char *after = r->after && *r->after ? r->after : NULL;
    if (after && strnlen(after, TD_MAX_ID + 1) > TD_MAX_ID)
        return td_error_set(err, TD_INVALID_ARGUMENT, "after: longer than %d bytes", TD_MAX_ID);
    size_t limit = r->limit == 0                  ? HOLDERS_DEFAULT_LIMIT
                   : r->limit > HOLDERS_MAX_LIMIT ? HOLDERS_MAX_LIMIT
                                                  : r->limit;
    td_holder *found = rpc_alloc(call, (limit + TD_MAX_LADDERS - 1) * sizeof *found);
    bool more = false;
    td_error lerr = {0};
    size_t n = engine_benefit_holders(e, r->benefit, ladder, after, found, limit, &more, &lerr);
    if (lerr.code != TD_OK)
        return td_error_set(err, lerr.code == TD_NOT_FOUND ? TD_INVALID_ARGUMENT : lerr.code, "%s",
                            lerr.message);
    Tierd__ListBenefitHoldersResponse *out = rpc_alloc(call, sizeof *out);
    tierd__list_benefit_holders_response__init(out);
    out->n_holders = n;
    out->holders = rpc_alloc(call, (n ? n : 1) * sizeof *out->holders);
    for (size_t i = 0; i < n; i++) {
        const td_holder *h = &found[i];
        const ladder_def *ld = &prog->ladders[h->ladder];
        td_partner_info info;
        engine_partner_info(h->partner, &info);
        Tierd__BenefitHolder *bh = rpc_alloc(call, sizeof *bh);
        tierd__benefit_holder__init(bh);
        bh->partner = rpc_strdup(call, info.id);
        bh->ladder = rpc_strdup(call, ld->name);
        bh->tier = rpc_strdup(call, ladder_tier_name(ld, h->tier));
        bh->value = rpc_strdup(call, h->grant->def->value);
        bh->number = h->grant->def->number;
        bh->has_number = h->grant->def->has_number;
        bh->granted_by = rpc_strdup(call, h->grant->tier);
        out->holders[i] = bh;
    }
    out->next = rpc_strdup(call, more && n ? out->holders[n - 1]->partner : "");
    *resp = &out->base;
    return 0;
}
