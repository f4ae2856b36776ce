/* Webhook bodies, signatures, identities and the redelivery policy: the
 * pure half of webhook delivery (the dispatcher is in
 * webhook_dispatcher.c). */
#include "recover/webhooks.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

/* Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF):
 * Python's json.loads would reject or alter anything else, and then the
 * re-serialising verifier could not reproduce the bytes we signed. */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = s[0];
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        unsigned cp;
        if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        static const unsigned min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += n;
    }
    return 1;
}

static int put_string(buf *out, const char *s)
{
    if (!s || !utf8_valid((const unsigned char *)s))
        return -1;
    /* For valid UTF-8 this writes what Python's ensure_ascii encoder does:
     * \" \\ \n \r \t \b \f, other control characters and DEL as \u00xx,
     * everything beyond ASCII as lower-case \uxxxx (pairs past the BMP). */
    buf_put_json_string(out, s);
    return 0;
}

/* Moves the last of nd digits up or down by one unit, keeping the
 * exponent in *e10; returns 0 when that leaves the form d.ddd. */
static int step_digits(char *d, size_t nd, int *e10, int up)
{
    size_t i = nd;
    while (i-- > 0) {
        if (up ? d[i] < '9' : d[i] > '0') {
            d[i] = (char)(d[i] + (up ? 1 : -1));
            break;
        }
        d[i] = up ? '0' : '9';
    }
    if (i == (size_t)-1) {
        if (!up)
            return -1;
        d[0] = '1'; /* 9.99 + 1 unit = 1.00 one decade up */
        (*e10)++;
    }
    return d[0] == '0' ? -1 : 0;
}

static int reads_back(const char *d, size_t nd, int e10, int neg, double v, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s%c%s%.*se%d", neg ? "-" : "", d[0], nd > 1 ? "." : "", (int)(nd - 1), d + 1, e10);
    return strtod(out, NULL) == v;
}

/* The shortest decimal that reads back as v, in tmp as [-]d[.ddd]e(+|-)X.
 * The correctly rounded digits of each length are tried first; at a power
 * of two the interval that reads back as v is wider above v than below,
 * so a neighbour of them may read back where they do not, and Python
 * (David Gay's shortest mode) then writes that neighbour. */
static void shortest_digits(double v, char *tmp, size_t tmpsz)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, tmpsz, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            return;
        char d[20];
        size_t nd = 0;
        const char *p = tmp + (*tmp == '-');
        for (; *p && *p != 'e'; p++)
            if (*p != '.' && nd < sizeof d - 1)
                d[nd++] = *p;
        d[nd] = '\0';
        int e10 = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
        for (int up = 1; up >= 0; up--) {
            char c[20];
            memcpy(c, d, sizeof c);
            int ce = e10;
            char cand[48];
            if (step_digits(c, nd, &ce, up) == 0 && reads_back(c, nd, ce, v < 0, v, cand, sizeof cand)) {
                str_copy(tmp, tmpsz, cand);
                return;
            }
        }
    }
}

/* Python's repr(float): the shortest digits that read back as v, in fixed
 * notation when the decimal exponent is from -4 to 15 (with ".0" for a
 * whole number), else d.ddde+XX. */
static void put_float_repr(buf *out, double v)
{
    char tmp[48];
    shortest_digits(v, tmp, sizeof tmp);
    /* tmp is [-]d[.ddd]e(+|-)XX */
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    char digits[20];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1)
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int exp10 = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
    int decpt = exp10 + 1;                   /* digits[0] stands before the point at decpt */
    if (neg)
        buf_putc(out, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            buf_puts(out, "0.");
            for (int i = 0; i < -decpt; i++)
                buf_putc(out, '0');
            buf_append(out, digits, nd);
        } else if ((size_t)decpt >= nd) {
            buf_append(out, digits, nd);
            for (size_t i = nd; i < (size_t)decpt; i++)
                buf_putc(out, '0');
            buf_puts(out, ".0");
        } else {
            buf_append(out, digits, (size_t)decpt);
            buf_putc(out, '.');
            buf_append(out, digits + decpt, nd - (size_t)decpt);
        }
    } else {
        buf_putc(out, digits[0]);
        if (nd > 1) {
            buf_putc(out, '.');
            buf_append(out, digits + 1, nd - 1);
        }
        int e = decpt - 1;
        buf_printf(out, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

/* A whole number up to 2^53 is written as an integer: json.loads reads it
 * back as a Python int, which json.dumps writes the same way. Beyond 2^53
 * a double no longer holds every integer, so it is written as the float it
 * is (1e+16), which Python re-writes identically too. */
static int put_number(buf *out, double v)
{
    if (!isfinite(v))
        return -1; /* Python would write NaN or Infinity: not JSON */
    if (v == floor(v) && fabs(v) <= 9007199254740992.0) {
        buf_printf(out, "%lld", (long long)v);
        return 0;
    }
    put_float_repr(out, v);
    return 0;
}

static int compact(const cJSON *v, buf *out, int depth)
{
    if (!v || depth > 1000)
        return -1;
    switch (v->type & 0xFF) {
    case cJSON_NULL:
        buf_puts(out, "null");
        return 0;
    case cJSON_False:
        buf_puts(out, "false");
        return 0;
    case cJSON_True:
        buf_puts(out, "true");
        return 0;
    case cJSON_Number:
        return put_number(out, v->valuedouble);
    case cJSON_String:
        return put_string(out, v->valuestring);
    case cJSON_Raw:
        return -1; /* unchecked text could break the fixed-point property */
    case cJSON_Array:
    case cJSON_Object: {
        int obj = (v->type & 0xFF) == cJSON_Object;
        buf_putc(out, obj ? '{' : '[');
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child)
                buf_putc(out, ',');
            if (obj) {
                if (put_string(out, c->string) != 0)
                    return -1;
                buf_putc(out, ':');
            }
            if (compact(c, out, depth + 1) != 0)
                return -1;
        }
        buf_putc(out, obj ? '}' : ']');
        return 0;
    }
    default:
        return -1;
    }
}

