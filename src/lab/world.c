#include "lab/world.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/money.h"
#include "core/timefmt.h"
#include "lab/strategies.h"
#include "recover/localtime.h"

uint64_t lab_hash(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t x = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);
    uint64_t keys[3] = {c, d, 0x94D049BB133111EBULL};
    for (int i = 0; i < 3; i++) {
        x += keys[i] + 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        x ^= x >> 31;
    }
    return x;
}

double lab_unit(uint64_t h) { return (double)(h >> 11) * (1.0 / 9007199254740992.0); }

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int zone_index(struct lab_world *w, const char *name)
{
    for (size_t i = 0; i < w->nzones; i++)
        if (strcmp(w->zones[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int add_zone(struct lab_world *w, const char *name, int64_t t0, int64_t t1)
{
    int k = zone_index(w, name);
    if (k >= 0)
        return k;
    struct lab_zone *z = &w->zones[w->nzones];
    str_copy(z->name, sizeof z->name, name);
    z->t0 = t0;
    z->n = (size_t)((t1 - t0) / LAB_HOUR_MS + 1);
    z->offset_min = malloc(z->n * sizeof *z->offset_min);
    if (!z->offset_min)
        return -1;
    for (size_t i = 0; i < z->n; i++) {
        struct rc_local l;
        rc_local_time(t0 + (int64_t)i * LAB_HOUR_MS, name, &l);
        z->offset_min[i] = (int16_t)l.offset_min;
    }
    return (int)w->nzones++;
}

int lab_world_init(struct lab_world *w, const struct lab_scenario *s, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    w->seed = seed;
    /* From the warm-up month's pay days to the end of the last window. */
    int64_t t0 = floor_div(s->start_ms, LAB_DAY_MS) * LAB_DAY_MS - (s->spread_days + 14 + 45) * LAB_DAY_MS -
                 s->card_history * 30 * LAB_DAY_MS;
    int64_t t1 = s->start_ms + (s->spread_days + s->dunning_days + 20) * LAB_DAY_MS;
    for (size_t i = 0; i < s->nregions; i++) {
        int k = add_zone(w, s->regions[i].zone, t0, t1);
        if (k < 0) {
            lab_world_free(w);
            return -1;
        }
        w->region_zone[i] = (uint8_t)k;
    }
    return 0;
}

void lab_world_free(struct lab_world *w)
{
    for (size_t i = 0; i < w->nzones; i++)
        free(w->zones[i].offset_min);
    w->nzones = 0;
}

static int offset_at(const struct lab_world *w, int zone, int64_t t)
{
    const struct lab_zone *z = &w->zones[zone];
    if (t >= z->t0) {
        size_t i = (size_t)((t - z->t0) / LAB_HOUR_MS);
        if (i < z->n)
            return z->offset_min[i];
    }
    struct rc_local l;
    rc_local_time(t, z->name, &l);
    return l.offset_min;
}

static void local_of_day(int64_t day, struct lab_local *out)
{
    out->day = day;
    out->wday = (int)(((day + 4) % 7 + 7) % 7);
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    out->mday = (int)d;
    out->month = (int)m;
}

void lab_world_local(const struct lab_world *w, const struct lab_customer *c, int64_t t, struct lab_local *out)
{
    int64_t local = t + (int64_t)offset_at(w, w->region_zone[c->region], t) * 60000;
    local_of_day(floor_div(local, LAB_DAY_MS), out);
    out->hour = (int)((local - out->day * LAB_DAY_MS) / LAB_HOUR_MS);
}

static int64_t local_hour(const struct lab_world *w, const struct lab_customer *c, int64_t t, int64_t *day)
{
    int64_t local = t + (int64_t)offset_at(w, w->region_zone[c->region], t) * 60000;
    *day = floor_div(local, LAB_DAY_MS);
    return (local - *day * LAB_DAY_MS) / LAB_HOUR_MS;
}

/* ---------------------------------------------------------------- population */

enum {
    F_REGION = 1, F_SCHEME, F_FUNDING, F_PSP, F_CURRENCY, F_MIX, F_AMOUNT, F_POSTAL, F_POSTAL_PICK, F_DAY, F_HOUR,
    F_CANCEL, F_CANCEL_AT, F_UPDATER, F_UPDATER_AT, F_DOWN, F_GENERIC, F_CYCLE, F_WEEKDAY, F_PARITY, F_MDAY,
    F_ARRIVAL, F_LAST, F_SHIFT,
};

static double u_of(const struct lab_world *w, int stream, uint32_t id, int field)
{
    return lab_unit(lab_hash(w->seed, (uint64_t)stream, id, (uint64_t)field));
}

static double in_range(struct lab_range r, double u) { return r.lo + (r.hi - r.lo) * u; }

static size_t pick(double u, size_t n, double (*weight)(const void *, size_t), const void *list)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += weight(list, i);
    double x = u * total;
    for (size_t i = 0; i < n; i++) {
        x -= weight(list, i);
        if (x < 0 && weight(list, i) > 0)
            return i;
    }
    for (size_t i = n; i-- > 0;)
        if (weight(list, i) > 0)
            return i;
    return 0;
}

static double w_weighted(const void *l, size_t i) { return ((const struct lab_weighted *)l)[i].weight; }
static double w_region(const void *l, size_t i) { return ((const struct lab_region *)l)[i].weight; }
static double w_currency(const void *l, size_t i) { return ((const struct lab_currency *)l)[i].weight; }
static double w_mix(const void *l, size_t i) { return ((const struct lab_decline_mix *)l)[i].weight; }
static double w_double(const void *l, size_t i) { return ((const double *)l)[i]; }

struct pay_rule {
    int cycle, weekday, parity, mday; /* mday 0: the month's last day */
    int64_t arrival_ms, last_ms;
};

static int is_payday(const struct pay_rule *p, int64_t day)
{
    struct lab_local l;
    local_of_day(day, &l);
    switch (p->cycle) {
    case LAB_WEEKLY:
        return l.wday == p->weekday;
    case LAB_BIWEEKLY:
        return l.wday == p->weekday && (int)(floor_div(day + 4, 7) & 1) == p->parity;
    case LAB_SEMIMONTHLY:
        return l.mday == 1 || l.mday == 15;
    default: {
        if (p->mday > 0)
            return l.mday == p->mday;
        struct lab_local next;
        local_of_day(day + 1, &next);
        return next.mday == 1;
    }
    }
}

/* Money arrives on each pay day (local midnight plus the arrival delay)
 * and is spent after last_ms; overlapping stretches merge. */
static void fill_funds(const struct lab_world *w, struct lab_customer *c, const struct pay_rule *p, int64_t from,
                       int64_t to)
{
    c->nfunds = 0;
    int zone = w->region_zone[c->region];
    int64_t d0 = floor_div(from, LAB_DAY_MS) - 1, d1 = floor_div(to, LAB_DAY_MS) + 1;
    for (int64_t d = d0; d <= d1; d++) {
        if (!is_payday(p, d))
            continue;
        int64_t local_midnight = d * LAB_DAY_MS;
        int64_t a = local_midnight - (int64_t)offset_at(w, zone, local_midnight) * 60000 + p->arrival_ms;
        int64_t b = a + p->last_ms;
        if (b <= from || a >= to)
            continue;
        if (c->nfunds > 0 && a <= c->funds_to[c->nfunds - 1]) {
            if (b > c->funds_to[c->nfunds - 1])
                c->funds_to[c->nfunds - 1] = b;
            continue;
        }
        if (c->nfunds == LAB_MAX_FUNDS)
            break;
        c->funds_from[c->nfunds] = a;
        c->funds_to[c->nfunds] = b;
        c->nfunds++;
    }
}

/* Money on the account at t under pay rule p: for the months before the
 * failure, which the customer's funds table does not cover. */
static int funds_by_rule(const struct lab_world *w, const struct lab_customer *c, const struct pay_rule *p, int64_t t)
{
    int zone = w->region_zone[c->region];
    int64_t d1 = floor_div(t, LAB_DAY_MS) + 1;
    for (int64_t d = d1 - 32; d <= d1; d++) {
        if (!is_payday(p, d))
            continue;
        int64_t local_midnight = d * LAB_DAY_MS;
        int64_t a = local_midnight - (int64_t)offset_at(w, zone, local_midnight) * 60000 + p->arrival_ms;
        if (t >= a && t < a + p->last_ms)
            return 1;
    }
    return 0;
}

/* The period between renewals of the earlier invoices. */
#define PAST_PERIOD (30 * LAB_DAY_MS)

static int64_t past_attempt_at(const struct lab_customer *c, int k, int j)
{
    return c->fail_at - (int64_t)(k + 1) * PAST_PERIOD + (j ? lab_fixed_offset(LAB_FIXED_8_IN_14, j - 1) : 0);
}

/* The customer's earlier invoices: renewed a month apart at the same
 * time of day; a customer short of money then was retried on the
 * merchant's previous schedule (8 in 14 days) until a retry met money on
 * the account and the chance said yes. Other customers paid at once: their
 * trouble is this month's. */
static void past_invoices(const struct lab_world *w, int stream, struct lab_customer *c, const struct pay_rule *p)
{
    const struct lab_scenario *s = w->s;
    for (int k = 0; k < LAB_MAX_PAST_INVOICES; k++) {
        c->past_failed[k] = 0;
        if (c->type != LAB_INSUFFICIENT_FUNDS || k >= s->card_history)
            continue;
        int j = 0;
        for (; j < LAB_PAST_ATTEMPTS; j++) {
            int64_t t = past_attempt_at(c, k, j);
            if (!funds_by_rule(w, c, p, t))
                continue;
            if (j == 0)
                break; /* money at the renewal: it went through */
            int64_t day;
            int h = (int)local_hour(w, c, t, &day);
            double chance = s->funds_success * (c->debit ? s->debit_hour_factors[h] : s->hour_factors[h]);
            if (lab_unit(lab_hash(w->seed ^ 0x5851F42D4C957F2DULL, (uint64_t)stream * 8 + (uint64_t)k, c->id,
                                  (uint64_t)j)) < chance)
                break;
        }
        c->past_failed[k] = (uint8_t)j;
    }
}

size_t lab_world_past(const struct lab_world *w, const struct lab_customer *c, struct lab_past *out)
{
    size_t n = 0;
    int64_t ks = w->s->card_history < LAB_MAX_PAST_INVOICES ? w->s->card_history : LAB_MAX_PAST_INVOICES;
    for (int k = (int)ks - 1; k >= 0; k--) {
        int failed = c->past_failed[k];
        for (int j = 0; j < failed; j++)
            out[n++] = (struct lab_past){past_attempt_at(c, k, j), 0};
        if (failed < LAB_PAST_ATTEMPTS)
            out[n++] = (struct lab_past){past_attempt_at(c, k, failed), 1};
    }
    return n;
}

static void make_customer(const struct lab_world *w, int stream, uint32_t id, int64_t from_ms, int64_t span_ms,
                          struct lab_customer *c)
{
    const struct lab_scenario *s = w->s;
    memset(c, 0, sizeof *c);
    c->id = id;
    c->region = (uint8_t)pick(u_of(w, stream, id, F_REGION), s->nregions, w_region, s->regions);
    c->scheme = (uint8_t)pick(u_of(w, stream, id, F_SCHEME), s->nschemes, w_weighted, s->schemes);
    c->funding = (uint8_t)pick(u_of(w, stream, id, F_FUNDING), s->nfunding, w_weighted, s->funding);
    c->psp = (uint8_t)pick(u_of(w, stream, id, F_PSP), s->npsps, w_weighted, s->psps);
    c->currency = (uint8_t)pick(u_of(w, stream, id, F_CURRENCY), s->ncurrencies, w_currency, s->currencies);
    c->mix = (uint8_t)pick(u_of(w, stream, id, F_MIX), s->ndeclines, w_mix, s->declines);
    c->type = (uint8_t)s->declines[c->mix].type;
    c->debit = strcmp(s->funding[c->funding].name, "debit") == 0;
    const char *scheme = s->schemes[c->scheme].name;
    c->mastercard = strcmp(scheme, "mastercard") == 0 || strcmp(scheme, "maestro") == 0;

    /* Subscription prices spread over orders of magnitude: log-uniform. */
    const struct lab_currency *cur = &s->currencies[c->currency];
    double major = exp(in_range((struct lab_range){log(s->amount.lo), log(s->amount.hi)},
                                u_of(w, stream, id, F_AMOUNT)));
    int exponent = currency_exponent(cur->code);
    double scale = pow(10, exponent < 0 ? 2 : exponent);
    c->amount_minor = (int64_t)llround(major * scale);
    if (c->amount_minor < 1)
        c->amount_minor = 1;
    c->value = (double)c->amount_minor / scale * cur->rate;

    const struct lab_region *r = &s->regions[c->region];
    c->postal = -1;
    if (r->npostal > 0 && u_of(w, stream, id, F_POSTAL) < s->postal_code_share)
        c->postal = (int8_t)((size_t)(u_of(w, stream, id, F_POSTAL_PICK) * (double)r->npostal) % r->npostal);

    int64_t day = floor_div(from_ms + (int64_t)(u_of(w, stream, id, F_DAY) * (double)span_ms), LAB_DAY_MS);
    c->fail_at = day * LAB_DAY_MS +
                 (int64_t)(in_range(s->renewal_hours_utc, u_of(w, stream, id, F_HOUR)) * (double)LAB_HOUR_MS);

    if (c->type == LAB_INSUFFICIENT_FUNDS) {
        struct pay_rule p = {0};
        p.cycle = (int)pick(u_of(w, stream, id, F_CYCLE), LAB_CYCLE_COUNT, w_double, s->pay_cycle_weights);
        c->cycle = (uint8_t)p.cycle;
        p.weekday = (int)pick(u_of(w, stream, id, F_WEEKDAY), 7, w_double, s->pay_weekday_weights);
        p.parity = u_of(w, stream, id, F_PARITY) < 0.5;
        p.mday = (int)pick(u_of(w, stream, id, F_MDAY), 29, w_double, s->pay_mday_weights);
        p.arrival_ms = (int64_t)(in_range(s->arrival_hours, u_of(w, stream, id, F_ARRIVAL)) * (double)LAB_HOUR_MS);
        p.last_ms = (int64_t)(in_range(s->funds_last_days, u_of(w, stream, id, F_LAST)) * (double)LAB_DAY_MS);
        /* Someone whose money outlasts the pay period never runs dry: the
         * money is gone half a day before the next pay day at the latest. */
        static const int64_t period_days[LAB_CYCLE_COUNT] = {7, 14, 13, 28};
        if (p.last_ms > period_days[p.cycle] * LAB_DAY_MS - 12 * LAB_HOUR_MS)
            p.last_ms = period_days[p.cycle] * LAB_DAY_MS - 12 * LAB_HOUR_MS;
        int64_t horizon = (s->dunning_days + 2) * LAB_DAY_MS;
        fill_funds(w, c, &p, c->fail_at - 40 * LAB_DAY_MS, c->fail_at + horizon + 40 * LAB_DAY_MS);
        /* A customer with money on the account would have paid: the failed
         * renewal falls after the money ran out. */
        for (size_t i = 0; i < c->nfunds; i++)
            if (c->fail_at >= c->funds_from[i] && c->fail_at < c->funds_to[i]) {
                c->fail_at = c->funds_to[i] + (int64_t)(u_of(w, stream, id, F_SHIFT) * 6 * (double)LAB_HOUR_MS);
                /* Too close to the next pay day: right after the money went. */
                if (i + 1 < c->nfunds && c->fail_at >= c->funds_from[i + 1])
                    c->fail_at = c->funds_to[i];
            }
        fill_funds(w, c, &p, c->fail_at, c->fail_at + horizon);
        past_invoices(w, stream, c, &p);
    }

    c->cancel_at = LAB_NEVER;
    if (u_of(w, stream, id, F_CANCEL) < s->cancel_share)
        c->cancel_at = c->fail_at + (int64_t)(in_range(s->cancel_days, u_of(w, stream, id, F_CANCEL_AT)) *
                                              (double)LAB_DAY_MS);
    c->replaced_at = LAB_NEVER;
    if (c->type == LAB_EXPIRED_CARD && u_of(w, stream, id, F_UPDATER) < s->updater_share)
        c->replaced_at = c->fail_at + (int64_t)(in_range(s->updater_days, u_of(w, stream, id, F_UPDATER_AT)) *
                                                (double)LAB_DAY_MS);
    c->down_until = c->fail_at;
    if (c->type == LAB_ISSUER_UNAVAILABLE)
        c->down_until += (int64_t)(in_range(s->downtime_hours, u_of(w, stream, id, F_DOWN)) * (double)LAB_HOUR_MS);
    c->generic_mult = in_range(s->generic_spread, u_of(w, stream, id, F_GENERIC));
}

struct lab_customer *lab_population(const struct lab_world *w, int stream, size_t n, int64_t from_ms, int64_t span_ms)
{
    struct lab_customer *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        make_customer(w, stream, (uint32_t)i, from_ms, span_ms, &p[i]);
    return p;
}

/* ---------------------------------------------------------------- the truth */

int lab_world_funds(const struct lab_customer *c, int64_t t)
{
    for (size_t i = 0; i < c->nfunds; i++)
        if (t >= c->funds_from[i] && t < c->funds_to[i])
            return 1;
    return 0;
}

int lab_world_new_card(const struct lab_customer *c, int64_t t) { return t >= c->replaced_at; }

static int limit_reset(const struct lab_world *w, const struct lab_customer *c, int64_t t, int64_t last_fail)
{
    int64_t d_now, d_last;
    local_hour(w, c, t, &d_now);
    local_hour(w, c, last_fail, &d_last);
    return d_now != d_last;
}

double lab_world_chance(const struct lab_world *w, const struct lab_customer *c, int64_t t, int retries,
                        int64_t last_fail)
{
    const struct lab_scenario *s = w->s;
    if (t >= c->cancel_at)
        return 0;
    double p = 0;
    switch ((enum lab_decline_type)c->type) {
    case LAB_INSUFFICIENT_FUNDS:
        p = lab_world_funds(c, t) ? s->funds_success : 0;
        break;
    case LAB_WITHDRAWAL_LIMIT:
        p = limit_reset(w, c, t, last_fail) ? s->limit_success : 0;
        break;
    case LAB_GENERIC: {
        size_t k = (size_t)retries < s->ngeneric_chances ? (size_t)retries : s->ngeneric_chances - 1;
        p = s->generic_chances[k] * c->generic_mult;
        break;
    }
    case LAB_ISSUER_UNAVAILABLE:
        p = t >= c->down_until ? s->technical_success : 0;
        break;
    case LAB_EXPIRED_CARD:
        p = lab_world_new_card(c, t) ? s->new_card_success : 0;
        break;
    case LAB_HARD:
    case LAB_TYPE_COUNT:
        p = 0;
        break;
    }
    if (p <= 0)
        return 0;
    int64_t day;
    int h = (int)local_hour(w, c, t, &day);
    p *= c->debit ? s->debit_hour_factors[h] : s->hour_factors[h];
    return p > 1 ? 1 : p;
}

double lab_world_draw(const struct lab_world *w, int stream, const struct lab_customer *c, int retries)
{
    return lab_unit(lab_hash(w->seed ^ 0xD1B54A32D192ED03ULL, (uint64_t)stream + 16, c->id, (uint64_t)retries));
}

void lab_world_failure(const struct lab_world *w, const struct lab_customer *c, int64_t t, const char **reason,
                       const char **mac)
{
    const struct lab_decline_mix *m = &w->s->declines[c->mix];
    int condition = 1; /* the hidden condition behind the type still holds */
    switch ((enum lab_decline_type)c->type) {
    case LAB_INSUFFICIENT_FUNDS:
        condition = !lab_world_funds(c, t);
        break;
    case LAB_ISSUER_UNAVAILABLE:
        condition = t < c->down_until;
        break;
    case LAB_EXPIRED_CARD:
        condition = !lab_world_new_card(c, t);
        break;
    default:
        break;
    }
    /* The condition cleared and the chance said no: issuers answer that
     * with a plain decline. */
    *reason = condition ? m->reason : "generic_decline";
    *mac = condition && c->mastercard ? m->mac : "";
}

/* ---------------------------------------------------------------- PSP data */

struct psp_words {
    const char *reason;
    const char *network; /* ISO 8583 response code */
    const char *stripe;  /* decline_code */
    const char *stripe_msg;
    const char *adyen_code, *adyen_text;
    const char *bt_code, *bt_text;
    const char *worldpay;
};

/* NULL where the PSP has no words of its own for a reason: the decline
 * then travels as the canonical text with the network code. */
static const struct psp_words words[] = {
    {"insufficient_funds", "51", "insufficient_funds", "Your card has insufficient funds.", "12", "Not enough balance",
     "2001", "Insufficient Funds", "INSUFFICIENT FUNDS"},
    {"withdrawal_limit", "61", "card_velocity_exceeded", "", "28", "Withdrawal amount exceeded", "2002",
     "Limit Exceeded", "EXCEEDS WITHDRAWAL AMOUNT LIMIT"},
    {"do_not_honor", "05", "do_not_honor", "", "2", "Refused", "2000", "Do Not Honor", "DO NOT HONOUR"},
    {"generic_decline", "", "generic_decline", "Your card was declined.", "27", "Declined Non Generic", "2046",
     "Processor Declined", "REFUSED"},
    {"issuer_unavailable", "91", "issuer_not_available", "", "4", "Acquirer Error", "3000",
     "Processor Network Unavailable - Try Again", "ISSUER OR SWITCH INOPERATIVE"},
    {"try_again_later", "19", "try_again_later", "", NULL, NULL, NULL, NULL, "RE-ENTER TRANSACTION"},
    {"expired_card", "54", "expired_card", "Your card has expired.", "6", "Expired Card", "2004", "Expired Card",
     "EXPIRED CARD"},
    {"stolen_card", "43", "stolen_card", "", NULL, NULL, "2013", "Processor Declined - Possible Stolen Card",
     "STOLEN CARD, PICK UP"},
    {"lost_card", "41", "lost_card", "", NULL, NULL, "2012", "Processor Declined - Possible Lost Card", "LOST CARD"},
    {"pickup_card", "04", "pickup_card", "", "5", "Blocked Card", "2047", "Call Issuer. Pick Up Card", "PICK UP CARD"},
    {"fraudulent", "59", "fraudulent", "", "14", "Issuer Suspected Fraud", "2014",
     "Processor Declined - Fraud Suspected", "SUSPECTED FRAUD"},
    {"invalid_account", "46", "invalid_account", "", "34", "No checking account available on Card", "2007",
     "No Account", "CLOSED ACCOUNT"},
    {"incorrect_number", "14", "incorrect_number", "Your card number is incorrect.", "8", "Invalid Card Number",
     "2005", "Invalid Credit Card Number", "INVALID CARD NUMBER"},
    {"revoked", "R1", "revocation_of_authorization", "", "26", "Revocation Of Auth", "2018",
     "Cardholder Stopped All Billing", "REVOCATION OF AUTHORISATION ORDER"},
    {"stop_payment", "R0", "stop_payment_order", "", NULL, NULL, "2017", "Cardholder Stopped Billing", NULL},
    {"transaction_not_allowed", "57", "transaction_not_allowed", "", "23", "Transaction Not Permitted", "2015",
     "Transaction Not Allowed", "TRANSACTION NOT PERMITTED TO CARDHOLDER"},
};

void lab_psp_outcome(const char *psp, const char *reason, const char *mac, int success, struct lab_psp_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->psp_message = "";
    o->code = "";
    if (success) {
        o->response_type = "";
        if (strcmp(psp, "adyen") == 0) {
            o->raw = "Authorised";
        } else if (strcmp(psp, "braintree") == 0) {
            o->raw = "Approved";
            o->code = "1000";
        } else if (strcmp(psp, "worldpay") == 0) {
            o->raw = "AUTHORISED";
        } else {
            o->raw = "approved";
        }
        str_copy(o->network_status, sizeof o->network_status, "00");
        return;
    }
    const struct psp_words *wd = NULL;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i].reason, reason) == 0)
            wd = &words[i];
    const char *net = wd ? wd->network : "";
    o->raw = reason;
    if (wd && strcmp(psp, "stripe") == 0) {
        o->raw = wd->stripe;
        o->psp_message = wd->stripe_msg;
    } else if (wd && strcmp(psp, "adyen") == 0 && wd->adyen_code) {
        o->raw = wd->adyen_text;
        o->code = wd->adyen_code;
    } else if (wd && strcmp(psp, "braintree") == 0 && wd->bt_code) {
        o->raw = wd->bt_text;
        o->code = wd->bt_code;
    } else if (wd && strcmp(psp, "worldpay") == 0 && wd->worldpay) {
        o->raw = wd->worldpay;
    }
    if (mac && *mac)
        snprintf(o->network_status, sizeof o->network_status, "%s%sMAC %s", net, *net ? " " : "", mac);
    else
        str_copy(o->network_status, sizeof o->network_status, net);
    /* PSPs call a decline hard when the card itself is the problem. */
    static const char *const hard[] = {"expired_card", "stolen_card", "lost_card", "pickup_card", "fraudulent",
                                       "invalid_account", "incorrect_number", "revoked", "stop_payment",
                                       "transaction_not_allowed", NULL};
    o->response_type = "soft_decline";
    for (const char *const *h = hard; *h; h++)
        if (strcmp(*h, reason) == 0)
            o->response_type = "hard_decline";
}
