/* Retry planning benchmark (built by bench/planner.sh).
 *
 *   planner_bench latency N   rc_plan latency over N decisions with a
 *                             trained model; nr_evaluate on the same inputs
 *                             as the reference measured in the same run
 *   planner_bench sim N       N synthetic failed invoices with hidden
 *                             recovery times, replayed under the planner
 *                             (learning as it goes), fixed schedules, and
 *                             an oracle that knows each invoice's truth
 *
 * Everything is seeded: the same N gives the same numbers of attempts and
 * recoveries on every run (the latencies vary with the machine). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "recover/declines.h"
#include "recover/localtime.h"
#include "recover/model.h"
#include "recover/planner.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define T0 1793491200000LL /* 2026-11-01T00:00:00Z */
#define MAXT 48

static uint64_t rng_state = 88172645463325252ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static double unif(void) { return (rnd() & 0xffffff) / (double)0x1000000; }

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *const reasons[] = {"insufficient_funds", "do_not_honor", "generic_decline", "issuer_not_available",
                                      "withdrawal_count_limit_exceeded"};
static const char *const countries[] = {"US", "GB", "DE", "FR", "BR", "AU", "JP", "CA", "MX", "ES"};
static const char *const postals[] = {"10001", "", "", "", "01310", "3000", "", "V6B", "06600", ""};

static struct rc_txn mk_txn(int64_t at, const char *raw, int success, const char *origin, int country)
{
    struct rc_txn t;
    memset(&t, 0, sizeof t);
    static unsigned seq;
    snprintf(t.transaction_id, sizeof t.transaction_id, "tx_%u", ++seq);
    str_copy(t.psp, sizeof t.psp, "stripe");
    str_copy(t.acquirer_country, sizeof t.acquirer_country, "US");
    str_copy(t.issuer_country, sizeof t.issuer_country, countries[country]);
    str_copy(t.currency, sizeof t.currency, "USD");
    str_copy(t.funding_source, sizeof t.funding_source, country % 2 ? "credit" : "debit");
    str_copy(t.payment_method_id, sizeof t.payment_method_id, "pm_1");
    str_copy(t.scheme, sizeof t.scheme, country % 3 ? "visa" : "mastercard");
    str_copy(t.raw_response_message, sizeof t.raw_response_message, raw);
    str_copy(t.origin, sizeof t.origin, origin);
    t.amount = 999 + (int64_t)(rnd() % 9000);
    t.psp_created_at = at;
    t.success = success;
    return t;
}

/* ------------------------------------------------------------ the truth */

/* What the simulation knows and the planner does not: when the invoice
 * becomes payable, and how likely a charge is from then on. */
struct truth {
    int reason;
    int country;
    int recoverable;
    int64_t ready_at; /* from this time the charge can succeed */
    double p_ready;   /* chance per attempt once ready (day hours) */
};

static int local_hour(int64_t t, int country)
{
    struct rc_local lt;
    rc_local_time(t, rc_zone_for(countries[country], postals[country]), &lt);
    return lt.hour;
}

static double p_success(const struct truth *tr, int64_t t)
{
    if (!tr->recoverable || t < tr->ready_at)
        return 0.01;
    int h = local_hour(t, tr->country);
    return h < 5 ? tr->p_ready * 0.3 : tr->p_ready;
}

/* The next pay day after t in the cardholder's zone: the 1st or the 15th,
 * or the next Friday, at 06:00 local, as the customer's employer pays. */
static int64_t next_payday(int64_t t, int country, int kind)
{
    const char *zone = rc_zone_for(countries[country], postals[country]);
    for (int64_t d = t + HOUR_MS; d < t + 60 * DAY_MS; d += HOUR_MS) {
        struct rc_local lt;
        rc_local_time(d, zone, &lt);
        if (lt.hour != 6)
            continue;
        if (kind == 0 && (lt.mday == 1 || lt.mday == 15))
            return d;
        if (kind == 1 && lt.wday == 5)
            return d;
    }
    return t + 60 * DAY_MS;
}

