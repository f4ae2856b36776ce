#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/timefmt.h"

static atomic_int current_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl) { atomic_store(&current_level, (int)lvl); }

int log_enabled(enum log_level lvl) { return (int)lvl >= atomic_load(&current_level); }

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

static void emit(enum log_level lvl, const char *msg, const char *const *kv)
{
    /* Log lines carry wall-clock time even under a virtual clock: they are
     * for the operator, who lives in real time. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[40];
    time_format_ms((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when, sizeof when);

    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"ts\":\"");
    buf_puts(&b, when);
    buf_puts(&b, "\",\"level\":\"");
    buf_puts(&b, level_names[lvl]);
    buf_puts(&b, "\",\"msg\":");
    buf_put_json_string(&b, msg);
    for (const char *const *p = kv; p && p[0] && p[1]; p += 2) {
        buf_putc(&b, ',');
        buf_put_json_string(&b, p[0]);
        buf_putc(&b, ':');
        if (p[1][0] == '#')
            buf_puts(&b, p[1] + 1);
        else
            buf_put_json_string(&b, p[1]);
    }
    buf_puts(&b, "}\n");
    if (!b.oom) {
        ssize_t off = 0;
        while ((size_t)off < b.len) {
            ssize_t n = write(STDERR_FILENO, b.data + off, b.len - (size_t)off);
            if (n <= 0)
                break;
            off += n;
        }
    }
    buf_free(&b);
}

void log_kv(enum log_level lvl, const char *msg, const char *const *kv)
{
    if (log_enabled(lvl))
        emit(lvl, msg, kv);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;
    buf b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    emit(lvl, buf_cstr(&b), NULL);
    buf_free(&b);
}
