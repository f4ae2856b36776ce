#include "recover/network_rules.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/money.h"
#include "core/timefmt.h"
#include "store/recover_store.h"

static const char *const scheme_names[NR_SCHEME_COUNT] = {"visa", "mastercard", "amex", "discover", "other"};

const char *nr_scheme_name(enum nr_scheme s)
{
    return (unsigned)s < NR_SCHEME_COUNT ? scheme_names[s] : "other";
}

enum nr_scheme nr_scheme_from_name(const char *scheme)
{
    if (!scheme)
        return NR_SCHEME_OTHER;
    if (strcasecmp(scheme, "visa") == 0)
        return NR_SCHEME_VISA;
    /* Maestro runs on Mastercard's network, under its rules and MACs. */
    if (strcasecmp(scheme, "mastercard") == 0 || strcasecmp(scheme, "maestro") == 0)
        return NR_SCHEME_MASTERCARD;
    if (strcasecmp(scheme, "amex") == 0 || strcasecmp(scheme, "american_express") == 0)
        return NR_SCHEME_AMEX;
    if (strcasecmp(scheme, "discover") == 0)
        return NR_SCHEME_DISCOVER;
    return NR_SCHEME_OTHER;
}

struct nr_attempt nr_attempt_from_txn(const struct rc_txn *t)
{
    struct nr_attempt a = {
        .at_ms = t->psp_created_at,
        .success = t->success ? 1 : 0,
        /* Recover only sees off-session payments: renewals and its own retries. */
        .initiator = NR_MIT,
        .origin = strcmp(t->origin, "recover") == 0 ? NR_ORIGIN_RECOVER : NR_ORIGIN_MERCHANT,
    };
    return a;
}

size_t nr_history_from_txns(const struct rc_txn *txns, size_t n, const char *payment_method_id,
                            struct nr_attempt *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(txns[i].payment_method_id, payment_method_id) != 0)
            continue;
        if (k < cap)
            out[k] = nr_attempt_from_txn(&txns[i]);
        k++;
    }
    return k;
}

/* ---------------------------------------------------------------- evaluator */

/* Orders attempts by their content alone, so that the verdict does not
 * depend on the order the caller listed them in; at equal times a decline
 * sorts first, which makes the attempt after it count as a reattempt. */
static int cmp_attempt(const void *pa, const void *pb)
{
    const struct nr_attempt *a = pa, *b = pb;
    if (a->at_ms != b->at_ms)
        return a->at_ms < b->at_ms ? -1 : 1;
    if (a->success != b->success)
        return a->success - b->success;
    if (a->initiator != b->initiator)
        return (int)a->initiator - (int)b->initiator;
    return (int)a->origin - (int)b->origin;
}

static int code_eq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* MACs are two digits; some processors drop the leading zero. */
static void normalize_mac(const char *mac, char *out, size_t outsz)
{
    if (mac && isdigit((unsigned char)mac[0]) && mac[1] == '\0')
        snprintf(out, outsz, "0%c", mac[0]);
    else
        str_copy(out, outsz, mac ? mac : "");
}

static int in_codes(const char (*list)[NR_CODE_MAX], size_t n, const char *code)
{
    if (!code || !*code)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (code_eq(list[i], code))
            return 1;
    return 0;
}

static void format_time(int64_t ms, char *out, size_t outsz)
{
    char t[40];
    time_format_ms(ms, t, sizeof t);
    size_t l = strlen(t);
    /* Whole seconds read better without ".000". */
    if (l > 5 && strcmp(t + l - 5, ".000Z") == 0) {
        t[l - 5] = 'Z';
        t[l - 4] = '\0';
    }
    str_copy(out, outsz, t);
}

static void format_span(buf *b, int64_t ms)
{
    if (ms % 86400000 == 0 && ms >= 2 * 86400000)
        buf_printf(b, "%lld days", (long long)(ms / 86400000));
    else if (ms % 3600000 == 0)
        buf_printf(b, "%lld h", (long long)(ms / 3600000));
    else if (ms % 60000 == 0)
        buf_printf(b, "%lld min", (long long)(ms / 60000));
    else
        buf_printf(b, "%lld s", (long long)(ms / 1000));
}

struct eval {
    const struct nr_scheme_rules *sr;
    const struct nr_request *q;
    const struct nr_attempt *h; /* sorted */
    size_t n;
    char mac[NR_CODE_MAX];
};

