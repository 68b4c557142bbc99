/* JSON value spellings and the descriptor-driven protobuf -> JSON encoder
 * (td_json.h). Owns presentation only: it sends nothing. */
#include "td_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "td_time.h"

/* Integers print exactly only up to 2^53; past that a real is more honest. */
#define NUM_MAX_EXACT 9007199254740992.0
#define BASE64_CHARS  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

json_t *td_json_time(int64_t t)
{
    if (t == 0)
        return json_null();
    char buf[TD_TIME_STRLEN * 2];
    td_time_format(t, buf, sizeof buf);
    return json_string(buf);
}

json_t *td_json_num(double v)
{
    if (isfinite(v) && fabs(v) < NUM_MAX_EXACT && v == trunc(v))
        return json_integer((json_int_t)v);
    /* JSON has no NaN or infinity; null says "no number" honestly */
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *td_json_str(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not UTF-8: show what can be shown rather than lose the whole answer. */
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy)
        return json_string("");
    for (size_t i = 0; i <= len; i++)
        copy[i] = ((unsigned char)s[i] >= 0x80) ? '?' : s[i];
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *td_json_str_or_null(const char *s)
{
    return s && *s ? td_json_str(s) : json_null();
}

static json_t *base64(const ProtobufCBinaryData *b)
{
    size_t n = (b->len + 2) / 3 * 4;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        if (i + 1 < b->len)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (i + 2 < b->len)
            v |= b->data[i + 2];
        out[o++] = BASE64_CHARS[(v >> 18) & 63];
        out[o++] = BASE64_CHARS[(v >> 12) & 63];
        out[o++] = i + 1 < b->len ? BASE64_CHARS[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < b->len ? BASE64_CHARS[v & 63] : '=';
    }
    out[o] = 0;
    json_t *j = json_string(out);
    free(out);
    return j;
}

/* protobuf-c gives a map<string,string> as repeated XEntry {key=1; value=2}. */
static bool is_string_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t nl = strlen(d->short_name);
    return d->n_fields == 2 && nl > 5 && strcmp(d->short_name + nl - 5, "Entry") == 0 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
           d->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           d->fields[1].type == PROTOBUF_C_TYPE_STRING;
}

/* One value of field f stored at p. */
static json_t *scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        /* every int64 tierd sends is a time (proto/tierd.proto, "Times") */
        return td_json_time(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return td_json_num(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return td_json_num(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING:
        return td_json_str(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES:
        return base64((const ProtobufCBinaryData *)p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        return m ? td_json_from_pb(m) : json_null();
    }
    }
    return json_null();
}

static size_t type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return sizeof(uint32_t);
    }
}

static json_t *field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)(base + f->quantifier_offset);
        const char *arr = *(const char *const *)(base + f->offset);
        if (is_string_map(f)) {
            json_t *o = json_object();
            for (size_t i = 0; o && i < n; i++) {
                const ProtobufCMessage *e = ((const ProtobufCMessage *const *)arr)[i];
                const char *k = *(char *const *)((const char *)e + e->descriptor->fields[0].offset);
                const char *v = *(char *const *)((const char *)e + e->descriptor->fields[1].offset);
                json_object_set_new(o, k ? k : "", td_json_str(v));
            }
            return o;
        }
        json_t *a = json_array();
        size_t sz = type_size(f->type);
        for (size_t i = 0; a && i < n; i++)
            json_array_append_new(a, scalar(f, arr + i * sz));
        return a;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
        if (which != f->id)
            return NULL;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
               f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
               !*(const protobuf_c_boolean *)(base + f->quantifier_offset)) {
        return json_null();
    }
    return scalar(f, base + f->offset);
}

json_t *td_json_from_pb(const ProtobufCMessage *m)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v = field(m, f);
        if (v && json_object_set_new(o, f->name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
