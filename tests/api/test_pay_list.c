/* GET /api/payments: every filter alone and combined, their boundaries,
 * bad values, and paging with X-Next-Cursor and Link. Each case runs on a
 * merchant of its own so that it knows the exact list to expect. */
#include <unistd.h>

#include "pay_common.h"

static rserver srv;

/* The shared data set: five payments of merchant "lists", oldest first. */
enum { P1, P2, P3, P4, P5, NFIX };
static char fix_key[200];
static char *fix_id[NFIX];
static char fix_created[NFIX][40];

static int group_setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    if (make_merchant_key(&srv, "lists", fix_key, sizeof fix_key) != 0)
        return -1;
    static const struct {
        int mbway;
        const char *amount, *instrument;
    } rows[NFIX] = {
        {0, "10.00", "4242424242424242"}, /* success */
        {0, "20.00", "4000000000009995"}, /* error */
        {1, "30.00", "912345678"},        /* success */
        {1, "40.00", "912000051"},        /* error */
        {0, "50.00", "5555555555554444"}, /* success */
    };
    for (int i = 0; i < NFIX; i++) {
        char body[1024];
        if (rows[i].mbway)
            mbway_body(body, sizeof body, rows[i].amount, rows[i].instrument);
        else
            card_body(body, sizeof body, rows[i].amount, rows[i].instrument, NULL);
        hres *r = key_do(fix_key, "POST", srv.payments, "/api/payments", NULL, body);
        if (r->status != 201 || !jstr(r->json, "payment_id") || !jstr(r->json, "created_at")) {
            fprintf(stderr, "fixture payment %d: %ld %s\n", i, r->status, r->body);
            hres_free(r);
            return -1;
        }
        fix_id[i] = strdup(jstr(r->json, "payment_id"));
        snprintf(fix_created[i], sizeof fix_created[i], "%s", jstr(r->json, "created_at"));
        hres_free(r);
        /* Distinct creation instants make the created_at boundaries exact. */
        usleep(5000);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NFIX; i++)
        free(fix_id[i]);
    int rc = server_stop(&srv);
    assert_int_equal(rc, 0);
    return rc;
}

/* GETs path with key and checks that the list is exactly the given ids, in
 * this order (NULL-terminated). A macro, so failures name the case's line. */
#define expect_list(key, path, ...) expect_list_at(__LINE__, key, path, (const char *const[]){__VA_ARGS__, NULL})

static void expect_list_at(int line, const char *key, const char *path, const char *const *ids)
{
    hres *r = key_do(key, "GET", srv.payments, path, NULL, NULL);
    int n = 0;
    while (ids[n])
        n++;
    int ok = r->status == 200 && jlen(r) == n;
    for (int i = 0; ok && i < n; i++)
        ok = strcmp(js(cJSON_GetArrayItem(r->json, i), "payment_id"), ids[i]) == 0;
    if (!ok) {
        char want[64] = "";
        for (int i = 0; i < n; i++)
            for (int k = 0; k < NFIX; k++)
                if (fix_id[k] && strcmp(ids[i], fix_id[k]) == 0) {
                    size_t l = strlen(want);
                    snprintf(want + l, sizeof want - l, "P%d ", k + 1);
                }
        fail_msg("line %d: GET %s: expected %d payments (%s)\n  status %ld, body: %.1500s", line, path, n, want,
                 r->status, r->body);
    }
    hres_free(r);
}

#define expect_empty(key, path) expect_list_at(__LINE__, key, path, (const char *const[]){NULL})

/* A query path: prefix then value. */
static void q(char *out, size_t outsz, const char *prefix, const char *value)
{
    snprintf(out, outsz, "%s%s", prefix, value);
}