/* The proposed attempt retries a decline when the card's latest attempt
 * up to t was declined (or, with no attempt known, when a decline is). */
static int proposed_is_reattempt(const struct eval *e, int64_t t)
{
    for (size_t i = e->n; i-- > 0;)
        if (e->h[i].at_ms <= t)
            return !e->h[i].success;
    return 1;
}

static int counted(const struct eval *e, const struct nr_cap *c, size_t i)
{
    if (c->per_initiator && e->h[i].initiator != e->q->initiator)
        return 0;
    switch (c->count) {
    case NR_COUNT_ATTEMPTS:
        return 1;
    case NR_COUNT_DECLINES:
        return !e->h[i].success;
    case NR_COUNT_REATTEMPTS:
        return i > 0 && !e->h[i - 1].success;
    }
    return 0;
}

/* A cap at time t: the window is (t - window, t]; an attempt exactly one
 * window old has left it. Returns 1 and the time the window has room again
 * when the cap is full. */
static int cap_refuses(const struct eval *e, const struct nr_cap *c, int64_t t, int64_t *next, int64_t *count_out)
{
    if (c->count == NR_COUNT_REATTEMPTS && !proposed_is_reattempt(e, t))
        return 0;
    int64_t count = 0;
    size_t first = e->n;
    for (size_t i = 0; i < e->n; i++) {
        if (e->h[i].at_ms <= t - c->window_ms || e->h[i].at_ms > t || !counted(e, c, i))
            continue;
        if (first == e->n)
            first = i;
        count++;
    }
    *count_out = count;
    if (count < c->max)
        return 0;
    /* Room comes back when the (count - max + 1) oldest have aged out. */
    int64_t skip = count - c->max;
    for (size_t i = first; i < e->n; i++) {
        if (e->h[i].at_ms <= t - c->window_ms || e->h[i].at_ms > t || !counted(e, c, i))
            continue;
        if (skip-- == 0) {
            *next = e->h[i].at_ms + c->window_ms;
            return 1;
        }
    }
    return 0; /* not reached: count >= max guarantees the index exists */
}

static const char *count_word(enum nr_count k)
{
    return k == NR_COUNT_DECLINES ? "declines" : k == NR_COUNT_REATTEMPTS ? "reattempts" : "attempts";
}

/* The first rule a retry at time t breaks, with when it would not; for a
 * rule that can never be satisfied, *next is NR_NEVER. Returns 0 when no
 * rule is broken. The sentence (without the next slot) goes to why. */
static int first_refusal(const struct eval *e, int64_t t, int64_t *next, int *needs_pm, char *id, buf *why)
{
    const struct nr_request *q = e->q;
    const struct nr_scheme_rules *sr = e->sr;
    const char *scheme = nr_scheme_name(q->scheme);

    if (in_codes(sr->update_macs, sr->n_update_macs, e->mac)) {
        const struct nr_decline *d = &q->decline;
        snprintf(id, NR_ID_MAX, "%s_mac_%s", scheme, e->mac);
        if (!d->has_pm_update || d->pm_updated_at_ms <= d->declined_at_ms) {
            buf_printf(why, "%s: new account data is available; retry only with the updated payment method", id);
            *next = NR_NEVER;
            *needs_pm = 1;
            return 1;
        }
        if (t < d->pm_updated_at_ms) {
            buf_printf(why, "%s: new account data is available; retry only once the payment method is updated", id);
            *next = d->pm_updated_at_ms;
            return 1;
        }
    }
    for (size_t i = 0; i < sr->n_mac_waits; i++) {
        if (!code_eq(sr->mac_waits[i].mac, e->mac))
            continue;
        int64_t ready = q->decline.declined_at_ms + sr->mac_waits[i].wait_ms;
        if (t < ready) {
            char at[40];
            format_time(q->decline.declined_at_ms, at, sizeof at);
            snprintf(id, NR_ID_MAX, "%s_mac_%s", scheme, e->mac);
            buf_printf(why, "%s: the issuer asked to wait ", id);
            format_span(why, sr->mac_waits[i].wait_ms);
            buf_printf(why, " after the decline at %s", at);
            *next = ready;
            return 1;
        }
    }
    for (size_t i = 0; i < sr->n_caps; i++) {
        const struct nr_cap *c = &sr->caps[i];
        int64_t count = 0;
        if (!cap_refuses(e, c, t, next, &count))
            continue;
        str_copy(id, NR_ID_MAX, c->id);
        buf_printf(why, "%s: %lld %s%s on this card in the last ", id, (long long)count,
                   c->per_initiator ? (q->initiator == NR_CIT ? "customer-initiated " : "merchant-initiated ") : "",
                   count_word(c->count));
        format_span(why, c->window_ms);
        buf_printf(why, " (at most %lld)", (long long)c->max);
        return 1;
    }
    return 0;
}

