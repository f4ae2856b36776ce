/* The retry-success model: sensible before data, learns planted patterns
 * from synthetic outcomes, per merchant over the global prior, persists
 * exactly, is deterministic, and reads features from transactions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timefmt.h"
#include "recover/localtime.h"
#include "recover/model.h"

#define HOUR 3600000LL
#define DAY (24 * HOUR)

static struct rc_model_features feat(const char *reason, int hour, int wday, int mday)
{
    struct rc_model_features f = {
        .reason = reason, .decline_class = *reason ? "later" : "", .scheme = "visa", .funding_source = "debit",
        .issuer_country = "US", .acquirer_country = "US", .currency = "USD", .amount_minor = 1999,
        .attempts = *reason ? 1 : 0, .since_first_failure_ms = *reason ? 3 * DAY : 0,
        /* one failed attempt so far: the latest failure is the first */
        .since_last_failure_ms = *reason ? 3 * DAY : 0,
        .local_hour = hour, .local_wday = wday, .local_mday = mday,
    };
    return f;
}

/* A small deterministic generator, so the data is the same every run. */
static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

/* One outcome where a retry succeeds mostly on one weekday (good_wday -1:
 * any day alike). */
static void learn_weekday(rc_model *m, const char *merchant, int good_wday, uint64_t *s)
{
    int wday = (int)(rnd(s) % 7), hour = (int)(rnd(s) % 24), mday = 1 + (int)(rnd(s) % 28);
    struct rc_model_features f = feat("insufficient_funds", hour, wday, mday);
    f.attempts = 1 + (int)(rnd(s) % 3);
    uint32_t r = rnd(s) % 1000;
    int ok = good_wday < 0 ? r < 200 : wday == good_wday ? r < 600 : r < 20;
    rc_model_learn(m, merchant, &f, ok);
}

static void train_weekday(rc_model *m, const char *merchant, int good_wday, int n, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++)
        learn_weekday(m, merchant, good_wday, &s);
}

static double mean_wday(rc_model *m, const char *merchant, int wday)
{
    double sum = 0;
    int k = 0;
    for (int hour = 6; hour < 22; hour += 3)
        for (int mday = 3; mday < 28; mday += 5) {
            struct rc_model_features f = feat("insufficient_funds", hour, wday, mday);
            sum += rc_model_predict(m, merchant, &f);
            k++;
        }
    return sum / k;
}

static void test_prior_is_sensible(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    assert_non_null(m);
    assert_int_equal(rc_model_count(m, NULL), 0);
    struct rc_model_features first = feat("", 10, 2, 10);
    struct rc_model_features insf = feat("insufficient_funds", 10, 2, 10);
    assert_true(rc_model_predict(m, NULL, &first) > 0.6);
    double p = rc_model_predict(m, NULL, &insf);
    assert_true(p > 0.03 && p < 0.4);
    /* Night hours, pay days and Fridays, as the prior knows them. */
    struct rc_model_features night = feat("insufficient_funds", 3, 2, 10);
    assert_true(rc_model_predict(m, NULL, &night) < p * 0.8);
    struct rc_model_features payday = feat("insufficient_funds", 10, 2, 1);
    assert_true(rc_model_predict(m, NULL, &payday) > p * 1.3);
    struct rc_model_features friday = feat("insufficient_funds", 10, 5, 10);
    assert_true(rc_model_predict(m, NULL, &friday) > p * 1.2);
    /* Technical errors clear; a lost card does not come back. */
    struct rc_model_features tech = feat("issuer_unavailable", 10, 2, 10);
    tech.decline_class = "technical";
    tech.since_first_failure_ms = HOUR / 2;
    assert_true(rc_model_predict(m, NULL, &tech) > 0.3);
    struct rc_model_features lost = feat("lost_card", 10, 2, 10);
    lost.decline_class = "never";
    assert_true(rc_model_predict(m, NULL, &lost) < 0.03);
    /* A withdrawal limit resets after a day. */
    struct rc_model_features wl = feat("withdrawal_limit", 10, 2, 10);
    wl.since_first_failure_ms = 2 * HOUR;
    double wl_soon = rc_model_predict(m, NULL, &wl);
    wl.since_first_failure_ms = 30 * HOUR;
    assert_true(rc_model_predict(m, NULL, &wl) > 2 * wl_soon);
    /* More failed attempts, lower chance. */
    insf.attempts = 6;
    assert_true(rc_model_predict(m, NULL, &insf) < p);
    rc_model_free(m);
}

