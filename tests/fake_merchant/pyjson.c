#include "pyjson.h"

#include <fenv.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Takes the text out of b (an empty string for an empty buffer). */
static char *sb_take(struct sbuf *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

struct parser {
    const unsigned char *s;
    size_t len, pos;
    int depth;
};

#define MAX_DEPTH 512

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len &&
           (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int lit(struct parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0) {
        p->pos += n;
        return 1;
    }
    return 0;
}

/* One code point as ensure_ascii writes it. */
static void put_code_point(struct sbuf *b, uint32_t cp)
{
    char esc[16];
    switch (cp) {
    case '"': sb_str(b, "\\\""); return;
    case '\\': sb_str(b, "\\\\"); return;
    case '\n': sb_str(b, "\\n"); return;
    case '\r': sb_str(b, "\\r"); return;
    case '\t': sb_str(b, "\\t"); return;
    case '\b': sb_str(b, "\\b"); return;
    case '\f': sb_str(b, "\\f"); return;
    default: break;
    }
    if (cp >= 0x20 && cp <= 0x7e) {
        char c = (char)cp;
        sb_add(b, &c, 1);
    } else if (cp < 0x10000) {
        snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
        sb_str(b, esc);
    } else {
        uint32_t v = cp - 0x10000;
        snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xd800 + (v >> 10)), (unsigned)(0xdc00 + (v & 0x3ff)));
        sb_str(b, esc);
    }
}

static int hex4(struct parser *p, uint32_t *out)
{
    if (p->len - p->pos < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p->s[p->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* One strict UTF-8 sequence (no overlongs, no encoded surrogates), as
 * Python's decoder accepts it. */
static int utf8_next(struct parser *p, uint32_t *out)
{
    const unsigned char *s = p->s + p->pos;
    size_t left = p->len - p->pos;
    unsigned char c = s[0];
    int n;
    uint32_t cp, min;
    if (c < 0x80) {
        *out = c;
        p->pos++;
        return 0;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (left < (size_t)n)
        return -1;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    p->pos += (size_t)n;
    *out = cp;
    return 0;
}

static int parse_string(struct parser *p, struct sbuf *out)
{
    p->pos++; /* the opening quote */
    sb_str(out, "\"");
    for (;;) {
        if (p->pos >= p->len)
            return -1;
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            sb_str(out, "\"");
            return 0;
        }
        if (c < 0x20)
            return -1;
        uint32_t cp;
        if (c != '\\') {
            if (utf8_next(p, &cp) != 0)
                return -1;
            put_code_point(out, cp);
            continue;
        }
        p->pos++;
        if (p->pos >= p->len)
            return -1;
        c = p->s[p->pos++];
        switch (c) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (hex4(p, &cp) != 0)
                return -1;
            /* A high surrogate followed by an escaped low one is one code
             * point; a lone surrogate stays as it is, as in Python. */
            if (cp >= 0xd800 && cp <= 0xdbff && p->len - p->pos >= 6 && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                size_t save = p->pos;
                uint32_t low;
                p->pos += 2;
                if (hex4(p, &low) == 0 && low >= 0xdc00 && low <= 0xdfff)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                else
                    p->pos = save;
            }
            break;
        default: return -1;
        }
        put_code_point(out, cp);
    }
}

void pyjson_float_repr(const char *number_text, char *out, size_t outsz)
{
    double v = strtod(number_text, NULL);
    if (isinf(v)) {
        snprintf(out, outsz, "%s", v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (isnan(v)) {
        snprintf(out, outsz, "NaN");
        return;
    }
    /* The shortest digit string that reads back as the same double, and
     * of those the nearest. The shortest is not always the correctly
     * rounded one at its length (-6.083493012144512e-210 reads back, its
     * nearest 16 digits end in ...511 and do not), so each length tries
     * the digits rounded to nearest, then down, then up. */
    static const int modes[3] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD};
    char sci[40] = "";
    int found = 0;
    for (int prec = 0; prec < 17 && !found; prec++)
        for (int m = 0; m < 3 && !found; m++) {
            fesetround(modes[m]);
            snprintf(sci, sizeof sci, "%.*e", prec, v);
            fesetround(FE_TONEAREST);
            found = strtod(sci, NULL) == v;
        }
    const char *q = sci;
    int neg = 0;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    char digits[24];
    size_t nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd + 1 < sizeof digits)
            digits[nd++] = *q;
    digits[nd] = '\0';
    int exp10 = *q == 'e' ? (int)strtol(q + 1, NULL, 10) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';

    struct sbuf b = {0};
    if (neg)
        sb_str(&b, "-");
    int decpt = exp10 + 1;
    if (decpt <= -4 || decpt > 16) {
        /* repr's exponent form: 1e+16, 1.5e-05. */
        char e[16];
        sb_add(&b, digits, 1);
        if (nd > 1) {
            sb_str(&b, ".");
            sb_str(&b, digits + 1);
        }
        snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        sb_str(&b, e);
    } else if (decpt <= 0) {
        sb_str(&b, "0.");
        for (int i = 0; i < -decpt; i++)
            sb_str(&b, "0");
        sb_str(&b, digits);
    } else if ((size_t)decpt >= nd) {
        sb_str(&b, digits);
        for (size_t i = nd; i < (size_t)decpt; i++)
            sb_str(&b, "0");
        sb_str(&b, ".0");
    } else {
        sb_add(&b, digits, (size_t)decpt);
        sb_str(&b, ".");
        sb_str(&b, digits + decpt);
    }
    char *text = sb_take(&b);
    snprintf(out, outsz, "%s", text ? text : "");
    free(text);
}

static int parse_number(struct parser *p, struct sbuf *out)
{
    size_t start = p->pos;
    int is_float = 0;
    if (p->s[p->pos] == '-')
        p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0') {
        p->pos++;
    } else if (p->pos < p->len && p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    } else {
        return -1;
    }
    if (p->pos + 1 < p->len && p->s[p->pos] == '.' && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9') {
        is_float = 1;
        p->pos++;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        size_t e = p->pos + 1;
        if (e < p->len && (p->s[e] == '+' || p->s[e] == '-'))
            e++;
        if (e < p->len && p->s[e] >= '0' && p->s[e] <= '9') {
            is_float = 1;
            p->pos = e;
            while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
                p->pos++;
        }
    }
    size_t n = p->pos - start;
    char *text = malloc(n + 1);
    if (!text)
        return -1;
    memcpy(text, p->s + start, n);
    text[n] = '\0';
    if (is_float) {
        char repr[64];
        pyjson_float_repr(text, repr, sizeof repr);
        sb_str(out, repr);
    } else if (strcmp(text, "-0") == 0) {
        sb_str(out, "0"); /* an int has no negative zero */
    } else {
        sb_str(out, text); /* the grammar already forbids leading zeros */
    }
    free(text);
    return 0;
}

static int parse_value(struct parser *p, struct sbuf *out);

struct member {
    char *key, *value;
};

static void free_members(struct member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].key);
        free(m[i].value);
    }
    free(m);
}

