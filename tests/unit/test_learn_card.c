/* recoupd's learning path (recover_learn_outcome) gives the model the
 * card's own history read from the store, as the planner's predictions
 * do: outcomes timed on the card's pay day must teach the model that day,
 * which they cannot when the learner sees the invoice alone. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "app.h"
#include "core/crypto.h"
#include "core/buf.h"
#include "core/timefmt.h"
#include "recover/model.h"
#include "recover/recover.h"
#include "recover/retries.h"
#include "store/store.h"

#define DAY_MS (86400LL * 1000)

struct node {
    char dir[128], db[160];
    struct app app;
};

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(time_parse_iso8601(iso, &ms), 0);
    return ms;
}

/* One payment event of a card, through the inbox and the applier. */
static void ingest(struct node *n, const char *pm, const char *invoice_id, const char *txn_id, const char *when,
                   int success)
{
    char payload[2048];
    snprintf(payload, sizeof payload,
             "{\"customer\":{\"id\":\"cus_1\"},\"subscription\":{\"id\":\"sub_1\",\"start_date\":"
             "\"2023-06-01T00:00:00Z\"},\"invoice\":{\"id\":\"%s\",\"created_at\":\"%s\"},"
             "\"transactions\":[{\"id\":\"%s\",\"psp_transaction_id\":\"ch_%s\",\"psp\":\"stripe\","
             "\"acquirer_country\":\"US\",\"amount\":12.23,\"currency\":\"USD\",\"funding_source\":\"credit\","
             "\"outcome\":{\"raw_response_message\":\"%s\"},\"payment_method_id\":\"%s\","
             "\"psp_transaction_created_at\":\"%s\",\"scheme\":\"visa\",\"success\":%s}]}",
             invoice_id, when, txn_id, txn_id, success ? "approved" : "insufficient_funds", pm, when,
             success ? "true" : "false");
    struct rc_inbox_row ev;
    memset(&ev, 0, sizeof ev);
    str_copy(ev.merchant_id, sizeof ev.merchant_id, "m1");
    str_copy(ev.env, sizeof ev.env, "sandbox");
    str_copy(ev.kind, sizeof ev.kind, "payment");
    crypto_sha256_hex(payload, strlen(payload), ev.fingerprint);
    snprintf(ev.request_id, sizeof ev.request_id, "req_%s", txn_id);
    ev.payload = payload;
    ev.received_at = clock_now_ms(n->app.clock);
    int dup = 0;
    char rid[72];
    assert_int_equal(n->app.store->recover->inbox_append(n->app.store, &ev, &dup, rid), STORE_OK);
    assert_true(recover_process_pending(&n->app, 100) >= 1);
}

static void node_setup(struct node *n)
{
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "/tmp/recoup-learn-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    snprintf(n->db, sizeof n->db, "%s/recoup.db", n->dir);
    n->app.clock = clock_new_virtual(at("2024-03-01T00:00:00Z"));
    randombytes_buf(n->app.card_key, sizeof n->app.card_key);
    struct store_options opt = {.sqlite_path = n->db, .commit_batch_max = 64};
    char err[256];
    n->app.store = store_open("sqlite", &opt, err, sizeof err);
    if (!n->app.store)
        fail_msg("store_open: %s", err);
    struct merchant_row m;
    memset(&m, 0, sizeof m);
    str_copy(m.merchant_id, sizeof m.merchant_id, "m1");
    str_copy(m.name, sizeof m.name, "m1");
    m.created_at = clock_now_ms(n->app.clock);
    assert_int_equal(n->app.store->ops->merchant_create(n->app.store, &m), STORE_OK);
}

static void node_teardown(struct node *n)
{
    store_close(n->app.store);
    clock_free(n->app.clock);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", n->dir);
}

/* An outcome on a card at a time, as the executor hands it to the learner. */
static void outcome_at(struct rc_txn *t, const char *pm, const char *id, int64_t when, int success)
{
    memset(t, 0, sizeof *t);
    str_copy(t->transaction_id, sizeof t->transaction_id, id);
    str_copy(t->psp, sizeof t->psp, "stripe");
    str_copy(t->acquirer_country, sizeof t->acquirer_country, "US");
    str_copy(t->currency, sizeof t->currency, "USD");
    str_copy(t->funding_source, sizeof t->funding_source, "credit");
    str_copy(t->scheme, sizeof t->scheme, "visa");
    str_copy(t->payment_method_id, sizeof t->payment_method_id, pm);
    str_copy(t->raw_response_message, sizeof t->raw_response_message, success ? "approved" : "insufficient_funds");
    str_copy(t->origin, sizeof t->origin, "recover");
    t->amount = 1223;
    t->psp_created_at = when;
    t->success = success;
}