static void test_learns_friday_pattern(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    double fri0 = mean_wday(m, "m1", 5), tue0 = mean_wday(m, "m1", 2);
    assert_true(fri0 / tue0 < 2.0);
    train_weekday(m, "m1", 5, 20000, 1);
    double fri = mean_wday(m, "m1", 5), tue = mean_wday(m, "m1", 2), sun = mean_wday(m, "m1", 0);
    print_message("# after training: friday %.3f tuesday %.3f sunday %.3f\n", fri, tue, sun);
    assert_true(fri > 0.35);
    assert_true(fri > 8 * tue);
    assert_true(fri > 8 * sun);
    assert_int_equal(rc_model_count(m, "m1"), 20000);
    assert_int_equal(rc_model_count(m, NULL), 20000);
    assert_int_equal(rc_model_count(m, "m2"), 0);
    rc_model_free(m);
}

static void test_per_merchant_over_global(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    /* m1's customers pay on Fridays, m2's on Tuesdays, m3's any day. */
    uint64_t s1 = 100, s2 = 200, s3 = 300;
    for (int i = 0; i < 15000; i++) {
        learn_weekday(m, "m1", 5, &s1);
        learn_weekday(m, "m2", 2, &s2);
        learn_weekday(m, "m3", -1, &s3);
    }
    double m1f = mean_wday(m, "m1", 5), m1t = mean_wday(m, "m1", 2);
    double m2f = mean_wday(m, "m2", 5), m2t = mean_wday(m, "m2", 2);
    double m3f = mean_wday(m, "m3", 5), m3t = mean_wday(m, "m3", 2);
    print_message("# m1 fri %.3f tue %.3f; m2 fri %.3f tue %.3f; m3 fri %.3f tue %.3f\n", m1f, m1t, m2f, m2t, m3f,
                  m3t);
    assert_true(m1f > 4 * m1t);
    assert_true(m2t > 4 * m2f);
    /* m3 learned that its days are alike, whatever the others taught the
     * global model. */
    assert_true(m3f / m3t < 1.6 && m3t / m3f < 1.6);
    /* A merchant without data gets the global model: both pay days show. */
    double nf = mean_wday(m, "new", 5), nt = mean_wday(m, "new", 2), ns = mean_wday(m, "new", 0);
    assert_true(nf > ns && nt > ns);
    rc_model_free(m);
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    rc_model *a = rc_model_new();
    train_weekday(a, "m1", 5, 3000, 7);
    train_weekday(a, "m2", 1, 3000, 8);
    buf g, b1, b2;
    buf_init(&g);
    buf_init(&b1);
    buf_init(&b2);
    assert_int_equal(rc_model_save(a, NULL, &g), 0);
    assert_int_equal(rc_model_save(a, "m1", &b1), 0);
    assert_int_equal(rc_model_save(a, "m2", &b2), 0);

    rc_model *b = rc_model_new();
    assert_int_equal(rc_model_load(b, NULL, g.data, g.len), 0);
    assert_int_equal(rc_model_load(b, "m1", b1.data, b1.len), 0);
    assert_int_equal(rc_model_load(b, "m2", b2.data, b2.len), 0);
    static const char *const who[] = {"m1", "m2", "other", NULL};
    for (size_t w = 0; w < 4; w++)
        for (int wday = 0; wday < 7; wday++)
            for (int hour = 0; hour < 24; hour += 5) {
                struct rc_model_features f = feat("insufficient_funds", hour, wday, 1 + hour);
                double pa = rc_model_predict(a, who[w], &f), pb = rc_model_predict(b, who[w], &f);
                assert_memory_equal(&pa, &pb, sizeof pa);
            }
    assert_int_equal(rc_model_count(b, "m1"), 3000);
    assert_int_equal(rc_model_count(b, NULL), 6000);
    /* Saved again, the same bytes. */
    buf g2;
    buf_init(&g2);
    assert_int_equal(rc_model_save(b, NULL, &g2), 0);
    assert_int_equal(g2.len, g.len);
    assert_memory_equal(g2.data, g.data, g.len);

    /* Damaged or foreign blobs are refused and change nothing. */
    struct rc_model_features f = feat("insufficient_funds", 10, 5, 3);
    double before = rc_model_predict(b, "m1", &f);
    b1.data[b1.len / 2] ^= 0x40;
    assert_int_equal(rc_model_load(b, "m1", b1.data, b1.len), -1);
    assert_int_equal(rc_model_load(b, "m1", b1.data, 10), -1);
    assert_int_equal(rc_model_load(b, "m1", g.data, g.len), -1); /* a global blob for a merchant */
    assert_int_equal(rc_model_load(b, NULL, "JSON", 4), -1);
    double after = rc_model_predict(b, "m1", &f);
    assert_memory_equal(&before, &after, sizeof before);

    buf_free(&g);
    buf_free(&g2);
    buf_free(&b1);
    buf_free(&b2);
    rc_model_free(a);
    rc_model_free(b);
}