static void draw_truth(struct truth *tr, int64_t failed_at)
{
    tr->reason = (int)(rnd() % 100);
    tr->reason = tr->reason < 50 ? 0 : tr->reason < 70 ? 1 : tr->reason < 80 ? 2 : tr->reason < 90 ? 3 : 4;
    tr->country = (int)(rnd() % 10);
    switch (tr->reason) {
    case 0: /* money arrives on the customer's pay day */
        tr->recoverable = unif() < 0.6;
        tr->ready_at = next_payday(failed_at, tr->country, (int)(rnd() % 2));
        tr->p_ready = 0.85;
        break;
    case 1:
    case 2: /* the issuer relents some days later */
        tr->recoverable = unif() < 0.45;
        tr->ready_at = failed_at + (int64_t)(unif() * 10 * DAY_MS);
        tr->p_ready = 0.5;
        break;
    case 3: /* the issuer is back within hours */
        tr->recoverable = unif() < 0.95;
        tr->ready_at = failed_at + (int64_t)(-log(1 - unif()) * 2 * HOUR_MS);
        tr->p_ready = 0.9;
        break;
    default: /* the limit resets after a day */
        tr->recoverable = unif() < 0.7;
        tr->ready_at = failed_at + DAY_MS + (int64_t)(unif() * 6 * HOUR_MS);
        tr->p_ready = 0.8;
        break;
    }
}

/* ------------------------------------------------------------ strategies */

struct score {
    int64_t invoices, recovered, attempts;
    double value;
};

/* A fixed schedule: attempts at the given offsets (hours) from the failure. */
static void run_fixed(const struct truth *tr, int64_t failed_at, const int *hours, int n, struct score *s)
{
    for (int i = 0; i < n; i++) {
        int64_t t = failed_at + hours[i] * HOUR_MS;
        s->attempts++;
        if (unif() < p_success(tr, t)) {
            s->recovered++;
            s->value += exp(-0.01 * (double)(t - failed_at) / DAY_MS);
            return;
        }
    }
}

/* The oracle knows when the invoice is payable and charges then, once, at
 * the first day-time hour. */
static void run_oracle(const struct truth *tr, int64_t failed_at, int64_t window_end, struct score *s)
{
    if (!tr->recoverable)
        return;
    int64_t t = tr->ready_at;
    while (local_hour(t, tr->country) < 5)
        t += HOUR_MS;
    if (t >= window_end)
        return;
    s->attempts++;
    s->recovered++;
    s->value += exp(-0.01 * (double)(t - failed_at) / DAY_MS);
}

static void run_planner(rc_model *m, const struct truth *tr, int64_t failed_at, struct score *s)
{
    static struct rc_txn txns[MAXT];
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    inv.has_dunning_started = 1;
    inv.dunning_started_at = failed_at;
    size_t n = 0;
    txns[n++] = mk_txn(failed_at, reasons[tr->reason], 0, "merchant", tr->country);
    int64_t now = failed_at + MIN_MS, recover_attempts = 0;
    while (n < MAXT) {
        struct rc_plan_input in = {.merchant_id = "sim", .dunning_days = 30, .max_retries = 12,
                                   .merchant_tz = "America/New_York", .invoice = &inv, .txns = txns, .ntxns = n,
                                   .card_txns = txns, .ncard_txns = n, .payment_method_id = "pm_1",
                                   .postal_code = postals[tr->country], .recover_attempts = recover_attempts,
                                   .now = now, .rules = &nr_default_rules, .model = m};
        struct rc_decision d;
        if (rc_plan(&in, &d) != 0 || strcmp(d.action, RC_ACTION_RETRY) != 0)
            return;
        int64_t t = d.planned_at;
        int ok = unif() < p_success(tr, t);
        struct rc_model_features f;
        rc_model_features_for(&f, txns, n, &txns[n - 1], postals[tr->country], "America/New_York", t);
        rc_model_learn(m, "sim", &f, ok);
        s->attempts++;
        recover_attempts++;
        if (ok) {
            s->recovered++;
            s->value += exp(-0.01 * (double)(t - failed_at) / DAY_MS);
            return;
        }
        txns[n] = mk_txn(t, reasons[tr->reason], 0, "recover", tr->country);
        txns[n].amount = txns[0].amount;
        n++;
        now = t + MIN_MS;
    }
}

