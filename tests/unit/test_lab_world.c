/* The strategy lab's world: each simulated decline, as each PSP words it,
 * normalises to the reason the world meant; the in-memory transaction is
 * what the API parser makes of the event; the population is a function of
 * the seed; and the hidden states behave as documented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/jsonv.h"
#include "lab/events.h"
#include "lab/scenario.h"
#include "lab/world.h"
#include "recover/declines.h"
#include "recover/validate.h"

static struct lab_scenario sc;
static struct lab_world world;

static void load(const char *text, uint64_t seed)
{
    verrs e;
    verrs_init(&e);
    int n = lab_scenario_parse(text, &sc, &e);
    if (n) {
        char *p = cJSON_PrintUnformatted(e.list);
        fail_msg("scenario refused: %s", p);
    }
    verrs_free(&e);
    assert_int_equal(lab_world_init(&world, &sc, seed), 0);
}

static int parse_event(const buf *b, struct rc_payment_event *ev)
{
    cJSON *root = cJSON_Parse(b->data);
    verrs e;
    verrs_init(&e);
    int n = rc_parse_payment(root, ev, &e);
    if (n) {
        char *p = cJSON_PrintUnformatted(e.list);
        fprintf(stderr, "# %s\n# %s\n", b->data, p);
        free(p);
    }
    verrs_free(&e);
    cJSON_Delete(root);
    return n;
}

static const char *const reasons[] = {
    "insufficient_funds", "withdrawal_limit", "do_not_honor", "generic_decline", "issuer_unavailable",
    "try_again_later", "expired_card", "stolen_card", "lost_card", "pickup_card", "fraudulent", "invalid_account",
    "incorrect_number", "revoked", "stop_payment", "transaction_not_allowed",
};
static const char *const psps[] = {"stripe", "adyen", "braintree", "worldpay"};

static void test_psp_words_normalise_to_the_meant_reason(void **state)
{
    (void)state;
    for (size_t p = 0; p < 4; p++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"name\":\"w\",\"invoices\":1,\"psps\":{\"%s\":1},\"schemes\":{\"mastercard\":1}}", psps[p]);
        load(text, 1);
        struct lab_customer *pop = lab_population(&world, 0, 1, sc.start_ms, LAB_DAY_MS);
        assert_non_null(pop);
        for (size_t r = 0; r < sizeof reasons / sizeof reasons[0]; r++) {
            for (int with_mac = 0; with_mac < 2; with_mac++) {
                struct lab_psp_outcome o;
                lab_psp_outcome(psps[p], reasons[r], with_mac ? "27" : "", 0, &o);
                struct lab_attempt a = {pop[0].fail_at + LAB_DAY_MS, 0, 0, 1, 0};
                buf b;
                buf_init(&b);
                lab_event_json(&world, &pop[0], "t", 1, &a, &o, &b);
                struct rc_payment_event ev;
                assert_int_equal(parse_event(&b, &ev), 0);
                struct rc_decline d;
                rc_decline_of_txn(&ev.txns[0], &d);
                if (strcmp(d.reason, reasons[r]) != 0)
                    fail_msg("%s words for %s normalise to %s", psps[p], reasons[r], d.reason);
                assert_true(d.known);
                assert_string_equal(d.mac, with_mac ? "27" : "");
                rc_payment_event_free(&ev);
                buf_free(&b);
            }
        }
        struct lab_psp_outcome ok;
        lab_psp_outcome(psps[p], "", "", 1, &ok);
        struct lab_attempt a = {pop[0].fail_at, 0, 1, 1, 0};
        buf b;
        buf_init(&b);
        lab_event_json(&world, &pop[0], "t", 1, &a, &ok, &b);
        struct rc_payment_event ev;
        assert_int_equal(parse_event(&b, &ev), 0);
        struct rc_decline d;
        rc_decline_of_txn(&ev.txns[0], &d);
        assert_string_equal(d.reason, "approved");
        rc_payment_event_free(&ev);
        buf_free(&b);
        free(pop);
        lab_world_free(&world);
    }
}

/* Compares every field the parser fills. */
static void assert_same_txn(const struct rc_txn *a, const struct rc_txn *b)
{
    assert_string_equal(a->transaction_id, b->transaction_id);
    assert_string_equal(a->psp_transaction_id, b->psp_transaction_id);
    assert_string_equal(a->psp, b->psp);
    assert_string_equal(a->acquirer_country, b->acquirer_country);
    assert_int_equal(a->amount, b->amount);
    assert_string_equal(a->currency, b->currency);
    assert_string_equal(a->funding_source, b->funding_source);
    assert_string_equal(a->payment_method_id, b->payment_method_id);
    assert_int_equal(a->psp_created_at, b->psp_created_at);
    assert_string_equal(a->scheme, b->scheme);
    assert_int_equal(a->success, b->success);
    assert_string_equal(a->raw_response_message, b->raw_response_message);
    assert_string_equal(a->psp_response_message, b->psp_response_message);
    assert_string_equal(a->processor_response_code, b->processor_response_code);
    assert_string_equal(a->network_status, b->network_status);
    assert_string_equal(a->response_type, b->response_type);
    assert_string_equal(a->network_transaction_id, b->network_transaction_id);
    assert_string_equal(a->bin, b->bin);
    assert_string_equal(a->issuer_country, b->issuer_country);
    assert_string_equal(a->origin, b->origin);
}

