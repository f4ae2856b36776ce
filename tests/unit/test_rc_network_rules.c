/* Card-network retry rules: each never-retry rule, each cap at its
 * boundary and window edge, counting across origins and initiators, the
 * MAC waits, MAC 01, the earliest allowed time, the JSON override file and
 * determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "recover/network_rules.h"
#include "store/recover_store.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define DAY 86400000LL
#define T0 1793491200000LL /* 2026-11-01T00:00:00Z */
#define MAXH 128

struct hist {
    struct nr_attempt a[MAXH];
    size_t n;
};

static void add(struct hist *h, int64_t at, int success, enum nr_initiator ini, enum nr_origin org)
{
    assert_true(h->n < MAXH);
    h->a[h->n++] = (struct nr_attempt){.at_ms = at, .success = success, .initiator = ini, .origin = org};
}

static void decline(struct hist *h, int64_t at) { add(h, at, 0, NR_MIT, NR_ORIGIN_MERCHANT); }

static struct nr_request req(enum nr_scheme s, const struct hist *h, int64_t at)
{
    struct nr_request q = {.scheme = s, .history = h ? h->a : NULL, .nhistory = h ? h->n : 0,
                           .initiator = NR_MIT, .proposed_at_ms = at};
    if (h && h->n)
        q.decline.declined_at_ms = h->a[h->n - 1].at_ms;
    return q;
}

static struct nr_verdict eval(const struct nr_rules *r, const struct nr_request *q)
{
    struct nr_verdict v;
    assert_int_equal(nr_evaluate(r, q, &v), 0);
    if (v.allowed) {
        assert_int_equal(v.earliest_ms, q->proposed_at_ms);
        assert_string_equal(v.rule_id, "");
        assert_int_equal(v.fee_cents, 0);
    } else {
        assert_true(v.earliest_ms > q->proposed_at_ms);
        assert_true(strncmp(v.reason, v.rule_id, strlen(v.rule_id)) == 0);
    }
    return v;
}

static void assert_never(const struct nr_verdict *v, const char *rule)
{
    assert_false(v->allowed);
    assert_true(v->earliest_ms == NR_NEVER);
    assert_string_equal(v->rule_id, rule);
}

/* --- never-retry rules ------------------------------------------------- */

static void test_visa_category_1(void **state)
{
    (void)state;
    const struct nr_rules *r = &nr_default_rules;
    static const char *const cat1[] = {"04", "07", "12", "14", "15", "41", "43", "46", "57", "R0", "R1", "R3", "r1"};
    struct hist h = {0};
    decline(&h, T0);
    for (size_t i = 0; i < sizeof cat1 / sizeof cat1[0]; i++) {
        struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + DAY);
        q.decline.network_code = cat1[i];
        struct nr_verdict v = eval(r, &q);
        assert_never(&v, "visa_category_1");
        assert_int_equal(v.fee_cents, 15);
        assert_false(v.needs_new_payment_method);
    }
    /* Categories 2-4 and an unknown code are retried. */
    static const char *const others[] = {"05", "51", "61", "91", "54", "", "R2"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + DAY);
        q.decline.network_code = others[i];
        assert_true(eval(r, &q).allowed);
    }
    /* Visa's list is Visa's: the same code on Mastercard is not a never. */
    struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, T0 + DAY);
    q.decline.network_code = "14";
    assert_true(eval(r, &q).allowed);
}

static void test_mastercard_never_macs(void **state)
{
    (void)state;
    struct hist h = {0};
    decline(&h, T0);
    static const char *const macs[][2] = {{"03", "mastercard_mac_03"}, {"3", "mastercard_mac_03"},
                                          {"21", "mastercard_mac_21"}};
    for (size_t i = 0; i < 3; i++) {
        struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, T0 + 5 * DAY);
        q.decline.mac = macs[i][0];
        struct nr_verdict v = eval(&nr_default_rules, &q);
        assert_never(&v, macs[i][1]);
        assert_int_equal(v.fee_cents, 50);
    }
    /* MACs belong to Mastercard: the same value on a Visa decline is ignored. */
    struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + DAY);
    q.decline.mac = "03";
    assert_true(eval(&nr_default_rules, &q).allowed);
}