int rc_json_compact(const cJSON *v, buf *out)
{
    size_t start = out->len;
    if (compact(v, out, 0) != 0 || out->oom) {
        if (!out->oom && out->data) {
            out->len = start;
            out->data[start] = '\0';
        }
        return -1;
    }
    return 0;
}

void rc_webhook_signature(const char *secret, const char *body, size_t body_len, int64_t expiration, char out[65])
{
    buf msg;
    buf_init(&msg);
    buf_append(&msg, body, body_len);
    buf_putc(&msg, '+');
    buf_put_i64(&msg, expiration);
    crypto_hmac_sha256_hex((const uint8_t *)secret, strlen(secret), (const uint8_t *)buf_cstr(&msg), msg.len, out);
    buf_free(&msg);
}

/* Each part is length-prefixed so that no two different tuples hash the
 * same bytes ("a" + "bc" versus "ab" + "c"). */
static void hash_part(crypto_generichash_state *st, const char *s)
{
    uint8_t len[8];
    uint64_t n = strlen(s);
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(n >> (8 * i));
    crypto_generichash_update(st, len, sizeof len);
    crypto_generichash_update(st, (const uint8_t *)s, n);
}

int rc_webhook_make(struct rc_webhook *w, const char *merchant_id, const char *env, const char *type,
                    const char *invoice_id, const char *url, const char *key, const cJSON *body_json, int64_t now,
                    int64_t retry_for_ms)
{
    memset(w, 0, sizeof *w);
    if (!merchant_id || !env || !type || !invoice_id || !url || !key || !body_json ||
        str_copy(w->merchant_id, sizeof w->merchant_id, merchant_id) != 0 ||
        str_copy(w->env, sizeof w->env, env) != 0 || str_copy(w->type, sizeof w->type, type) != 0 ||
        str_copy(w->invoice_id, sizeof w->invoice_id, invoice_id) != 0 ||
        str_copy(w->url, sizeof w->url, url) != 0)
        return -1;
    crypto_generichash_state st;
    static const char domain[] = "recoup webhook id v1";
    uint8_t h[16];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    hash_part(&st, domain);
    hash_part(&st, merchant_id);
    hash_part(&st, env);
    hash_part(&st, type);
    hash_part(&st, key);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(w->webhook_id, sizeof w->webhook_id, h, sizeof h);

    buf b;
    buf_init(&b);
    if (rc_json_compact(body_json, &b) != 0) {
        buf_free(&b);
        return -1;
    }
    w->body = buf_steal(&b, NULL);
    if (!w->body)
        return -1;
    w->created_at = now;
    w->next_attempt_at = now;
    w->give_up_at = now + retry_for_ms;
    str_copy(w->state, sizeof w->state, "pending");
    return 0;
}

void rc_webhook_after_attempt(struct rc_webhook *w, long status, const char *error, int64_t now,
                              int64_t retry_interval_ms)
{
    w->attempts++;
    w->last_status = status;
    if (status >= 200 && status < 300) {
        str_copy(w->state, sizeof w->state, "delivered");
        w->delivered_at = now;
        w->last_error[0] = '\0';
        return;
    }
    if (error && *error)
        str_copy(w->last_error, sizeof w->last_error, error);
    else if (status > 0)
        snprintf(w->last_error, sizeof w->last_error, "HTTP %ld", status);
    else
        str_copy(w->last_error, sizeof w->last_error, "no answer");
    int64_t next = now + retry_interval_ms;
    if (next > w->give_up_at) {
        str_copy(w->state, sizeof w->state, "failed");
        return;
    }
    str_copy(w->state, sizeof w->state, "pending");
    w->next_attempt_at = next;
}
