/* Logging: the one place tierd writes diagnostics. It owns the level
 * threshold and the line format; it promises one whole line per message
 * (a single fprintf) so lines from the daemon never interleave. It does not
 * open files or talk to syslog: systemd captures stderr.
 *
 * The threshold is process state rather than a tierd field because log
 * lines come from places (config parsing, start-up) that run before the
 * daemon context exists. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LINE_MAX 2048

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

void log_msg(td_log_level level, const char *fmt, ...)
{
    if (level > log_threshold || level > TD_LOG_DEBUG)
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* A message may hold several lines (program diagnostics); journald
     * takes one priority per line, so the prefix is repeated. */
    bool journald = getenv("JOURNAL_STREAM") != NULL;
    char *save = NULL;
    for (char *part = strtok_r(line, "\n", &save); part; part = strtok_r(NULL, "\n", &save)) {
        if (journald)
            fprintf(stderr, "<%d>%s\n", log_levels[level].priority, part);
        else
            fprintf(stderr, "tierd: %s: %s\n", log_levels[level].name, part);
    }
}
