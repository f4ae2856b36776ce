#include "lab/scenario.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/countries.h"
#include "core/money.h"
#include "core/timefmt.h"
#include "lab/world.h"
#include "recover/localtime.h"

static const char *const type_names[LAB_TYPE_COUNT] = {
    "insufficient_funds", "withdrawal_limit", "generic", "issuer_unavailable", "expired_card", "hard",
};
static const char *const cycle_names[LAB_CYCLE_COUNT] = {"weekly", "biweekly", "semimonthly", "monthly"};

const char *lab_decline_type_name(enum lab_decline_type t)
{
    return (unsigned)t < LAB_TYPE_COUNT ? type_names[t] : "?";
}

const char *lab_pay_cycle_name(enum lab_pay_cycle c)
{
    return (unsigned)c < LAB_CYCLE_COUNT ? cycle_names[c] : "?";
}

/* The canonical reasons a type may report, the first being its default:
 * each is one the world model can produce as PSP data. */
static const char *const type_reasons[LAB_TYPE_COUNT][10] = {
    [LAB_INSUFFICIENT_FUNDS] = {"insufficient_funds"},
    [LAB_WITHDRAWAL_LIMIT] = {"withdrawal_limit"},
    [LAB_GENERIC] = {"do_not_honor", "generic_decline"},
    [LAB_ISSUER_UNAVAILABLE] = {"issuer_unavailable", "try_again_later"},
    [LAB_EXPIRED_CARD] = {"expired_card"},
    [LAB_HARD] = {"stolen_card", "lost_card", "pickup_card", "fraudulent", "invalid_account", "incorrect_number",
                  "revoked", "stop_payment", "transaction_not_allowed"},
};

static const char *const known_macs[] = {"01", "03", "21", "24", "25", "26", "27", "28", "29", "30", NULL};

struct ctx {
    verrs *e;
};

static const cJSON *member(const cJSON *obj, const char *name) { return jv_get(obj, name); }

/* Every member of obj must be one of names; a typo is named rather than
 * silently falling back to a default. */
static void only_known(struct ctx *c, const cJSON *obj, const char *path, const char *const *names)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        int ok = 0;
        for (const char *const *n = names; *n && !ok; n++)
            ok = strcmp(*n, m->string) == 0;
        if (!ok) {
            char fp[160];
            jv_path(fp, sizeof fp, path, m->string);
            verrs_add(c->e, fp, "is not a known field");
        }
    }
}

static const cJSON *object_at(struct ctx *c, const cJSON *parent, const char *path, const char *name,
                              char *fp, size_t fpsz)
{
    jv_path(fp, fpsz, path, name);
    const cJSON *v = member(parent, name);
    if (v && !cJSON_IsObject(v)) {
        verrs_add(c->e, fp, "must be an object");
        return NULL;
    }
    return v;
}

static void get_number(struct ctx *c, const cJSON *obj, const char *path, const char *name, double lo, double hi,
                       double *out)
{
    const cJSON *v = member(obj, name);
    if (!v)
        return;
    char fp[160];
    jv_path(fp, sizeof fp, path, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        verrs_add(c->e, fp, "must be a number");
        return;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        verrs_add(c->e, fp, "must be between %g and %g", lo, hi);
        return;
    }
    *out = v->valuedouble;
}

static void get_int(struct ctx *c, const cJSON *obj, const char *path, const char *name, int64_t lo, int64_t hi,
                    int64_t *out)
{
    const cJSON *v = member(obj, name);
    if (!v)
        return;
    char fp[160];
    jv_path(fp, sizeof fp, path, name);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        verrs_add(c->e, fp, "must be an integer");
        return;
    }
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        verrs_add(c->e, fp, "must be between %lld and %lld", (long long)lo, (long long)hi);
        return;
    }
    *out = (int64_t)v->valuedouble;
}

static void get_bool(struct ctx *c, const cJSON *obj, const char *path, const char *name, int *out)
{
    const cJSON *v = member(obj, name);
    if (!v)
        return;
    if (!cJSON_IsBool(v)) {
        char fp[160];
        jv_path(fp, sizeof fp, path, name);
        verrs_add(c->e, fp, "must be true or false");
        return;
    }
    *out = cJSON_IsTrue(v);
}