static void entries_are_newest_first_without_params(void **state)
{
    (void)state;
    expect_list(fix_key, "/api/payments", fix_id[P5], fix_id[P4], fix_id[P3], fix_id[P2], fix_id[P1]);
    hres *r = key_do(fix_key, "GET", srv.payments, "/api/payments", NULL, NULL);
    CHECK_STATUS(r, 200);
    const cJSON *e;
    cJSON_ArrayForEach(e, r->json)
    {
        CHECK(r, jobj(e, "additional_params") == NULL);
        CHECK(r, is_upper_id(jstr(e, "payment_id"), 200));
        CHECK(r, !isnan(jnum(e, "amount")));
        CHECK(r, jstr(e, "payment_method") && jstr(e, "status"));
        CHECK(r, is_api_time(jstr(e, "created_at")));
        CHECK(r, jnull(e, "settled_at") && jnull(e, "settled_amount"));
    }
    CHECK(r, !body_has(r, "4242424242424242") && !body_has(r, "cvv") && !body_has(r, "phone_number"));
    CHECK(r, body_has(r, "\"amount\":50.00,"));
    hres_free(r);
}

static void each_filter_alone(void **state)
{
    (void)state;
    char path[512];
    q(path, sizeof path, "/api/payments?payment_id=", fix_id[P3]);
    expect_list(fix_key, path, fix_id[P3]);
    expect_empty(fix_key, "/api/payments?payment_id=NOSUCHPAYMENT");
    /* An exact match: a prefix of an id is not enough. */
    char prefix[20];
    snprintf(prefix, sizeof prefix, "%.10s", fix_id[P3]);
    q(path, sizeof path, "/api/payments?payment_id=", prefix);
    expect_empty(fix_key, path);

    expect_list(fix_key, "/api/payments?payment_method=credit_card", fix_id[P5], fix_id[P2], fix_id[P1]);
    expect_list(fix_key, "/api/payments?payment_method=mbway", fix_id[P4], fix_id[P3]);

    expect_list(fix_key, "/api/payments?status=success", fix_id[P5], fix_id[P3], fix_id[P1]);
    expect_list(fix_key, "/api/payments?status=error", fix_id[P4], fix_id[P2]);
    expect_empty(fix_key, "/api/payments?status=settled");

    /* Amount bounds are inclusive and compare values, not text. */
    expect_list(fix_key, "/api/payments?amount_gte=30", fix_id[P5], fix_id[P4], fix_id[P3]);
    expect_list(fix_key, "/api/payments?amount_gte=30.0", fix_id[P5], fix_id[P4], fix_id[P3]);
    expect_list(fix_key, "/api/payments?amount_gte=30.00", fix_id[P5], fix_id[P4], fix_id[P3]);
    expect_list(fix_key, "/api/payments?amount_gte=30.01", fix_id[P5], fix_id[P4]);
    expect_list(fix_key, "/api/payments?amount_gte=29.9999", fix_id[P5], fix_id[P4], fix_id[P3]);
    expect_list(fix_key, "/api/payments?amount_lte=20", fix_id[P2], fix_id[P1]);
    expect_list(fix_key, "/api/payments?amount_lte=19.99", fix_id[P1]);
    expect_list(fix_key, "/api/payments?amount_gte=0", fix_id[P5], fix_id[P4], fix_id[P3], fix_id[P2], fix_id[P1]);
    expect_empty(fix_key, "/api/payments?amount_lte=9.99");
    expect_empty(fix_key, "/api/payments?amount_gte=50.01");

    /* Dates, date-times without a zone (UTC), with Z and with an offset. */
    expect_list(fix_key, "/api/payments?created_at_gte=2020-01-01", fix_id[P5], fix_id[P4], fix_id[P3],
                fix_id[P2], fix_id[P1]);
    expect_list(fix_key, "/api/payments?created_at_gte=2020-01-01T00:00:00", fix_id[P5], fix_id[P4], fix_id[P3],
                fix_id[P2], fix_id[P1]);
    expect_list(fix_key, "/api/payments?created_at_gte=2020-01-01T00:00:00.000Z", fix_id[P5], fix_id[P4],
                fix_id[P3], fix_id[P2], fix_id[P1]);
    expect_list(fix_key, "/api/payments?created_at_gte=2020-01-01T00:00:00%2B01:00", fix_id[P5], fix_id[P4],
                fix_id[P3], fix_id[P2], fix_id[P1]);
    expect_empty(fix_key, "/api/payments?created_at_lte=2020-01-01");
    expect_empty(fix_key, "/api/payments?created_at_lte=2021-01-01T00:00:00");
    expect_empty(fix_key, "/api/payments?created_at_gte=2999-01-01");
    expect_list(fix_key, "/api/payments?created_at_lte=2999-12-31T23:59:59Z", fix_id[P5], fix_id[P4], fix_id[P3],
                fix_id[P2], fix_id[P1]);

    /* created_at bounds are inclusive to the millisecond. */
    q(path, sizeof path, "/api/payments?created_at_gte=", fix_created[P3]);
    expect_list(fix_key, path, fix_id[P5], fix_id[P4], fix_id[P3]);
    q(path, sizeof path, "/api/payments?created_at_lte=", fix_created[P3]);
    expect_list(fix_key, path, fix_id[P3], fix_id[P2], fix_id[P1]);
    q(path, sizeof path, "/api/payments?created_at_gte=", fix_created[P4]);
    expect_list(fix_key, path, fix_id[P5], fix_id[P4]);

    /* Nothing is settled yet: a settlement bound matches no payment. */
    expect_empty(fix_key, "/api/payments?settled_at_gte=2020-01-01");
    expect_empty(fix_key, "/api/payments?settled_at_lte=2999-01-01T00:00:00");

    /* Paging parameters alone. */
    expect_list(fix_key, "/api/payments?limit=1000", fix_id[P5], fix_id[P4], fix_id[P3], fix_id[P2], fix_id[P1]);
    expect_list(fix_key, "/api/payments?limit=1", fix_id[P5]);
}

