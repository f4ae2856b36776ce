/* The retry planner: stops for never-retry declines, waits for new card
 * data, counts caps across the merchant's and Recover's attempts, honours
 * MAC waits, the dunning window and the retry limit, keeps insufficient
 * funds out of the night, explains itself, and follows what the model
 * learned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timefmt.h"
#include "recover/declines.h"
#include "recover/localtime.h"
#include "recover/planner.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T0 1793491200000LL /* 2026-11-01T00:00:00Z, a Sunday */
#define MAXT 64

struct inv {
    struct rc_invoice invoice;
    struct rc_txn txns[MAXT];
    size_t ntxns;
    struct rc_txn card[MAXT];
    size_t ncard;
    struct rc_plan_input in;
};

static struct rc_txn mk(int64_t at, const char *scheme, const char *raw, const char *network_status,
                        const char *origin)
{
    struct rc_txn t;
    memset(&t, 0, sizeof t);
    static int seq;
    snprintf(t.transaction_id, sizeof t.transaction_id, "tx_%d", ++seq);
    str_copy(t.psp, sizeof t.psp, "stripe");
    str_copy(t.acquirer_country, sizeof t.acquirer_country, "US");
    str_copy(t.issuer_country, sizeof t.issuer_country, "US");
    str_copy(t.currency, sizeof t.currency, "USD");
    str_copy(t.funding_source, sizeof t.funding_source, "debit");
    str_copy(t.payment_method_id, sizeof t.payment_method_id, "pm_1");
    str_copy(t.scheme, sizeof t.scheme, scheme);
    str_copy(t.raw_response_message, sizeof t.raw_response_message, raw);
    str_copy(t.network_status, sizeof t.network_status, network_status ? network_status : "");
    str_copy(t.origin, sizeof t.origin, origin ? origin : "merchant");
    t.amount = 2999;
    t.psp_created_at = at;
    t.success = strcmp(raw, "approved") == 0;
    return t;
}

/* An invoice whose renewal failed at `failed_at` with `raw`, planned at now. */
static void setup(struct inv *v, const char *scheme, const char *raw, const char *network_status, int64_t failed_at,
                  int64_t now)
{
    memset(v, 0, sizeof *v);
    str_copy(v->invoice.merchant_id, sizeof v->invoice.merchant_id, "m1");
    str_copy(v->invoice.invoice_id, sizeof v->invoice.invoice_id, "inv_1");
    v->invoice.has_dunning_started = 1;
    v->invoice.dunning_started_at = failed_at;
    v->txns[v->ntxns++] = mk(failed_at, scheme, raw, network_status, "merchant");
    v->card[v->ncard++] = v->txns[0];
    v->in = (struct rc_plan_input){
        .merchant_id = "m1", .dunning_days = 30, .max_retries = 8, .merchant_tz = "America/New_York",
        .invoice = &v->invoice, .payment_method_id = "pm_1", .postal_code = "10001", .now = now,
        .rules = &nr_default_rules,
    };
}

/* A further failed attempt on the invoice (and so on the card). */
static void add_attempt(struct inv *v, int64_t at, const char *raw, const char *network_status, const char *origin)
{
    struct rc_txn t = mk(at, v->txns[0].scheme, raw, network_status, origin);
    v->txns[v->ntxns++] = t;
    v->card[v->ncard++] = t;
    if (strcmp(origin, "recover") == 0)
        v->in.recover_attempts++;
}

static struct rc_decision plan(struct inv *v, rc_model *m)
{
    v->in.txns = v->txns;
    v->in.ntxns = v->ntxns;
    v->in.card_txns = v->card;
    v->in.ncard_txns = v->ncard;
    v->in.model = m;
    struct rc_decision d;
    assert_int_equal(rc_plan(&v->in, &d), 0);
    assert_true(d.explanation[0] != '\0');
    assert_true(d.decided_at == v->in.now);
    return d;
}