static void test_kept_transaction_is_the_parsed_one(void **state)
{
    (void)state;
    load("{\"name\":\"w\",\"invoices\":40,\"psps\":{\"stripe\":1,\"adyen\":1,\"braintree\":1,\"worldpay\":1},"
         "\"currencies\":[{\"code\":\"USD\",\"rate\":1},{\"code\":\"JPY\",\"rate\":0.0067},"
         "{\"code\":\"KWD\",\"rate\":3.25}],"
         "\"regions\":[{\"country\":\"US\",\"zone\":\"America/Chicago\",\"postal_codes\":[\"60601\"]},"
         "{\"country\":\"JP\"}]}",
         3);
    struct lab_customer *pop = lab_population(&world, 0, 40, sc.start_ms, 5 * LAB_DAY_MS);
    for (size_t i = 0; i < 40; i++) {
        for (int k = 0; k < 3; k++) {
            struct lab_attempt a = {pop[i].fail_at + k * LAB_DAY_MS, 0, k == 2, k > 0, k == 1};
            const char *reason, *mac;
            lab_world_failure(&world, &pop[i], a.at, &reason, &mac);
            struct lab_psp_outcome po;
            lab_psp_outcome(sc.psps[pop[i].psp].name, reason, mac, a.success, &po);
            buf b;
            buf_init(&b);
            lab_event_json(&world, &pop[i], "kept", k, &a, &po, &b);
            struct rc_payment_event ev;
            assert_int_equal(parse_event(&b, &ev), 0);
            struct lab_outcome o;
            memset(&o, 0, sizeof o);
            str_copy(o.raw, sizeof o.raw, ev.txns[0].raw_response_message);
            str_copy(o.psp_message, sizeof o.psp_message, ev.txns[0].psp_response_message);
            str_copy(o.code, sizeof o.code, ev.txns[0].processor_response_code);
            str_copy(o.network_status, sizeof o.network_status, ev.txns[0].network_status);
            str_copy(o.response_type, sizeof o.response_type, ev.txns[0].response_type);
            struct rc_txn t;
            lab_txn_fill(&world, &pop[i], "kept", k, &a, &o, &t);
            assert_same_txn(&t, &ev.txns[0]);
            rc_payment_event_free(&ev);
            buf_free(&b);
        }
    }
    free(pop);
    lab_world_free(&world);
}