static void filters_combined(void **state)
{
    (void)state;
    char path[1024];
    expect_list(fix_key, "/api/payments?payment_method=credit_card&status=success", fix_id[P5], fix_id[P1]);
    expect_list(fix_key, "/api/payments?payment_method=mbway&status=error&amount_gte=40", fix_id[P4]);
    expect_list(fix_key, "/api/payments?amount_gte=20&amount_lte=40", fix_id[P4], fix_id[P3], fix_id[P2]);
    expect_list(fix_key, "/api/payments?amount_gte=20&amount_lte=40&payment_method=credit_card", fix_id[P2]);
    expect_empty(fix_key, "/api/payments?amount_gte=40&amount_lte=20");
    expect_list(fix_key, "/api/payments?status=success&amount_lte=30&created_at_gte=2020-01-01T00:00:00", fix_id[P3],
                fix_id[P1]);
    snprintf(path, sizeof path, "/api/payments?payment_id=%s&status=error", fix_id[P1]);
    expect_empty(fix_key, path);
    snprintf(path, sizeof path, "/api/payments?payment_id=%s&status=success&payment_method=credit_card", fix_id[P1]);
    expect_list(fix_key, path, fix_id[P1]);
    snprintf(path, sizeof path, "/api/payments?created_at_gte=%s&created_at_lte=%s", fix_created[P2],
             fix_created[P4]);
    expect_list(fix_key, path, fix_id[P4], fix_id[P3], fix_id[P2]);
    snprintf(path, sizeof path, "/api/payments?created_at_gte=%s&created_at_lte=%s&payment_method=mbway&limit=1",
             fix_created[P2], fix_created[P4]);
    expect_list(fix_key, path, fix_id[P4]);

    /* The source document's own request: all nine filters at once. */
    hres *r = key_do(fix_key, "GET", srv.payments,
                     "/api/payments?payment_id=TEST&payment_method=credit_card&status=settled&amount_gte=50.0&"
                     "amount_lte=500.0&created_at_gte=2020-01-01T00:00:00&created_at_lte=2021-01-01T00:00:00&"
                     "settled_at_gte=2020-01-01T00:00:00&settled_at_lte=2021-01-01T00:00:00",
                     NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(r->body, "[]") == 0);
    hres_free(r);
}

