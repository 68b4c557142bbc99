/* JSON for tierd's clients (tierctl, tierd-http): the value spellings they
 * share (times as RFC 3339 or null, numbers that JSON can hold, strings
 * that survive bytes which are not UTF-8) and a protobuf -> JSON encoder
 * driven by protobuf-c's descriptors, so a new proto field shows up in
 * tierd-http's answers without code.
 *
 * The encoder follows protobuf's JSON mapping with the proto field names
 * kept (lower_snake_case) and every field printed, defaults included, with
 * tierd's conventions (docs/rpc.md, "Requests and replies"): every int64 is
 * a daemon time, printed as RFC 3339 with 0 as null; doubles that are not
 * finite are null; enums are their value names; map<string,string> fields
 * are objects; absent sub-messages are null. */
#ifndef TD_JSON_H
#define TD_JSON_H

#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Daemon time (seconds since the epoch; 0 = none) as RFC 3339 or null. */
json_t *td_json_time(int64_t t);
/* Integral values as JSON integers, others as reals, non-finite as null. */
json_t *td_json_num(double v);
/* A JSON string that survives bytes that are not UTF-8 (they become '?'). */
json_t *td_json_str(const char *s);
/* td_json_str, or null for NULL and "". */
json_t *td_json_str_or_null(const char *s);

/* The message as a JSON object (NULL only when memory ran out). */
json_t *td_json_from_pb(const ProtobufCMessage *m);

#endif