/* Rules that no waiting satisfies, checked once before any time. */
static int never_rule(const struct nr_rules *r, const struct eval *e, char *id, buf *why)
{
    const struct nr_decline *d = &e->q->decline;
    const struct nr_scheme_rules *sr = e->sr;
    const char *scheme = nr_scheme_name(e->q->scheme);
    if (in_codes(sr->never_codes, sr->n_never_codes, d->network_code)) {
        str_copy(id, NR_ID_MAX, sr->never_codes_rule);
        buf_printf(why, "%s: response code %s means this card is never to be retried", id, d->network_code);
        return 1;
    }
    if (in_codes(sr->never_macs, sr->n_never_macs, e->mac)) {
        snprintf(id, NR_ID_MAX, "%s_mac_%s", scheme, e->mac);
        buf_printf(why, "%s: Merchant Advice Code %s means this card is never to be retried", id, e->mac);
        return 1;
    }
    if (d->decline_class && *d->decline_class)
        for (size_t i = 0; i < r->n_never_classes; i++)
            if (strcasecmp(r->never_classes[i], d->decline_class) == 0) {
                str_copy(id, NR_ID_MAX, "decline_class_never");
                buf_printf(why, "%s: a decline of class %s is never retried", id, d->decline_class);
                return 1;
            }
    return 0;
}

int nr_evaluate(const struct nr_rules *r, const struct nr_request *q, struct nr_verdict *out)
{
    memset(out, 0, sizeof *out);
    struct nr_attempt *h = NULL;
    if (q->nhistory) {
        h = malloc(q->nhistory * sizeof *h);
        if (!h)
            return -1;
        memcpy(h, q->history, q->nhistory * sizeof *h);
        qsort(h, q->nhistory, sizeof *h, cmp_attempt);
    }
    struct eval e = {.sr = &r->schemes[(unsigned)q->scheme < NR_SCHEME_COUNT ? q->scheme : NR_SCHEME_OTHER],
                     .q = q, .h = h, .n = q->nhistory};
    normalize_mac(q->decline.mac, e.mac, sizeof e.mac);

    buf why;
    buf_init(&why);
    int64_t earliest = q->proposed_at_ms;
    if (never_rule(r, &e, out->rule_id, &why)) {
        earliest = NR_NEVER;
    } else {
        int64_t t = q->proposed_at_ms;
        /* Each step moves t past a wait or past an attempt leaving a window,
         * so the loop ends; the bound guards against a rule set that would
         * not move it. */
        for (size_t step = 0;; step++) {
            int64_t next = NR_NEVER;
            int needs_pm = 0;
            char id[NR_ID_MAX];
            buf scratch;
            buf_init(&scratch);
            int refused = first_refusal(&e, t, &next, &needs_pm, id, step == 0 ? &why : &scratch);
            buf_free(&scratch);
            if (step == 0 && refused)
                str_copy(out->rule_id, sizeof out->rule_id, id);
            if (!refused) {
                earliest = t;
                break;
            }
            if (next == NR_NEVER || next <= t || step > 4 * (q->nhistory + NR_MAX_MACS + NR_MAX_CAPS)) {
                out->needs_new_payment_method = needs_pm;
                earliest = NR_NEVER;
                break;
            }
            t = next;
        }
    }
    free(h);

    out->earliest_ms = earliest;
    out->allowed = earliest == q->proposed_at_ms;
    if (out->allowed) {
        buf_free(&why);
        return 0;
    }
    out->fee_cents = e.sr->fee_cents;
    if (earliest == NR_NEVER) {
        buf_puts(&why, out->needs_new_payment_method ? "; no slot before a new payment method" : "; no slot, ever");
    } else {
        char at[40];
        format_time(earliest, at, sizeof at);
        buf_printf(&why, "; next slot %s", at);
    }
    str_copy(out->reason, sizeof out->reason, why.oom ? out->rule_id : buf_cstr(&why));
    buf_free(&why);
    return 0;
}