static void test_class_never_any_scheme(void **state)
{
    (void)state;
    struct hist h = {0};
    decline(&h, T0);
    for (int s = 0; s < NR_SCHEME_COUNT; s++) {
        struct nr_request q = req((enum nr_scheme)s, &h, T0 + DAY);
        q.decline.decline_class = s == 0 ? "NEVER" : "never";
        struct nr_verdict v = eval(&nr_default_rules, &q);
        assert_never(&v, "decline_class_never");
        assert_string_equal(v.reason, s == 0 ? "decline_class_never: a decline of class NEVER is never retried; no slot, ever"
                                             : "decline_class_never: a decline of class never is never retried; no slot, ever");
    }
    static const char *const retried[] = {"later", "technical", "fix_data", "customer_action"};
    for (size_t i = 0; i < 4; i++) {
        struct nr_request q = req(NR_SCHEME_AMEX, &h, T0 + DAY);
        q.decline.decline_class = retried[i];
        assert_true(eval(&nr_default_rules, &q).allowed);
    }
}

/* --- Visa cap ---------------------------------------------------------- */

/* One original decline at T0 and n reattempts, one an hour. */
static void visa_run(struct hist *h, int reattempts, enum nr_initiator ini)
{
    for (int i = 0; i <= reattempts; i++)
        add(h, T0 + i * HOUR, 0, ini, i % 2 ? NR_ORIGIN_RECOVER : NR_ORIGIN_MERCHANT);
}

static void test_visa_cap_boundary(void **state)
{
    (void)state;
    struct hist h = {0};
    visa_run(&h, 19, NR_MIT);
    /* 19 reattempts in the window: this one is the 20th. */
    struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + 2 * DAY);
    assert_true(eval(&nr_default_rules, &q).allowed);

    add(&h, T0 + 20 * HOUR, 0, NR_MIT, NR_ORIGIN_RECOVER);
    q = req(NR_SCHEME_VISA, &h, T0 + 2 * DAY);
    struct nr_verdict v = eval(&nr_default_rules, &q);
    assert_false(v.allowed);
    assert_string_equal(v.rule_id, "visa_30d_cap");
    assert_int_equal(v.fee_cents, 15);
    /* The first reattempt (T0 + 1 h) leaves the window 30 days later. */
    assert_int_equal(v.earliest_ms, T0 + HOUR + 30 * DAY);
    assert_string_equal(v.reason, "visa_30d_cap: 20 merchant-initiated reattempts on this card in the last 30 days "
                                  "(at most 20); next slot 2026-12-01T01:00:00Z");

    /* Window edge: exactly 30 days after the oldest reattempt it is out. */
    q.proposed_at_ms = T0 + HOUR + 30 * DAY;
    assert_true(eval(&nr_default_rules, &q).allowed);
    q.proposed_at_ms = T0 + HOUR + 30 * DAY - 1;
    v = eval(&nr_default_rules, &q);
    assert_false(v.allowed);
    assert_int_equal(v.earliest_ms, T0 + HOUR + 30 * DAY);
}

static void test_visa_cap_counts_merchant_and_recover(void **state)
{
    (void)state;
    /* 20 reattempts, half the merchant's own, half Recover's: full. */
    struct hist h = {0};
    visa_run(&h, 20, NR_MIT);
    size_t merchant = 0;
    for (size_t i = 0; i < h.n; i++)
        merchant += h.a[i].origin == NR_ORIGIN_MERCHANT;
    assert_true(merchant > 5 && merchant < h.n - 5);
    struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + DAY);
    assert_false(eval(&nr_default_rules, &q).allowed);

    /* Only the merchant's: just as full. */
    for (size_t i = 0; i < h.n; i++)
        h.a[i].origin = NR_ORIGIN_MERCHANT;
    assert_false(eval(&nr_default_rules, &q).allowed);
}