/* What nr_evaluate says of an attempt at d's time, given the card. */
static void assert_rules_allow(const struct inv *v, const struct rc_decision *d)
{
    struct nr_attempt h[MAXT];
    size_t n = nr_history_from_txns(v->card, v->ncard, "pm_1", h, MAXT);
    struct rc_decline dc;
    rc_decline_of_txn(&v->txns[v->ntxns - 1], &dc);
    struct nr_request q = {.scheme = nr_scheme_from_name(v->txns[0].scheme), .history = h, .nhistory = n,
                           .initiator = NR_MIT, .proposed_at_ms = d->planned_at};
    q.decline.network_code = dc.network_code;
    q.decline.mac = dc.mac;
    q.decline.decline_class = rc_decline_class_name(dc.cls);
    q.decline.declined_at_ms = v->txns[v->ntxns - 1].psp_created_at;
    struct nr_verdict verdict;
    assert_int_equal(nr_check_planned(&nr_default_rules, &q, &verdict), 0);
}

static void assert_retry_in_window(const struct inv *v, const struct rc_decision *d)
{
    assert_string_equal(d->action, RC_ACTION_RETRY);
    assert_true(d->planned_at >= v->in.now);
    assert_true(d->planned_at < v->invoice.dunning_started_at + v->in.dunning_days * DAY);
    assert_true(d->predicted_success > 0 && d->predicted_success < 1);
    assert_rules_allow(v, d);
}