int nr_check_planned(const struct nr_rules *r, const struct nr_request *q, struct nr_verdict *out)
{
    if (nr_evaluate(r, q, out) != 0)
        return -1;
    return out->allowed ? 0 : 1;
}

/* ------------------------------------------------------------------ loading */

struct pctx {
    const char *source;
    char *err;
    size_t errsz;
};

__attribute__((format(printf, 3, 4))) static int fail(struct pctx *c, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errsz, "network_rules_file %s: %s: %s", c->source, field, msg);
    return -1;
}

/* A field's path for messages ("schemes.visa.caps[0].max"); a path too long
 * for the buffer is cut, which only shortens a message. */
__attribute__((format(printf, 3, 4))) static void field_path(char *out, size_t outsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
}

static int parse_code(struct pctx *c, const char *field, const cJSON *v, int mac, char out[NR_CODE_MAX])
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t l = s ? strlen(s) : 0;
    int ok = s && l >= 1 && l <= 4;
    for (size_t i = 0; ok && i < l; i++)
        ok = mac ? isdigit((unsigned char)s[i]) : isalnum((unsigned char)s[i]);
    if (ok && mac)
        ok = l == 2;
    if (!ok)
        return fail(c, field, mac ? "must be a two-digit Merchant Advice Code such as \"03\""
                                  : "must be a response code of 1 to 4 letters or digits such as \"05\"");
    for (size_t i = 0; i <= l; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    return 0;
}

static int parse_code_list(struct pctx *c, const char *field, const cJSON *v, int mac, char (*out)[NR_CODE_MAX],
                           size_t max, size_t *n)
{
    if (!cJSON_IsArray(v))
        return fail(c, field, "must be an array of codes");
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        char f[128];
        field_path(f, sizeof f, "%s[%zu]", field, k);
        if (k >= max)
            return fail(c, field, "at most %zu codes", max);
        if (parse_code(c, f, it, mac, out[k]) != 0)
            return -1;
        k++;
    }
    *n = k;
    return 0;
}

/* "90m", "24h", "30d" or "3600s": the units the networks state rules in. */
static int parse_duration(struct pctx *c, const char *field, const cJSON *v, int64_t *out)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t l = s ? strlen(s) : 0;
    int64_t unit = 0;
    if (l >= 2) {
        switch (s[l - 1]) {
        case 's': unit = 1000; break;
        case 'm': unit = 60000; break;
        case 'h': unit = 3600000; break;
        case 'd': unit = 86400000; break;
        default: break;
        }
    }
    char num[24];
    int64_t n = 0;
    int ok = unit && l - 1 < sizeof num;
    if (ok) {
        memcpy(num, s, l - 1);
        num[l - 1] = '\0';
        for (size_t i = 0; ok && num[i]; i++)
            ok = isdigit((unsigned char)num[i]);
        ok = ok && str_to_i64(num, &n) == 0 && n > 0 && n <= 3650LL * 86400000 / unit;
    }
    if (!ok)
        return fail(c, field, "must be a duration such as \"90m\", \"24h\" or \"30d\" (s, m, h or d; positive; at most 3650 days)");
    *out = n * unit;
    return 0;
}

static int parse_id(struct pctx *c, const char *field, const cJSON *v, char out[NR_ID_MAX])
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t l = s ? strlen(s) : 0;
    int ok = l >= 1 && l < NR_ID_MAX;
    for (size_t i = 0; ok && i < l; i++)
        ok = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_';
    if (!ok)
        return fail(c, field, "must be a rule id of 1 to %d lower-case letters, digits or '_'", NR_ID_MAX - 1);
    str_copy(out, NR_ID_MAX, s);
    return 0;
}

