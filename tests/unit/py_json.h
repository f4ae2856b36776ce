/* An emulation of the merchants' older webhook verifier, for tests: it
 * re-serialises a received body with Python's json.dumps(json.loads(body),
 * separators=(",", ":")). Written independently of the code under test:
 * its own tokenizer (keeping Python's int/float distinction, which a parsed
 * cJSON tree loses), its own string decoder and encoder, and its own float
 * repr (rounding modes instead of neighbour digits). A body is accepted by
 * that verifier exactly when it is a fixed point of py_redump.
 * Header-only, so that each unit test stays one translation unit. */
#ifndef RECOUP_TESTS_PY_JSON_H
#define RECOUP_TESTS_PY_JSON_H

#include <fenv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

struct rd {
    const char *p;
    buf out;
    int err;
};

static void rd_ws(struct rd *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static unsigned rd_hex4(struct rd *r)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            r->err = 1;
    }
    return v;
}

/* Python's ensure_ascii encoder, one code point at a time. */
static void py_put_cp(buf *b, unsigned cp)
{
    switch (cp) {
    case '"': buf_puts(b, "\\\""); return;
    case '\\': buf_puts(b, "\\\\"); return;
    case '\n': buf_puts(b, "\\n"); return;
    case '\r': buf_puts(b, "\\r"); return;
    case '\t': buf_puts(b, "\\t"); return;
    case '\b': buf_puts(b, "\\b"); return;
    case '\f': buf_puts(b, "\\f"); return;
    default: break;
    }
    if (cp >= 0x20 && cp <= 0x7e)
        buf_putc(b, (char)cp);
    else if (cp < 0x10000)
        buf_printf(b, "\\u%04x", cp);
    else
        buf_printf(b, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
}

static void rd_string(struct rd *r)
{
    r->p++; /* opening quote */
    buf_putc(&r->out, '"');
    while (!r->err && *r->p != '"') {
        const unsigned char *u = (const unsigned char *)r->p;
        unsigned cp;
        if (!*u) {
            r->err = 1;
            return;
        }
        if (*u == '\\') {
            r->p++;
            char e = *r->p++;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                cp = rd_hex4(r);
                if (cp >= 0xd800 && cp < 0xdc00 && r->p[0] == '\\' && r->p[1] == 'u') {
                    const char *save = r->p;
                    r->p += 2;
                    unsigned lo = rd_hex4(r);
                    if (lo >= 0xdc00 && lo < 0xe000)
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    else
                        r->p = save;
                }
                break;
            default: r->err = 1; return;
            }
        } else if (*u < 0x80) {
            cp = *u;
            r->p++;
        } else {
            int n = *u >= 0xf0 ? 4 : *u >= 0xe0 ? 3 : 2;
            cp = *u & (n == 4 ? 0x07 : n == 3 ? 0x0f : 0x1f);
            for (int i = 1; i < n; i++)
                cp = (cp << 6) | (u[i] & 0x3f);
            r->p += n;
        }
        py_put_cp(&r->out, cp);
    }
    if (*r->p == '"')
        r->p++;
    buf_putc(&r->out, '"');
}

/* repr(float), found another way than the code under test: at each length
 * the digits rounded to nearest, down and up, and the first that reads back. */