static void test_visa_cit_mit_apart(void **state)
{
    (void)state;
    struct hist h = {0};
    visa_run(&h, 20, NR_MIT);
    struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + DAY);
    q.initiator = NR_CIT;
    assert_true(eval(&nr_default_rules, &q).allowed);
    q.initiator = NR_MIT;
    assert_false(eval(&nr_default_rules, &q).allowed);

    struct hist c = {0};
    visa_run(&c, 20, NR_CIT);
    q = req(NR_SCHEME_VISA, &c, T0 + DAY);
    q.initiator = NR_CIT;
    struct nr_verdict v = eval(&nr_default_rules, &q);
    assert_false(v.allowed);
    assert_non_null(strstr(v.reason, "20 customer-initiated reattempts"));
    q.initiator = NR_MIT;
    assert_true(eval(&nr_default_rules, &q).allowed);
}

static void test_visa_approval_ends_run(void **state)
{
    (void)state;
    /* An attempt after an approval is a new original, not a reattempt. */
    struct hist h = {0};
    visa_run(&h, 20, NR_MIT);
    add(&h, T0 + 21 * HOUR, 1, NR_MIT, NR_ORIGIN_MERCHANT);
    struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + DAY);
    assert_true(eval(&nr_default_rules, &q).allowed);
    /* ... but once that one is declined, the next is a reattempt again. */
    add(&h, T0 + 22 * HOUR, 0, NR_MIT, NR_ORIGIN_MERCHANT);
    q = req(NR_SCHEME_VISA, &h, T0 + DAY);
    assert_false(eval(&nr_default_rules, &q).allowed);
}

/* --- Mastercard caps --------------------------------------------------- */

static void test_mastercard_24h_boundary(void **state)
{
    (void)state;
    struct hist h = {0};
    for (int i = 0; i < 9; i++)
        decline(&h, T0 + i * HOUR);
    add(&h, T0 + 30 * MIN, 1, NR_MIT, NR_ORIGIN_MERCHANT); /* approvals do not count */
    struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, T0 + 10 * HOUR);
    assert_true(eval(&nr_default_rules, &q).allowed); /* would be the 10th decline */

    decline(&h, T0 + 9 * HOUR);
    q = req(NR_SCHEME_MASTERCARD, &h, T0 + 10 * HOUR);
    struct nr_verdict v = eval(&nr_default_rules, &q);
    assert_false(v.allowed); /* would be the 11th */
    assert_string_equal(v.rule_id, "mastercard_24h_cap");
    assert_int_equal(v.earliest_ms, T0 + DAY);
    assert_int_equal(v.fee_cents, 50);
    assert_string_equal(v.reason, "mastercard_24h_cap: 10 declines on this card in the last 24 h (at most 10); "
                                  "next slot 2026-11-02T00:00:00Z");
    /* Window edge: the decline at T0 is out at exactly T0 + 24 h. */
    q.proposed_at_ms = T0 + DAY - 1;
    assert_false(eval(&nr_default_rules, &q).allowed);
    q.proposed_at_ms = T0 + DAY;
    assert_true(eval(&nr_default_rules, &q).allowed);
}

static void test_mastercard_30d_boundary(void **state)
{
    (void)state;
    /* One decline every 20 h: never more than 2 in 24 h. */
    struct hist h = {0};
    for (int i = 0; i < 34; i++)
        decline(&h, T0 + i * 20 * HOUR);
    int64_t t = T0 + 34 * 20 * HOUR;
    struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, t);
    assert_true(eval(&nr_default_rules, &q).allowed); /* the 35th */

    decline(&h, t);
    q = req(NR_SCHEME_MASTERCARD, &h, t + 20 * HOUR);
    assert_true(t + 20 * HOUR < T0 + 30 * DAY);
    struct nr_verdict v = eval(&nr_default_rules, &q);
    assert_false(v.allowed); /* the 36th */
    assert_string_equal(v.rule_id, "mastercard_30d_cap");
    assert_int_equal(v.earliest_ms, T0 + 30 * DAY);
    q.proposed_at_ms = T0 + 30 * DAY;
    assert_true(eval(&nr_default_rules, &q).allowed);
}