static void test_deterministic(void **state)
{
    (void)state;
    rc_model *a = rc_model_new(), *b = rc_model_new();
    /* b knows other merchants first (a different layout of its tables),
     * which must not show in the bytes. */
    buf empty;
    buf_init(&empty);
    assert_int_equal(rc_model_save(a, "nobody", &empty), 0);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "q%d", i);
        assert_int_equal(rc_model_load(b, id, empty.data, empty.len), 0);
    }
    buf_free(&empty);
    /* Then the same data in the same order. */
    struct rc_model_features f = feat("", 9, 1, 1);
    rc_model *both[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        rc_model_learn(both[k], "zz", &f, 1);
        rc_model_learn(both[k], "aa", &f, 0);
        train_weekday(both[k], "m1", 4, 4000, 42);
        train_weekday(both[k], "aa", 1, 500, 43);
    }
    static const char *const scopes[] = {NULL, "m1", "aa", "zz"};
    for (size_t i = 0; i < 4; i++) {
        buf x, y;
        buf_init(&x);
        buf_init(&y);
        assert_int_equal(rc_model_save(a, scopes[i], &x), 0);
        assert_int_equal(rc_model_save(b, scopes[i], &y), 0);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.data, y.data, x.len);
        buf_free(&x);
        buf_free(&y);
    }
    rc_model_free(a);
    rc_model_free(b);
}

static void test_dirty_scopes(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    char ids[4][ID_MAX];
    int gd = -1;
    assert_int_equal(rc_model_dirty_scopes(m, ids, 4, &gd), 0);
    assert_int_equal(gd, 0);
    struct rc_model_features f = feat("insufficient_funds", 9, 1, 1);
    rc_model_learn(m, "m1", &f, 0);
    rc_model_learn(m, "m2", &f, 1);
    size_t n = rc_model_dirty_scopes(m, ids, 4, &gd);
    assert_int_equal(n, 2);
    assert_int_equal(gd, 1);
    assert_true((strcmp(ids[0], "m1") == 0 && strcmp(ids[1], "m2") == 0) ||
                (strcmp(ids[0], "m2") == 0 && strcmp(ids[1], "m1") == 0));
    assert_int_equal(rc_model_dirty_scopes(m, ids, 1, &gd), 1);
    rc_model_mark_saved(m);
    assert_int_equal(rc_model_dirty_scopes(m, ids, 4, &gd), 0);
    assert_int_equal(gd, 0);
    rc_model_learn(m, NULL, &f, 0);
    assert_int_equal(rc_model_dirty_scopes(m, ids, 4, &gd), 0);
    assert_int_equal(gd, 1);
    rc_model_free(m);
}

