/* Refunds on their own listener: creation within the payment's balance,
 * validation, lookup, the listing (also at /api/payments on that port) with
 * its filters and paging, methods, authentication, merchant isolation,
 * refunds of settled payments, and idempotent retries. */
#include "ref_helpers.h"

static rserver srv;

static int setup(void **state)
{
    (void)state;
    server_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return server_stop(&srv) == 0 ? 0 : -1;
}

static void creates_refund_with_every_field(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "50.00");
    hres *r = refund_post(&srv, pid, "20.0");
    R_STATUS(r, 201);
    R_CHECK(r, is_refund_id(jstr(r->json, "refund_id")));
    R_CHECK(r, strcmp(rs(r->json, "payment_id"), pid) == 0);
    R_CHECK(r, has_raw(r, "amount", "20.00"));
    R_CHECK(r, strcmp(rs(r->json, "currency"), "EUR") == 0);
    R_CHECK(r, is_iso_ms(jstr(r->json, "created_at")));
    hres_free(r);

    /* The payment shows what has been given back. */
    r = payment_get(&srv, pid);
    R_STATUS(r, 200);
    R_CHECK(r, has_raw(r, "refunded_amount", "20.00"));
    R_CHECK(r, strcmp(rs(r->json, "status"), "success") == 0);
    hres_free(r);
    free(pid);
}

static void refund_ids_are_unique(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "10.00");
    char *a = make_refund(&srv, pid, "1.00");
    char *b = make_refund(&srv, pid, "1.00");
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    free(pid);
}

static void partial_refunds_add_up_exactly_and_not_a_cent_more(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "100.00");
    char *ids[3];
    ids[0] = make_refund(&srv, pid, "33.33");
    ids[1] = make_refund(&srv, pid, "33.33");

    /* One cent over what is left: 409 with the refundable amount. */
    hres *r = refund_post(&srv, pid, "33.35");
    R_FIELD_ERROR(r, 409, "amount");
    R_CHECK(r, has_raw(r, "refundable_amount", "33.34"));
    R_CHECK(r, strstr(r->body, "33.34 EUR") != NULL);
    hres_free(r);

    ids[2] = make_refund(&srv, pid, "33.34");

    r = refund_post(&srv, pid, "0.01");
    R_FIELD_ERROR(r, 409, "amount");
    R_CHECK(r, has_raw(r, "refundable_amount", "0.00"));
    hres_free(r);

    r = payment_get(&srv, pid);
    R_STATUS(r, 200);
    R_CHECK(r, has_raw(r, "refunded_amount", "100.00"));
    hres_free(r);

    /* Exactly the three refunds exist. */
    char path[400];
    snprintf(path, sizeof path, "/api/refunds?payment_id=%s", pid);
    r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_GetArraySize(r->json) == 3);
    hres_free(r);
    for (int i = 0; i < 3; i++)
        free(ids[i]);
    free(pid);
}

static void full_refund_in_one_go(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "5555555555554444", "12.34");
    hres *r = refund_post(&srv, pid, "12.35");
    R_FIELD_ERROR(r, 409, "amount");
    R_CHECK(r, has_raw(r, "refundable_amount", "12.34"));
    hres_free(r);
    char *id = make_refund(&srv, pid, "12.34");
    free(id);
    free(pid);
}

static void refund_in_a_zero_decimal_currency(void **state)
{
    (void)state;
    hres *p = card_payment_in(&srv, "4242424242424242", "5000", "JPY");
    R_STATUS(p, 201);
    const char *pid = rs(p->json, "payment_id");

    hres *r = refund_post(&srv, pid, "1.5");
    R_FIELD_ERROR(r, 400, "amount");
    hres_free(r);

    r = refund_post(&srv, pid, "1500");
    R_STATUS(r, 201);
    R_CHECK(r, has_raw(r, "amount", "1500"));
    R_CHECK(r, strcmp(rs(r->json, "currency"), "JPY") == 0);
    hres_free(r);

    r = refund_post(&srv, pid, "3501");
    R_FIELD_ERROR(r, 409, "amount");
    R_CHECK(r, has_raw(r, "refundable_amount", "3500"));
    hres_free(r);
    hres_free(p);
}