/* The predicted chance of a retry on a card at a time, with the card's
 * history read as the planner reads it. */
static double predict(struct node *n, rc_model *m, const struct rc_settings *st, const struct rc_txn *first,
                      const char *pm, int64_t when)
{
    struct rc_txn *card = NULL;
    size_t ncard = 0;
    assert_int_equal(n->app.store->recover->card_txns(n->app.store, "m1", "sandbox", pm, when - 62 * DAY_MS, &card,
                                                      &ncard),
                     STORE_OK);
    assert_int_equal(ncard, 2);
    struct rc_txn t;
    outcome_at(&t, pm, "tx_next", when, 0);
    struct rc_model_features f;
    rc_model_features_for(&f, first, 1, &t, "", st->timezone, when);
    rc_model_features_card(&f, card, ncard, rc_model_zone(&t, "", st->timezone), when);
    rc_txns_free(card, ncard);
    assert_true(f.paid_mday > 0);
    return rc_model_predict(m, "m1", &f);
}

static void learns_the_cards_pay_day_from_the_store(void **state)
{
    (void)state;
    struct node n;
    node_setup(&n);
    /* Last month card A failed on the 5th and went through on the 8th, card
     * B failed on the 8th and went through on the 11th: their holders'
     * money arrives around the 8th and the 11th. */
    ingest(&n, "pm_a", "in_a_feb", "tx_a_1", "2024-02-05T10:00:00Z", 0);
    ingest(&n, "pm_a", "in_a_feb", "tx_a_2", "2024-02-08T10:00:00Z", 1);
    ingest(&n, "pm_b", "in_b_feb", "tx_b_1", "2024-02-08T10:00:00Z", 0);
    ingest(&n, "pm_b", "in_b_feb", "tx_b_2", "2024-02-11T10:00:00Z", 1);

    struct rc_settings st;
    assert_int_equal(recover_settings_load(&n.app, "m1", &st), STORE_OK);
    struct rc_invoice inv;
    memset(&inv, 0, sizeof inv);
    str_copy(inv.merchant_id, sizeof inv.merchant_id, "m1");
    str_copy(inv.env, sizeof inv.env, "sandbox");
    str_copy(inv.invoice_id, sizeof inv.invoice_id, "in_mar");

    /* This month's retries, on the 8th and on the 11th for both cards:
     * each goes through on its own card's pay day and fails on the other
     * card's. By date alone half go through on each day; only the card's
     * history tells them apart. */
    struct rc_txn first;
    outcome_at(&first, "pm_a", "tx_mar_0", at("2024-03-05T10:00:00Z"), 0);
    rc_model *with_card = rc_model_new(), *invoice_only = rc_model_new();
    assert_non_null(with_card);
    assert_non_null(invoice_only);
    for (int k = 0; k < 400; k++) {
        const char *pm = k % 2 ? "pm_b" : "pm_a";
        int on_8th = (k / 2) % 2;
        int paid = on_8th == (k % 2 == 0);
        int64_t when = at(on_8th ? "2024-03-08T12:00:00Z" : "2024-03-11T12:00:00Z") + (k / 4) * 60000;
        struct rc_txn t;
        outcome_at(&t, pm, "tx_mar", when, paid);
        n.app.model = with_card;
        recover_learn_outcome(&n.app, &st, &inv, &first, 1, &t);
        /* The same outcome with the invoice's history only. */
        struct rc_model_features f;
        rc_model_features_for(&f, &first, 1, &t, "", st.timezone, when);
        rc_model_learn(invoice_only, "m1", &f, paid);
    }
    n.app.model = NULL;
    assert_int_equal(rc_model_count(with_card, "m1"), 400);

    int64_t on_8th = at("2024-03-08T20:00:00Z");
    double a_card = predict(&n, with_card, &st, &first, "pm_a", on_8th);
    double b_card = predict(&n, with_card, &st, &first, "pm_b", on_8th);
    double a_plain = predict(&n, invoice_only, &st, &first, "pm_a", on_8th);
    double b_plain = predict(&n, invoice_only, &st, &first, "pm_b", on_8th);
    /* Learned without the card's history, the pay-day weights never move:
     * both cards get the same chance on the 8th. */
    assert_true(fabs(a_plain - b_plain) < 1e-9);
    if (!(a_card > b_card + 0.1))
        fail_msg("pay day not learned: on the 8th card A %.4f, card B %.4f (without the card's history %.4f)",
                 a_card, b_card, a_plain);
    rc_model_free(with_card);
    rc_model_free(invoice_only);
    node_teardown(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(learns_the_cards_pay_day_from_the_store),
    };
    return cmocka_run_group_tests_name("learn_card", tests, NULL, NULL);
}