#define expect_bad_query(path, ...) expect_bad_query_at(__LINE__, path, (const char *const[]){__VA_ARGS__, NULL})

static void expect_bad_query_at(int line, const char *path, const char *const *fields)
{
    hres *r = key_do(fix_key, "GET", srv.payments, path, NULL, NULL);
    int ok = r->status == 400 && strcmp(js(r->json, "message"), "Invalid query parameter") == 0;
    for (int i = 0; ok && fields[i]; i++)
        ok = has_error_field(r->json, fields[i]);
    if (!ok)
        fail_msg("line %d: GET %s: expected 400 naming %s\n  status %ld, body: %.1500s", line, path, fields[0],
                 r->status, r->body);
    hres_free(r);
}

static void bad_values(void **state)
{
    (void)state;
    expect_bad_query("/api/payments?status=foo", "status");
    expect_bad_query("/api/payments?status=SUCCESS", "status");
    expect_bad_query("/api/payments?status=", "status");
    expect_bad_query("/api/payments?payment_method=cash", "payment_method");
    expect_bad_query("/api/payments?amount_gte=abc", "amount_gte");
    expect_bad_query("/api/payments?amount_lte=abc", "amount_lte");
    expect_bad_query("/api/payments?amount_gte=-1", "amount_gte");
    expect_bad_query("/api/payments?amount_lte=1.2.3", "amount_lte");
    expect_bad_query("/api/payments?amount_gte=", "amount_gte");
    expect_bad_query("/api/payments?created_at_lte=2020-13-01", "created_at_lte");
    expect_bad_query("/api/payments?created_at_gte=2020-02-30", "created_at_gte");
    expect_bad_query("/api/payments?created_at_gte=yesterday", "created_at_gte");
    expect_bad_query("/api/payments?created_at_gte=1577836800", "created_at_gte");
    expect_bad_query("/api/payments?settled_at_gte=2020-01-01T25:00:00", "settled_at_gte");
    expect_bad_query("/api/payments?settled_at_lte=2020-01-01T00:00:00X", "settled_at_lte");
    expect_bad_query("/api/payments?limit=0", "limit");
    expect_bad_query("/api/payments?limit=1001", "limit");
    expect_bad_query("/api/payments?limit=-1", "limit");
    expect_bad_query("/api/payments?limit=ten", "limit");
    expect_bad_query("/api/payments?limit=2.5", "limit");
    expect_bad_query("/api/payments?cursor=x", "cursor");
    expect_bad_query("/api/payments?cursor=0", "cursor");
    expect_bad_query("/api/payments?cursor=-3", "cursor");
    expect_bad_query("/api/payments?colour=red", "colour");
    expect_bad_query("/api/payments?refund_id=ABC", "refund_id");
    expect_bad_query("/api/payments?Status=success", "Status");
    /* Every bad parameter is named, not only the first. */
    expect_bad_query("/api/payments?status=foo&payment_method=cash&amount_gte=abc&created_at_lte=2020-13-01&limit=0&"
                     "cursor=x&colour=red",
                     "status", "payment_method", "amount_gte", "created_at_lte", "limit", "cursor", "colour");
}

/* Follows a Link header's target, which is a path on the same listener. */
static char *link_target(const hres *r)
{
    char *link = hres_header(r, "Link");
    if (!link)
        return NULL;
    char *lt = strchr(link, '<'), *gt = strchr(link, '>');
    char *out = NULL;
    if (lt && gt && gt > lt && strstr(gt, "rel=\"next\""))
        out = strndup(lt + 1, (size_t)(gt - lt - 1));
    free(link);
    return out;
}