/* --- Merchant Advice Codes --------------------------------------------- */

static void test_mac_waits(void **state)
{
    (void)state;
    static const struct {
        const char *mac;
        int64_t wait;
    } waits[] = {{"24", HOUR}, {"25", DAY}, {"26", 2 * DAY}, {"27", 4 * DAY},
                 {"28", 6 * DAY}, {"29", 8 * DAY}, {"30", 10 * DAY}};
    int64_t d = T0 + 3 * HOUR;
    struct hist h = {0};
    decline(&h, d);
    for (size_t i = 0; i < 7; i++) {
        char id[32];
        snprintf(id, sizeof id, "mastercard_mac_%s", waits[i].mac);
        struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, d + waits[i].wait - 1);
        q.decline.mac = waits[i].mac;
        struct nr_verdict v = eval(&nr_default_rules, &q);
        assert_false(v.allowed);
        assert_string_equal(v.rule_id, id);
        assert_int_equal(v.earliest_ms, d + waits[i].wait);
        assert_int_equal(v.fee_cents, 50);
        q.proposed_at_ms = d + waits[i].wait;
        assert_true(eval(&nr_default_rules, &q).allowed);
    }
    struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, d + 1);
    q.decline.mac = "25";
    assert_string_equal(eval(&nr_default_rules, &q).reason,
                        "mastercard_mac_25: the issuer asked to wait 24 h after the decline at 2026-11-01T03:00:00Z; "
                        "next slot 2026-11-02T03:00:00Z");
}

static void test_mac_01(void **state)
{
    (void)state;
    struct hist h = {0};
    decline(&h, T0);
    struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, T0 + DAY);
    q.decline.mac = "01";
    struct nr_verdict v = eval(&nr_default_rules, &q);
    assert_never(&v, "mastercard_mac_01");
    assert_true(v.needs_new_payment_method);
    assert_string_equal(v.reason, "mastercard_mac_01: new account data is available; retry only with the updated "
                                  "payment method; no slot before a new payment method");

    /* An update from before the decline does not count. */
    q.decline.has_pm_update = 1;
    q.decline.pm_updated_at_ms = T0 - HOUR;
    v = eval(&nr_default_rules, &q);
    assert_never(&v, "mastercard_mac_01");
    assert_true(v.needs_new_payment_method);

    /* Updated after the decline: allowed from the update on. */
    q.decline.pm_updated_at_ms = T0 + 2 * DAY;
    v = eval(&nr_default_rules, &q);
    assert_false(v.allowed);
    assert_false(v.needs_new_payment_method);
    assert_int_equal(v.earliest_ms, T0 + 2 * DAY);
    q.proposed_at_ms = T0 + 2 * DAY;
    assert_true(eval(&nr_default_rules, &q).allowed);
}

/* --- Earliest time over several rules ---------------------------------- */

static void test_earliest_combines_rules(void **state)
{
    (void)state;
    /* 10 declines from T0 to T0 + 9 h, the last with MAC 24: the wait ends
     * at T0 + 10 h, when the 24 h cap is still full until T0 + 24 h. */
    struct hist h = {0};
    for (int i = 0; i < 10; i++)
        decline(&h, T0 + i * HOUR);
    struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, T0 + 9 * HOUR + MIN);
    q.decline.mac = "24";
    struct nr_verdict v = eval(&nr_default_rules, &q);
    assert_false(v.allowed);
    assert_string_equal(v.rule_id, "mastercard_mac_24");
    assert_int_equal(v.earliest_ms, T0 + DAY);
    assert_non_null(strstr(v.reason, "next slot 2026-11-02T00:00:00Z"));

    /* Attempts later than the proposed time count once the search reaches
     * them: T0 + 24 h is taken by new declines up to T0 + 25 h. */
    decline(&h, T0 + 24 * HOUR);
    q = req(NR_SCHEME_MASTERCARD, &h, T0 + 12 * HOUR);
    q.decline.declined_at_ms = T0 + 9 * HOUR;
    v = eval(&nr_default_rules, &q);
    assert_string_equal(v.rule_id, "mastercard_24h_cap");
    assert_int_equal(v.earliest_ms, T0 + DAY + HOUR);
}