static const char *get_string(struct ctx *c, const cJSON *obj, const char *path, const char *name, size_t max)
{
    const cJSON *v = member(obj, name);
    if (!v)
        return NULL;
    char fp[160];
    jv_path(fp, sizeof fp, path, name);
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        verrs_add(c->e, fp, "must be a non-empty string");
        return NULL;
    }
    if (strlen(v->valuestring) >= max) {
        verrs_add(c->e, fp, "must be at most %zu characters", max - 1);
        return NULL;
    }
    return v->valuestring;
}

/* [lo, hi] with lo <= hi inside [min, max]. */
static void get_range(struct ctx *c, const cJSON *obj, const char *path, const char *name, double min, double max,
                      struct lab_range *out)
{
    const cJSON *v = member(obj, name);
    if (!v)
        return;
    char fp[160];
    jv_path(fp, sizeof fp, path, name);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) ||
        !cJSON_IsNumber(cJSON_GetArrayItem(v, 1))) {
        verrs_add(c->e, fp, "must be a pair of numbers [low, high]");
        return;
    }
    double lo = cJSON_GetArrayItem(v, 0)->valuedouble, hi = cJSON_GetArrayItem(v, 1)->valuedouble;
    if (lo > hi) {
        verrs_add(c->e, fp, "low (%g) must not exceed high (%g)", lo, hi);
        return;
    }
    if (lo < min || hi > max) {
        verrs_add(c->e, fp, "must lie between %g and %g", min, max);
        return;
    }
    out->lo = lo;
    out->hi = hi;
}

static int positive_total(struct ctx *c, const char *fp, double total)
{
    if (total > 0)
        return 1;
    verrs_add(c->e, fp, "needs at least one entry with a positive weight");
    return 0;
}

/* {"name": weight, ...}; check names each key (NULL: any). */
static void get_weights(struct ctx *c, const cJSON *obj, const char *path, const char *name,
                        const char *(*check)(const char *), struct lab_weighted *out, size_t *n)
{
    const cJSON *v = member(obj, name);
    if (!v)
        return;
    char fp[160];
    jv_path(fp, sizeof fp, path, name);
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) == 0) {
        verrs_add(c->e, fp, "must be a non-empty object of name: weight");
        return;
    }
    if (cJSON_GetArraySize(v) > LAB_MAX_CHOICES) {
        verrs_add(c->e, fp, "must have at most %d entries", LAB_MAX_CHOICES);
        return;
    }
    size_t k = 0;
    double total = 0;
    const cJSON *m;
    int bad = 0;
    cJSON_ArrayForEach(m, v)
    {
        char ep[200];
        jv_path(ep, sizeof ep, fp, m->string);
        const char *why = check ? check(m->string) : NULL;
        if (why) {
            verrs_add(c->e, ep, "%s", why);
            bad = 1;
            continue;
        }
        if (!cJSON_IsNumber(m) || m->valuedouble < 0 || !isfinite(m->valuedouble)) {
            verrs_add(c->e, ep, "must be a weight: a number of 0 or more");
            bad = 1;
            continue;
        }
        str_copy(out[k].name, sizeof out[k].name, m->string);
        out[k].weight = m->valuedouble;
        total += m->valuedouble;
        k++;
    }
    if (!bad && positive_total(c, fp, total))
        *n = k;
}

static int weekday_index(const char *k)
{
    static const char *const days[7] = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};
    for (int i = 0; i < 7; i++)
        if (strcmp(days[i], k) == 0)
            return i;
    return -1;
}

static int mday_index(const char *k)
{
    if (strcmp(k, "last") == 0)
        return 0;
    int64_t d;
    return str_to_i64(k, &d) == 0 && d >= 1 && d <= 28 ? (int)d : -1;
}

/* {"key": weight, ...} into out[index(key)]; every other entry is 0. */
static void get_keyed_weights(struct ctx *c, const cJSON *obj, const char *path, const char *name,
                              int (*index)(const char *), double *out, size_t n, const char *bad_key)
{
    const cJSON *v = member(obj, name);
    if (!v)
        return;
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) == 0) {
        verrs_add(c->e, path, "must be a non-empty object of name: weight");
        return;
    }
    double w[32] = {0}, total = 0;
    int bad = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, v)
    {
        char ep[200];
        jv_path(ep, sizeof ep, path, m->string);
        int k = index(m->string);
        if (k < 0 || (size_t)k >= n) {
            verrs_add(c->e, ep, "%s", bad_key);
            bad = 1;
        } else if (!cJSON_IsNumber(m) || m->valuedouble < 0 || !isfinite(m->valuedouble)) {
            verrs_add(c->e, ep, "must be a weight: a number of 0 or more");
            bad = 1;
        } else {
            w[k] = m->valuedouble;
            total += w[k];
        }
    }
    if (!bad && positive_total(c, path, total))
        memcpy(out, w, n * sizeof *out);
}

