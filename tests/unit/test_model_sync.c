/* Sharing the retry model between nodes: rc_model_sync merges what each
 * node learned into the stored blob, so that no node's learning is lost,
 * and leaves a single node's model exactly as it was. The "store" here is
 * one blob per scope, passed from node to node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "recover/model.h"

#define DAY (24 * 3600000LL)

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

static struct rc_model_features feat(const char *reason, int hour, int wday, int mday)
{
    struct rc_model_features f = {
        .reason = reason, .decline_class = "later", .scheme = "visa", .funding_source = "debit",
        .issuer_country = "US", .acquirer_country = "US", .currency = "USD", .amount_minor = 1999,
        .attempts = 1, .since_first_failure_ms = 3 * DAY, .since_last_failure_ms = 3 * DAY,
        .local_hour = hour, .local_wday = wday, .local_mday = mday,
    };
    return f;
}

/* n outcomes of reason, succeeding mostly on good_wday. */
static void train(rc_model *m, const char *merchant, const char *reason, int good_wday, int n, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        int wday = (int)(rnd(&s) % 7), hour = (int)(rnd(&s) % 24), mday = 1 + (int)(rnd(&s) % 28);
        struct rc_model_features f = feat(reason, hour, wday, mday);
        uint32_t r = rnd(&s) % 1000;
        rc_model_learn(m, merchant, &f, wday == good_wday ? r < 600 : r < 30);
    }
}

/* The stored blob of one scope. */
struct slot {
    buf b;
    int present;
};

static void slot_init(struct slot *s)
{
    buf_init(&s->b);
    s->present = 0;
}

/* One node's sync of a scope: the merged blob becomes the stored one. */
static void sync_into(rc_model *m, const char *scope, struct slot *st)
{
    buf out;
    buf_init(&out);
    assert_int_equal(rc_model_sync(m, scope, st->present ? st->b.data : NULL, st->b.len, &out), 0);
    buf_reset(&st->b);
    buf_append(&st->b, out.data, out.len);
    st->present = 1;
    buf_free(&out);
}

static void save_into(rc_model *m, const char *scope, struct slot *st)
{
    buf_reset(&st->b);
    assert_int_equal(rc_model_save(m, scope, &st->b), 0);
    st->present = 1;
}

static void assert_same_predictions(rc_model *a, rc_model *b)
{
    static const char *const who[] = {"m1", "m2", "other", NULL};
    static const char *const reasons[] = {"insufficient_funds", "withdrawal_limit"};
    for (size_t w = 0; w < 4; w++)
        for (size_t r = 0; r < 2; r++)
            for (int wday = 0; wday < 7; wday++) {
                struct rc_model_features f = feat(reasons[r], 3 * wday, wday, 1 + 4 * wday);
                double pa = rc_model_predict(a, who[w], &f), pb = rc_model_predict(b, who[w], &f);
                assert_memory_equal(&pa, &pb, sizeof pa);
            }
}

static double mean_wday(rc_model *m, const char *merchant, const char *reason, int wday)
{
    double sum = 0;
    for (int hour = 0; hour < 24; hour++) {
        struct rc_model_features f = feat(reason, hour, wday, 10);
        sum += rc_model_predict(m, merchant, &f);
    }
    return sum / 24;
}

