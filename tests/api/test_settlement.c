/* Settlement batches run on demand (admin API and recoupctl) with fees:
 * successful payments become settled at amount - refunds - fees, declined
 * ones are left alone, and a batch never settles a payment twice. */
#include <sys/wait.h>

#include "ref_helpers.h"

static rserver srv;

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--fee_fixed=30", "--fee_bps=250", NULL};
    server_start(&srv, args);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return server_stop(&srv) == 0 ? 0 : -1;
}

/* Runs recoupctl with args, its stdout into out; returns the exit status. */
static int recoupctl(const char *const *args, char *out, size_t outsz)
{
    const char *bin = getenv("RECOUPCTL");
    if (!bin || !*bin)
        bin = "./build/recoupctl";
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[16];
        int n = 0;
        argv[n++] = bin;
        for (const char *const *a = args; *a && n < 15; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < outsz && (k = read(fds[0], out + got, outsz - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The settlement fields of a payment that must still be unsettled. */
static void assert_unsettled(const char *pid, const char *want_status)
{
    hres *p = payment_get(&srv, pid);
    R_STATUS(p, 200);
    R_CHECK(p, strcmp(rs(p->json, "status"), want_status) == 0);
    R_CHECK(p, jnull(p->json, "settled_at") && jnull(p->json, "settled_amount"));
    hres_free(p);
}

static void batch_settles_with_refunds_and_fees(void **state)
{
    (void)state;
    char *ok = make_card_payment(&srv, "4242424242424242", "100.00");
    char *declined = make_card_payment(&srv, "4000000000009995", "100.00");
    char *refund = make_refund(&srv, ok, "10.00");
    assert_unsettled(ok, "success");

    hres *b = http_do("POST", srv.admin, "/admin/settlements", NULL, NULL);
    R_STATUS(b, 200);
    R_CHECK(b, jnum(b->json, "settled") == 1.0);
    R_CHECK(b, is_iso_ms(jstr(b->json, "batch_at")));

    hres *p = payment_get(&srv, ok);
    R_STATUS(p, 200);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0);
    /* 100.00 - 10.00 - (0.30 + 2.5% of 100.00) */
    R_CHECK(p, has_raw(p, "settled_amount", "87.20"));
    R_CHECK(p, is_iso_ms(jstr(p->json, "settled_at")));
    R_CHECK(p, strcmp(rs(p->json, "settled_at"), rs(p->json, "created_at")) >= 0);
    R_CHECK(p, has_raw(p, "amount", "100.00") && has_raw(p, "refunded_amount", "10.00"));
    hres_free(p);

    /* The listing agrees. */
    char path[400];
    snprintf(path, sizeof path, "/api/payments?payment_id=%s&status=settled", ok);
    hres *l = gw_do(&srv, "GET", srv.payments, path, NULL);
    R_STATUS(l, 200);
    R_CHECK(l, cJSON_GetArraySize(l->json) == 1 && has_raw(l, "settled_amount", "87.20"));
    hres_free(l);

    /* The declined payment is untouched. */
    assert_unsettled(declined, "error");
    p = payment_get(&srv, declined);
    R_CHECK(p, strcmp(rs(p->json, "decline_code"), "insufficient_funds") == 0);
    hres_free(p);

    hres_free(b);
    free(refund);
    free(ok);
    free(declined);
}

static void second_batch_settles_nothing_new(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "5555555555554444", "40.00");
    assert_int_equal(ref_settle(&srv), 1);
    hres *before = payment_get(&srv, pid);
    R_STATUS(before, 200);
    R_CHECK(before, strcmp(rs(before->json, "status"), "settled") == 0);

    sleep_ms(20);
    assert_int_equal(ref_settle(&srv), 0);
    assert_int_equal(ref_settle(&srv), 0);

    hres *after = payment_get(&srv, pid);
    R_STATUS(after, 200);
    /* Same settlement time and amount: the payment was not settled again. */
    R_CHECK(after, strcmp(before->body, after->body) == 0);
    /* 40.00 - 0.30 - 1.00 */
    R_CHECK(after, has_raw(after, "settled_amount", "38.70"));
    hres_free(before);
    hres_free(after);

    /* A new payment is settled by the next batch, alone. */
    char *next = make_card_payment(&srv, "4242424242424242", "20.00");
    assert_int_equal(ref_settle(&srv), 1);
    hres *p = payment_get(&srv, next);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0 && has_raw(p, "settled_amount", "19.20"));
    hres_free(p);
    free(next);
    free(pid);
}

static void fees_round_and_follow_the_currency(void **state)
{
    (void)state;
    /* 2.5% of 12.34 is 0.3085: rounded to 0.31, plus 0.30. */
    char *eur = make_card_payment(&srv, "4242424242424242", "12.34");
    /* JPY has no minor unit: 30 yen plus 2.5% of 5000 yen. */
    hres *jpy = card_payment_in(&srv, "4242424242424242", "5000", "JPY");
    R_STATUS(jpy, 201);
    /* Three decimals: 0.030 plus 2.5% of 10.000. */
    hres *kwd = card_payment_in(&srv, "4242424242424242", "10.000", "KWD");
    R_STATUS(kwd, 201);
    assert_int_equal(ref_settle(&srv), 3);

    hres *p = payment_get(&srv, eur);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0 && has_raw(p, "settled_amount", "11.73"));
    hres_free(p);
    p = payment_get(&srv, rs(jpy->json, "payment_id"));
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0 && has_raw(p, "settled_amount", "4845"));
    hres_free(p);
    p = payment_get(&srv, rs(kwd->json, "payment_id"));
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0 && has_raw(p, "settled_amount", "9.720"));
    hres_free(p);
    hres_free(jpy);
    hres_free(kwd);
    free(eur);
}

