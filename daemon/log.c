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
 * The threshold is process state rather than a tierd field because log
 * lines come from places (config parsing, start-up) that run before the
 * daemon context exists. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

void log_msg(td_log_level level, const char *fmt, ...)
{
    if (level > log_threshold || level > TD_LOG_DEBUG)
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char safe[LOG_ESCAPED_MAX];
    log_escape(line, safe);
    /* journald reads the "<N>" prefix as the line's priority. */
    if (getenv("JOURNAL_STREAM") != NULL)
        fprintf(stderr, "<%d>%s\n", log_levels[level].priority, safe);
    else
        fprintf(stderr, "tierd: %s: %s\n", log_levels[level].name, safe);
}