static void declined_payment_cannot_be_refunded(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4000000000000002", "20.00");
    hres *p = payment_get(&srv, pid);
    R_CHECK(p, strcmp(rs(p->json, "status"), "error") == 0);
    hres_free(p);

    hres *r = refund_post(&srv, pid, "5.00");
    R_FIELD_ERROR(r, 409, "payment_id");
    hres_free(r);

    /* Nothing was recorded. */
    char path[400];
    snprintf(path, sizeof path, "/api/refunds?payment_id=%s", pid);
    r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
    hres_free(r);
    free(pid);
}

static void invalid_amounts_are_400_naming_amount(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "30.00");
    const char *bad[] = {"0", "0.00", "-1", "-0.01", "1.001", "0.001", "\"5\"", "\"5.00\"", "null", "true", "[]",
                         "{}", "1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hres *r = refund_post(&srv, pid, bad[i]);
        if (r->status != 400 || !has_error_field(r->json, "amount"))
            fail_msg("amount %s: status %ld body %s", bad[i], r->status, r->body);
        hres_free(r);
    }
    /* Absent altogether. */
    char body[400];
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\"}", pid);
    hres *r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", body);
    R_FIELD_ERROR(r, 400, "amount");
    hres_free(r);

    /* None of them took anything. */
    r = payment_get(&srv, pid);
    R_CHECK(r, has_raw(r, "refunded_amount", "0.00"));
    hres_free(r);
    free(pid);
}

static void payment_id_missing_mistyped_or_unknown(void **state)
{
    (void)state;
    hres *r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", "{\"amount\":5.00}");
    R_FIELD_ERROR(r, 400, "payment_id");
    hres_free(r);

    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", "{\"payment_id\":12345,\"amount\":5.00}");
    R_FIELD_ERROR(r, 400, "payment_id");
    hres_free(r);

    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", "{\"payment_id\":null,\"amount\":5.00}");
    R_FIELD_ERROR(r, 400, "payment_id");
    hres_free(r);

    /* Both missing: every problem is named, not only the first. */
    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", "{}");
    R_FIELD_ERROR(r, 400, "payment_id");
    R_CHECK(r, has_error_field(r->json, "amount"));
    hres_free(r);

    r = refund_post(&srv, "SSUARQXWKPDJSTTGEPVRTEONTPDBQSUXOVRJTBGXWNCTGBBBJLEUKDUPNCZDPELHRUISCDEMMWRQNXBEKPQJCFWWA",
                    "20.0");
    R_FIELD_ERROR(r, 404, "payment_id");
    hres_free(r);
}

static void unknown_fields_and_bad_bodies(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "30.00");
    char body[600];
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":5.00,\"reason\":\"duplicate\"}", pid);
    hres *r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", body);
    R_FIELD_ERROR(r, 400, "reason");
    hres_free(r);

    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", "{\"payment_id\":");
    R_FIELD_ERROR(r, 400, "body");
    hres_free(r);

    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", "[1,2]");
    R_FIELD_ERROR(r, 400, "body");
    hres_free(r);

    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", "");
    R_FIELD_ERROR(r, 400, "body");
    hres_free(r);

    char auth[200];
    snprintf(auth, sizeof auth, "x-api-key: %s", srv.gateway_key);
    const char *text_plain[] = {auth, "Content-Type: text/plain", NULL};
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":5.00}", pid);
    r = http_do("POST", srv.refunds, "/api/refunds", text_plain, body);
    R_STATUS(r, 415);
    R_CHECK(r, strcmp(rs(r->json, "message"), "Unsupported media type") == 0);
    hres_free(r);

    r = payment_get(&srv, pid);
    R_CHECK(r, has_raw(r, "refunded_amount", "0.00"));
    hres_free(r);
    free(pid);
}

static void get_refund_by_id(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "40.00");
    hres *c = refund_post(&srv, pid, "15.5");
    R_STATUS(c, 201);
    char path[400];
    snprintf(path, sizeof path, "/api/refunds/%s", rs(c->json, "refund_id"));
    hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(r, 200);
    R_CHECK(r, strcmp(rs(r->json, "refund_id"), rs(c->json, "refund_id")) == 0);
    R_CHECK(r, strcmp(rs(r->json, "payment_id"), pid) == 0);
    R_CHECK(r, has_raw(r, "amount", "15.50"));
    R_CHECK(r, strcmp(rs(r->json, "currency"), "EUR") == 0);
    R_CHECK(r, strcmp(rs(r->json, "created_at"), rs(c->json, "created_at")) == 0);
    hres_free(r);

    /* A trailing slash names the same resource. */
    snprintf(path, sizeof path, "/api/refunds/%s/", rs(c->json, "refund_id"));
    r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(r, 200);
    hres_free(r);

    r = gw_do(&srv, "GET", srv.refunds,
              "/api/refunds/pW30g8efRUrbR3ly6ZxW5KkQVWuCzyhdfsDEePLCJaAquXFDqNGc29iM59UtbakCL1UuURpPyZlcDIuOuE9m40B5n",
              NULL);
    R_EMPTY_404(r);
    hres_free(r);

    /* A payment id is not a refund id. */
    snprintf(path, sizeof path, "/api/refunds/%s", pid);
    r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_EMPTY_404(r);
    hres_free(r);
    hres_free(c);
    free(pid);
}