static const char *check_scheme(const char *s)
{
    static const char *const ok[] = {"visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "maestro",
                                     NULL};
    for (const char *const *p = ok; *p; p++)
        if (strcmp(*p, s) == 0)
            return NULL;
    return "is not a scheme the lab simulates (visa, mastercard, amex, discover, jcb, diners, unionpay, maestro)";
}

static const char *check_funding(const char *s)
{
    static const char *const ok[] = {"credit", "debit", "prepaid", "mixed", "unknown", NULL};
    for (const char *const *p = ok; *p; p++)
        if (strcmp(*p, s) == 0)
            return NULL;
    return "is not a funding source the lab simulates (credit, debit, prepaid, mixed, unknown)";
}

static const char *check_psp(const char *s)
{
    static const char *const ok[] = {"stripe", "adyen", "braintree", "worldpay", NULL};
    for (const char *const *p = ok; *p; p++)
        if (strcmp(*p, s) == 0)
            return NULL;
    return "is not a PSP whose decline data the lab produces (stripe, adyen, braintree, worldpay)";
}

static void parse_regions(struct ctx *c, const cJSON *root, struct lab_scenario *s)
{
    const cJSON *v = member(root, "regions");
    if (!v)
        return;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0 || cJSON_GetArraySize(v) > LAB_MAX_CHOICES) {
        verrs_add(c->e, "regions", "must be an array of 1 to %d regions", LAB_MAX_CHOICES);
        return;
    }
    static const char *const fields[] = {"country", "zone", "postal_codes", "weight", NULL};
    size_t k = 0;
    double total = 0;
    int before = c->e->count;
    const cJSON *r;
    cJSON_ArrayForEach(r, v)
    {
        char p[64];
        jv_path_index(p, sizeof p, "regions", (int)k);
        struct lab_region *g = &s->regions[k++];
        memset(g, 0, sizeof *g);
        g->weight = 1;
        if (!cJSON_IsObject(r)) {
            verrs_add(c->e, p, "must be an object");
            continue;
        }
        only_known(c, r, p, fields);
        char fp[160];
        const char *country = get_string(c, r, p, "country", 3);
        jv_path(fp, sizeof fp, p, "country");
        if (!member(r, "country"))
            verrs_add(c->e, fp, "is required");
        else if (country && !country_code_valid(country))
            verrs_add(c->e, fp, "must be an ISO 3166-1 alpha-2 country code such as US");
        else if (country)
            str_copy(g->country, sizeof g->country, country);
        const char *zone = get_string(c, r, p, "zone", sizeof g->zone);
        jv_path(fp, sizeof fp, p, "zone");
        if (zone && !rc_zone_known(zone))
            verrs_add(c->e, fp, "\"%s\" is not a time zone recoup knows", zone);
        else if (zone)
            str_copy(g->zone, sizeof g->zone, zone);
        else if (!member(r, "zone") && g->country[0]) {
            const char *z = rc_zone_for(g->country, NULL);
            if (!z)
                verrs_add(c->e, fp, "is required: recoup has no time zone for country %s", g->country);
            else
                str_copy(g->zone, sizeof g->zone, z);
        }
        const cJSON *pc = member(r, "postal_codes");
        jv_path(fp, sizeof fp, p, "postal_codes");
        if (pc) {
            if (!cJSON_IsArray(pc) || cJSON_GetArraySize(pc) > LAB_MAX_POSTAL) {
                verrs_add(c->e, fp, "must be an array of at most %d postal codes", LAB_MAX_POSTAL);
            } else {
                const cJSON *x;
                cJSON_ArrayForEach(x, pc)
                {
                    if (!cJSON_IsString(x) || !x->valuestring[0] || strlen(x->valuestring) >= 16) {
                        verrs_add(c->e, fp, "must hold non-empty strings of at most 15 characters");
                        break;
                    }
                    str_copy(g->postal_codes[g->npostal++], 16, x->valuestring);
                }
            }
        }
        get_number(c, r, p, "weight", 0, 1e9, &g->weight);
        total += g->weight;
    }
    if (c->e->count == before && positive_total(c, "regions", total))
        s->nregions = k;
}