static void test_never_rules_stop(void **state)
{
    (void)state;
    static const struct {
        const char *scheme, *raw, *status, *rule;
    } cases[] = {
        {"visa", "lost_card", NULL, NULL},
        {"visa", "stolen_card", NULL, NULL},
        {"visa", "fraudulent", NULL, NULL},
        {"mastercard", "stop_payment_order", NULL, NULL},
        {"visa", "declined", "14", "visa_category_1"},
        {"visa", "declined", "R1", "visa_category_1"},
        {"mastercard", "insufficient_funds", "51 MAC 03", "mastercard_mac_03"},
        {"mastercard", "do_not_honor", "05; MAC 21", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct inv v;
        setup(&v, cases[i].scheme, cases[i].raw, cases[i].status, T0, T0 + HOUR);
        struct rc_decision d = plan(&v, NULL);
        if (strcmp(d.action, RC_ACTION_STOP) != 0 || strcmp(d.stop_state, "unrecoverable") != 0)
            fail_msg("%s/%s: %s %s (%s)", cases[i].raw, cases[i].status ? cases[i].status : "", d.action,
                     d.stop_state, d.explanation);
        assert_true(d.limited_by[0] != '\0');
        if (cases[i].rule)
            assert_string_equal(d.limited_by, cases[i].rule);
        assert_true(d.planned_at == 0);
        assert_int_equal(d.nalts, 0);
    }
}

static void test_fix_data_waits_then_retries_after_update(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    static const char *const fix[] = {"expired_card", "incorrect_cvc", "invalid_expiry_month"};
    for (size_t i = 0; i < 3; i++) {
        struct inv v;
        setup(&v, "visa", fix[i], NULL, T0, T0 + MIN);
        struct rc_decision d = plan(&v, m);
        assert_string_equal(d.action, RC_ACTION_WAIT_PM);
        assert_string_equal(d.decline_class, "fix_data");
        assert_true(d.planned_at == 0);
        /* An update from before the decline is not new data. */
        v.in.has_pm_update = 1;
        v.in.pm_updated_at = T0 - DAY;
        d = plan(&v, m);
        assert_string_equal(d.action, RC_ACTION_WAIT_PM);
        /* A new card two days later: retried within a day of it. */
        v.in.pm_updated_at = T0 + 2 * DAY;
        v.in.now = T0 + 2 * DAY + MIN;
        d = plan(&v, m);
        assert_string_equal(d.action, RC_ACTION_RETRY);
        assert_true(d.planned_at >= v.in.pm_updated_at);
        assert_true(d.planned_at <= v.in.pm_updated_at + DAY);
        assert_string_equal(d.payment_method_id, "pm_1");
        assert_non_null(strstr(d.explanation, "updated payment method"));
    }
    /* Mastercard's MAC 01 asks for the updated card data too. */
    struct inv v;
    setup(&v, "mastercard", "do_not_honor", "05 MAC 01", T0, T0 + MIN);
    struct rc_decision d = plan(&v, m);
    assert_string_equal(d.action, RC_ACTION_WAIT_PM);
    rc_model_free(m);
}

static void test_customer_action(void **state)
{
    (void)state;
    struct inv v;
    setup(&v, "visa", "authentication_required", NULL, T0, T0 + MIN);
    struct rc_decision d = plan(&v, NULL);
    assert_string_equal(d.action, RC_ACTION_WAIT_PM);
    assert_string_equal(d.decline_class, "customer_action");
    /* A call to the bank takes days: spaced retries, then wait. */
    setup(&v, "visa", "call_issuer", NULL, T0, T0 + MIN);
    d = plan(&v, NULL);
    assert_string_equal(d.action, RC_ACTION_RETRY);
    assert_true(d.planned_at >= T0 + 48 * HOUR);
    /* ... unless the window ends before the customer could have called. */
    v.in.dunning_days = 1;
    d = plan(&v, NULL);
    assert_string_equal(d.action, RC_ACTION_STOP);
    assert_string_equal(d.limited_by, "dunning_window");
    v.in.dunning_days = 30;
    add_attempt(&v, T0 + 3 * DAY, "call_issuer", NULL, "recover");
    add_attempt(&v, T0 + 6 * DAY, "call_issuer", NULL, "recover");
    v.in.now = T0 + 6 * DAY + MIN;
    d = plan(&v, NULL);
    assert_string_equal(d.action, RC_ACTION_WAIT_PM);
}

static void test_technical_soon(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    /* 14:00 in New York. */
    struct inv v;
    setup(&v, "visa", "issuer_not_available", NULL, T0 + 19 * HOUR, T0 + 19 * HOUR + MIN);
    struct rc_decision d = plan(&v, m);
    assert_string_equal(d.decline_class, "technical");
    assert_retry_in_window(&v, &d);
    assert_true(d.planned_at >= T0 + 19 * HOUR + 10 * MIN);
    assert_true(d.planned_at <= T0 + 19 * HOUR + 12 * HOUR);
    rc_model_free(m);
}

static void test_visa_cap_counts_merchant_and_recover(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct inv v;
    int64_t now = T0 + 26 * DAY;
    setup(&v, "visa", "insufficient_funds", "51", now - 2 * DAY, now);
    /* Another invoice on the same card: 20 declines after a first one in
     * the last 30 days, half of them Recover's, the oldest reattempt 25
     * days ago. */
    int64_t first = now - 25 * DAY - HOUR;
    v.card[v.ncard++] = mk(first, "visa", "insufficient_funds", "51", "merchant");
    for (int i = 0; i < 19; i++)
        v.card[v.ncard++] = mk(first + HOUR + i * DAY, "visa", "insufficient_funds", "51",
                               i % 2 ? "recover" : "merchant");
    /* With the invoice's own decline that makes 20 reattempts: full. */
    struct rc_decision d = plan(&v, m);
    assert_retry_in_window(&v, &d);
    assert_string_equal(d.limited_by, "visa_30d_cap");
    /* The first reattempt leaves the window 30 days after it. */
    assert_true(d.planned_at >= first + HOUR + 30 * DAY);
    /* The refused time is among the alternatives, with the cap's id. */
    int found = 0;
    for (size_t i = 0; i < d.nalts; i++)
        found |= strcmp(d.alts[i].why_not, "visa_30d_cap") == 0 && d.alts[i].at < first + HOUR + 30 * DAY;
    assert_true(found);

    /* One fewer attempt on the card: no wait. */
    setup(&v, "visa", "insufficient_funds", "51", now - 2 * DAY, now);
    int64_t recent = now - 10 * DAY;
    v.card[v.ncard++] = mk(recent, "visa", "insufficient_funds", "51", "merchant");
    for (int i = 0; i < 18; i++)
        v.card[v.ncard++] = mk(recent + HOUR + i * 12 * HOUR, "visa", "insufficient_funds", "51",
                               i % 2 ? "recover" : "merchant");
    d = plan(&v, m);
    assert_retry_in_window(&v, &d);
    assert_string_not_equal(d.limited_by, "visa_30d_cap");
    assert_non_null(strstr(d.explanation, "visa_30d_cap allows 1 more attempt"));

    /* A cap that frees only after the window: stop. */
    setup(&v, "visa", "insufficient_funds", "51", now - 29 * DAY + HOUR, now);
    v.card[v.ncard++] = mk(first, "visa", "insufficient_funds", "51", "merchant");
    for (int i = 0; i < 19; i++)
        v.card[v.ncard++] = mk(first + HOUR + i * DAY, "visa", "insufficient_funds", "51", "merchant");
    d = plan(&v, m);
    assert_string_equal(d.action, RC_ACTION_STOP);
    assert_string_equal(d.stop_state, "exhausted");
    assert_string_equal(d.limited_by, "visa_30d_cap");
    rc_model_free(m);
}

static void test_mac_wait(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct inv v;
    setup(&v, "mastercard", "insufficient_funds", "51 MAC 25", T0 + 15 * HOUR, T0 + 15 * HOUR + MIN);
    struct rc_decision d = plan(&v, m);
    assert_retry_in_window(&v, &d);
    assert_true(d.planned_at >= T0 + 15 * HOUR + 24 * HOUR);
    assert_string_equal(d.limited_by, "mastercard_mac_25");
    setup(&v, "mastercard", "insufficient_funds", "51 MAC 30", T0 + 15 * HOUR, T0 + 15 * HOUR + MIN);
    d = plan(&v, m);
    assert_retry_in_window(&v, &d);
    assert_true(d.planned_at >= T0 + 15 * HOUR + 10 * DAY);
    assert_string_equal(d.limited_by, "mastercard_mac_30");
    rc_model_free(m);
}

static void test_window_and_retry_limit(void **state)
{
    (void)state;
    struct inv v;
    setup(&v, "visa", "insufficient_funds", NULL, T0, T0 + 30 * DAY);
    struct rc_decision d = plan(&v, NULL);
    assert_string_equal(d.action, RC_ACTION_STOP);
    assert_string_equal(d.stop_state, "exhausted");
    assert_string_equal(d.limited_by, "dunning_window");
    /* A shorter window binds earlier. */
    setup(&v, "visa", "insufficient_funds", NULL, T0, T0 + 8 * DAY);
    v.in.dunning_days = 7;
    d = plan(&v, NULL);
    assert_string_equal(d.limited_by, "dunning_window");
    /* Inside the window, the plan stays inside it. */
    setup(&v, "visa", "insufficient_funds", NULL, T0, T0 + 6 * DAY);
    v.in.dunning_days = 7;
    rc_model *m = rc_model_new();
    d = plan(&v, m);
    assert_retry_in_window(&v, &d);

    /* The merchant's retry limit counts Recover's attempts only. */
    setup(&v, "visa", "insufficient_funds", NULL, T0, T0 + 3 * DAY);
    v.in.max_retries = 2;
    add_attempt(&v, T0 + DAY, "insufficient_funds", NULL, "merchant");
    d = plan(&v, m);
    assert_string_equal(d.action, RC_ACTION_RETRY);
    add_attempt(&v, T0 + 2 * DAY, "insufficient_funds", NULL, "recover");
    d = plan(&v, m);
    assert_string_equal(d.action, RC_ACTION_RETRY);
    /* The last allowed attempt has no later one to keep room for. */
    assert_string_equal(d.limited_by, "max_retries");
    add_attempt(&v, T0 + 2 * DAY + 12 * HOUR, "insufficient_funds", NULL, "recover");
    d = plan(&v, m);
    assert_string_equal(d.action, RC_ACTION_STOP);
    assert_string_equal(d.stop_state, "exhausted");
    assert_string_equal(d.limited_by, "max_retries");
    rc_model_free(m);
}

static void test_insufficient_funds_never_at_night(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    static const struct {
        const char *country, *postal;
    } where[] = {{"US", "10001"}, {"US", "94105"}, {"DE", ""}, {"AU", "6000"}, {"JP", ""}, {"BR", "69005"}};
    int plans = 0;
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++)
        for (int64_t t = T0; t < T0 + 12 * DAY; t += 7 * HOUR + 13 * MIN) {
            struct inv v;
            setup(&v, "visa", "insufficient_funds", "51", t, t + 5 * MIN);
            str_copy(v.txns[0].issuer_country, sizeof v.txns[0].issuer_country, where[w].country);
            v.in.postal_code = where[w].postal;
            struct rc_decision d = plan(&v, m);
            assert_retry_in_window(&v, &d);
            struct rc_local lt;
            rc_local_time(d.planned_at, rc_zone_for(where[w].country, where[w].postal), &lt);
            if (lt.hour < 5)
                fail_msg("%s: planned at local %02d:00 (%s)", where[w].country, lt.hour, d.explanation);
            plans++;
        }
    assert_true(plans > 200);
    rc_model_free(m);
}