/* The ids in a listing, in order, each checked for shape. */
static int listed_ids(const hres *r, char ids[][201], int max)
{
    int n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, r->json)
    {
        if (n >= max || !is_refund_id(jstr(item, "refund_id")) || !is_payment_id(jstr(item, "payment_id")) ||
            !is_iso_ms(jstr(item, "created_at")) || !cJSON_IsNumber(cJSON_GetObjectItem(item, "amount")))
            return -1;
        snprintf(ids[n++], 201, "%s", jstr(item, "refund_id"));
    }
    return n;
}

static void list_filters_alone_and_together(void **state)
{
    (void)state;
    char *pa = make_card_payment(&srv, "4242424242424242", "60.00");
    char *pb = make_card_payment(&srv, "4242424242424242", "60.00");
    char *a1 = make_refund(&srv, pa, "1.00");
    char *b1 = make_refund(&srv, pb, "2.00");
    char *a2 = make_refund(&srv, pa, "3.00");

    static const char *const bases[] = {"/api/refunds", "/api/payments"};
    for (int b = 0; b < 2; b++) {
        char path[800];
        char ids[8][201];

        snprintf(path, sizeof path, "%s?payment_id=%s", bases[b], pa);
        hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, listed_ids(r, ids, 8) == 2);
        /* Newest first. */
        R_CHECK(r, strcmp(ids[0], a2) == 0 && strcmp(ids[1], a1) == 0);
        const cJSON *first = cJSON_GetArrayItem(r->json, 0);
        R_CHECK(r, strcmp(rs(first, "payment_id"), pa) == 0 && jnum(first, "amount") == 3.0);
        R_CHECK(r, has_raw(r, "amount", "3.00") && has_raw(r, "amount", "1.00"));
        hres_free(r);

        snprintf(path, sizeof path, "%s?refund_id=%s", bases[b], b1);
        r = gw_do(&srv, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, listed_ids(r, ids, 8) == 1 && strcmp(ids[0], b1) == 0);
        R_CHECK(r, strcmp(rs(cJSON_GetArrayItem(r->json, 0), "payment_id"), pb) == 0);
        hres_free(r);

        snprintf(path, sizeof path, "%s?payment_id=%s&refund_id=%s", bases[b], pa, a1);
        r = gw_do(&srv, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, listed_ids(r, ids, 8) == 1 && strcmp(ids[0], a1) == 0);
        hres_free(r);

        /* Order of the parameters does not matter. */
        snprintf(path, sizeof path, "%s?refund_id=%s&payment_id=%s", bases[b], a1, pa);
        r = gw_do(&srv, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, listed_ids(r, ids, 8) == 1 && strcmp(ids[0], a1) == 0);
        hres_free(r);

        /* A refund of another payment matches nothing. */
        snprintf(path, sizeof path, "%s?payment_id=%s&refund_id=%s", bases[b], pa, b1);
        r = gw_do(&srv, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
        hres_free(r);

        snprintf(path, sizeof path, "%s?payment_id=TEST", bases[b]);
        r = gw_do(&srv, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
        hres_free(r);

        /* Unfiltered: every refund of this merchant, the three among them. */
        r = gw_do(&srv, "GET", srv.refunds, bases[b], NULL);
        R_STATUS(r, 200);
        R_CHECK(r, strstr(r->body, a1) && strstr(r->body, a2) && strstr(r->body, b1));
        hres_free(r);
    }

    /* Both paths give the same listing. */
    char p1[400], p2[400];
    snprintf(p1, sizeof p1, "/api/refunds?payment_id=%s", pa);
    snprintf(p2, sizeof p2, "/api/payments?payment_id=%s", pa);
    hres *x = gw_do(&srv, "GET", srv.refunds, p1, NULL);
    hres *y = gw_do(&srv, "GET", srv.refunds, p2, NULL);
    R_STATUS(x, 200);
    R_STATUS(y, 200);
    R_CHECK(y, strcmp(x->body, y->body) == 0);
    hres_free(x);
    hres_free(y);
    free(a1);
    free(a2);
    free(b1);
    free(pa);
    free(pb);
}

/* The path of a Link header's rel="next" target, or "" . */
static void link_next_path(const hres *r, char *out, size_t outsz)
{
    out[0] = '\0';
    char *link = hres_header(r, "Link");
    if (!link)
        return;
    const char *lt = strchr(link, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt && strstr(gt, "rel=\"next\""))
        snprintf(out, outsz, "%.*s", (int)(gt - lt - 1), lt + 1);
    free(link);
}

static void paging_has_no_gap_and_no_overlap(void **state)
{
    (void)state;
    enum { N = 7 };
    char *pid = make_card_payment(&srv, "4242424242424242", "70.00");
    char *made[N];
    for (int i = 0; i < N; i++)
        made[i] = make_refund(&srv, pid, "1.00");

    static const char *const bases[] = {"/api/refunds", "/api/payments"};
    for (int b = 0; b < 2; b++) {
        /* Follow X-Next-Cursor by hand. */
        char seen[N + 2][201];
        int nseen = 0, pages = 0;
        char cursor[64] = "";
        for (; pages < 10; pages++) {
            char path[800];
            snprintf(path, sizeof path, "%s?payment_id=%s&limit=3%s%s", bases[b], pid, cursor[0] ? "&cursor=" : "",
                     cursor);
            hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
            R_STATUS(r, 200);
            char ids[4][201];
            int n = listed_ids(r, ids, 4);
            R_CHECK(r, n >= 1 && n <= 3);
            for (int i = 0; i < n && nseen < N + 2; i++)
                snprintf(seen[nseen++], 201, "%.200s", ids[i]);
            char *next = hres_header(r, "X-Next-Cursor");
            char link[1000];
            link_next_path(r, link, sizeof link);
            if (!next) {
                R_CHECK(r, link[0] == '\0');
                hres_free(r);
                break;
            }
            R_CHECK(r, n == 3);
            R_CHECK(r, strstr(link, bases[b]) == link && strstr(link, "limit=3") && strstr(link, pid) &&
                           strstr(link, "cursor=") && strstr(link, next));
            snprintf(cursor, sizeof cursor, "%s", next);
            free(next);
            hres_free(r);
        }
        assert_int_equal(pages, 2); /* 3 + 3 + 1 */
        assert_int_equal(nseen, N);
        /* Newest first, each refund exactly once. */
        for (int i = 0; i < N; i++)
            assert_string_equal(seen[i], made[N - 1 - i]);

        /* Follow Link by itself. */
        nseen = 0;
        char path[1000];
        snprintf(path, sizeof path, "%s?payment_id=%s&limit=2", bases[b], pid);
        for (pages = 0; pages < 10 && path[0]; pages++) {
            hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
            R_STATUS(r, 200);
            char ids[3][201];
            int n = listed_ids(r, ids, 3);
            R_CHECK(r, n >= 1 && n <= 2);
            for (int i = 0; i < n && nseen < N + 2; i++)
                snprintf(seen[nseen++], 201, "%.200s", ids[i]);
            link_next_path(r, path, sizeof path);
            hres_free(r);
        }
        assert_int_equal(pages, 4);
        assert_int_equal(nseen, N);
        for (int i = 0; i < N; i++)
            assert_string_equal(seen[i], made[N - 1 - i]);
    }

    /* A page exactly as long as what is left ends without a cursor. */
    char path[800];
    snprintf(path, sizeof path, "/api/refunds?payment_id=%s&limit=%d", pid, N);
    hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_GetArraySize(r->json) == N);
    char *next = hres_header(r, "X-Next-Cursor");
    R_CHECK(r, next == NULL);
    free(next);
    hres_free(r);

    for (int i = 0; i < N; i++)
        free(made[i]);
    free(pid);
}