static void test_two_nodes_keep_both_deltas(void **state)
{
    (void)state;
    /* A history both nodes start from. */
    rc_model *seed = rc_model_new();
    train(seed, "m1", "insufficient_funds", 3, 500, 1);
    struct slot g, m1, m2;
    slot_init(&g);
    slot_init(&m1);
    slot_init(&m2);
    save_into(seed, NULL, &g);
    save_into(seed, "m1", &m1);

    rc_model *a = rc_model_new(), *b = rc_model_new();
    assert_int_equal(rc_model_load(a, NULL, g.b.data, g.b.len), 0);
    assert_int_equal(rc_model_load(a, "m1", m1.b.data, m1.b.len), 0);
    assert_int_equal(rc_model_load(b, NULL, g.b.data, g.b.len), 0);
    assert_int_equal(rc_model_load(b, "m1", m1.b.data, m1.b.len), 0);
    /* A learns that withdrawal limits clear on Fridays, B that m1's
     * insufficient funds clear on Mondays, and B alone serves m2. */
    train(a, "m1", "withdrawal_limit", 5, 3000, 2);
    train(b, "m1", "insufficient_funds", 1, 2000, 3);
    train(b, "m2", "insufficient_funds", 1, 400, 4);
    double b_friday_before = mean_wday(b, "m1", "withdrawal_limit", 5);

    sync_into(a, NULL, &g);
    sync_into(a, "m1", &m1);
    sync_into(b, NULL, &g);
    sync_into(b, "m1", &m1);
    sync_into(b, "m2", &m2);
    /* A takes in what B sent. */
    sync_into(a, NULL, &g);
    sync_into(a, "m1", &m1);
    sync_into(a, "m2", &m2);

    /* Every outcome is counted once: with the last save winning, the
     * global count would be B's 2900 (or A's 3500). */
    assert_int_equal(rc_model_count(a, NULL), 500 + 3000 + 2000 + 400);
    assert_int_equal(rc_model_count(b, NULL), 500 + 3000 + 2000 + 400);
    assert_int_equal(rc_model_count(a, "m1"), 500 + 3000 + 2000);
    assert_int_equal(rc_model_count(a, "m2"), 400);

    /* Both nodes hold the merged state, and so does a node loading it. */
    rc_model *fresh = rc_model_new();
    assert_int_equal(rc_model_load(fresh, NULL, g.b.data, g.b.len), 0);
    assert_int_equal(rc_model_load(fresh, "m1", m1.b.data, m1.b.len), 0);
    assert_int_equal(rc_model_load(fresh, "m2", m2.b.data, m2.b.len), 0);
    assert_same_predictions(a, b);
    assert_same_predictions(a, fresh);
    assert_int_equal(rc_model_count(fresh, NULL), 5900);

    /* B now knows A's lesson: Fridays stand out for withdrawal limits. */
    double b_friday = mean_wday(b, "m1", "withdrawal_limit", 5), b_tuesday = mean_wday(b, "m1", "withdrawal_limit", 2);
    assert_true(b_friday > b_friday_before);
    assert_true(b_friday > 2 * b_tuesday);
    /* And A knows B's: Mondays for m1's insufficient funds. */
    assert_true(mean_wday(a, "m1", "insufficient_funds", 1) > 2 * mean_wday(a, "m1", "insufficient_funds", 4));

    rc_model_free(seed);
    rc_model_free(a);
    rc_model_free(b);
    rc_model_free(fresh);
    buf_free(&g.b);
    buf_free(&m1.b);
    buf_free(&m2.b);
}

/* Stored equal to the base (a single node): the merged blob is the
 * current state byte for byte, before and after more learning. */
static void test_single_node_unchanged(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct slot g, m1;
    slot_init(&g);
    slot_init(&m1);
    /* Nothing stored yet. */
    train(m, "m1", "insufficient_funds", 5, 1500, 11);
    buf want;
    buf_init(&want);
    assert_int_equal(rc_model_save(m, NULL, &want), 0);
    sync_into(m, NULL, &g);
    assert_int_equal(g.b.len, want.len);
    assert_memory_equal(g.b.data, want.data, want.len);
    sync_into(m, "m1", &m1);
    for (int round = 0; round < 3; round++) {
        train(m, "m1", "insufficient_funds", 2, 700, 12 + (uint64_t)round);
        buf_reset(&want);
        assert_int_equal(rc_model_save(m, NULL, &want), 0);
        buf want_m1;
        buf_init(&want_m1);
        assert_int_equal(rc_model_save(m, "m1", &want_m1), 0);
        sync_into(m, NULL, &g);
        sync_into(m, "m1", &m1);
        assert_int_equal(g.b.len, want.len);
        assert_memory_equal(g.b.data, want.data, want.len);
        assert_int_equal(m1.b.len, want_m1.len);
        assert_memory_equal(m1.b.data, want_m1.data, want_m1.len);
        /* The model itself did not move either. */
        buf again;
        buf_init(&again);
        assert_int_equal(rc_model_save(m, NULL, &again), 0);
        assert_memory_equal(again.data, want.data, want.len);
        buf_free(&again);
        buf_free(&want_m1);
    }
    /* A stored blob this version cannot read: the current state wins. */
    buf out;
    buf_init(&out);
    assert_int_equal(rc_model_sync(m, NULL, "JSON", 4, &out), 0);
    assert_int_equal(out.len, want.len);
    assert_memory_equal(out.data, want.data, want.len);
    buf_free(&out);
    buf_free(&want);
    buf_free(&g.b);
    buf_free(&m1.b);
    rc_model_free(m);
}