static void test_explanation_and_alternatives(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct inv v;
    setup(&v, "visa", "insufficient_funds", "51", T0 + 3 * DAY + 15 * HOUR, T0 + 3 * DAY + 15 * HOUR + MIN);
    struct rc_decision d = plan(&v, m);
    assert_retry_in_window(&v, &d);
    print_message("# %s\n", d.explanation);
    assert_string_equal(d.reason, "insufficient_funds");
    assert_string_equal(d.decline_class, "later");
    assert_non_null(strstr(d.explanation, "insufficient_funds (later): retry on "));
    assert_non_null(strstr(d.explanation, " local (predicted "));
    assert_non_null(strstr(d.explanation, "candidate times"));
    assert_non_null(strstr(d.explanation, "visa_30d_cap allows 20 more attempts"));
    assert_true(d.limited_by[0] != '\0');
    assert_true(d.nalts >= 3 && d.nalts <= RC_PLAN_MAX_ALTS);
    for (size_t i = 0; i < d.nalts; i++) {
        assert_true(d.alts[i].at != d.planned_at);
        assert_true(d.alts[i].why_not[0] != '\0');
        assert_true(d.alts[i].predicted_success >= 0 && d.alts[i].predicted_success <= 1);
    }
    char *json = rc_plan_alts_json(&d);
    assert_non_null(json);
    cJSON *arr = cJSON_Parse(json);
    assert_non_null(arr);
    assert_int_equal(cJSON_GetArraySize(arr), (int)d.nalts);
    cJSON *first = cJSON_GetArrayItem(arr, 0);
    int64_t at;
    assert_int_equal(time_parse_iso8601_strict(cJSON_GetObjectItem(first, "at")->valuestring, &at), 0);
    assert_true(at == d.alts[0].at);
    assert_string_equal(cJSON_GetObjectItem(first, "why_not")->valuestring, d.alts[0].why_not);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(first, "predicted_success")));
    cJSON_Delete(arr);
    free(json);
    rc_model_free(m);
}

