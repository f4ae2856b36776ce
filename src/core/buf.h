/* A growable byte buffer: the one way recoup builds strings, so that no
 * caller needs sprintf or fixed-size scratch arrays. */
#ifndef RECOUP_CORE_BUF_H
#define RECOUP_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;   /* always NUL-terminated when len > 0 or after buf_reserve */
    size_t len;
    size_t cap;
    int oom;      /* set once an allocation failed; further appends are no-ops */
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b);
int buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *data, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_put_i64(buf *b, int64_t v);
/* Appends s as a JSON string literal (quotes included), escaping control
 * characters and, so that every byte on the wire is ASCII, non-ASCII UTF-8
 * as \uXXXX (surrogate pairs above the BMP). */
void buf_put_json_string(buf *b, const char *s);
/* Appends s percent-encoded for a URL path segment or query value: every
 * byte but the unreserved ones (letters, digits, "-._~") and those in
 * also_safe (may be NULL) as %XX. */
void buf_put_url_escaped(buf *b, const char *s, const char *also_safe);
/* Hands the contents to the caller (who frees them) and resets b. */
char *buf_steal(buf *b, size_t *len);
const char *buf_cstr(buf *b);

/* Bounded string copy that always terminates; returns 0, or -1 on truncation. */
int str_copy(char *dst, size_t dstsz, const char *src);
/* Parses a whole decimal string as int64; 0 on success. */
int str_to_i64(const char *s, int64_t *out);

#endif
