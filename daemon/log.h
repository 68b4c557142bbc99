/* Levelled logging to stderr. Under journald (JOURNAL_STREAM set) each line
 * carries a "<N>" syslog priority prefix so the journal keeps the level;
 * otherwise lines read "tierd: level: message". With the json format
 * (`log_format: json`) each line (after the prefix, under journald) is one
 * JSON object: {"time": RFC 3339 UTC with milliseconds, "level", "message",
 * "fields": {KEY: string or number, ...}}. One message is one line:
 * newlines, other controls and bytes that are not UTF-8 in it are escaped
 * (\n, \r, \t, \\, \xNN), so callers may log any id or name as it came. */
#ifndef TD_LOG_H
#define TD_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum td_log_level {
    TD_LOG_ERROR = 0,
    TD_LOG_WARNING = 1,
    TD_LOG_INFO = 2,
    TD_LOG_DEBUG = 3,
} td_log_level;

#define TD_LOG_DEFAULT_LEVEL TD_LOG_INFO

/* Messages above level are dropped. */
void log_set_level(td_log_level level);
td_log_level log_get_level(void);
/* "error", "warning", "info", "debug"; returns false for anything else. */
bool log_level_parse(const char *s, td_log_level *out);
const char *log_level_name(td_log_level level);

typedef enum td_log_format {
    TD_LOG_TEXT = 0,
    TD_LOG_JSON = 1,
} td_log_format;

void log_set_format(td_log_format format);
td_log_format log_get_format(void);
/* "text", "json"; false for anything else. */
bool log_format_parse(const char *s, td_log_format *out);

void log_msg(td_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A fact of a line kept apart from the message: a member of "fields" in
 * json, " key=value" after the message in text. Values are escaped like
 * messages. */
typedef struct td_log_field {
    const char *key;
    const char *str; /* NULL: the number */
    long long num;
} td_log_field;
#define TD_LOG_STR(k, v)  ((td_log_field){.key = (k), .str = (v) ? (v) : ""})
#define TD_LOG_NUM(k, v)  ((td_log_field){.key = (k), .num = (long long)(v)})
#define TD_LOG_FIELDS_MAX 16 /* more are dropped */

void log_fields(td_log_level level, const td_log_field *fields, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(...)   log_msg(TD_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(TD_LOG_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(TD_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(TD_LOG_DEBUG, __VA_ARGS__)

#endif