static void parse_currencies(struct ctx *c, const cJSON *root, struct lab_scenario *s)
{
    const cJSON *v = member(root, "currencies");
    if (!v)
        return;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0 || cJSON_GetArraySize(v) > LAB_MAX_CHOICES) {
        verrs_add(c->e, "currencies", "must be an array of 1 to %d currencies", LAB_MAX_CHOICES);
        return;
    }
    static const char *const fields[] = {"code", "weight", "rate", NULL};
    size_t k = 0;
    double total = 0;
    int before = c->e->count;
    const cJSON *r;
    cJSON_ArrayForEach(r, v)
    {
        char p[64], fp[160];
        jv_path_index(p, sizeof p, "currencies", (int)k);
        struct lab_currency *cu = &s->currencies[k++];
        memset(cu, 0, sizeof *cu);
        cu->weight = 1;
        cu->rate = 0;
        if (!cJSON_IsObject(r)) {
            verrs_add(c->e, p, "must be an object");
            continue;
        }
        only_known(c, r, p, fields);
        const char *code = get_string(c, r, p, "code", 4);
        jv_path(fp, sizeof fp, p, "code");
        if (!member(r, "code"))
            verrs_add(c->e, fp, "is required");
        else if (code && currency_exponent(code) < 0)
            verrs_add(c->e, fp, "must be an ISO 4217 currency code such as EUR");
        else if (code)
            str_copy(cu->code, sizeof cu->code, code);
        get_number(c, r, p, "weight", 0, 1e9, &cu->weight);
        get_number(c, r, p, "rate", 1e-9, 1e9, &cu->rate);
        jv_path(fp, sizeof fp, p, "rate");
        if (cu->rate == 0 && !member(r, "rate"))
            verrs_add(c->e, fp, "is required: the value of one unit in the reporting currency");
        total += cu->weight;
    }
    if (c->e->count == before && positive_total(c, "currencies", total))
        s->ncurrencies = k;
}

static void parse_declines(struct ctx *c, const cJSON *root, struct lab_scenario *s)
{
    const cJSON *v = member(root, "declines");
    if (!v)
        return;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0 || cJSON_GetArraySize(v) > LAB_MAX_CHOICES) {
        verrs_add(c->e, "declines", "must be an array of 1 to %d decline kinds", LAB_MAX_CHOICES);
        return;
    }
    static const char *const fields[] = {"type", "weight", "reason", "mac", NULL};
    size_t k = 0;
    double total = 0;
    int before = c->e->count;
    const cJSON *r;
    cJSON_ArrayForEach(r, v)
    {
        char p[64], fp[160];
        jv_path_index(p, sizeof p, "declines", (int)k);
        struct lab_decline_mix *d = &s->declines[k++];
        memset(d, 0, sizeof *d);
        d->weight = 1;
        if (!cJSON_IsObject(r)) {
            verrs_add(c->e, p, "must be an object");
            continue;
        }
        only_known(c, r, p, fields);
        const char *type = get_string(c, r, p, "type", 32);
        jv_path(fp, sizeof fp, p, "type");
        int t = -1;
        for (int i = 0; type && i < LAB_TYPE_COUNT; i++)
            if (strcmp(type, type_names[i]) == 0)
                t = i;
        if (!member(r, "type")) {
            verrs_add(c->e, fp, "is required");
            continue;
        }
        if (t < 0) {
            if (type)
                verrs_add(c->e, fp,
                          "must be one of insufficient_funds, withdrawal_limit, generic, issuer_unavailable, "
                          "expired_card, hard");
            continue;
        }
        d->type = (enum lab_decline_type)t;
        str_copy(d->reason, sizeof d->reason, type_reasons[t][0]);
        const char *reason = get_string(c, r, p, "reason", sizeof d->reason);
        if (reason) {
            int ok = 0;
            buf allowed;
            buf_init(&allowed);
            for (size_t i = 0; i < 10 && type_reasons[t][i]; i++) {
                ok |= strcmp(reason, type_reasons[t][i]) == 0;
                buf_printf(&allowed, "%s%s", i ? ", " : "", type_reasons[t][i]);
            }
            jv_path(fp, sizeof fp, p, "reason");
            if (!ok)
                verrs_add(c->e, fp, "must be one of %s for type %s", buf_cstr(&allowed), type_names[t]);
            else
                str_copy(d->reason, sizeof d->reason, reason);
            buf_free(&allowed);
        }
        const char *mac = get_string(c, r, p, "mac", sizeof d->mac);
        if (mac) {
            int ok = 0;
            for (const char *const *m = known_macs; *m; m++)
                ok |= strcmp(*m, mac) == 0;
            jv_path(fp, sizeof fp, p, "mac");
            if (!ok)
                verrs_add(c->e, fp, "must be a Merchant Advice Code: 01, 03, 21 or 24 to 30");
            else
                str_copy(d->mac, sizeof d->mac, mac);
        }
        get_number(c, r, p, "weight", 0, 1e9, &d->weight);
        total += d->weight;
    }
    if (c->e->count == before && positive_total(c, "declines", total))
        s->ndeclines = k;
}