static void py_repr(buf *b, double v)
{
    static const int modes[3] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD};
    char s[48] = "";
    int found = 0;
    for (int prec = 1; prec <= 17 && !found; prec++) {
        for (int m = 0; m < 3 && !found; m++) {
            fesetround(modes[m]);
            snprintf(s, sizeof s, "%.*e", prec - 1, v);
            fesetround(FE_TONEAREST);
            found = strtod(s, NULL) == v;
        }
    }
    char mant[24];
    size_t nm = 0;
    const char *q = s;
    if (*q == '-') {
        buf_putc(b, '-');
        q++;
    }
    for (; *q != 'e'; q++)
        if (*q != '.')
            mant[nm++] = *q;
    while (nm > 1 && mant[nm - 1] == '0')
        nm--;
    mant[nm] = '\0';
    long e = strtol(q + 1, NULL, 10);
    if (e >= -5 + 1 && e < 16) {
        /* fixed notation, at least one digit after the point */
        char fixed[400];
        size_t k = 0;
        if (e < 0) {
            fixed[k++] = '0';
            fixed[k++] = '.';
            for (long i = 0; i < -e - 1; i++)
                fixed[k++] = '0';
            for (size_t i = 0; i < nm; i++)
                fixed[k++] = mant[i];
        } else {
            for (long i = 0; i <= e; i++)
                fixed[k++] = (size_t)i < nm ? mant[i] : '0';
            fixed[k++] = '.';
            if ((size_t)e + 1 < nm)
                for (size_t i = (size_t)e + 1; i < nm; i++)
                    fixed[k++] = mant[i];
            else
                fixed[k++] = '0';
        }
        fixed[k] = '\0';
        buf_puts(b, fixed);
    } else {
        buf_putc(b, mant[0]);
        if (nm > 1)
            buf_printf(b, ".%s", mant + 1);
        buf_printf(b, "e%c%02ld", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

static void rd_number(struct rd *r)
{
    const char *start = r->p;
    int is_float = 0;
    while (strchr("-+0123456789.eE", *r->p) && *r->p) {
        if (*r->p == '.' || *r->p == 'e' || *r->p == 'E')
            is_float = 1;
        r->p++;
    }
    size_t n = (size_t)(r->p - start);
    if (n == 0) {
        r->err = 1;
        return;
    }
    char lit[400];
    if (n >= sizeof lit) {
        r->err = 1;
        return;
    }
    memcpy(lit, start, n);
    lit[n] = '\0';
    if (is_float)
        py_repr(&r->out, strtod(lit, NULL));
    else if (strcmp(lit, "-0") == 0)
        buf_puts(&r->out, "0"); /* int("-0") is 0 */
    else
        buf_puts(&r->out, lit); /* Python ints keep every digit */
}

static void rd_value(struct rd *r)
{
    rd_ws(r);
    if (r->err)
        return;
    char c = *r->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        buf_putc(&r->out, c);
        r->p++;
        rd_ws(r);
        if (*r->p == close) {
            r->p++;
            buf_putc(&r->out, close);
            return;
        }
        for (;;) {
            if (c == '{') {
                rd_ws(r);
                if (*r->p != '"') {
                    r->err = 1;
                    return;
                }
                rd_string(r);
                rd_ws(r);
                if (*r->p++ != ':') {
                    r->err = 1;
                    return;
                }
                buf_putc(&r->out, ':');
            }
            rd_value(r);
            rd_ws(r);
            if (r->err)
                return;
            if (*r->p == ',') {
                r->p++;
                buf_putc(&r->out, ',');
                continue;
            }
            if (*r->p++ != close)
                r->err = 1;
            buf_putc(&r->out, close);
            return;
        }
    }
    if (c == '"') {
        rd_string(r);
    } else if (strncmp(r->p, "true", 4) == 0) {
        buf_puts(&r->out, "true");
        r->p += 4;
    } else if (strncmp(r->p, "false", 5) == 0) {
        buf_puts(&r->out, "false");
        r->p += 5;
    } else if (strncmp(r->p, "null", 4) == 0) {
        buf_puts(&r->out, "null");
        r->p += 4;
    } else {
        rd_number(r);
    }
}

/* json.dumps(json.loads(text), separators=(",", ":")), malloc'd; NULL when
 * text is not JSON. */
static char *py_redump(const char *text)
{
    struct rd r = {.p = text};
    buf_init(&r.out);
    rd_value(&r);
    rd_ws(&r);
    if (r.err || *r.p) {
        buf_free(&r.out);
        return NULL;
    }
    return buf_steal(&r.out, NULL);
}

#endif