static void test_logits_match_predict(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    train_weekday(m, "m1", 5, 2000, 3);
    struct rc_model_features f = feat("insufficient_funds", 0, 0, 1);
    struct rc_model_when when[30];
    for (int i = 0; i < 30; i++)
        when[i] = (struct rc_model_when){.local_hour = (i * 5) % 24, .local_wday = i % 7, .local_mday = 1 + i,
                                         .since_first_failure_ms = i * 7 * HOUR, .since_last_failure_ms = i * 3 * HOUR};
    double z[30], delta;
    rc_model_logits(m, "m1", &f, when, 30, z, &delta);
    for (int i = 0; i < 30; i++) {
        struct rc_model_features g = f;
        g.local_hour = when[i].local_hour;
        g.local_wday = when[i].local_wday;
        g.local_mday = when[i].local_mday;
        g.since_first_failure_ms = when[i].since_first_failure_ms;
        g.since_last_failure_ms = when[i].since_last_failure_ms;
        double p = rc_model_predict(m, "m1", &g);
        assert_true(p - rc_model_sigmoid(z[i]) < 1e-12 && rc_model_sigmoid(z[i]) - p < 1e-12);
        g.attempts++;
        double p2 = rc_model_predict(m, "m1", &g);
        assert_true(p2 - rc_model_sigmoid(z[i] + delta) < 1e-12 && rc_model_sigmoid(z[i] + delta) - p2 < 1e-12);
    }
    assert_true(delta < 0);
    rc_model_free(m);
}

static struct rc_txn txn(int64_t at, int success, const char *raw)
{
    struct rc_txn t;
    memset(&t, 0, sizeof t);
    t.psp_created_at = at;
    t.success = success;
    str_copy(t.raw_response_message, sizeof t.raw_response_message, raw);
    str_copy(t.scheme, sizeof t.scheme, "visa");
    str_copy(t.funding_source, sizeof t.funding_source, "credit");
    str_copy(t.issuer_country, sizeof t.issuer_country, "US");
    str_copy(t.acquirer_country, sizeof t.acquirer_country, "GB");
    str_copy(t.currency, sizeof t.currency, "USD");
    str_copy(t.psp, sizeof t.psp, "stripe");
    str_copy(t.payment_method_id, sizeof t.payment_method_id, "pm_1");
    str_copy(t.origin, sizeof t.origin, "merchant");
    t.amount = 4200;
    return t;
}

static void test_features_from_transactions(void **state)
{
    (void)state;
    int64_t t0;
    assert_int_equal(time_parse_iso8601("2026-11-13T12:00:00Z", &t0), 0); /* a Friday */
    struct rc_txn h[3] = {txn(t0 - 40 * DAY, 1, "approved"), txn(t0, 0, "insufficient_funds"),
                          txn(t0 + DAY, 0, "Do Not Honor")};
    struct rc_model_features f;
    int64_t at = t0 + 3 * DAY + 2 * HOUR; /* Mon 16 Nov 14:00 UTC */
    rc_model_features_for(&f, h, 3, &h[2], "94105", "Europe/Paris", at);
    assert_string_equal(f.reason, "do_not_honor");
    assert_string_equal(f.decline_class, "later");
    assert_int_equal(f.attempts, 2);
    assert_true(f.since_first_failure_ms == 3 * DAY + 2 * HOUR);
    assert_true(f.since_last_failure_ms == 2 * DAY + 2 * HOUR);
    assert_string_equal(f.scheme, "visa");
    assert_string_equal(f.funding_source, "credit");
    assert_string_equal(f.issuer_country, "US");
    assert_string_equal(f.acquirer_country, "GB");
    assert_int_equal(f.amount_minor, 4200);
    /* San Francisco in November: UTC-8. */
    assert_int_equal(f.local_hour, 6);
    assert_int_equal(f.local_wday, 1);
    assert_int_equal(f.local_mday, 16);
    /* Without an issuer country, the merchant's zone. */
    struct rc_txn shape = h[2];
    shape.issuer_country[0] = '\0';
    rc_model_features_for(&f, h, 3, &shape, "", "Europe/Paris", at);
    assert_int_equal(f.local_hour, 15);
    /* A first attempt: nothing before it. */
    rc_model_features_for(&f, NULL, 0, &shape, "", "", at);
    assert_string_equal(f.reason, "");
    assert_int_equal(f.attempts, 0);
    assert_true(f.since_first_failure_ms == 0);
    assert_true(f.since_last_failure_ms == 0);
    assert_int_equal(f.local_hour, 14);
    /* After a success only the failures after it count. */
    rc_model_features_for(&f, h, 1, &shape, "", "", at);
    assert_int_equal(f.attempts, 0);
}