static int parse_object(struct parser *p, struct sbuf *out)
{
    p->pos++;
    struct member *m = NULL;
    size_t n = 0, cap = 0;
    skip_ws(p);
    int ok = 0;
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        ok = 1;
    }
    while (!ok) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"')
            break;
        struct sbuf kb = {0}, vb = {0};
        if (parse_string(p, &kb) != 0) {
            free(sb_take(&kb));
            break;
        }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':' || (p->pos++, skip_ws(p), parse_value(p, &vb)) != 0) {
            free(sb_take(&kb));
            free(sb_take(&vb));
            break;
        }
        char *key = sb_take(&kb), *value = sb_take(&vb);
        if (!key || !value) {
            free(key);
            free(value);
            break;
        }
        size_t i;
        for (i = 0; i < n && strcmp(m[i].key, key) != 0; i++)
            ;
        if (i < n) {
            free(key);
            free(m[i].value);
            m[i].value = value;
        } else {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                struct member *g = realloc(m, cap * sizeof *m);
                if (!g) {
                    free(key);
                    free(value);
                    break;
                }
                m = g;
            }
            m[n].key = key;
            m[n].value = value;
            n++;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            ok = 1;
        }
        break;
    }
    if (ok) {
        sb_str(out, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_str(out, ",");
            sb_str(out, m[i].key);
            sb_str(out, ":");
            sb_str(out, m[i].value);
        }
        sb_str(out, "}");
    }
    free_members(m, n);
    return ok ? 0 : -1;
}

static int parse_array(struct parser *p, struct sbuf *out)
{
    p->pos++;
    sb_str(out, "[");
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        sb_str(out, "]");
        return 0;
    }
    for (int first = 1;; first = 0) {
        if (!first)
            sb_str(out, ",");
        skip_ws(p);
        if (parse_value(p, out) != 0)
            return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            sb_str(out, "]");
            return 0;
        }
        return -1;
    }
}

static int parse_value(struct parser *p, struct sbuf *out)
{
    skip_ws(p);
    if (p->pos >= p->len || p->depth >= MAX_DEPTH)
        return -1;
    unsigned char c = p->s[p->pos];
    int rc;
    switch (c) {
    case '{':
        p->depth++;
        rc = parse_object(p, out);
        p->depth--;
        return rc;
    case '[':
        p->depth++;
        rc = parse_array(p, out);
        p->depth--;
        return rc;
    case '"': return parse_string(p, out);
    default: break;
    }
    /* Python's decoder also takes these non-standard constants. */
    static const char *const words[] = {"true", "false", "null", "NaN", "Infinity", "-Infinity"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (lit(p, words[i])) {
            sb_str(out, words[i]);
            return 0;
        }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p, out);
    return -1;
}

char *pyjson_compact(const char *text, size_t len)
{
    struct parser p = {(const unsigned char *)text, len, 0, 0};
    struct sbuf out = {0};
    if (parse_value(&p, &out) != 0) {
        free(sb_take(&out));
        return NULL;
    }
    skip_ws(&p);
    if (p.pos != p.len) {
        free(sb_take(&out));
        return NULL;
    }
    return sb_take(&out);
}

void sig_hmac_hex(const char *secret, const char *msg, size_t msg_len, const char *suffix, char out[65])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, msg_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"+", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)suffix, strlen(suffix));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, 65, mac, sizeof mac);
}

static int same_hex(const char *want, const char *got)
{
    return got && strlen(got) == 64 && sodium_memcmp(want, got, 64) == 0;
}

int sig_raw_ok(const char *secret, const char *body, size_t len, const char *expiration, const char *sig_hex)
{
    if (!secret || !*secret || !expiration)
        return 0;
    char want[65];
    sig_hmac_hex(secret, body, len, expiration, want);
    return same_hex(want, sig_hex);
}

int sig_compact_ok(const char *secret, const char *body, size_t len, const char *expiration, const char *sig_hex)
{
    if (!secret || !*secret || !expiration)
        return 0;
    char *compact = pyjson_compact(body, len);
    if (!compact)
        return 0;
    char want[65];
    sig_hmac_hex(secret, compact, strlen(compact), expiration, want);
    free(compact);
    return same_hex(want, sig_hex);
}