static int parse_cap(struct pctx *c, const char *field, const cJSON *v, struct nr_cap *cap)
{
    char f[160];
    if (!cJSON_IsObject(v))
        return fail(c, field, "must be an object with id, max, window and count");
    memset(cap, 0, sizeof *cap);
    int seen_id = 0, seen_max = 0, seen_window = 0, seen_count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        field_path(f, sizeof f, "%s.%s", field, it->string);
        if (strcmp(it->string, "id") == 0) {
            if (parse_id(c, f, it, cap->id) != 0)
                return -1;
            seen_id = 1;
        } else if (strcmp(it->string, "max") == 0) {
            double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
            if (!(d >= 1 && d <= 100000 && floor(d) == d))
                return fail(c, f, "must be a whole number from 1 to 100000");
            cap->max = (int64_t)d;
            seen_max = 1;
        } else if (strcmp(it->string, "window") == 0) {
            if (parse_duration(c, f, it, &cap->window_ms) != 0)
                return -1;
            seen_window = 1;
        } else if (strcmp(it->string, "count") == 0) {
            const char *s = cJSON_IsString(it) ? it->valuestring : "";
            if (strcmp(s, "attempts") == 0)
                cap->count = NR_COUNT_ATTEMPTS;
            else if (strcmp(s, "declines") == 0)
                cap->count = NR_COUNT_DECLINES;
            else if (strcmp(s, "reattempts") == 0)
                cap->count = NR_COUNT_REATTEMPTS;
            else
                return fail(c, f, "must be attempts, declines or reattempts");
            seen_count = 1;
        } else if (strcmp(it->string, "per_initiator") == 0) {
            if (!cJSON_IsBool(it))
                return fail(c, f, "must be true or false");
            cap->per_initiator = cJSON_IsTrue(it);
        } else {
            return fail(c, f, "unknown field (id, max, window, count, per_initiator)");
        }
    }
    const char *missing = !seen_id ? "id" : !seen_max ? "max" : !seen_window ? "window" : !seen_count ? "count" : NULL;
    if (missing) {
        field_path(f, sizeof f, "%s.%s", field, missing);
        return fail(c, f, "is required");
    }
    return 0;
}