struct worker {
    rc_model *m;
    int learn;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    if (w->learn) {
        train_weekday(w->m, "m1", 5, 5000, 9);
    } else {
        for (int i = 0; i < 5000; i++) {
            struct rc_model_features f = feat("insufficient_funds", i % 24, i % 7, 1 + i % 28);
            double p = rc_model_predict(w->m, "m1", &f);
            if (!(p > 0 && p < 1))
                return (void *)1;
        }
    }
    return NULL;
}

static void test_concurrent_learn_and_predict(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    struct worker a = {m, 1}, b = {m, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, work, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, work, &b), 0);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    assert_null(ra);
    assert_null(rb);
    assert_int_equal(rc_model_count(m, "m1"), 5000);
    rc_model_free(m);
}

/* The card's latest payment that went through after a failed one, from
 * its attempts on every invoice, in any order; a payment with no failure
 * before it (a renewal that simply went through) is not one. */
static void test_card_history_recovered_payment(void **state)
{
    (void)state;
    int64_t t0;
    assert_int_equal(time_parse_iso8601("2026-11-13T12:00:00Z", &t0), 0); /* a Friday */
    struct rc_txn card[5] = {
        txn(t0 - 30 * DAY, 0, "insufficient_funds"), /* an earlier invoice ... */
        txn(t0 - 26 * DAY, 1, "approved"),           /* ... paid 4 days later: Sun 18 Oct (UTC) */
        txn(t0 - 2 * DAY, 1, "approved"),            /* a renewal that just went through */
        txn(t0, 0, "insufficient_funds"),            /* this invoice */
        txn(t0 + 5 * DAY, 1, "approved"),            /* later than the attempt: not known yet */
    };
    struct rc_model_features f;
    memset(&f, 0, sizeof f);
    rc_model_features_card(&f, card, 5, rc_zone_index("UTC"), t0 + DAY);
    assert_int_equal(f.paid_mday, 18);
    assert_int_equal(f.paid_local_day, rc_model_local_day(t0 - 26 * DAY, 0));
    /* In the cardholder's zone: in Auckland (UTC+13 in October) 12:00
     * UTC is 01:00 the next day. */
    memset(&f, 0, sizeof f);
    rc_model_features_card(&f, card, 5, rc_zone_index("Pacific/Auckland"), t0 + DAY);
    assert_int_equal(f.paid_mday, 19);
    /* Order does not matter. */
    struct rc_txn rev[5];
    for (int i = 0; i < 5; i++)
        rev[i] = card[4 - i];
    memset(&f, 0, sizeof f);
    rc_model_features_card(&f, rev, 5, rc_zone_index("UTC"), t0 + DAY);
    assert_int_equal(f.paid_mday, 18);
    /* Only renewals that went through: nothing known. */
    memset(&f, 0, sizeof f);
    rc_model_features_card(&f, &card[2], 1, rc_zone_index("UTC"), t0 + DAY);
    assert_int_equal(f.paid_mday, 0);
    /* A failure more than 20 days before the payment is another story. */
    struct rc_txn old[2] = {txn(t0 - 60 * DAY, 0, "insufficient_funds"), txn(t0 - 26 * DAY, 1, "approved")};
    memset(&f, 0, sizeof f);
    rc_model_features_card(&f, old, 2, rc_zone_index("UTC"), t0 + DAY);
    assert_int_equal(f.paid_mday, 0);
}