static void settled_payments_keep_their_settlement(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "50.00");
    assert_int_equal(ref_settle(&srv), 1);
    char path[400];
    snprintf(path, sizeof path, "/api/payments/%s", pid);

    /* Settling by hand a second time, with other values, is a conflict. */
    hres *r = gw_do(&srv, "PUT", srv.payments, path, "{\"status\":\"settled\",\"settled_amount\":1.00}");
    R_STATUS(r, 409);
    R_CHECK(r, cJSON_IsArray(cJSON_GetObjectItem(r->json, "errors")));
    hres_free(r);

    /* Neither can it be voided. */
    r = gw_do(&srv, "DELETE", srv.payments, path, NULL);
    R_STATUS(r, 409);
    hres_free(r);

    r = payment_get(&srv, pid);
    R_STATUS(r, 200);
    R_CHECK(r, strcmp(rs(r->json, "status"), "settled") == 0 && has_raw(r, "settled_amount", "48.45"));
    hres_free(r);
    free(pid);
}

static void manual_settlement_is_not_redone_by_the_batch(void **state)
{
    (void)state;
    /* A payment settled by hand is not settled again by the batch. */
    char *pid = make_card_payment(&srv, "4242424242424242", "30.00");
    char path[400];
    snprintf(path, sizeof path, "/api/payments/%s", pid);
    hres *r = gw_do(&srv, "PUT", srv.payments, path,
                    "{\"status\":\"settled\",\"settled_at\":\"2026-01-02T03:04:05Z\",\"settled_amount\":29.00}");
    R_STATUS(r, 200);
    R_CHECK(r, strcmp(rs(r->json, "status"), "settled") == 0);
    hres_free(r);
    assert_int_equal(ref_settle(&srv), 0);
    r = payment_get(&srv, pid);
    R_CHECK(r, strcmp(rs(r->json, "settled_at"), "2026-01-02T03:04:05.000Z") == 0);
    R_CHECK(r, has_raw(r, "settled_amount", "29.00"));
    hres_free(r);
    free(pid);
}