static void paging(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "pages", key, sizeof key), 0);
    char *ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = create_card(&srv, key, "1.00", "4242424242424242");

    /* Walk the pages both by X-Next-Cursor and by the Link header. */
    for (int by_link = 0; by_link < 2; by_link++) {
        char path[512] = "/api/payments?limit=2";
        int seen = 0;
        for (int page = 0; page < 3; page++) {
            hres *r = key_do(key, "GET", srv.payments, path, NULL, NULL);
            CHECK_STATUS(r, 200);
            int n = jlen(r);
            CHECK(r, n == (page < 2 ? 2 : 1));
            for (int i = 0; i < n; i++) {
                /* Newest first, no overlap, no gap. */
                CHECK(r, strcmp(js(cJSON_GetArrayItem(r->json, i), "payment_id"), ids[4 - seen]) == 0);
                seen++;
            }
            char *cursor = hres_header(r, "X-Next-Cursor");
            char *next = link_target(r);
            char *link = hres_header(r, "Link");
            if (page < 2) {
                CHECK(r, cursor && *cursor);
                CHECK(r, next != NULL);
                CHECK(r, next && strncmp(next, "/api/payments?", 14) == 0 && strstr(next, "limit=2") != NULL);
                char want[80];
                snprintf(want, sizeof want, "cursor=%s", cursor ? cursor : "?");
                CHECK(r, next && strstr(next, want) != NULL);
                if (by_link)
                    snprintf(path, sizeof path, "%s", next ? next : "");
                else
                    snprintf(path, sizeof path, "/api/payments?limit=2&cursor=%s", cursor ? cursor : "");
            } else {
                CHECK(r, cursor == NULL);
                CHECK(r, link == NULL);
            }
            free(cursor);
            free(next);
            free(link);
            hres_free(r);
        }
        assert_int_equal(seen, 5);
    }

    /* A page that ends exactly at the last payment has no next cursor. */
    hres *r = key_do(key, "GET", srv.payments, "/api/payments?limit=5", NULL, NULL);
    CHECK(r, jlen(r) == 5);
    char *cursor = hres_header(r, "X-Next-Cursor");
    CHECK(r, cursor == NULL);
    free(cursor);
    hres_free(r);
    r = key_do(key, "GET", srv.payments, "/api/payments?limit=4", NULL, NULL);
    CHECK(r, jlen(r) == 4);
    cursor = hres_header(r, "X-Next-Cursor");
    CHECK(r, cursor != NULL);
    char path[200];
    snprintf(path, sizeof path, "/api/payments?limit=4&cursor=%s", cursor ? cursor : "");
    free(cursor);
    hres_free(r);
    expect_list(key, path, ids[0]);
    for (int i = 0; i < 5; i++)
        free(ids[i]);

    /* Filters are kept in the Link of a filtered listing. */
    r = key_do(fix_key, "GET", srv.payments, "/api/payments?payment_method=credit_card&limit=2", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 2);
    char *next = link_target(r);
    CHECK(r, next && strstr(next, "payment_method=credit_card") && strstr(next, "limit=2"));
    hres_free(r);
    expect_list(fix_key, next ? next : "/", fix_id[P1]);
    free(next);

    /* Four results in pages of two: the second page is the last. */
    r = key_do(fix_key, "GET", srv.payments, "/api/payments?amount_lte=40&limit=2", NULL, NULL);
    next = link_target(r);
    CHECK(r, next != NULL);
    hres_free(r);
    r = key_do(fix_key, "GET", srv.payments, next ? next : "/", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 2);
    CHECK(r, strcmp(js(cJSON_GetArrayItem(r->json, 0), "payment_id"), fix_id[P2]) == 0);
    char *last = hres_header(r, "X-Next-Cursor");
    CHECK(r, last == NULL);
    free(last);
    free(next);
    hres_free(r);
}