static void bad_list_parameters_are_400_naming_them(void **state)
{
    (void)state;
    static const struct {
        const char *query, *field;
    } cases[] = {
        {"limit=0", "limit"},       {"limit=1001", "limit"},    {"limit=abc", "limit"}, {"limit=-5", "limit"},
        {"limit=", "limit"},        {"limit=2.5", "limit"},     {"cursor=abc", "cursor"}, {"cursor=0", "cursor"},
        {"cursor=-3", "cursor"},    {"status=success", "status"}, {"amount_gte=1", "amount_gte"},
        {"foo=bar", "foo"},
    };
    static const char *const bases[] = {"/api/refunds", "/api/payments"};
    for (int b = 0; b < 2; b++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char path[300];
            snprintf(path, sizeof path, "%s?%s", bases[b], cases[i].query);
            hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
            if (r->status != 400 || !has_error_field(r->json, cases[i].field) ||
                strcmp(rs(r->json, "message"), "Invalid query parameter") != 0)
                fail_msg("GET %s: status %ld body %s", path, r->status, r->body);
            hres_free(r);
        }
    }
    char path[400];
    char longid[300];
    memset(longid, 'A', 256);
    longid[256] = '\0';
    snprintf(path, sizeof path, "/api/refunds?refund_id=%s", longid);
    hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_FIELD_ERROR(r, 400, "refund_id");
    hres_free(r);

    /* Two problems, both named. */
    r = gw_do(&srv, "GET", srv.refunds, "/api/refunds?limit=0&cursor=x", NULL);
    R_FIELD_ERROR(r, 400, "limit");
    R_CHECK(r, has_error_field(r->json, "cursor"));
    hres_free(r);

    /* The limits themselves are fine. */
    r = gw_do(&srv, "GET", srv.refunds, "/api/refunds?limit=1", NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_GetArraySize(r->json) == 1);
    hres_free(r);
    r = gw_do(&srv, "GET", srv.refunds, "/api/refunds?limit=1000", NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_IsArray(r->json));
    hres_free(r);
}