static void test_no_failure_to_plan_from(void **state)
{
    (void)state;
    struct inv v;
    setup(&v, "visa", "approved", NULL, T0, T0 + HOUR);
    v.in.txns = v.txns;
    v.in.ntxns = v.ntxns;
    struct rc_decision d;
    assert_int_equal(rc_plan(&v.in, &d), -1);
    assert_string_equal(d.action, RC_ACTION_STOP);
    v.in.ntxns = 0;
    assert_int_equal(rc_plan(&v.in, &d), -1);
    assert_string_equal(d.action, RC_ACTION_STOP);
}

static void test_deterministic(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct inv v;
    setup(&v, "visa", "insufficient_funds", "51", T0 + 9 * DAY, T0 + 9 * DAY + HOUR);
    add_attempt(&v, T0 + 11 * DAY, "insufficient_funds", "51", "recover");
    v.in.now = T0 + 11 * DAY + MIN;
    struct rc_decision a = plan(&v, m), b = plan(&v, m);
    assert_memory_equal(&a, &b, sizeof a);
    rc_model_free(m);
}

/* What the model learned moves the plan: a merchant whose customers pay
 * only on Fridays gets Friday retries. */
static void test_follows_learned_pattern(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    uint64_t s = 11;
    for (int i = 0; i < 30000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t r = (uint32_t)(s >> 33);
        int wday = (int)(r % 7), hour = 6 + (int)((r >> 3) % 16), mday = 1 + (int)((r >> 8) % 28);
        struct rc_model_features f = {.reason = "insufficient_funds", .decline_class = "later", .scheme = "visa",
                                      .funding_source = "debit", .issuer_country = "US", .acquirer_country = "US",
                                      .currency = "USD", .amount_minor = 2999, .attempts = 1 + (int)((r >> 13) % 3),
                                      .since_first_failure_ms = (int64_t)((r >> 16) % 20) * DAY + HOUR,
                                      .local_hour = hour, .local_wday = wday, .local_mday = mday};
        rc_model_learn(m, "m1", &f, wday == 5 ? (r >> 20) % 10 < 6 : (r >> 20) % 100 < 2);
    }
    int fridays = 0, plans = 0;
    for (int64_t t = T0; t < T0 + 7 * DAY; t += 11 * HOUR) {
        struct inv v;
        setup(&v, "visa", "insufficient_funds", "51", t, t + MIN);
        struct rc_decision d = plan(&v, m);
        assert_retry_in_window(&v, &d);
        struct rc_local lt;
        rc_local_time(d.planned_at, "America/New_York", &lt);
        fridays += lt.wday == 5;
        plans++;
        assert_true(d.predicted_success > 0.3);
    }
    assert_int_equal(fridays, plans);
    /* And one that learned retries never work stops trying. */
    for (int i = 0; i < 20000; i++) {
        struct rc_model_features f = {.reason = "do_not_honor", .decline_class = "later", .scheme = "visa",
                                      .funding_source = "debit", .issuer_country = "US", .acquirer_country = "US",
                                      .currency = "USD", .amount_minor = 2999, .attempts = 1 + i % 4,
                                      .since_first_failure_ms = (i % 29) * DAY + (i % 24) * HOUR,
                                      .local_hour = i % 24, .local_wday = (i / 24) % 7, .local_mday = 1 + i % 28};
        rc_model_learn(m, "m2", &f, 0);
    }
    struct inv v;
    setup(&v, "visa", "do_not_honor", "05", T0, T0 + MIN);
    v.in.merchant_id = "m2";
    struct rc_decision d = plan(&v, m);
    assert_string_equal(d.action, RC_ACTION_STOP);
    assert_string_equal(d.stop_state, "exhausted");
    assert_string_equal(d.limited_by, "model");
    rc_model_free(m);
}