static int parse_scheme(struct pctx *c, const char *field, const cJSON *v, struct nr_scheme_rules *sr)
{
    char f[128];
    if (!cJSON_IsObject(v))
        return fail(c, field, "must be an object");
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        field_path(f, sizeof f, "%s.%s", field, it->string);
        const char *k = it->string;
        int rc = 0;
        if (strcmp(k, "never_codes") == 0) {
            rc = parse_code_list(c, f, it, 0, sr->never_codes, NR_MAX_CODES, &sr->n_never_codes);
        } else if (strcmp(k, "never_codes_rule") == 0) {
            rc = parse_id(c, f, it, sr->never_codes_rule);
        } else if (strcmp(k, "never_macs") == 0) {
            rc = parse_code_list(c, f, it, 1, sr->never_macs, NR_MAX_MACS, &sr->n_never_macs);
        } else if (strcmp(k, "update_macs") == 0) {
            rc = parse_code_list(c, f, it, 1, sr->update_macs, NR_MAX_MACS, &sr->n_update_macs);
        } else if (strcmp(k, "mac_waits") == 0) {
            if (!cJSON_IsObject(it))
                return fail(c, f, "must be an object of MAC to duration, such as {\"24\": \"1h\"}");
            size_t n = 0;
            const cJSON *w;
            cJSON_ArrayForEach(w, it)
            {
                char wf[160];
                field_path(wf, sizeof wf, "%s.%s", f, w->string);
                if (n >= NR_MAX_MACS)
                    return fail(c, f, "at most %d waits", NR_MAX_MACS);
                cJSON key = {.type = cJSON_String, .valuestring = w->string};
                if (parse_code(c, wf, &key, 1, sr->mac_waits[n].mac) != 0 ||
                    parse_duration(c, wf, w, &sr->mac_waits[n].wait_ms) != 0)
                    return -1;
                n++;
            }
            sr->n_mac_waits = n;
        } else if (strcmp(k, "caps") == 0) {
            if (!cJSON_IsArray(it))
                return fail(c, f, "must be an array of caps");
            size_t n = 0;
            const cJSON *cap;
            cJSON_ArrayForEach(cap, it)
            {
                char cf[160];
                field_path(cf, sizeof cf, "%s[%zu]", f, n);
                if (n >= NR_MAX_CAPS)
                    return fail(c, f, "at most %d caps", NR_MAX_CAPS);
                if (parse_cap(c, cf, cap, &sr->caps[n]) != 0)
                    return -1;
                for (size_t j = 0; j < n; j++)
                    if (strcmp(sr->caps[j].id, sr->caps[n].id) == 0)
                        return fail(c, cf, "cap id %s is used twice", sr->caps[n].id);
                n++;
            }
            sr->n_caps = n;
        } else if (strcmp(k, "excess_retry_fee") == 0) {
            int64_t cents;
            if (!cJSON_IsNumber(it) || money_parse_json(it, 2, &cents) != MONEY_OK || cents < 0 || cents > 100000)
                return fail(c, f, "must be an amount in US dollars such as 0.15 (at most two decimals, 0 to 1000)");
            sr->fee_cents = cents;
        } else {
            return fail(c, f,
                        "unknown field (never_codes, never_codes_rule, never_macs, update_macs, mac_waits, caps, "
                        "excess_retry_fee)");
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int parse_root(struct pctx *c, const cJSON *root, struct nr_rules *r)
{
    if (!cJSON_IsObject(root))
        return fail(c, "(top level)", "must be a JSON object");
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const char *k = it->string;
        if (strcmp(k, "never_classes") == 0) {
            if (!cJSON_IsArray(it))
                return fail(c, k, "must be an array of decline classes");
            size_t n = 0;
            const cJSON *s;
            cJSON_ArrayForEach(s, it)
            {
                char f[64];
                field_path(f, sizeof f, "never_classes[%zu]", n);
                if (n >= NR_MAX_CLASSES)
                    return fail(c, k, "at most %d classes", NR_MAX_CLASSES);
                if (!cJSON_IsString(s) || !s->valuestring[0] ||
                    str_copy(r->never_classes[n], NR_CLASS_MAX, s->valuestring) != 0)
                    return fail(c, f, "must be a decline class such as \"never\" (1 to %d characters)",
                                NR_CLASS_MAX - 1);
                n++;
            }
            r->n_never_classes = n;
        } else if (strcmp(k, "schemes") == 0) {
            if (!cJSON_IsObject(it))
                return fail(c, k, "must be an object keyed by scheme");
            const cJSON *s;
            cJSON_ArrayForEach(s, it)
            {
                char f[64];
                field_path(f, sizeof f, "schemes.%s", s->string);
                size_t i = 0;
                while (i < NR_SCHEME_COUNT && strcmp(scheme_names[i], s->string) != 0)
                    i++;
                if (i == NR_SCHEME_COUNT)
                    return fail(c, f, "unknown scheme (visa, mastercard, amex, discover, other)");
                if (parse_scheme(c, f, s, &r->schemes[i]) != 0)
                    return -1;
            }
        } else {
            return fail(c, k, "unknown field (never_classes, schemes)");
        }
    }
    return 0;
}

int nr_rules_parse(struct nr_rules *out, const char *json, const char *source, char *err, size_t errsz)
{
    *out = nr_default_rules;
    struct pctx c = {.source = source, .err = err, .errsz = errsz};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        int line = 1, col = 1;
        for (const char *p = json; end && p < end && *p; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        snprintf(err, errsz, "network_rules_file %s: line %d, column %d: malformed JSON", source, line, col);
        return -1;
    }
    struct nr_rules *tmp = malloc(sizeof *tmp);
    if (!tmp) {
        cJSON_Delete(root);
        snprintf(err, errsz, "network_rules_file %s: out of memory", source);
        return -1;
    }
    *tmp = nr_default_rules;
    int rc = parse_root(&c, root, tmp);
    cJSON_Delete(root);
    if (rc == 0)
        *out = *tmp;
    free(tmp);
    return rc;
}

int nr_rules_load(struct nr_rules *out, const char *path, char *err, size_t errsz)
{
    *out = nr_default_rules;
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "network_rules_file %s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    buf b;
    buf_init(&b);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= (1u << 20))
        buf_append(&b, chunk, got);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom || b.len > (1u << 20)) {
        snprintf(err, errsz, "network_rules_file %s: %s", path,
                 bad ? "cannot read the file" : b.oom ? "out of memory" : "larger than 1 MiB");
        buf_free(&b);
        return -1;
    }
    int rc = nr_rules_parse(out, b.len ? buf_cstr(&b) : "", path, err, errsz);
    buf_free(&b);
    return rc;
}