static void sim(int ninv)
{
    rc_model *m = rc_model_new();
    static const int stripe8[] = {1, 24, 72, 120, 168, 216, 288, 336}; /* 8 tries over 14 days */
    static const int daily8[] = {24, 48, 72, 96, 120, 144, 168, 192};
    static const int killbill[] = {192, 384, 576};                      /* days 8, 16, 24 */
    struct score planner = {0}, fixed8 = {0}, fixedd = {0}, kb = {0}, oracle = {0};
    struct score warm = {0};
    for (int i = 0; i < ninv; i++) {
        int64_t failed_at = T0 + (int64_t)(rnd() % (60 * 24)) * HOUR_MS / 2;
        struct truth tr;
        draw_truth(&tr, failed_at);
        uint64_t saved = rng_state;
        run_fixed(&tr, failed_at, stripe8, 8, &fixed8);
        rng_state = saved;
        run_fixed(&tr, failed_at, daily8, 8, &fixedd);
        rng_state = saved;
        run_fixed(&tr, failed_at, killbill, 3, &kb);
        rng_state = saved;
        run_oracle(&tr, failed_at, failed_at + 30 * DAY_MS, &oracle);
        rng_state = saved;
        /* The first fifth teaches the model; the rest is scored. */
        run_planner(m, &tr, failed_at, i < ninv / 5 ? &warm : &planner);
        if (i < ninv / 5) {
            memset(&fixed8, 0, sizeof fixed8);
            memset(&fixedd, 0, sizeof fixedd);
            memset(&kb, 0, sizeof kb);
            memset(&oracle, 0, sizeof oracle);
        }
    }
    int64_t scored = ninv - ninv / 5;
    struct {
        const char *name;
        struct score *s;
    } rows[] = {{"planner (learning online)", &planner}, {"fixed: 8 tries over 14 days", &fixed8},
                {"fixed: daily for 8 days", &fixedd},      {"fixed: days 8, 16, 24", &kb},
                {"oracle", &oracle}};
    printf("| strategy | recovered | value (share of oracle) | attempts per invoice | attempts vs 8-over-14 |\n");
    printf("|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        printf("| %s | %.1f%% | %.3f | %.2f | %.2f |\n", rows[i].name, 100.0 * rows[i].s->recovered / scored,
               rows[i].s->value / oracle.value, (double)rows[i].s->attempts / scored,
               (double)rows[i].s->attempts / (double)fixed8.attempts);
    printf("\n(%d invoices; the first %d only trained the model; %" PRId64 " outcomes learned)\n", ninv, ninv / 5,
           rc_model_count(m, NULL));
    rc_model_free(m);
}

/* ------------------------------------------------------------- latency */