/* A merchant whose retries within a day of a failed one never succeed:
 * the next retry after a failure waits a day. */
static void test_spacing_learned_after_failure(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    uint64_t s = 5;
    for (int i = 0; i < 30000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t r = (uint32_t)(s >> 33);
        int64_t since_last = (int64_t)(r % (72 * 60)) * MIN;
        struct rc_model_features f = {.reason = "insufficient_funds", .decline_class = "later", .scheme = "visa",
                                      .funding_source = "debit", .issuer_country = "US", .acquirer_country = "US",
                                      .currency = "USD", .amount_minor = 2999, .attempts = 2,
                                      .since_first_failure_ms = since_last + (int64_t)((r >> 5) % 240) * HOUR,
                                      .since_last_failure_ms = since_last, .local_hour = 8 + (int)((r >> 12) % 12),
                                      .local_wday = (int)((r >> 16) % 7), .local_mday = 1 + (int)((r >> 19) % 28)};
        rc_model_learn(m, "m1", &f, since_last >= DAY && (r >> 24) % 10 < 4);
    }
    for (int64_t t = T0 + 2 * DAY; t < T0 + 9 * DAY; t += 13 * HOUR) {
        struct inv v;
        setup(&v, "visa", "insufficient_funds", "51", t - 2 * DAY, t);
        add_attempt(&v, t, "insufficient_funds", "51", "recover");
        v.in.now = t + MIN;
        struct rc_decision d = plan(&v, m);
        assert_retry_in_window(&v, &d);
        if (d.planned_at < t + DAY)
            fail_msg("retried %.1f h after a failure: %s", (double)(d.planned_at - t) / HOUR, d.explanation);
    }
    rc_model_free(m);
}