static void test_other_schemes_cap(void **state)
{
    (void)state;
    static const char *const names[] = {"amex", "american_express", "discover", "jcb", "unionpay", NULL};
    static const char *const ids[] = {"amex_30d_cap", "amex_30d_cap", "discover_30d_cap", "other_30d_cap",
                                      "other_30d_cap", "other_30d_cap"};
    for (size_t i = 0; i < 6; i++) {
        struct hist h = {0};
        /* 20 reattempts, CIT and MIT mixed: counted together. */
        for (int k = 0; k <= 20; k++)
            add(&h, T0 + k * HOUR, 0, k % 2 ? NR_CIT : NR_MIT, NR_ORIGIN_MERCHANT);
        struct nr_request q = req(nr_scheme_from_name(names[i]), &h, T0 + DAY);
        struct nr_verdict v = eval(&nr_default_rules, &q);
        assert_string_equal(v.rule_id, ids[i]);
        assert_int_equal(v.fee_cents, 0);
        h.n--;
        q = req(nr_scheme_from_name(names[i]), &h, T0 + DAY);
        assert_true(eval(&nr_default_rules, &q).allowed);
    }
    assert_int_equal(nr_scheme_from_name("maestro"), NR_SCHEME_MASTERCARD);
    assert_int_equal(nr_scheme_from_name("visa"), NR_SCHEME_VISA);
}

static void test_check_planned(void **state)
{
    (void)state;
    /* A simulated plan: hourly Mastercard retries after a decline; the 11th
     * decline in 24 h and every one after it is a violation costing 0.50. */
    struct hist h = {0};
    int violations = 0;
    int64_t fees = 0;
    for (int i = 0; i < 15; i++) {
        struct nr_request q = req(NR_SCHEME_MASTERCARD, &h, T0 + i * HOUR);
        struct nr_verdict v;
        int rc = nr_check_planned(&nr_default_rules, &q, &v);
        assert_true(rc == 0 || rc == 1);
        assert_int_equal(rc, i >= 10);
        if (rc == 1) {
            violations++;
            fees += v.fee_cents;
            assert_string_equal(v.rule_id, "mastercard_24h_cap");
        }
        decline(&h, T0 + i * HOUR);
    }
    assert_int_equal(violations, 5);
    assert_int_equal(fees, 250);
}

static void test_history_from_txns(void **state)
{
    (void)state;
    struct rc_txn t[3];
    memset(t, 0, sizeof t);
    const char *pm[] = {"pm_a", "pm_b", "pm_a"};
    const char *origin[] = {"merchant", "merchant", "recover"};
    for (int i = 0; i < 3; i++) {
        str_copy(t[i].payment_method_id, sizeof t[i].payment_method_id, pm[i]);
        str_copy(t[i].origin, sizeof t[i].origin, origin[i]);
        t[i].psp_created_at = T0 + i * HOUR;
        t[i].success = i == 1;
    }
    struct nr_attempt a[3];
    assert_int_equal(nr_history_from_txns(t, 3, "pm_a", a, 3), 2);
    assert_int_equal(a[0].at_ms, T0);
    assert_int_equal(a[0].origin, NR_ORIGIN_MERCHANT);
    assert_int_equal(a[1].at_ms, T0 + 2 * HOUR);
    assert_int_equal(a[1].origin, NR_ORIGIN_RECOVER);
    assert_int_equal(a[1].initiator, NR_MIT);
    assert_int_equal(a[1].success, 0);
    assert_int_equal(nr_history_from_txns(t, 3, "pm_a", a, 1), 2);
}