static void test_population_is_a_function_of_the_seed(void **state)
{
    (void)state;
    load("{\"name\":\"w\",\"invoices\":200}", 11);
    struct lab_customer *a = lab_population(&world, 0, 200, sc.start_ms, 28 * LAB_DAY_MS);
    struct lab_customer *b = lab_population(&world, 0, 200, sc.start_ms, 28 * LAB_DAY_MS);
    assert_memory_equal(a, b, 200 * sizeof *a);
    /* A customer does not depend on how many others there are. */
    struct lab_customer *c = lab_population(&world, 0, 50, sc.start_ms, 28 * LAB_DAY_MS);
    assert_memory_equal(a, c, 50 * sizeof *a);
    struct lab_customer *w = lab_population(&world, 1, 200, sc.start_ms, 28 * LAB_DAY_MS);
    assert_memory_not_equal(a, w, 200 * sizeof *a);
    lab_world_free(&world);
    load("{\"name\":\"w\",\"invoices\":200}", 12);
    struct lab_customer *d = lab_population(&world, 0, 200, sc.start_ms, 28 * LAB_DAY_MS);
    assert_memory_not_equal(a, d, 200 * sizeof *a);
    /* Every first failure lies in the span. */
    for (size_t i = 0; i < 200; i++)
        if (d[i].type != LAB_INSUFFICIENT_FUNDS)
            assert_true(d[i].fail_at >= sc.start_ms && d[i].fail_at < sc.start_ms + 29 * LAB_DAY_MS);
    free(a);
    free(b);
    free(c);
    free(w);
    free(d);
    lab_world_free(&world);
}

static void test_hidden_states(void **state)
{
    (void)state;
    load("{\"name\":\"w\",\"invoices\":400,\"cancellations\":{\"share\":0.5,\"after_days\":[2,3]},"
         "\"hour_factors\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
         "\"debit_hour_factors\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}",
         5);
    struct lab_customer *pop = lab_population(&world, 0, 400, sc.start_ms, 28 * LAB_DAY_MS);
    int seen[LAB_TYPE_COUNT] = {0};
    for (size_t i = 0; i < 400; i++) {
        const struct lab_customer *c = &pop[i];
        seen[c->type]++;
        int64_t later = c->fail_at + 36 * LAB_HOUR_MS;
        if (c->cancel_at != LAB_NEVER) {
            assert_true(c->cancel_at >= c->fail_at + 2 * LAB_DAY_MS);
            assert_true(lab_world_chance(&world, c, c->cancel_at, 0, c->fail_at) == 0);
        }
        switch ((enum lab_decline_type)c->type) {
        case LAB_INSUFFICIENT_FUNDS:
            /* The renewal failed for want of money, and money comes later. */
            assert_false(lab_world_funds(c, c->fail_at));
            assert_true(lab_world_chance(&world, c, c->fail_at + 1, 0, c->fail_at) == 0);
            assert_true(c->nfunds > 0);
            if (c->funds_from[0] < c->cancel_at)
                assert_true(lab_world_chance(&world, c, c->funds_from[0], 0, c->fail_at) > 0.5);
            break;
        case LAB_HARD:
            for (int d = 0; d < 30; d++)
                assert_true(lab_world_chance(&world, c, c->fail_at + d * LAB_DAY_MS, d, c->fail_at) == 0);
            break;
        case LAB_EXPIRED_CARD:
            assert_true(lab_world_chance(&world, c, later, 0, c->fail_at) == 0 || c->replaced_at <= later);
            if (c->replaced_at != LAB_NEVER && c->replaced_at < c->cancel_at)
                assert_true(lab_world_chance(&world, c, c->replaced_at, 0, c->fail_at) > 0);
            break;
        case LAB_ISSUER_UNAVAILABLE:
            assert_true(lab_world_chance(&world, c, c->down_until - 1, 0, c->fail_at) == 0);
            if (c->down_until < c->cancel_at)
                assert_true(lab_world_chance(&world, c, c->down_until, 0, c->fail_at) > 0);
            break;
        case LAB_WITHDRAWAL_LIMIT: {
            /* Not on the same local day; on the next one it may. */
            struct lab_local l;
            lab_world_local(&world, c, c->fail_at, &l);
            int64_t next_day = c->fail_at + (24 - l.hour) * LAB_HOUR_MS;
            assert_true(lab_world_chance(&world, c, c->fail_at + 1000, 0, c->fail_at) == 0);
            if (next_day < c->cancel_at)
                assert_true(lab_world_chance(&world, c, next_day, 0, c->fail_at) > 0);
            break;
        }
        case LAB_GENERIC:
            if (c->fail_at + LAB_HOUR_MS < c->cancel_at)
                assert_true(lab_world_chance(&world, c, c->fail_at + LAB_HOUR_MS, 0, c->fail_at) >
                            lab_world_chance(&world, c, c->fail_at + LAB_HOUR_MS, 5, c->fail_at));
            break;
        default:
            break;
        }
    }
    for (int t = 0; t < LAB_TYPE_COUNT; t++)
        assert_true(seen[t] > 0);
    free(pop);
    lab_world_free(&world);
}