static void wrong_methods_are_405_with_allow(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "10.00");
    char *rid = make_refund(&srv, pid, "1.00");
    char one[400];
    snprintf(one, sizeof one, "/api/refunds/%s", rid);
    static const struct {
        const char *method;
        int one;
        const char *path;
        const char *allow_has;
    } cases[] = {
        {"PUT", 0, "/api/refunds", "POST"},   {"DELETE", 0, "/api/refunds", "GET"},
        {"PATCH", 0, "/api/refunds", "GET"},  {"PUT", 1, NULL, "GET"},
        {"DELETE", 1, NULL, "GET"},           {"POST", 1, NULL, "GET"},
        {"POST", 0, "/api/payments", "GET"},  {"DELETE", 0, "/api/payments", "GET"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = cases[i].one ? one : cases[i].path;
        hres *r = gw_do(&srv, cases[i].method, srv.refunds, path, "{}");
        char *allow = hres_header(r, "Allow");
        if (r->status != 405 || strcmp(rs(r->json, "message"), "Method not allowed") != 0 || !allow ||
            !strstr(allow, cases[i].allow_has))
            fail_msg("%s %s: status %ld allow %s body %s", cases[i].method, path, r->status, allow ? allow : "-",
                     r->body);
        free(allow);
        hres_free(r);
    }
    /* The refund is still there, untouched. */
    hres *r = gw_do(&srv, "GET", srv.refunds, one, NULL);
    R_STATUS(r, 200);
    R_CHECK(r, has_raw(r, "amount", "1.00"));
    hres_free(r);

    /* Payment paths that only the payments listener serves are unknown here. */
    char ppath[400];
    snprintf(ppath, sizeof ppath, "/api/payments/%s", pid);
    r = gw_do(&srv, "GET", srv.refunds, ppath, NULL);
    R_STATUS(r, 404);
    R_CHECK(r, strcmp(rs(r->json, "message"), "Not found") == 0);
    hres_free(r);
    free(rid);
    free(pid);
}

static void refunds_need_a_valid_key(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "10.00");
    char *rid = make_refund(&srv, pid, "1.00");
    char body[400], one[400], byp[400];
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":1.00}", pid);
    snprintf(one, sizeof one, "/api/refunds/%s", rid);
    snprintf(byp, sizeof byp, "/api/payments?payment_id=%s", pid);
    const struct {
        const char *method, *path, *body;
    } reqs[] = {
        {"POST", "/api/refunds", body}, {"GET", "/api/refunds", NULL}, {"GET", one, NULL}, {"GET", byp, NULL},
    };
    const char *keys[] = {NULL, "", "rk_sandbox_nope_0000000000000000000000000000000000000000", "x"};
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            hres *r = ref_key_do(keys[k], reqs[i].method, srv.refunds, reqs[i].path, reqs[i].body);
            char *www = hres_header(r, "WWW-Authenticate");
            if (r->status != 401 || strcmp(rs(r->json, "message"), "Missing or invalid API key") != 0 || !www ||
                strncmp(www, "Bearer", 6) != 0)
                fail_msg("%s %s key %s: status %ld body %s", reqs[i].method, reqs[i].path,
                         keys[k] ? keys[k] : "(none)", r->status, r->body);
            free(www);
            hres_free(r);
        }
    }
    /* x-api-key works as well as the Bearer form. */
    hres *r = ref_key_do(srv.gateway_key, "GET", srv.refunds, one, NULL);
    R_STATUS(r, 200);
    hres_free(r);

    /* None of the refused POSTs refunded anything. */
    r = payment_get(&srv, pid);
    R_CHECK(r, has_raw(r, "refunded_amount", "1.00"));
    hres_free(r);
    free(rid);
    free(pid);
}