static void get_hours(struct ctx *c, const cJSON *obj, const char *name, double out[24])
{
    const cJSON *v = member(obj, name);
    if (!v)
        return;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 24) {
        verrs_add(c->e, name, "must be an array of 24 factors, one per local hour from 00:00");
        return;
    }
    for (int h = 0; h < 24; h++) {
        const cJSON *x = cJSON_GetArrayItem(v, h);
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 10) {
            char fp[64];
            jv_path_index(fp, sizeof fp, name, h);
            verrs_add(c->e, fp, "must be a factor between 0 and 10");
            return;
        }
    }
    for (int h = 0; h < 24; h++)
        out[h] = cJSON_GetArrayItem(v, h)->valuedouble;
}

static void set_defaults(struct lab_scenario *s)
{
    memset(s, 0, sizeof *s);
    s->seed = 1;
    time_parse_iso8601("2026-03-02T00:00:00Z", &s->start_ms);
    s->spread_days = 28;
    s->renewal_hours_utc = (struct lab_range){0, 24};
    str_copy(s->merchant_id, sizeof s->merchant_id, "lab");
    str_copy(s->merchant_tz, sizeof s->merchant_tz, "UTC");
    s->dunning_days = 30;
    s->max_retries = 8;
    str_copy(s->reporting_currency, sizeof s->reporting_currency, "USD");
    s->currencies[0] = (struct lab_currency){"USD", 1, 1};
    s->ncurrencies = 1;
    s->amount = (struct lab_range){5, 100};
    s->regions[0] = (struct lab_region){.country = "US", .zone = "America/New_York", .weight = 1};
    s->nregions = 1;
    s->postal_code_share = 1;
    s->schemes[0] = (struct lab_weighted){"visa", 0.6};
    s->schemes[1] = (struct lab_weighted){"mastercard", 0.3};
    s->schemes[2] = (struct lab_weighted){"amex", 0.1};
    s->nschemes = 3;
    s->funding[0] = (struct lab_weighted){"credit", 0.5};
    s->funding[1] = (struct lab_weighted){"debit", 0.45};
    s->funding[2] = (struct lab_weighted){"prepaid", 0.05};
    s->nfunding = 3;
    s->psps[0] = (struct lab_weighted){"stripe", 1};
    s->npsps = 1;
    static const struct lab_decline_mix mix[] = {
        {LAB_INSUFFICIENT_FUNDS, "insufficient_funds", "", 0.45}, {LAB_GENERIC, "do_not_honor", "", 0.25},
        {LAB_WITHDRAWAL_LIMIT, "withdrawal_limit", "", 0.05},     {LAB_ISSUER_UNAVAILABLE, "issuer_unavailable", "", 0.05},
        {LAB_EXPIRED_CARD, "expired_card", "", 0.12},             {LAB_HARD, "stolen_card", "", 0.08},
    };
    memcpy(s->declines, mix, sizeof mix);
    s->ndeclines = sizeof mix / sizeof mix[0];
    /* US employers' pay frequencies (spec/network-rules.md). */
    s->pay_cycle_weights[LAB_WEEKLY] = 0.32;
    s->pay_cycle_weights[LAB_BIWEEKLY] = 0.37;
    s->pay_cycle_weights[LAB_SEMIMONTHLY] = 0.20;
    s->pay_cycle_weights[LAB_MONTHLY] = 0.11;
    /* Weekly and bi-weekly wages are mostly paid on Fridays; monthly
     * salaries cluster at the month's end, the 1st and the 25th. */
    static const double weekdays[7] = {0, 0.05, 0.05, 0.05, 0.15, 0.70, 0};
    memcpy(s->pay_weekday_weights, weekdays, sizeof weekdays);
    s->pay_mday_weights[0] = 0.5;
    s->pay_mday_weights[1] = 0.25;
    s->pay_mday_weights[15] = 0.1;
    s->pay_mday_weights[25] = 0.15;
    s->arrival_hours = (struct lab_range){0, 30};
    s->funds_last_days = (struct lab_range){2, 8};
    s->funds_success = 0.9;
    static const double chances[] = {0.25, 0.18, 0.13, 0.10, 0.08, 0.06, 0.05, 0.04};
    memcpy(s->generic_chances, chances, sizeof chances);
    s->ngeneric_chances = sizeof chances / sizeof chances[0];
    s->generic_spread = (struct lab_range){0.5, 1.5};
    s->limit_success = 0.7;
    s->downtime_hours = (struct lab_range){1, 36};
    s->technical_success = 0.9;
    s->updater_share = 0.6;
    s->updater_days = (struct lab_range){1, 12};
    s->new_card_success = 0.9;
    s->cancel_share = 0.08;
    s->cancel_days = (struct lab_range){0, 20};
    for (int h = 0; h < 24; h++) {
        s->hour_factors[h] = h < 6 ? 0.6 : 1.0;
        s->debit_hour_factors[h] = h < 6 ? 0.6 : 1.0;
    }
    /* Daily limits reset at midnight: some debit cards do best just after. */
    s->debit_hour_factors[0] = 1.15;
    s->debit_hour_factors[1] = 1.1;
    s->warmup = 1;
    s->warmup_invoices = -1;
    s->warmup_renewals = 3;
    s->card_history = 1;
    s->rules = nr_default_rules;
}