static void latency(int n)
{
    rc_model *m = rc_model_new();
    /* A model that has learned: outcomes over 50 merchants. */
    for (int i = 0; i < 200000; i++) {
        char mid[16];
        snprintf(mid, sizeof mid, "m%u", rnd() % 50);
        struct rc_model_features f = {.reason = i % 5 ? "insufficient_funds" : "do_not_honor",
                                      .decline_class = "later", .scheme = "visa", .funding_source = "debit",
                                      .issuer_country = countries[rnd() % 10], .acquirer_country = "US",
                                      .currency = "USD", .amount_minor = 500 + rnd() % 10000,
                                      .attempts = (int)(rnd() % 5), .since_first_failure_ms = rnd() % (20 * 24) * HOUR_MS,
                                      .local_hour = (int)(rnd() % 24), .local_wday = (int)(rnd() % 7),
                                      .local_mday = 1 + (int)(rnd() % 28)};
        if (i % 2) {
            f.local_day = 20000 + (int64_t)(rnd() % 60);
            f.paid_local_day = f.local_day - 14 - (int64_t)(rnd() % 28);
            f.paid_mday = 1 + (int)(rnd() % 28);
        }
        rc_model_learn(m, mid, &f, unif() < (f.local_wday == 5 ? 0.4 : 0.1));
    }
    double *lat = malloc(sizeof(double) * (size_t)n), *ref = malloc(sizeof(double) * (size_t)n);
    static struct rc_txn txns[MAXT], card[MAXT + 2];
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    inv.has_dunning_started = 1;
    int retries = 0;
    for (int i = 0; i < n; i++) {
        int64_t failed_at = T0 + (int64_t)(rnd() % (60 * 24)) * HOUR_MS;
        inv.dunning_started_at = failed_at;
        int country = (int)(rnd() % 10), reason = (int)(rnd() % 5);
        size_t nt = 1 + rnd() % 8;
        for (size_t k = 0; k < nt; k++)
            txns[k] = mk_txn(failed_at + (int64_t)k * 2 * DAY_MS, reasons[reason], 0, k ? "recover" : "merchant",
                             country);
        int64_t now = txns[nt - 1].psp_created_at + MIN_MS;
        /* Half the cards have an earlier invoice, declined and paid three
         * days later: the model then reads the card's own pay day too. */
        size_t nc = 0;
        if (i % 2) {
            card[nc++] = mk_txn(failed_at - 30 * DAY_MS, reasons[0], 0, "merchant", country);
            card[nc++] = mk_txn(failed_at - 27 * DAY_MS, "approved", 1, "merchant", country);
        }
        memcpy(&card[nc], txns, nt * sizeof *txns);
        nc += nt;
        char mid[16];
        snprintf(mid, sizeof mid, "m%u", rnd() % 50);
        struct rc_plan_input in = {.merchant_id = mid, .dunning_days = 30, .max_retries = 12,
                                   .merchant_tz = "America/New_York", .invoice = &inv, .txns = txns, .ntxns = nt,
                                   .card_txns = card, .ncard_txns = nc, .payment_method_id = "pm_1",
                                   .postal_code = postals[country], .recover_attempts = (int64_t)nt - 1, .now = now,
                                   .rules = &nr_default_rules, .model = m};
        struct rc_decision d;
        double t0 = now_ns();
        rc_plan(&in, &d);
        double t1 = now_ns();
        retries += strcmp(d.action, RC_ACTION_RETRY) == 0;
        /* The reference: the network-rules check every planner makes. */
        struct nr_attempt h[MAXT];
        size_t nh = nr_history_from_txns(card, nc, "pm_1", h, MAXT);
        struct nr_request q = {.scheme = nr_scheme_from_name(txns[0].scheme), .history = h, .nhistory = nh,
                               .initiator = NR_MIT, .proposed_at_ms = now};
        q.decline.declined_at_ms = txns[nt - 1].psp_created_at;
        q.decline.decline_class = "later";
        struct nr_verdict v;
        double t2 = now_ns();
        nr_evaluate(&nr_default_rules, &q, &v);
        double t3 = now_ns();
        lat[i] = (t1 - t0) / 1000.0;
        ref[i] = (t3 - t2) / 1000.0;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_d);
    qsort(ref, (size_t)n, sizeof *ref, cmp_d);
    double p50 = lat[n / 2], p99 = lat[(int)(n * 0.99)], mx = lat[n - 1];
    double r50 = ref[n / 2], r99 = ref[(int)(n * 0.99)];
    /* Learning and single predictions, for the simulator's budget. */
    struct rc_model_features f = {.reason = "insufficient_funds", .decline_class = "later", .scheme = "visa",
                                  .funding_source = "debit", .issuer_country = "US", .acquirer_country = "US",
                                  .currency = "USD", .amount_minor = 1999, .attempts = 2,
                                  .since_first_failure_ms = 3 * DAY_MS, .local_hour = 10, .local_wday = 5,
                                  .local_mday = 15};
    double a = now_ns();
    double sink = 0;
    for (int i = 0; i < 200000; i++) {
        f.local_hour = i % 24;
        sink += rc_model_predict(m, "m7", &f);
    }
    double b = now_ns();
    for (int i = 0; i < 200000; i++) {
        f.local_hour = i % 24;
        rc_model_learn(m, "m7", &f, i % 3 == 0);
    }
    double c = now_ns();
    printf("| measure | value |\n|---|---|\n");
    printf("| decisions | %d (%d retries, the rest stop or wait) |\n", n, retries);
    printf("| rc_plan p50 | %.1f us |\n| rc_plan p99 | %.1f us |\n| rc_plan max | %.1f us |\n", p50, p99, mx);
    printf("| reference: nr_evaluate p50 / p99 (same inputs, same run) | %.2f us / %.2f us |\n", r50, r99);
    printf("| rc_plan p99 / nr_evaluate p99 | %.1f |\n", p99 / r99);
    printf("| rc_plan p99 against the 100 us target | %.2f |\n", p99 / 100.0);
    printf("| rc_model_predict | %.2f us per call |\n", (b - a) / 1000.0 / 200000);
    printf("| rc_model_learn | %.2f us per call |\n", (c - b) / 1000.0 / 200000);
    if (sink < 0)
        printf("?\n");
    free(lat);
    free(ref);
    rc_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "latency") != 0 && strcmp(argv[1], "sim") != 0)) {
        fprintf(stderr, "usage: %s latency|sim N\n", argv[0]);
        return 2;
    }
    int64_t n64 = 0;
    if (str_to_i64(argv[2], &n64) != 0 || n64 < 100 || n64 > 10000000) {
        fprintf(stderr, "N: a number from 100 to 10000000\n");
        return 2;
    }
    int n = (int)n64;
    if (strcmp(argv[1], "latency") == 0)
        latency(n);
    else
        sim(n);
    return 0;
}