static void merchants_see_only_their_own(void **state)
{
    (void)state;
    char other[200];
    ref_merchant_key(&srv, "refunds_other", other, sizeof other);

    char *pid = make_card_payment(&srv, "4242424242424242", "25.00");
    char *rid = make_refund(&srv, pid, "5.00");
    char path[500], body[500];

    /* The other merchant cannot refund it: to them it does not exist. */
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":1.00}", pid);
    hres *r = ref_key_do(other, "POST", srv.refunds, "/api/refunds", body);
    R_FIELD_ERROR(r, 404, "payment_id");
    hres_free(r);

    snprintf(path, sizeof path, "/api/refunds/%s", rid);
    r = ref_key_do(other, "GET", srv.refunds, path, NULL);
    R_EMPTY_404(r);
    hres_free(r);

    snprintf(path, sizeof path, "/api/payments/%s", pid);
    r = ref_key_do(other, "GET", srv.payments, path, NULL);
    R_EMPTY_404(r);
    hres_free(r);

    static const char *const bases[] = {"/api/refunds", "/api/payments"};
    for (int b = 0; b < 2; b++) {
        snprintf(path, sizeof path, "%s?payment_id=%s", bases[b], pid);
        r = ref_key_do(other, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
        hres_free(r);
        snprintf(path, sizeof path, "%s?refund_id=%s", bases[b], rid);
        r = ref_key_do(other, "GET", srv.refunds, path, NULL);
        R_STATUS(r, 200);
        R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
        hres_free(r);
        r = ref_key_do(other, "GET", srv.refunds, bases[b], NULL);
        R_STATUS(r, 200);
        R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
        hres_free(r);
    }
    r = ref_key_do(other, "GET", srv.payments, "/api/payments", NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_IsArray(r->json) && cJSON_GetArraySize(r->json) == 0);
    hres_free(r);

    /* Their own payment works for them, and stays invisible to the sandbox. */
    char pay[800];
    snprintf(pay, sizeof pay,
             "{\"amount\":8.00,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
             "\"4242424242424242\",\"name\":\"Other Holder\",\"expiration_month\":\"12\",\"expiration_year\":\"%s\","
             "\"cvv\":\"123\"}}",
             future_year());
    r = ref_key_do(other, "POST", srv.payments, "/api/payments", pay);
    R_STATUS(r, 201);
    char opid[256];
    snprintf(opid, sizeof opid, "%s", rs(r->json, "payment_id"));
    hres_free(r);
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":2.00}", opid);
    r = ref_key_do(other, "POST", srv.refunds, "/api/refunds", body);
    R_STATUS(r, 201);
    char orid[256];
    snprintf(orid, sizeof orid, "%s", rs(r->json, "refund_id"));
    hres_free(r);

    r = refund_post(&srv, opid, "1.00");
    R_FIELD_ERROR(r, 404, "payment_id");
    hres_free(r);
    snprintf(path, sizeof path, "/api/refunds/%s", orid);
    r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_EMPTY_404(r);
    hres_free(r);
    r = gw_do(&srv, "GET", srv.refunds, "/api/refunds?limit=1000", NULL);
    R_STATUS(r, 200);
    R_CHECK(r, strstr(r->body, orid) == NULL && strstr(r->body, opid) == NULL);
    hres_free(r);

    /* And the other merchant's listing holds exactly its own refund. */
    r = ref_key_do(other, "GET", srv.refunds, "/api/refunds", NULL);
    R_STATUS(r, 200);
    R_CHECK(r, cJSON_GetArraySize(r->json) == 1 && strcmp(rs(cJSON_GetArrayItem(r->json, 0), "refund_id"), orid) == 0);
    hres_free(r);
    free(rid);
    free(pid);
}