static void test_determinism(void **state)
{
    (void)state;
    struct hist h = {0};
    for (int i = 0; i < 40; i++)
        add(&h, T0 + (i * 7919 % 41) * 13 * HOUR, i % 5 == 0, i % 3 ? NR_MIT : NR_CIT,
            i % 2 ? NR_ORIGIN_RECOVER : NR_ORIGIN_MERCHANT);
    for (int s = 0; s < NR_SCHEME_COUNT; s++) {
        struct nr_request q = req((enum nr_scheme)s, &h, T0 + 20 * DAY);
        q.decline.mac = "26";
        q.decline.declined_at_ms = T0 + 19 * DAY;
        struct nr_verdict first = eval(&nr_default_rules, &q);
        struct hist shuffled = h;
        srand(7);
        for (int round = 0; round < 20; round++) {
            for (size_t i = shuffled.n - 1; i > 0; i--) {
                size_t j = (size_t)rand() % (i + 1);
                struct nr_attempt tmp = shuffled.a[i];
                shuffled.a[i] = shuffled.a[j];
                shuffled.a[j] = tmp;
            }
            q.history = shuffled.a;
            struct nr_verdict v = eval(&nr_default_rules, &q);
            assert_int_equal(v.allowed, first.allowed);
            assert_int_equal(v.earliest_ms, first.earliest_ms);
            assert_string_equal(v.rule_id, first.rule_id);
            assert_string_equal(v.reason, first.reason);
        }
    }
}

/* --- The JSON file ----------------------------------------------------- */

