/* Logging: the one place tierd writes diagnostics. It owns the level
 * threshold and the line format; it promises one whole line per message
 * (a single fprintf) so lines from the daemon never interleave, and that a
 * message cannot split or forge a line: messages carry ids and names from
 * clients and connectors, so every byte that is not printable UTF-8 text is
 * escaped here, once, for every caller. It does not open files or talk to
 * syslog: systemd captures stderr.
 *
 * Escapes: \n \r \t, a backslash doubled, and every other C0 control, DEL,
 * C1 control (U+0080..U+009F) and byte that is not part of valid UTF-8 as
 * \xNN per byte. A message that held several lines (program diagnostics)
 * therefore reads as one line with \n between its parts.
 *
 * The json format builds each line with jansson (escaping is jansson's),
 * from the message and field values already escaped as above, so a line
 * is valid UTF-8 JSON whatever they held.
 *
 * The threshold is process state rather than a tierd field because log
 * lines come from places (config parsing, start-up) that run before the
 * daemon context exists. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text.h"

#define LOG_LINE_MAX    2048
#define LOG_ESCAPE_MAX  4 /* the longest escape of one byte: \xNN */
#define LOG_ESCAPED_MAX (LOG_LINE_MAX * LOG_ESCAPE_MAX + 1)

/* syslog priorities (sd-daemon.h SD_ERR etc.) for each level. */
static const struct {
    const char *name;
    int priority;
} log_levels[] = {
    [TD_LOG_ERROR] = {"error", 3},
    [TD_LOG_WARNING] = {"warning", 4},
    [TD_LOG_INFO] = {"info", 6},
    [TD_LOG_DEBUG] = {"debug", 7},
};

static td_log_level log_threshold = TD_LOG_DEFAULT_LEVEL;
static td_log_format log_format = TD_LOG_TEXT;

#define LOG_TIME_MAX           40
#define LOG_MS_PER_S           1000
#define LOG_NS_PER_MS          1000000L
#define LOG_NUM_MAX            32
#define LOG_FIELD_ESCAPE       (TD_LOG_FIELD_VALUE_MAX * LOG_ESCAPE_MAX + 1)
#define TD_LOG_FIELD_VALUE_MAX 512 /* bytes of a field value kept */

void log_set_format(td_log_format format)
{
    log_format = format;
}

td_log_format log_get_format(void)
{
    return log_format;
}

bool log_format_parse(const char *s, td_log_format *out)
{
    if (s && strcmp(s, "text") == 0)
        *out = TD_LOG_TEXT;
    else if (s && strcmp(s, "json") == 0)
        *out = TD_LOG_JSON;
    else
        return false;
    return true;
}

void log_set_level(td_log_level level)
{
    log_threshold = level;
}

td_log_level log_get_level(void)
{
    return log_threshold;
}

bool log_level_parse(const char *s, td_log_level *out)
{
    for (size_t i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++)
        if (s && strcmp(s, log_levels[i].name) == 0) {
            *out = (td_log_level)i;
            return true;
        }
    return false;
}

const char *log_level_name(td_log_level level)
{
    return level <= TD_LOG_DEBUG ? log_levels[level].name : "unknown";
}

/* Writes s into out (LOG_ESCAPED_MAX bytes) escaped as the file comment says. */
static void log_escape(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    size_t o = 0;
    while (*p) {
        unsigned c = *p;
        uint32_t cp = 0;
        size_t n = td_utf8_seq(p, left, &cp);
        bool c1 = n > 1 && td_text_control(cp);
        if (n == 1 && !td_text_control(cp) && c != '\\') {
            out[o++] = (char)c;
        } else if (n > 1 && !c1) {
            memcpy(out + o, p, n);
            o += n;
        } else if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            out[o++] = '\\';
            out[o++] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else {
            /* a control, or a byte that is not UTF-8: each byte as \xNN */
            size_t bytes = c1 ? 2 : 1;
            for (size_t i = 0; i < bytes; i++) {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[p[i] >> 4];
                out[o++] = hex[p[i] & 0xf];
            }
            n = bytes;
        }
        n = n ? n : 1;
        p += n;
        left -= n;
    }
    out[o] = 0;
}

/* "2026-11-27T18:31:54.123Z": the wall clock, whatever the daemon's. */
static void log_time(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + len, n - len, ".%03ldZ", ts.tv_nsec / LOG_NS_PER_MS);
}

/* Writes one line: the escaped message and fields in the format chosen. */
static void log_write(td_log_level level, const char *safe, const td_log_field *fields, size_t n)
{
    const char *prefix_fmt = getenv("JOURNAL_STREAM") != NULL ? "<%d>" : NULL;
    char prefix[8] = "";
    if (prefix_fmt)
        snprintf(prefix, sizeof prefix, prefix_fmt, log_levels[level].priority);
    if (n > TD_LOG_FIELDS_MAX)
        n = TD_LOG_FIELDS_MAX;
    if (log_format == TD_LOG_JSON) {
        char when[LOG_TIME_MAX];
        log_time(when, sizeof when);
        json_t *f = json_object();
        for (size_t i = 0; f && i < n; i++) {
            char value[LOG_FIELD_ESCAPE], cut[TD_LOG_FIELD_VALUE_MAX + 1];
            if (fields[i].str) {
                snprintf(cut, sizeof cut, "%s", fields[i].str);
                log_escape(cut, value);
                json_object_set_new(f, fields[i].key, json_string(value));
            } else {
                json_object_set_new(f, fields[i].key, json_integer(fields[i].num));
            }
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:o*}", "time", when, "level",
                              log_levels[level].name, "message", safe, "fields", f);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (line)
            fprintf(stderr, "%s%s\n", prefix, line);
        else /* out of memory: the line still goes out, as text */
            fprintf(stderr, "%stierd: %s: %s\n", prefix, log_levels[level].name, safe);
        free(line);
        json_decref(o);
        return;
    }
    char tail[LOG_ESCAPED_MAX] = "";
    size_t t = 0;
    for (size_t i = 0; i < n && t < sizeof tail; i++) {
        char value[LOG_FIELD_ESCAPE], cut[TD_LOG_FIELD_VALUE_MAX + 1], num[LOG_NUM_MAX];
        if (fields[i].str) {
            snprintf(cut, sizeof cut, "%s", fields[i].str);
            log_escape(cut, value);
        } else {
            snprintf(num, sizeof num, "%lld", fields[i].num);
            snprintf(value, sizeof value, "%s", num);
        }
        int w = snprintf(tail + t, sizeof tail - t, " %s=%s", fields[i].key, value);
        t += w > 0 ? (size_t)w : 0;
    }
    if (prefix_fmt)
        fprintf(stderr, "%s%s%s\n", prefix, safe, tail);
    else
        fprintf(stderr, "tierd: %s: %s%s\n", log_levels[level].name, safe, tail);
}

static void log_vfields(td_log_level level, const td_log_field *fields, size_t n, const char *fmt,
                        va_list ap)
{
    if (level > log_threshold || level > TD_LOG_DEBUG)
        return;
    char line[LOG_LINE_MAX];
    vsnprintf(line, sizeof line, fmt, ap);
    char safe[LOG_ESCAPED_MAX];
    log_escape(line, safe);
    log_write(level, safe, fields, n);
}

void log_fields(td_log_level level, const td_log_field *fields, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vfields(level, fields, n, fmt, ap);
    va_end(ap);
}

void log_msg(td_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vfields(level, NULL, 0, fmt, ap);
    va_end(ap);
}