static void test_draws_are_shared_across_strategies(void **state)
{
    (void)state;
    load("{\"name\":\"w\",\"invoices\":3}", 9);
    struct lab_customer *pop = lab_population(&world, 0, 3, sc.start_ms, LAB_DAY_MS);
    double u0 = lab_world_draw(&world, 0, &pop[0], 0);
    assert_true(u0 >= 0 && u0 < 1);
    assert_true(u0 == lab_world_draw(&world, 0, &pop[0], 0));
    assert_true(u0 != lab_world_draw(&world, 0, &pop[0], 1));
    assert_true(u0 != lab_world_draw(&world, 0, &pop[1], 0));
    free(pop);
    lab_world_free(&world);
}

/* The card's earlier invoices: a month apart before the failed renewal;
 * customers short of money paid when their money was there (here Friday
 * pay, spent within a day and a half, so Friday or Saturday), after the
 * previous schedule's failed retries; other customers paid at the renewal.
 * card_history 0 sends none. */
static void test_card_history_follows_pay_days(void **state)
{
    (void)state;
#define HISTORY_SCENARIO(N)                                                                                 \
    "{\"name\":\"w\",\"invoices\":300,\"card_history\":" #N ",\"regions\":[{\"country\":\"GB\"}],"             \
    "\"declines\":[{\"type\":\"insufficient_funds\",\"weight\":2},{\"type\":\"generic\"}],"                   \
    "\"funds\":{\"pay_cycles\":{\"weekly\":1},\"pay_weekdays\":{\"friday\":1},\"arrival_hours\":[0,1],"          \
    "\"last_days\":[1,1.4],\"success\":1},"                                                                         \
    "\"hour_factors\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"                                            \
    "\"debit_hour_factors\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}"
    load(HISTORY_SCENARIO(2), 9);
    struct lab_customer *pop = lab_population(&world, 0, 300, sc.start_ms, 28 * LAB_DAY_MS);
    int recovered = 0;
    for (size_t i = 0; i < 300; i++) {
        const struct lab_customer *c = &pop[i];
        struct lab_past past[LAB_MAX_PAST_INVOICES * LAB_PAST_ATTEMPTS];
        size_t n = lab_world_past(&world, c, past);
        int paid = 0;
        for (size_t k = 0; k < n; k++) {
            assert_true(past[k].at < c->fail_at - 15 * LAB_DAY_MS);
            if (k)
                assert_true(past[k].at > past[k - 1].at);
            if (!past[k].success)
                continue;
            paid++;
            if (c->type != LAB_INSUFFICIENT_FUNDS) {
                assert_true(past[k].at == c->fail_at - (int64_t)(2 - k) * 30 * LAB_DAY_MS);
                continue;
            }
            struct lab_local l;
            lab_world_local(&world, c, past[k].at, &l);
            if (l.wday != 5 && l.wday != 6)
                fail_msg("customer %zu paid an earlier invoice on weekday %d", i, l.wday);
            if (k > 0 && !past[k - 1].success)
                recovered++;
        }
        if (c->type != LAB_INSUFFICIENT_FUNDS)
            assert_int_equal(n, 2);
        assert_true(paid <= 2);
    }
    assert_true(recovered > 50);
    free(pop);
    lab_world_free(&world);
    load(HISTORY_SCENARIO(0), 9);
    pop = lab_population(&world, 0, 50, sc.start_ms, 28 * LAB_DAY_MS);
    for (size_t i = 0; i < 50; i++) {
        struct lab_past past[LAB_MAX_PAST_INVOICES * LAB_PAST_ATTEMPTS];
        assert_int_equal(lab_world_past(&world, &pop[i], past), 0);
    }
    free(pop);
    lab_world_free(&world);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psp_words_normalise_to_the_meant_reason),
        cmocka_unit_test(test_kept_transaction_is_the_parsed_one),
        cmocka_unit_test(test_population_is_a_function_of_the_seed),
        cmocka_unit_test(test_hidden_states),
        cmocka_unit_test(test_draws_are_shared_across_strategies),
        cmocka_unit_test(test_card_history_follows_pay_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