static char *doc_example(void)
{
    const char *root = getenv("MESON_SOURCE_ROOT");
    char path[4096];
    FILE *f = NULL;
    if (root && *root) {
        snprintf(path, sizeof path, "%s/docs/network-rules-config.md", root);
        f = fopen(path, "r");
    }
    static const char *const relative[] = {"../docs/network-rules-config.md", "docs/network-rules-config.md"};
    for (size_t i = 0; !f && i < 2; i++)
        f = fopen(relative[i], "r");
    assert_non_null(f);
    buf b;
    buf_init(&b);
    char line[1024];
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        if (!in && strncmp(line, "```json", 7) == 0) {
            in = 1;
            continue;
        }
        if (in && strncmp(line, "```", 3) == 0)
            break;
        if (in)
            buf_puts(&b, line);
    }
    fclose(f);
    assert_true(b.len > 0);
    return buf_steal(&b, NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_json_doc_example(void **state)
{
    (void)state;
    char *json = doc_example();
    char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/recoup-nr-%d.json", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    write_file(path, json);
    free(json);

    struct nr_rules r;
    char err[512] = "";
    assert_int_equal(nr_rules_load(&r, path, err, sizeof err), 0);
    unlink(path);
    /* Visa: back to 15 with the highest fee; the category 1 list kept. */
    assert_int_equal(r.schemes[NR_SCHEME_VISA].caps[0].max, 15);
    assert_int_equal(r.schemes[NR_SCHEME_VISA].fee_cents, 25);
    assert_int_equal(r.schemes[NR_SCHEME_VISA].n_never_codes, 12);
    struct hist h = {0};
    visa_run(&h, 15, NR_MIT);
    struct nr_request q = req(NR_SCHEME_VISA, &h, T0 + DAY);
    struct nr_verdict v = eval(&r, &q);
    assert_string_equal(v.rule_id, "visa_30d_cap");
    assert_int_equal(v.fee_cents, 25);
    assert_true(eval(&nr_default_rules, &q).allowed);
    /* Mastercard: MAC 24 waits 2 h; the caps kept. */
    struct hist m = {0};
    decline(&m, T0);
    q = req(NR_SCHEME_MASTERCARD, &m, T0 + HOUR);
    q.decline.mac = "24";
    assert_int_equal(eval(&r, &q).earliest_ms, T0 + 2 * HOUR);
    assert_int_equal(r.schemes[NR_SCHEME_MASTERCARD].n_caps, 2);
    /* Others: 8 attempts a week, and a never list. */
    struct hist o = {0};
    for (int i = 0; i < 8; i++)
        add(&o, T0 + i * HOUR, i == 3, NR_MIT, NR_ORIGIN_MERCHANT);
    q = req(NR_SCHEME_OTHER, &o, T0 + DAY);
    v = eval(&r, &q);
    assert_string_equal(v.rule_id, "other_7d_cap");
    assert_int_equal(v.earliest_ms, T0 + 7 * DAY);
    q.decline.network_code = "41";
    v = eval(&r, &q);
    assert_string_equal(v.rule_id, "other_never_code");
    /* Amex untouched. */
    assert_int_equal(r.schemes[NR_SCHEME_AMEX].caps[0].max, 20);
}

static void test_json_defaults_and_empty(void **state)
{
    (void)state;
    struct nr_rules r;
    char err[256] = "";
    assert_int_equal(nr_rules_load(&r, "", err, sizeof err), 0);
    assert_int_equal(nr_rules_load(&r, NULL, err, sizeof err), 0);
    assert_int_equal(nr_rules_parse(&r, "{}", "x.json", err, sizeof err), 0);
    assert_int_equal(r.schemes[NR_SCHEME_MASTERCARD].caps[1].max, 35);
    assert_int_equal(r.schemes[NR_SCHEME_VISA].fee_cents, 15);
}

static void test_json_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"{\"schemes\": {\"visa\": {\"caps\": [}}}", "network_rules_file x.json: line 1, column 32: malformed JSON"},
        {"[]", "network_rules_file x.json: (top level): must be a JSON object"},
        {"{\"rules\": 1}", "network_rules_file x.json: rules: unknown field (never_classes, schemes)"},
        {"{\"never_classes\": \"never\"}", "network_rules_file x.json: never_classes: must be an array of decline classes"},
        {"{\"never_classes\": [\"\"]}",
         "network_rules_file x.json: never_classes[0]: must be a decline class such as \"never\" (1 to 23 characters)"},
        {"{\"schemes\": []}", "network_rules_file x.json: schemes: must be an object keyed by scheme"},
        {"{\"schemes\": {\"jcb\": {}}}",
         "network_rules_file x.json: schemes.jcb: unknown scheme (visa, mastercard, amex, discover, other)"},
        {"{\"schemes\": {\"visa\": 3}}", "network_rules_file x.json: schemes.visa: must be an object"},
        {"{\"schemes\": {\"visa\": {\"cap\": []}}}",
         "network_rules_file x.json: schemes.visa.cap: unknown field (never_codes, never_codes_rule, never_macs, "
         "update_macs, mac_waits, caps, excess_retry_fee)"},
        {"{\"schemes\": {\"visa\": {\"never_codes\": [\"05\", \"R-1\"]}}}",
         "network_rules_file x.json: schemes.visa.never_codes[1]: must be a response code of 1 to 4 letters or digits "
         "such as \"05\""},
        {"{\"schemes\": {\"visa\": {\"never_codes\": \"05\"}}}",
         "network_rules_file x.json: schemes.visa.never_codes: must be an array of codes"},
        {"{\"schemes\": {\"mastercard\": {\"never_macs\": [\"3\"]}}}",
         "network_rules_file x.json: schemes.mastercard.never_macs[0]: must be a two-digit Merchant Advice Code such "
         "as \"03\""},
        {"{\"schemes\": {\"mastercard\": {\"mac_waits\": {\"24\": \"1w\"}}}}",
         "network_rules_file x.json: schemes.mastercard.mac_waits.24: must be a duration such as \"90m\", \"24h\" or "
         "\"30d\" (s, m, h or d; positive; at most 3650 days)"},
        {"{\"schemes\": {\"mastercard\": {\"mac_waits\": {\"x4\": \"1h\"}}}}",
         "network_rules_file x.json: schemes.mastercard.mac_waits.x4: must be a two-digit Merchant Advice Code such "
         "as \"03\""},
        {"{\"schemes\": {\"mastercard\": {\"mac_waits\": [\"1h\"]}}}",
         "network_rules_file x.json: schemes.mastercard.mac_waits: must be an object of MAC to duration, such as "
         "{\"24\": \"1h\"}"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"max\": 0, \"window\": \"30d\", \"count\": \"declines\"}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].max: must be a whole number from 1 to 100000"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"max\": 2.5, \"window\": \"30d\", \"count\": \"declines\"}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].max: must be a whole number from 1 to 100000"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"max\": 2, \"window\": \"0d\", \"count\": \"declines\"}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].window: must be a duration such as \"90m\", \"24h\" or "
         "\"30d\" (s, m, h or d; positive; at most 3650 days)"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"max\": 2, \"window\": \"3d\", \"count\": \"tries\"}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].count: must be attempts, declines or reattempts"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"V\", \"max\": 2, \"window\": \"3d\", \"count\": \"attempts\"}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].id: must be a rule id of 1 to 47 lower-case letters, "
         "digits or '_'"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"window\": \"3d\", \"count\": \"attempts\"}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].max: is required"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"max\": 1, \"window\": \"3d\", \"count\": \"attempts\", "
         "\"per_initiator\": 1}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].per_initiator: must be true or false"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"max\": 1, \"window\": \"3d\", \"count\": \"attempts\", "
         "\"size\": 1}]}}}",
         "network_rules_file x.json: schemes.visa.caps[0].size: unknown field (id, max, window, count, per_initiator)"},
        {"{\"schemes\": {\"visa\": {\"caps\": [{\"id\": \"v\", \"max\": 1, \"window\": \"3d\", \"count\": \"attempts\"}, "
         "{\"id\": \"v\", \"max\": 2, \"window\": \"3d\", \"count\": \"attempts\"}]}}}",
         "network_rules_file x.json: schemes.visa.caps[1]: cap id v is used twice"},
        {"{\"schemes\": {\"visa\": {\"caps\": {}}}}", "network_rules_file x.json: schemes.visa.caps: must be an array of caps"},
        {"{\"schemes\": {\"visa\": {\"excess_retry_fee\": 0.125}}}",
         "network_rules_file x.json: schemes.visa.excess_retry_fee: must be an amount in US dollars such as 0.15 (at "
         "most two decimals, 0 to 1000)"},
        {"{\"schemes\": {\"visa\": {\"excess_retry_fee\": -1}}}",
         "network_rules_file x.json: schemes.visa.excess_retry_fee: must be an amount in US dollars such as 0.15 (at "
         "most two decimals, 0 to 1000)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct nr_rules r;
        char err[512] = "";
        int rc = nr_rules_parse(&r, cases[i].json, "x.json", err, sizeof err);
        if (rc != -1 || strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu: rc %d, err \"%s\"", i, rc, err);
        /* A refused file leaves the defaults. */
        assert_int_equal(r.schemes[NR_SCHEME_VISA].caps[0].max, 20);
    }

    struct nr_rules r;
    char err[512] = "";
    assert_int_equal(nr_rules_load(&r, "/nonexistent/rules.json", err, sizeof err), -1);
    assert_string_equal(err, "network_rules_file /nonexistent/rules.json: cannot read: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visa_category_1),
        cmocka_unit_test(test_mastercard_never_macs),
        cmocka_unit_test(test_class_never_any_scheme),
        cmocka_unit_test(test_visa_cap_boundary),
        cmocka_unit_test(test_visa_cap_counts_merchant_and_recover),
        cmocka_unit_test(test_visa_cit_mit_apart),
        cmocka_unit_test(test_visa_approval_ends_run),
        cmocka_unit_test(test_mastercard_24h_boundary),
        cmocka_unit_test(test_mastercard_30d_boundary),
        cmocka_unit_test(test_mac_waits),
        cmocka_unit_test(test_mac_01),
        cmocka_unit_test(test_earliest_combines_rules),
        cmocka_unit_test(test_other_schemes_cap),
        cmocka_unit_test(test_check_planned),
        cmocka_unit_test(test_history_from_txns),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_json_doc_example),
        cmocka_unit_test(test_json_defaults_and_empty),
        cmocka_unit_test(test_json_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