static void recoupctl_settle_runs_a_batch(void **state)
{
    (void)state;
    char *pid = make_card_payment(&srv, "4242424242424242", "100.00");
    char *declined = make_card_payment(&srv, "4000000000000002", "100.00");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.admin);
    char out[4096];
    const char *const args[] = {"--admin", url, "settle", NULL};
    assert_int_equal(recoupctl(args, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    if (!j || jnum(j, "settled") != 1.0 || !is_iso_ms(jstr(j, "batch_at")))
        fail_msg("recoupctl settle printed: %s", out);

    hres *p = payment_get(&srv, pid);
    R_CHECK(p, strcmp(rs(p->json, "status"), "settled") == 0 && has_raw(p, "settled_amount", "97.20"));
    hres_free(p);
    cJSON_Delete(j);
    assert_unsettled(declined, "error");

    /* The --admin=URL form, and a batch with nothing to do. */
    char eq[80];
    snprintf(eq, sizeof eq, "--admin=%s", url);
    const char *const args2[] = {eq, "settle", NULL};
    assert_int_equal(recoupctl(args2, out, sizeof out), 0);
    j = cJSON_Parse(out);
    if (!j || jnum(j, "settled") != 0.0)
        fail_msg("recoupctl settle printed: %s", out);
    cJSON_Delete(j);
    free(pid);
    free(declined);
}

/* The batch's answer names the time it stamped on every payment it
 * settled ("settled_at is the batch time"). */
static void batch_at_is_the_settled_at_written(void **state)
{
    (void)state;
    /* Enough payments that the batch spans more than a millisecond. */
    enum { N = 40 };
    char *ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = make_card_payment(&srv, "4242424242424242", "10.00");
    hres *batch = http_do("POST", srv.admin, "/admin/settlements", NULL, NULL);
    R_STATUS(batch, 200);
    R_CHECK(batch, jnum(batch->json, "settled") == (double)N);
    char batch_at[40], first[40], last[40];
    snprintf(batch_at, sizeof batch_at, "%s", rs(batch->json, "batch_at"));
    hres_free(batch);
    hres *p = payment_get(&srv, ids[0]);
    snprintf(first, sizeof first, "%s", rs(p->json, "settled_at"));
    hres_free(p);
    p = payment_get(&srv, ids[N - 1]);
    snprintf(last, sizeof last, "%s", rs(p->json, "settled_at"));
    hres_free(p);
    for (int i = 0; i < N; i++)
        free(ids[i]);
    /* One batch, one time. */
    assert_string_equal(first, last);
    if (strcmp(first, batch_at) != 0)
        fail_msg("the batch answered batch_at %s but stamped settled_at %s", batch_at, first);
}

static void settlement_endpoint_methods(void **state)
{
    (void)state;
    static const char *const methods[] = {"GET", "PUT", "DELETE"};
    for (size_t i = 0; i < 3; i++) {
        hres *r = http_do(methods[i], srv.admin, "/admin/settlements", NULL, NULL);
        char *allow = hres_header(r, "Allow");
        if (r->status != 405 || !allow || !strstr(allow, "POST"))
            fail_msg("%s /admin/settlements: status %ld body %s", methods[i], r->status, r->body);
        free(allow);
        hres_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_settles_with_refunds_and_fees),
        cmocka_unit_test(second_batch_settles_nothing_new),
        cmocka_unit_test(fees_round_and_follow_the_currency),
        cmocka_unit_test(settled_payments_keep_their_settlement),
        cmocka_unit_test(manual_settlement_is_not_redone_by_the_batch),
        cmocka_unit_test(recoupctl_settle_runs_a_batch),
        cmocka_unit_test(settlement_endpoint_methods),
        cmocka_unit_test(batch_at_is_the_settled_at_written),
    };
    return cmocka_run_group_tests_name("settlement", tests, setup, teardown);
}