static void settled_payment_can_be_refunded(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "80.00");
    char *early = make_refund(&srv, pid, "10.00");
    assert_true(ref_settle(&srv) >= 1);

    hres *p = payment_get(&srv, pid);
    R_STATUS(p, 200);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0);
    R_CHECK(p, has_raw(p, "settled_amount", "70.00"));
    R_CHECK(p, is_iso_ms(jstr(p->json, "settled_at")));
    char settled_at[40];
    snprintf(settled_at, sizeof settled_at, "%s", rs(p->json, "settled_at"));
    hres_free(p);

    hres *r = refund_post(&srv, pid, "30.00");
    R_STATUS(r, 201);
    R_CHECK(r, has_raw(r, "amount", "30.00"));
    hres_free(r);

    /* The balance still holds after settlement. */
    r = refund_post(&srv, pid, "40.01");
    R_FIELD_ERROR(r, 409, "amount");
    R_CHECK(r, has_raw(r, "refundable_amount", "40.00"));
    hres_free(r);

    /* A later refund comes out of a later payout: the settlement stays. */
    p = payment_get(&srv, pid);
    R_STATUS(p, 200);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0);
    R_CHECK(p, has_raw(p, "settled_amount", "70.00"));
    R_CHECK(p, strcmp(rs(p->json, "settled_at"), settled_at) == 0);
    R_CHECK(p, has_raw(p, "refunded_amount", "40.00"));
    hres_free(p);
    free(early);
    free(pid);
}

static void idempotent_refund_replays(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "90.00");
    const char *key1[] = {"Idempotency-Key: refund-key-1", NULL};
    hres *a = refund_post_h(&srv, pid, "25.00", key1);
    R_STATUS(a, 201);
    char *replayed = hres_header(a, "Idempotent-Replayed");
    R_CHECK(a, replayed == NULL);
    free(replayed);

    hres *b = refund_post_h(&srv, pid, "25.00", key1);
    R_STATUS(b, 201);
    replayed = hres_header(b, "Idempotent-Replayed");
    R_CHECK(b, replayed && strcmp(replayed, "true") == 0);
    free(replayed);
    R_CHECK(b, strcmp(rs(a->json, "refund_id"), rs(b->json, "refund_id")) == 0);
    R_CHECK(b, strcmp(a->body, b->body) == 0);

    /* Re-indented JSON is the same request. */
    char spaced[600];
    snprintf(spaced, sizeof spaced, "{ \"payment_id\" : \"%s\",\n  \"amount\" : 25.00 }", pid);
    hres *c = gw_do_h(&srv, "POST", srv.refunds, "/api/refunds", key1, spaced);
    R_STATUS(c, 201);
    R_CHECK(c, strcmp(rs(a->json, "refund_id"), rs(c->json, "refund_id")) == 0);
    hres_free(c);

    /* The same key with another body is refused and changes nothing. */
    hres *d = refund_post_h(&srv, pid, "26.00", key1);
    R_STATUS(d, 422);
    R_CHECK(d, jstr(d->json, "message") != NULL);
    hres_free(d);

    char path[400];
    snprintf(path, sizeof path, "/api/refunds?payment_id=%s", pid);
    hres *l = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(l, 200);
    R_CHECK(l, cJSON_GetArraySize(l->json) == 1);
    hres_free(l);
    hres *p = payment_get(&srv, pid);
    R_CHECK(p, has_raw(p, "refunded_amount", "25.00"));
    hres_free(p);

    /* Another key is another refund. */
    const char *key2[] = {"Idempotency-Key: refund-key-2", NULL};
    hres *e = refund_post_h(&srv, pid, "25.00", key2);
    R_STATUS(e, 201);
    R_CHECK(e, strcmp(rs(a->json, "refund_id"), rs(e->json, "refund_id")) != 0);
    hres_free(e);

    /* A refused refund stays refused when retried with its key. */
    const char *key3[] = {"Idempotency-Key: refund-key-3", NULL};
    hres *f = refund_post_h(&srv, pid, "41.00", key3);
    R_FIELD_ERROR(f, 409, "amount");
    hres_free(f);
    f = refund_post_h(&srv, pid, "41.00", key3);
    R_STATUS(f, 409);
    hres_free(f);

    /* Keys are private to each merchant. */
    char other[200];
    ref_merchant_key(&srv, "refunds_idem", other, sizeof other);
    char auth[240];
    snprintf(auth, sizeof auth, "x-api-key: %s", other);
    const char *other_h[] = {auth, "Content-Type: application/json", "Idempotency-Key: refund-key-1", NULL};
    char body[500];
    snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount\":25.00}", pid);
    hres *g = http_do("POST", srv.refunds, "/api/refunds", other_h, body);
    R_FIELD_ERROR(g, 404, "payment_id");
    hres_free(g);

    /* Malformed keys. */
    char longkey[300] = "Idempotency-Key: ";
    size_t at = strlen(longkey);
    memset(longkey + at, 'k', 256);
    longkey[at + 256] = '\0';
    const char *bad[] = {longkey, NULL};
    hres *h = refund_post_h(&srv, pid, "1.00", bad);
    R_FIELD_ERROR(h, 400, "Idempotency-Key");
    hres_free(h);

    p = payment_get(&srv, pid);
    R_CHECK(p, has_raw(p, "refunded_amount", "50.00"));
    hres_free(p);
    hres_free(a);
    hres_free(b);
    free(pid);
}