int lab_scenario_parse(const char *json, struct lab_scenario *s, verrs *e)
{
    struct ctx c = {e};
    int before = e->count;
    set_defaults(s);
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        verrs_add(e, "body", "is not valid JSON (near byte %ld)",
                  cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - json) : 0L);
        return e->count - before;
    }
    if (!cJSON_IsObject(root)) {
        verrs_add(e, "body", "must be a JSON object");
        cJSON_Delete(root);
        return e->count - before;
    }
    static const char *const top[] = {
        "name", "description", "seed", "invoices", "start", "spread_days", "renewal_hours_utc", "merchant",
        "reporting_currency", "usd_rate", "currencies", "amount", "regions", "postal_code_share", "schemes",
        "funding", "psps", "declines", "funds", "generic", "withdrawal_limit", "issuer_unavailable", "expired_card",
        "cancellations", "hour_factors", "debit_hour_factors", "warmup", "card_history", "network_rules", NULL};
    only_known(&c, root, "", top);

    const char *name = get_string(&c, root, "", "name", sizeof s->name);
    if (!member(root, "name"))
        verrs_add(e, "name", "is required");
    else if (name)
        str_copy(s->name, sizeof s->name, name);
    get_string(&c, root, "", "description", 4096);
    int64_t seed = 1;
    get_int(&c, root, "", "seed", 0, INT64_C(1) << 52, &seed);
    s->seed = (uint64_t)seed;
    if (!member(root, "invoices"))
        verrs_add(e, "invoices", "is required");
    get_int(&c, root, "", "invoices", 1, 2000000, &s->invoices);
    const char *start = get_string(&c, root, "", "start", 64);
    if (start && time_parse_iso8601(start, &s->start_ms) != 0)
        verrs_add(e, "start", "must be an ISO-8601 date-time such as 2026-03-02T00:00:00Z");
    get_int(&c, root, "", "spread_days", 1, 365, &s->spread_days);
    get_range(&c, root, "", "renewal_hours_utc", 0, 24, &s->renewal_hours_utc);

    char fp[160];
    const cJSON *m = object_at(&c, root, "", "merchant", fp, sizeof fp);
    if (m) {
        static const char *const mf[] = {"id", "timezone", "dunning_days", "max_retries", NULL};
        only_known(&c, m, "merchant", mf);
        const char *id = get_string(&c, m, "merchant", "id", sizeof s->merchant_id);
        if (id)
            str_copy(s->merchant_id, sizeof s->merchant_id, id);
        const char *tz = get_string(&c, m, "merchant", "timezone", sizeof s->merchant_tz);
        if (tz && !rc_zone_known(tz))
            verrs_add(e, "merchant.timezone", "\"%s\" is not a time zone recoup knows", tz);
        else if (tz)
            str_copy(s->merchant_tz, sizeof s->merchant_tz, tz);
        get_int(&c, m, "merchant", "dunning_days", 1, 120, &s->dunning_days);
        get_int(&c, m, "merchant", "max_retries", 1, 100, &s->max_retries);
    }

    const char *rep = get_string(&c, root, "", "reporting_currency", 4);
    if (rep && currency_exponent(rep) < 0)
        verrs_add(e, "reporting_currency", "must be an ISO 4217 currency code such as USD");
    else if (rep)
        str_copy(s->reporting_currency, sizeof s->reporting_currency, rep);
    s->usd_rate = strcmp(s->reporting_currency, "USD") == 0 ? 1 : 0;
    get_number(&c, root, "", "usd_rate", 1e-9, 1e9, &s->usd_rate);
    if (s->usd_rate == 0)
        verrs_add(e, "usd_rate", "is required when reporting_currency is not USD: network fees are in US cents");
    parse_currencies(&c, root, s);
    get_range(&c, root, "", "amount", 0.01, 1e7, &s->amount);
    parse_regions(&c, root, s);
    get_number(&c, root, "", "postal_code_share", 0, 1, &s->postal_code_share);
    get_weights(&c, root, "", "schemes", check_scheme, s->schemes, &s->nschemes);
    get_weights(&c, root, "", "funding", check_funding, s->funding, &s->nfunding);
    get_weights(&c, root, "", "psps", check_psp, s->psps, &s->npsps);
    parse_declines(&c, root, s);

    const cJSON *o;
    if ((o = object_at(&c, root, "", "funds", fp, sizeof fp))) {
        static const char *const f[] = {"pay_cycles", "pay_weekdays", "pay_month_days", "arrival_hours",
                                        "last_days", "success", NULL};
        only_known(&c, o, "funds", f);
        const cJSON *pc = object_at(&c, o, "funds", "pay_cycles", fp, sizeof fp);
        if (pc) {
            double w[LAB_CYCLE_COUNT] = {0}, total = 0;
            int bad = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, pc)
            {
                char ep[200];
                jv_path(ep, sizeof ep, "funds.pay_cycles", x->string);
                int k = -1;
                for (int i = 0; i < LAB_CYCLE_COUNT; i++)
                    if (strcmp(x->string, cycle_names[i]) == 0)
                        k = i;
                if (k < 0) {
                    verrs_add(e, ep, "is not a pay cycle (weekly, biweekly, semimonthly, monthly)");
                    bad = 1;
                } else if (!cJSON_IsNumber(x) || x->valuedouble < 0) {
                    verrs_add(e, ep, "must be a weight: a number of 0 or more");
                    bad = 1;
                } else {
                    w[k] = x->valuedouble;
                    total += w[k];
                }
            }
            if (!bad && positive_total(&c, "funds.pay_cycles", total))
                memcpy(s->pay_cycle_weights, w, sizeof w);
        }
        get_keyed_weights(&c, o, "funds.pay_weekdays", "pay_weekdays", weekday_index, s->pay_weekday_weights, 7,
                          "is not a weekday (sunday .. saturday)");
        get_keyed_weights(&c, o, "funds.pay_month_days", "pay_month_days", mday_index, s->pay_mday_weights, 29,
                          "is not a pay day of the month (\"1\" to \"28\", or \"last\")");
        get_range(&c, o, "funds", "arrival_hours", 0, 72, &s->arrival_hours);
        get_range(&c, o, "funds", "last_days", 0.1, 31, &s->funds_last_days);
        get_number(&c, o, "funds", "success", 0, 1, &s->funds_success);
    }
    if ((o = object_at(&c, root, "", "generic", fp, sizeof fp))) {
        static const char *const f[] = {"chances", "spread", NULL};
        only_known(&c, o, "generic", f);
        const cJSON *ch = member(o, "chances");
        if (ch) {
            int n = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : 0;
            if (n < 1 || n > LAB_MAX_CHANCES) {
                verrs_add(e, "generic.chances", "must be an array of 1 to %d chances, one per retry", LAB_MAX_CHANCES);
            } else {
                int bad = 0;
                for (int i = 0; i < n; i++) {
                    const cJSON *x = cJSON_GetArrayItem(ch, i);
                    if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 1) {
                        char ep[64];
                        jv_path_index(ep, sizeof ep, "generic.chances", i);
                        verrs_add(e, ep, "must be a chance between 0 and 1");
                        bad = 1;
                    } else {
                        s->generic_chances[i] = x->valuedouble;
                    }
                }
                if (!bad)
                    s->ngeneric_chances = (size_t)n;
            }
        }
        get_range(&c, o, "generic", "spread", 0, 10, &s->generic_spread);
    }
    if ((o = object_at(&c, root, "", "withdrawal_limit", fp, sizeof fp))) {
        static const char *const f[] = {"success", NULL};
        only_known(&c, o, "withdrawal_limit", f);
        get_number(&c, o, "withdrawal_limit", "success", 0, 1, &s->limit_success);
    }
    if ((o = object_at(&c, root, "", "issuer_unavailable", fp, sizeof fp))) {
        static const char *const f[] = {"downtime_hours", "success", NULL};
        only_known(&c, o, "issuer_unavailable", f);
        get_range(&c, o, "issuer_unavailable", "downtime_hours", 0, 24 * 60, &s->downtime_hours);
        get_number(&c, o, "issuer_unavailable", "success", 0, 1, &s->technical_success);
    }
    if ((o = object_at(&c, root, "", "expired_card", fp, sizeof fp))) {
        static const char *const f[] = {"updater_share", "update_after_days", "new_card_success", NULL};
        only_known(&c, o, "expired_card", f);
        get_number(&c, o, "expired_card", "updater_share", 0, 1, &s->updater_share);
        get_range(&c, o, "expired_card", "update_after_days", 0, 120, &s->updater_days);
        get_number(&c, o, "expired_card", "new_card_success", 0, 1, &s->new_card_success);
    }
    if ((o = object_at(&c, root, "", "cancellations", fp, sizeof fp))) {
        static const char *const f[] = {"share", "after_days", NULL};
        only_known(&c, o, "cancellations", f);
        get_number(&c, o, "cancellations", "share", 0, 1, &s->cancel_share);
        get_range(&c, o, "cancellations", "after_days", 0, 120, &s->cancel_days);
    }
    get_hours(&c, root, "hour_factors", s->hour_factors);
    get_hours(&c, root, "debit_hour_factors", s->debit_hour_factors);
    if ((o = object_at(&c, root, "", "warmup", fp, sizeof fp))) {
        static const char *const f[] = {"enabled", "invoices", "renewals_per_invoice", NULL};
        only_known(&c, o, "warmup", f);
        get_bool(&c, o, "warmup", "enabled", &s->warmup);
        get_int(&c, o, "warmup", "invoices", 0, 2000000, &s->warmup_invoices);
        get_int(&c, o, "warmup", "renewals_per_invoice", 0, 50, &s->warmup_renewals);
    }
    get_int(&c, root, "", "card_history", 0, LAB_MAX_PAST_INVOICES, &s->card_history);
    if (s->warmup_invoices < 0)
        s->warmup_invoices = s->invoices < 20000 ? s->invoices : 20000;
    const cJSON *nr = member(root, "network_rules");
    if (nr) {
        if (!cJSON_IsObject(nr)) {
            verrs_add(e, "network_rules", "must be an object in the network_rules_file format");
        } else {
            char *text = cJSON_PrintUnformatted(nr);
            char err[512];
            if (!text || nr_rules_parse(&s->rules, text, "network_rules", err, sizeof err) != 0)
                verrs_add(e, "network_rules", "%s", text ? err : "out of memory");
            free(text);
        }
    }
    cJSON_Delete(root);
    return e->count - before;
}

int lab_scenario_load(const char *path, struct lab_scenario *out, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf b;
    buf_init(&b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || b.oom) {
        snprintf(err, errsz, "%s: could not be read", path);
        buf_free(&b);
        return -1;
    }
    verrs e;
    verrs_init(&e);
    int problems = lab_scenario_parse(buf_cstr(&b), out, &e);
    buf_free(&b);
    if (problems == 0) {
        verrs_free(&e);
        return 0;
    }
    buf msg;
    buf_init(&msg);
    const cJSON *x;
    cJSON_ArrayForEach(x, e.list)
    {
        buf_printf(&msg, "%s%s: %s: %s", msg.len ? "\n" : "", path, jv_get_string(x, "field"),
                   jv_get_string(x, "message"));
    }
    str_copy(err, errsz, buf_cstr(&msg));
    buf_free(&msg);
    verrs_free(&e);
    return -1;
}
