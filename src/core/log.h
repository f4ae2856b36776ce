/* Structured logging: one JSON object per line on stderr, written with a
 * single write(2) so that lines from concurrent threads never interleave. */
#ifndef RECOUP_CORE_LOG_H
#define RECOUP_CORE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *out);
int log_enabled(enum log_level lvl);

/* kv is a NULL-terminated list of key, value string pairs. Values that
 * start with '#' are written as raw JSON (numbers), the '#' dropped. */
void log_kv(enum log_level lvl, const char *msg, const char *const *kv);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