/* Retries of insufficient funds succeed only five and a half to six and a
 * half days after the failure (a pay day a week on): the planner retries
 * then, not at four days, where the chance it learned is lowest. */
static void test_learned_day_within_interval(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    uint64_t s = 23;
    for (int i = 0; i < 40000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t r = (uint32_t)(s >> 33);
        int64_t since = HOUR + (int64_t)(r % (14 * 24)) * HOUR;
        struct rc_model_features f = {.reason = "insufficient_funds", .decline_class = "later", .scheme = "visa",
                                      .funding_source = "debit", .issuer_country = "US", .acquirer_country = "US",
                                      .currency = "USD", .amount_minor = 2999, .attempts = 1,
                                      .since_first_failure_ms = since, .since_last_failure_ms = since,
                                      .local_hour = 8 + (int)((r >> 10) % 12), .local_wday = (int)((r >> 14) % 7),
                                      .local_mday = 1 + (int)((r >> 17) % 28)};
        int payday = since >= 5 * DAY + 12 * HOUR && since < 6 * DAY + 12 * HOUR;
        rc_model_learn(m, "m1", &f, payday ? (r >> 24) % 10 < 6 : (r >> 24) % 100 < 2);
    }
    for (int64_t t = T0; t < T0 + 7 * DAY; t += 17 * HOUR) {
        struct inv v;
        setup(&v, "visa", "insufficient_funds", "51", t, t + MIN);
        struct rc_decision d = plan(&v, m);
        assert_retry_in_window(&v, &d);
        int64_t after = d.planned_at - t;
        if (after < 5 * DAY || after > 7 * DAY)
            fail_msg("retried %.1f days after the failure: %s", (double)after / DAY, d.explanation);
    }
    rc_model_free(m);
}

/* A chance that rises slowly over the weeks since the first failure
 * (from about 4% a day after it to about 20% three weeks on), whatever the
 * attempts before: with one retry left the planner waits for the best of
 * it; with several, an earlier attempt is worth its cost, since a failure
 * still leaves the better times to the others. */
static void test_values_attempts_left(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    uint64_t s = 31;
    for (int i = 0; i < 60000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t r = (uint32_t)(s >> 33);
        int64_t since = DAY + (int64_t)(r % (26 * 24)) * HOUR;
        int64_t since_last = DAY + (int64_t)((r >> 9) % 24) * (since - DAY) / 24;
        int pct = 4 + (int)(16 * since / (21 * DAY));
        struct rc_model_features f = {.reason = "do_not_honor", .decline_class = "later", .scheme = "visa",
                                      .funding_source = "credit", .issuer_country = "US", .acquirer_country = "US",
                                      .currency = "USD", .amount_minor = 2999, .attempts = 1 + (int)((r >> 5) % 4),
                                      .since_first_failure_ms = since, .since_last_failure_ms = since_last,
                                      .local_hour = 8 + (int)((r >> 10) % 12), .local_wday = (int)((r >> 14) % 7),
                                      .local_mday = 1 + (int)((r >> 17) % 28)};
        rc_model_learn(m, "m1", &f, (int)((r >> 22) % 100) < pct);
    }
    struct inv v;
    setup(&v, "visa", "do_not_honor", "05", T0, T0 + MIN);
    v.in.max_retries = 1;
    struct rc_decision last = plan(&v, m);
    assert_retry_in_window(&v, &last);
    assert_string_equal(last.limited_by, "max_retries");
    setup(&v, "visa", "do_not_honor", "05", T0, T0 + MIN);
    v.in.max_retries = 8;
    struct rc_decision many = plan(&v, m);
    assert_retry_in_window(&v, &many);
    if (!(last.planned_at - T0 > 14 * DAY && many.planned_at < last.planned_at - 7 * DAY))
        fail_msg("one left: %.1f days; eight left: %.1f days", (double)(last.planned_at - T0) / DAY,
                 (double)(many.planned_at - T0) / DAY);
    rc_model_free(m);
}