/* A write that did not happen: the base goes back to what the store
 * holds, and the delta is sent once, not lost and not twice. */
static void test_failed_write_is_sent_again(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct slot st;
    slot_init(&st);
    train(m, "m1", "insufficient_funds", 5, 100, 21);
    sync_into(m, "m1", &st);
    train(m, "m1", "insufficient_funds", 5, 10, 22);
    buf lost;
    buf_init(&lost);
    assert_int_equal(rc_model_sync(m, "m1", st.b.data, st.b.len, &lost), 0);
    assert_int_equal(rc_model_rebase(m, "m1", st.b.data, st.b.len), 0);
    char ids[4][ID_MAX];
    assert_int_equal(rc_model_dirty_scopes(m, ids, 4, NULL), 1);
    train(m, "m1", "insufficient_funds", 5, 5, 23);
    sync_into(m, "m1", &st);
    rc_model *fresh = rc_model_new();
    assert_int_equal(rc_model_load(fresh, "m1", st.b.data, st.b.len), 0);
    assert_int_equal(rc_model_count(fresh, "m1"), 115);
    buf_free(&lost);
    buf_free(&st.b);
    rc_model_free(m);
    rc_model_free(fresh);
}

struct learner {
    rc_model *m;
    int n;
};

static void *learn_thread(void *arg)
{
    struct learner *l = arg;
    train(l->m, "m1", "insufficient_funds", 5, l->n, 31);
    return NULL;
}

/* Outcomes learned on another thread while syncs run all reach the store. */
static void test_learning_during_sync_is_kept(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct slot g, m1;
    slot_init(&g);
    slot_init(&m1);
    /* A peer's history is already stored, so each sync merges. */
    rc_model *peer = rc_model_new();
    train(peer, "m1", "withdrawal_limit", 2, 300, 32);
    save_into(peer, NULL, &g);
    save_into(peer, "m1", &m1);
    struct learner l = {m, 4000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, learn_thread, &l), 0);
    for (int i = 0; i < 40; i++) {
        sync_into(m, NULL, &g);
        sync_into(m, "m1", &m1);
    }
    pthread_join(th, NULL);
    sync_into(m, NULL, &g);
    sync_into(m, "m1", &m1);
    rc_model *fresh = rc_model_new();
    assert_int_equal(rc_model_load(fresh, NULL, g.b.data, g.b.len), 0);
    assert_int_equal(rc_model_load(fresh, "m1", m1.b.data, m1.b.len), 0);
    assert_int_equal(rc_model_count(fresh, NULL), 4300);
    assert_int_equal(rc_model_count(fresh, "m1"), 4300);
    buf_free(&g.b);
    buf_free(&m1.b);
    rc_model_free(m);
    rc_model_free(peer);
    rc_model_free(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_nodes_keep_both_deltas),
        cmocka_unit_test(test_single_node_unchanged),
        cmocka_unit_test(test_failed_write_is_sent_again),
        cmocka_unit_test(test_learning_during_sync_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