/* Customers paid every other Friday: a retry of insufficient funds
 * succeeds on the days money is there, 14 days on from the day the card's
 * earlier invoice was recovered (and the day after), and rarely
 * otherwise. The weekdays are spread so that no calendar feature alone
 * can tell: only the distance from the card's own pay day can. */
static void test_learns_pay_day_from_card_history(void **state)
{
    (void)state;
    rc_model *m = rc_model_new();
    uint64_t s = 21;
    int64_t base_day = 20000;
    for (int i = 0; i < 20000; i++) {
        int64_t paid_day = base_day + (int64_t)(rnd(&s) % 28);
        int64_t day = paid_day + 14 + (int64_t)(rnd(&s) % 28);
        int gap = (int)((day - paid_day) % 14);
        struct rc_model_features f = feat("insufficient_funds", 12, (int)((day + 4) % 7), 1 + (int)(day % 28));
        f.local_day = day;
        f.paid_local_day = paid_day;
        f.paid_mday = 1 + (int)(paid_day % 28);
        int ok = (int)(rnd(&s) % 100) < (gap <= 1 ? 60 : 4);
        rc_model_learn(m, "m1", &f, ok);
    }
    double on = 0, off = 0;
    int non = 0, noff = 0;
    for (int64_t paid_day = base_day; paid_day < base_day + 14; paid_day++)
        for (int64_t d = 14; d < 28; d++) {
            int64_t day = paid_day + d;
            struct rc_model_features f = feat("insufficient_funds", 12, (int)((day + 4) % 7), 1 + (int)(day % 28));
            f.local_day = day;
            f.paid_local_day = paid_day;
            f.paid_mday = 1 + (int)(paid_day % 28);
            double p = rc_model_predict(m, "m1", &f);
            if ((d % 14) <= 1) {
                on += p;
                non++;
            } else {
                off += p;
                noff++;
            }
        }
    on /= non;
    off /= noff;
    assert_true(on > 0.4);
    assert_true(off < 0.1);
    /* The same attempt on a card with no known pay day knows none of it. */
    struct rc_model_features a = feat("insufficient_funds", 12, 3, 10), b = a;
    a.local_day = base_day + 14;
    b.local_day = base_day + 20;
    double pa = rc_model_predict(m, "m1", &a), pb = rc_model_predict(m, "m1", &b);
    assert_memory_equal(&pa, &pb, sizeof pa);
    /* What was learned is saved and loaded with the rest. */
    buf g, bm;
    buf_init(&g);
    buf_init(&bm);
    assert_int_equal(rc_model_save(m, NULL, &g), 0);
    assert_int_equal(rc_model_save(m, "m1", &bm), 0);
    rc_model *copy = rc_model_new();
    assert_int_equal(rc_model_load(copy, NULL, g.data, g.len), 0);
    assert_int_equal(rc_model_load(copy, "m1", bm.data, bm.len), 0);
    a.paid_local_day = base_day;
    a.paid_mday = 1 + (int)(base_day % 28);
    double before = rc_model_predict(m, "m1", &a), after = rc_model_predict(copy, "m1", &a);
    assert_memory_equal(&before, &after, sizeof before);
    assert_true(before > 0.4);
    buf_free(&g);
    buf_free(&bm);
    rc_model_free(copy);
    rc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prior_is_sensible),
        cmocka_unit_test(test_learns_friday_pattern),
        cmocka_unit_test(test_per_merchant_over_global),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_dirty_scopes),
        cmocka_unit_test(test_logits_match_predict),
        cmocka_unit_test(test_card_history_recovered_payment),
        cmocka_unit_test(test_learns_pay_day_from_card_history),
        cmocka_unit_test(test_features_from_transactions),
        cmocka_unit_test(test_concurrent_learn_and_predict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