static int64_t local_day_ny(int64_t at)
{
    struct rc_local lt;
    rc_local_time(at, "America/New_York", &lt);
    return rc_model_local_day(at, lt.offset_min);
}

/* Customers paid every other week: retries of insufficient funds succeed
 * 14 days (and 15) on from the day the card's earlier invoice was paid
 * after failing, whatever the weekday. Given a card whose earlier invoice
 * was recovered on day P, the planner retries on P + 28 or P + 29, the
 * next such days after the failure, and moves with P. */
static void test_card_pay_day_times_retry(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    uint64_t s = 17;
    int64_t d0 = T0 / DAY;
    for (int i = 0; i < 40000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t r = (uint32_t)(s >> 33);
        int64_t paid = d0 - 40 + (int64_t)(r % 28), day = paid + 14 + (int64_t)((r >> 5) % 28);
        struct rc_local pl, dl;
        rc_local_time(paid * DAY + 12 * HOUR, "UTC", &pl);
        rc_local_time(day * DAY + 12 * HOUR, "UTC", &dl);
        struct rc_model_features f = {.reason = "insufficient_funds", .decline_class = "later", .scheme = "visa",
                                      .funding_source = "debit", .issuer_country = "US", .acquirer_country = "US",
                                      .currency = "USD", .amount_minor = 2999, .attempts = 1 + (int)((r >> 10) % 3),
                                      .since_first_failure_ms = (int64_t)((r >> 12) % 12) * DAY + 5 * HOUR,
                                      .since_last_failure_ms = (int64_t)((r >> 12) % 12) * DAY + 5 * HOUR,
                                      .local_hour = 8 + (int)((r >> 16) % 12), .local_wday = dl.wday,
                                      .local_mday = dl.mday, .local_day = day, .paid_local_day = paid,
                                      .paid_mday = pl.mday};
        int gap = (int)((day - paid) % 14);
        rc_model_learn(m, "m1", &f, gap <= 1 ? (r >> 20) % 10 < 6 : (r >> 20) % 100 < 3);
    }
    for (int64_t shift = 0; shift < 7; shift++) {
        int64_t paid_at = T0 - 24 * DAY + shift * DAY + 15 * HOUR, failed_at = paid_at + 19 * DAY + 3 * HOUR;
        struct inv v;
        setup(&v, "visa", "insufficient_funds", "51", failed_at, failed_at + MIN);
        /* The card's earlier invoice: declined, then paid four days on. */
        v.card[v.ncard++] = mk(paid_at - 4 * DAY, "visa", "insufficient_funds", "51", "merchant");
        v.card[v.ncard++] = mk(paid_at, "visa", "approved", "", "merchant");
        struct rc_decision d = plan(&v, m);
        assert_retry_in_window(&v, &d);
        int64_t gap = local_day_ny(d.planned_at) - local_day_ny(paid_at);
        if (gap != 28 && gap != 29)
            fail_msg("paid on day %lld: retry %lld days on (%s)", (long long)shift, (long long)gap, d.explanation);
    }
    rc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_rules_stop),
        cmocka_unit_test(test_fix_data_waits_then_retries_after_update),
        cmocka_unit_test(test_customer_action),
        cmocka_unit_test(test_technical_soon),
        cmocka_unit_test(test_visa_cap_counts_merchant_and_recover),
        cmocka_unit_test(test_mac_wait),
        cmocka_unit_test(test_window_and_retry_limit),
        cmocka_unit_test(test_insufficient_funds_never_at_night),
        cmocka_unit_test(test_explanation_and_alternatives),
        cmocka_unit_test(test_no_failure_to_plan_from),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_follows_learned_pattern),
        cmocka_unit_test(test_spacing_learned_after_failure),
        cmocka_unit_test(test_learned_day_within_interval),
        cmocka_unit_test(test_values_attempts_left),
        cmocka_unit_test(test_card_pay_day_times_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
