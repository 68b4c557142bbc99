/* Levelled logging to stderr. Under journald (JOURNAL_STREAM set) each line
 * carries a "<N>" syslog priority prefix so the journal keeps the level;
 * otherwise lines read "tierd: level: message". One message is one line:
 * newlines, other controls and bytes that are not UTF-8 in it are escaped
 * (\n, \r, \t, \\, \xNN), so callers may log any id or name as it came. */
#ifndef TD_LOG_H
#define TD_LOG_H

#include <stdbool.h>

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

void log_msg(td_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_msg(TD_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(TD_LOG_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(TD_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(TD_LOG_DEBUG, __VA_ARGS__)

#endif