static void default_limit_is_100(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "many", key, sizeof key), 0);
    char *oldest = create_mbway(&srv, key, "1.00", "912345678");
    for (int i = 0; i < 100; i++)
        free(create_mbway(&srv, key, "1.00", "912345678"));
    hres *r = key_do(key, "GET", srv.payments, "/api/payments", NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, jlen(r) == 100);
    CHECK(r, strstr(r->body, oldest) == NULL);
    char *cursor = hres_header(r, "X-Next-Cursor");
    CHECK(r, cursor != NULL);
    hres_free(r);
    char path[200];
    snprintf(path, sizeof path, "/api/payments?cursor=%s", cursor ? cursor : "");
    free(cursor);
    expect_list(key, path, oldest);
    r = key_do(key, "GET", srv.payments, "/api/payments?limit=1000", NULL, NULL);
    CHECK(r, jlen(r) == 101);
    hres_free(r);
    free(oldest);
}

/* Last: a settlement batch settles every merchant's successful payments,
 * the shared data set included. */
static void settled_filters(void **state)
{
    (void)state;
    char key[200];
    assert_int_equal(make_merchant_key(&srv, "settles", key, sizeof key), 0);
    char *ok = create_card(&srv, key, "10.00", "4242424242424242");
    char *declined = create_card(&srv, key, "10.00", "4000000000000002");
    char batch_at[40];
    assert_true(settle_now(&srv, batch_at, sizeof batch_at) >= 1);

    char path[512];
    snprintf(path, sizeof path, "/api/payments/%s", ok);
    hres *r = key_do(key, "GET", srv.payments, path, NULL, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "status"), "settled") == 0);
    CHECK(r, is_api_time(jstr(r->json, "settled_at")));
    CHECK(r, body_has(r, "\"settled_amount\":10.00"));
    char settled_at[40];
    snprintf(settled_at, sizeof settled_at, "%s", js(r->json, "settled_at"));
    hres_free(r);

    expect_list(key, "/api/payments?status=settled", ok);
    expect_empty(key, "/api/payments?status=success");
    expect_list(key, "/api/payments?status=error", declined);
    expect_list(key, "/api/payments?settled_at_gte=2020-01-01", ok);
    expect_list(key, "/api/payments?settled_at_lte=2999-01-01T00:00:00Z", ok);
    expect_empty(key, "/api/payments?settled_at_lte=2020-01-01T00:00:00");
    expect_empty(key, "/api/payments?settled_at_gte=2999-01-01");
    /* Both settlement bounds are inclusive. */
    q(path, sizeof path, "/api/payments?settled_at_gte=", settled_at);
    expect_list(key, path, ok);
    q(path, sizeof path, "/api/payments?settled_at_lte=", settled_at);
    expect_list(key, path, ok);
    snprintf(path, sizeof path, "/api/payments?settled_at_gte=%s&settled_at_lte=%s&status=settled&"
             "payment_method=credit_card&amount_gte=10&amount_lte=10", settled_at, settled_at);
    expect_list(key, path, ok);
    snprintf(path, sizeof path, "/api/payments?settled_at_gte=%s&payment_method=mbway", settled_at);
    expect_empty(key, path);

    /* The shared data set was settled by the same batch. */
    expect_list(fix_key, "/api/payments?status=settled", fix_id[P5], fix_id[P3], fix_id[P1]);
    expect_list(fix_key, "/api/payments?status=error", fix_id[P4], fix_id[P2]);
    expect_list(fix_key, "/api/payments?settled_at_gte=2020-01-01&payment_method=mbway", fix_id[P3]);
    free(ok);
    free(declined);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entries_are_newest_first_without_params),
        cmocka_unit_test(each_filter_alone),
        cmocka_unit_test(filters_combined),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(paging),
        cmocka_unit_test(default_limit_is_100),
        cmocka_unit_test(settled_filters),
    };
    return cmocka_run_group_tests_name("pay_list", tests, group_setup, group_teardown);
}
