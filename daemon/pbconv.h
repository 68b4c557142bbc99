/* What the data handlers share: their limits, the text rule (text.h, the
 * engine's too), a safe quote for echoing client strings back in messages,
 * and converters from engine views to wire messages, allocated from the
 * call's arena (rpc_alloc), so handlers never free what they return. Strings the engine reports as
 * NULL
 * ("unranked", "none") become "". */
#ifndef TD_PBCONV_H
#define TD_PBCONV_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"
#include "rpc.h"
#include "text.h"
#include "tierd.pb-c.h"

#define TD_REASON_MAX            (TD_ERROR_MAX + 2 * TD_MAX_ID + 64) /* an item result's reason */
#define TD_MAX_BATCH             10000 /* partners or events in one request */
#define TD_LIST_DEFAULT_LIMIT    100   /* ListPartners page */
#define TD_LIST_MAX_LIMIT        1000
#define TD_HISTORY_DEFAULT_LIMIT 100
#define TD_HISTORY_MAX_LIMIT     10000
#define TD_CHANGES_DEFAULT_LIMIT 1000
#define TD_CHANGES_MAX_LIMIT     10000
#define TD_NO_PROGRAM_MESSAGE    "no program loaded; load one with `tierctl program load FILE`"

/* s when td_text_ok(s, max), else a placeholder naming the problem. */
const char *pbconv_quote(const char *s, size_t max);
/* Checks a batch request before any item is read: a program must be loaded
 * (TD_FAILED_PRECONDITION) and it carries at most TD_MAX_BATCH items
 * (TD_INVALID_ARGUMENT, "batch of N <items> exceeds ..."). 0, or a negative
 * code with err set. */
int pbconv_check_batch(const engine *e, size_t n, const char *items, td_error *err);

Tierd__Criterion **pbconv_criteria(rpc_call *call, const td_criterion *c, size_t n);
Tierd__TierState *pbconv_tier_state(rpc_call *call, const td_tier_view *v);
/* The partner's tiers on every ladder it sits on; *n gets the count. With
 * at_risk, each says when it lapses and would be demoted (a walk over the
 * partner's window edges: for a few partners, not for list pages). */
Tierd__TierState **pbconv_tiers(rpc_call *call, const td_partner *p, bool at_risk, size_t *n);
/* The benefits p holds on every ladder it sits on (engine_partner_benefits);
 * *n gets the count. */
Tierd__Benefit **pbconv_benefits(rpc_call *call, const td_partner *p, size_t *n);
/* The partner as imports and upserts carry it: id, name, types, attrs. */
Tierd__Partner *pbconv_partner(rpc_call *call, const td_partner *p);
/* at_risk as for pbconv_tiers. */
Tierd__PartnerInfo *pbconv_partner_info(rpc_call *call, const td_partner *p, bool at_risk);
Tierd__LadderExplanation *pbconv_explanation(rpc_call *call, const td_explanation *x);
/* An arena copy of an unpacked message's bytes decoded again: used for
 * records read from the store (History, ListChanges). NULL on damage. */
Tierd__TierChange *pbconv_tier_change(rpc_call *call, const uint8_t *pb, size_t len);
/* The same for an event record's encoded tierd.Event (Export). */
Tierd__Event *pbconv_event(rpc_call *call, const uint8_t *pb, size_t len);

#endif