/* A counter without labels from /metrics; 0 when not yet exported. */
static double metric(const char *name)
{
    hres *m = http_do("GET", srv.admin, "/metrics", NULL, NULL);
    R_STATUS(m, 200);
    double v = 0;
    size_t nl = strlen(name);
    for (const char *line = m->body; line && *line;) {
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ')
            v = strtod(line + nl + 1, NULL);
        const char *next = strchr(line, '\n');
        line = next ? next + 1 : NULL;
    }
    hres_free(m);
    return v;
}

static void refunds_are_counted_once_and_carry_request_ids(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "10.00");
    double refunds0 = metric("recoup_gateway_refunds_total");
    double replays0 = metric("recoup_idempotent_replays_total");
    const char *h[] = {"Idempotency-Key: counted-once", "X-Request-Id: refund-req-0001", NULL};
    hres *a = refund_post_h(&srv, pid, "1.00", h);
    R_STATUS(a, 201);
    char *rid = hres_header(a, "X-Request-Id");
    R_CHECK(a, rid && strcmp(rid, "refund-req-0001") == 0);
    free(rid);
    hres *b = refund_post_h(&srv, pid, "1.00", h);
    R_STATUS(b, 201);
    R_CHECK(b, strcmp(rs(a->json, "refund_id"), rs(b->json, "refund_id")) == 0);
    assert_true(metric("recoup_gateway_refunds_total") == refunds0 + 1);
    assert_true(metric("recoup_idempotent_replays_total") == replays0 + 1);

    /* An id that is not sane is replaced, on errors too. */
    const char *odd[] = {"X-Request-Id: has spaces and <tags>", NULL};
    hres *c = refund_post_h(&srv, pid, "0", odd);
    R_FIELD_ERROR(c, 400, "amount");
    rid = hres_header(c, "X-Request-Id");
    R_CHECK(c, rid && strncmp(rid, "req_", 4) == 0 && !strchr(rid, ' '));
    free(rid);
    hres_free(a);
    hres_free(b);
    hres_free(c);
    free(pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(creates_refund_with_every_field),
        cmocka_unit_test(refund_ids_are_unique),
        cmocka_unit_test(partial_refunds_add_up_exactly_and_not_a_cent_more),
        cmocka_unit_test(full_refund_in_one_go),
        cmocka_unit_test(refund_in_a_zero_decimal_currency),
        cmocka_unit_test(declined_payment_cannot_be_refunded),
        cmocka_unit_test(invalid_amounts_are_400_naming_amount),
        cmocka_unit_test(payment_id_missing_mistyped_or_unknown),
        cmocka_unit_test(unknown_fields_and_bad_bodies),
        cmocka_unit_test(get_refund_by_id),
        cmocka_unit_test(list_filters_alone_and_together),
        cmocka_unit_test(paging_has_no_gap_and_no_overlap),
        cmocka_unit_test(bad_list_parameters_are_400_naming_them),
        cmocka_unit_test(wrong_methods_are_405_with_allow),
        cmocka_unit_test(refunds_need_a_valid_key),
        cmocka_unit_test(merchants_see_only_their_own),
        cmocka_unit_test(idempotent_refund_replays),
        cmocka_unit_test(refunds_are_counted_once_and_carry_request_ids),
        /* Last: the batch settles every payment this server holds. */
        cmocka_unit_test(settled_payment_can_be_refunded),
    };
    return cmocka_run_group_tests_name("refunds", tests, setup, teardown);
}
