/* Recover end to end: a real recoupd on a virtual clock, its own gateway as
 * the PSP, and the fake merchant (tests/fake_merchant) answering RetryStatus,
 * receiving the webhooks and, for the crash case, standing between Recover
 * and the gateway. Each case starts its own pair of servers, forwards a
 * failure charged at the gateway, moves the clock from one planned retry to
 * the next, and checks the invoice, the gateway's payments and what the
 * merchant received. Every webhook must pass both published signature
 * verifiers. */
#include <sys/types.h>

#include "fake_merchant_client.h"
#include "rc_common.h"

static rserver srv;
static fmerchant fm;
static struct rc_keys keys;
static char whsec[200];
static const char *const virtual_clock[] = {"--clock=virtual", NULL};

#define CLOSED_STATES "recovered paid_by_merchant exhausted cancelled unrecoverable unknown_to_merchant"

/* ---- time ---- */

static int64_t parse_time_ms(const char *t)
{
    if (!t)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (sscanf(t, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int64_t clock_now(void)
{
    hres *r = rc_admin(&srv, "GET", "/admin/clock", NULL);
    int64_t t = parse_time_ms(jstr(r->json, "now"));
    hres_free(r);
    return t;
}

static void clock_text(int64_t ms, char *out, size_t outsz)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void advance(int64_t seconds)
{
    char body[64];
    snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
    hres *r = rc_admin(&srv, "POST", "/admin/clock/advance", body);
    CHECK_STATUS(r, 200);
    hres_free(r);
}

/* ---- set-up ---- */

static void configure(const char *extra_settings)
{
    char base[128], results[160], eod[160], body[2048];
    fm_url(&fm, "", base, sizeof base);
    fm_url(&fm, "/webhooks/retry-results", results, sizeof results);
    fm_url(&fm, "/webhooks/end-of-dunning", eod, sizeof eod);
    snprintf(body, sizeof body,
             "{\"retry_status_url\":\"%s\",\"retry_results_url\":\"%s\",\"end_of_dunning_url\":\"%s\","
             "\"end_of_dunning_enabled\":true%s%s}",
             base, results, eod, extra_settings ? "," : "", extra_settings ? extra_settings : "");
    hres *r = rc_admin(&srv, "PUT", "/admin/merchants/sandbox/recover", body);
    CHECK_STATUS(r, 200);
    hres_free(r);
    r = rc_admin(&srv, "POST", "/admin/merchants/sandbox/recover/webhook-secret", "{}");
    CHECK_STATUS(r, 200);
    CHECK(r, jstr(r->json, "webhook_signing_secret") != NULL);
    snprintf(whsec, sizeof whsec, "%s", js(r->json, "webhook_signing_secret"));
    hres_free(r);
    char cfg[400];
    snprintf(cfg, sizeof cfg, "{\"webhook_secret\":\"%s\"}", whsec);
    fm_control(&fm, "/_control/config", cfg);
}

/* recoupd on a virtual clock, then the fake merchant in front of its
 * gateway; auth is the merchant's authentication ("none", "basic:u:p"...). */
static void start_pair(const char *auth)
{
    server_start(&srv, virtual_clock);
    rc_read_keys(&srv, &keys);
    char upstream[96], auth_arg[200];
    snprintf(upstream, sizeof upstream, "--psp-upstream=http://127.0.0.1:%d", srv.payments);
    snprintf(auth_arg, sizeof auth_arg, "--auth=%s", auth);
    const char *args[] = {upstream, auth_arg, NULL};
    fm_start(&fm, args);
}

static int setup(void **state)
{
    (void)state;
    start_pair("none");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int fm_rc = fm_stop(&fm);
    int rc = server_stop(&srv);
    assert_int_equal(fm_rc, 0);
    assert_int_equal(rc, 0);
    return 0;
}

/* ---- the gateway ---- */

static char *tokenise(const char *number)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"type\":\"credit_card\",\"number\":\"%s\",\"name\":\"Ana Silva\",\"expiration_month\":12,"
             "\"expiration_year\":2099,\"cvv\":\"123\"}",
             number);
    hres *r = gw_do(&srv, "POST", srv.payments, "/api/payment_methods", body);
    CHECK_STATUS(r, 201);
    char *pm = strdup(js(r->json, "payment_method_id"));
    hres_free(r);
    return pm;
}

/* The merchant's own charge of a stored card; returns the payment id. */
static char *merchant_charge(const char *pm, const char *want_status, const char *want_decline)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"amount\":19.99,\"currency\":\"EUR\",\"payment_method\":\"credit_card\",\"payment_method_id\":\"%s\"}",
             pm);
    hres *r = gw_do(&srv, "POST", srv.payments, "/api/payments", body);
    CHECK_STATUS(r, 201);
    CHECK(r, strcmp(js(r->json, "status"), want_status) == 0);
    if (want_decline)
        CHECK(r, strcmp(js(r->json, "decline_code"), want_decline) == 0);
    char *id = strdup(js(r->json, "payment_id"));
    hres_free(r);
    return id;
}

struct gw_count {
    int total, success;
};

/* The gateway's payments made with a stored payment method. */
static struct gw_count gateway_payments(const char *pm)
{
    struct gw_count c = {0, 0};
    hres *r = gw_do(&srv, "GET", srv.payments, "/api/payments?limit=1000", NULL);
    CHECK_STATUS(r, 200);
    const cJSON *p;
    cJSON_ArrayForEach(p, r->json)
    {
        if (strcmp(js(p, "payment_method_id"), pm) != 0)
            continue;
        c.total++;
        if (strcmp(js(p, "status"), "error") != 0)
            c.success++;
    }
    hres_free(r);
    return c;
}

/* ---- Recover ---- */

/* Events are applied after the 200: waits (about 10 s) until the invoice
 * shows the transaction. */
static void wait_applied(const char *invoice, const char *txn)
{
    char needle[300];
    snprintf(needle, sizeof needle, "\"transaction_id\":\"%s\"", txn);
    hres *r = NULL;
    for (int i = 0; i < 200; i++) {
        hres_free(r);
        r = rc_get_invoice(&srv, keys.sandbox, invoice);
        if (r->status == 200 && body_has(r, needle))
            break;
        usleep(50000);
    }
    CHECK(r, r->status == 200 && body_has(r, needle));
    hres_free(r);
}

/* Forwards the merchant's charge at the gateway to Recover. */
static void forward(const char *invoice, const char *customer, const char *txn, const char *payment_id,
                    const char *pm, int success, const char *raw_message)
{
    char at[40];
    clock_text(clock_now(), at, sizeof at);
    cJSON *p = rc_event(invoice, customer, txn, success, raw_message, at);
    rc_set_str(p, "transactions[0].psp", "recoup");
    rc_set_str(p, "transactions[0].psp_transaction_id", payment_id);
    rc_set_str(p, "transactions[0].payment_method_id", pm);
    rc_set(p, "transactions[0].amount", "19.99");
    rc_set_str(p, "transactions[0].currency", "EUR");
    rc_set_str(p, "invoice.created_at", at);
    /* Non-ASCII text in custom: the compact verifier must see \u escapes. */
    rc_set(p, "custom", "{\"plan\":\"pro\",\"note\":\"caf\\u00e9 \\u2713\",\"seats\":3,\"price\":12.0}");
    rc_send_free(&srv, keys.sandbox, p);
    wait_applied(invoice, txn);
}

/* Every merchant forwards its successful payments too, and the retry model
 * learns from them: a merchant whose customers mostly pay is one where a
 * second retry after insufficient funds is worth its cost. Without any such
 * history the model's prior alone decides. */
static void merchant_history(int n)
{
    char at[40], inv[64], txn[64];
    clock_text(clock_now(), at, sizeof at);
    for (int i = 0; i < n; i++) {
        snprintf(inv, sizeof inv, "hist-%d", i);
        snprintf(txn, sizeof txn, "hist-txn-%d", i);
        cJSON *p = rc_event(inv, "cus_hist", txn, 1, "approved", at);
        rc_set_str(p, "transactions[0].psp", "recoup");
        rc_set(p, "transactions[0].amount", "19.99");
        rc_set_str(p, "transactions[0].currency", "EUR");
        rc_send_free(&srv, keys.sandbox, p);
    }
    wait_applied("hist-0", "hist-txn-0");
    snprintf(inv, sizeof inv, "hist-%d", n - 1);
    snprintf(txn, sizeof txn, "hist-txn-%d", n - 1);
    wait_applied(inv, txn);
}

static int is_closed(const char *state) { return state && *state && strstr(CLOSED_STATES, state) != NULL; }

/* Waits (real time, about 10 s) for the invoice to reach state. */
static hres *wait_state(const char *invoice, const char *state)
{
    hres *r = NULL;
    for (int i = 0; i < 200; i++) {
        hres_free(r);
        r = rc_get_invoice(&srv, keys.sandbox, invoice);
        if (r->status == 200 && strcmp(js(r->json, "state"), state) == 0)
            return r;
        usleep(50000);
    }
    return r;
}

/* What changes when Recover acts on an invoice. */
static void progress_mark(const hres *r, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s|%g|%s|%d", js(r->json, "state"), jnum(r->json, "recover_attempts"),
             js(r->json, "next_retry_at"), rc_count(r->json, "transactions"));
}

/* Moves the virtual clock to the invoice's next planned retry (r is its
 * latest answer, freed here) and gives the scheduler and the workers time
 * to act; with nothing planned it moves six hours. Returns a new answer. */
static hres *step_to_next_retry(const char *invoice, hres *r)
{
    char before[400];
    progress_mark(r, before, sizeof before);
    int64_t next = parse_time_ms(jstr(r->json, "next_retry_at"));
    int64_t now = clock_now();
    int64_t secs = next ? (next - now) / 1000 + 61 : 6 * 3600;
    /* An overdue attempt may be held by a lease (a crashed worker's):
     * time must pass for it to be taken over. */
    advance(secs < 120 ? 120 : secs);
    for (int i = 0; i < 60; i++) {
        usleep(50000);
        hres_free(r);
        r = rc_get_invoice(&srv, keys.sandbox, invoice);
        char after[400];
        progress_mark(r, after, sizeof after);
        if (strcmp(before, after) != 0 && strcmp(js(r->json, "next_retry_at"), "") != 0)
            break;
        if (is_closed(js(r->json, "state")))
            break;
    }
    return r;
}

/* Steps from retry to retry until the invoice is in state or closed, at
 * most max_steps times. Returns the last answer. */
static hres *drive(const char *invoice, const char *state, int max_steps)
{
    hres *r = rc_get_invoice(&srv, keys.sandbox, invoice);
    for (int step = 0; step < max_steps; step++) {
        const char *now_state = js(r->json, "state");
        if (r->status == 200 && (strcmp(now_state, state) == 0 || is_closed(now_state)))
            return r;
        r = step_to_next_retry(invoice, r);
    }
    return r;
}

static int count_origin(const hres *r, const char *origin)
{
    int n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r->json, "transactions"))
        n += strcmp(js(t, "origin"), origin) == 0;
    return n;
}

/* What matters of an invoice when a case fails: its state, its plan and
 * its attempts, without the long transaction list. */
static void invoice_summary(const hres *r, char *out, size_t outsz)
{
    if (r->status != 200 || !r->json) {
        snprintf(out, outsz, "status %ld, body: %.2000s", r->status, r->body ? r->body : "(none)");
        return;
    }
    char *retries = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "retries"));
    const cJSON *decisions = cJSON_GetObjectItemCaseSensitive(r->json, "decisions");
    char *last = cJSON_PrintUnformatted(cJSON_GetArrayItem(decisions, cJSON_GetArraySize(decisions) - 1));
    snprintf(out, outsz,
             "state %s (%s), recover_attempts %g, next_retry_at %s, %d transactions (%d by recover)\n"
             "  retries: %.2500s\n  last decision: %.2000s",
             js(r->json, "state"), js(r->json, "state_reason"), jnum(r->json, "recover_attempts"),
             js(r->json, "next_retry_at"), rc_count(r->json, "transactions"), count_origin(r, "recover"),
             retries ? retries : "-", last ? last : "-");
    free(retries);
    free(last);
}

#define WANT_STATE(r, state)                                                                                      \
    do {                                                                                                           \
        if (strcmp(js((r)->json, "state"), state) != 0) {                                                         \
            char s_[6000];                                                                                         \
            invoice_summary(r, s_, sizeof s_);                                                                     \
            fail_msg("%s:%d: the invoice is not %s\n  %s", __FILE__, __LINE__, state, s_);                        \
        }                                                                                                          \
    } while (0)


/* ---- the merchant's log ---- */

/* Waits (about 10 s) until the merchant accepted want events of a kind for
 * the invoice; returns the log either way. */
static cJSON *wait_delivered(const char *kind, const char *invoice, int want)
{
    cJSON *log = NULL;
    for (int i = 0; i < 200; i++) {
        cJSON_Delete(log);
        log = fm_log(&fm);
        if (fm_delivered_events(log, kind, invoice) >= want)
            return log;
        usleep(50000);
    }
    return log;
}

static void check_signed(const cJSON *log)
{
    char why[4000];
    if (!fm_all_signed_ok(log, why, sizeof why))
        fail_msg("a signed call failed a verifier or had bad headers: %s", why);
}

/* The accepted deliveries of a kind for the invoice, in order. */
static const cJSON *accepted(const cJSON *log, const char *kind, const char *invoice, int i)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        double st = jnum(e, "status_answered");
        if (strcmp(js(e, "kind"), kind) == 0 && strcmp(js(e, "invoice_id"), invoice) == 0 && st >= 200 && st < 300 &&
            i-- == 0)
            return e;
    }
    return NULL;
}

static const cJSON *entry_body(const cJSON *e) { return cJSON_GetObjectItemCaseSensitive(e, "body"); }

static int jtrue(const cJSON *o, const char *name) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name)); }
static int jfalse(const cJSON *o, const char *name)
{
    return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* One line per call: kind, invoice, answer, and whether it verified. */
static void log_summary(const cJSON *log, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        if (used + 200 > outsz)
            break;
        const cJSON *raw = cJSON_GetObjectItemCaseSensitive(e, "sig_raw_ok");
        used += (size_t)snprintf(out + used, outsz - used, "\n    %s %s -> %g%s%s", js(e, "kind"), js(e, "invoice_id"),
                                 jnum(e, "status_answered"), raw ? (cJSON_IsTrue(raw) ? " sig_raw" : " BAD_SIG_RAW") : "",
                                 raw ? (jtrue(e, "sig_compact_ok") ? " sig_compact" : " BAD_SIG_COMPACT") : "");
    }
}

#define LOG_CHECK(log, cond)                                                                                      \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            char s_[6000];                                                                                         \
            log_summary(log, s_, sizeof s_);                                                                       \
            fail_msg("%s:%d: %s\n  merchant log:%s", __FILE__, __LINE__, #cond, s_);                              \
        }                                                                                                          \
    } while (0)

/* ---- cases ---- */

/* The retry card declines the merchant's charge and Recover's first retry,
 * and is approved on the second; the merchant is asked (with Basic auth)
 * before each retry and told about each. */
static void insufficient_funds_recovered_on_second_retry(void **state)
{
    (void)state;
    fm_control(&fm, "/_control/config", "{\"auth\":\"basic:shop:s3cret\"}");
    configure("\"merchant_auth\":\"basic\",\"merchant_auth_username\":\"shop\",\"merchant_auth_secret\":\"s3cret\"");
    merchant_history(40);
    char *pm = tokenise("4000000000005126");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-nsf", "cus_nsf", "e2e-nsf-1", pay, pm, 0, "insufficient_funds");
    hres *r = drive("e2e-nsf", "recovered", 40);
    WANT_STATE(r, "recovered");
    CHECK(r, jnum(r->json, "recover_attempts") == 2);
    CHECK(r, count_origin(r, "recover") == 2);
    CHECK(r, rc_count(r->json, "decisions") >= 1);
    const cJSON *retries = cJSON_GetObjectItemCaseSensitive(r->json, "retries");
    const cJSON *second = NULL, *x;
    cJSON_ArrayForEach(x, retries) if (jnum(x, "attempt_no") == 2) second = x;
    CHECK(r, second && strcmp(js(second, "state"), "done") == 0);
    char attempt2[200];
    snprintf(attempt2, sizeof attempt2, "%s", second ? js(second, "attempt_id") : "");
    hres_free(r);

    struct gw_count g = gateway_payments(pm);
    assert_int_equal(g.total, 3);
    assert_int_equal(g.success, 1);

    cJSON *log = wait_delivered("retry_result", "e2e-nsf", 2);
    cJSON_Delete(log);
    log = wait_delivered("end_of_dunning", "e2e-nsf", 1);
    check_signed(log);
    LOG_CHECK(log, fm_delivered_events(log, "retry_result", "e2e-nsf") == 2);
    LOG_CHECK(log, fm_delivered_events(log, "end_of_dunning", "e2e-nsf") == 1);
    /* Asked before each retry, with the credentials, and the custom data. */
    LOG_CHECK(log, fm_count(log, "retry_status", "e2e-nsf") >= 2);
    const cJSON *ask = fm_nth(log, "retry_status", "e2e-nsf", 0);
    LOG_CHECK(log, jtrue(ask, "auth_ok"));
    LOG_CHECK(log, strcmp(js(jobj(entry_body(ask), "custom"), "plan"), "pro") == 0);
    const cJSON *first = entry_body(accepted(log, "retry_result", "e2e-nsf", 0));
    const cJSON *last = entry_body(accepted(log, "retry_result", "e2e-nsf", 1));
    LOG_CHECK(log, jfalse(first, "success") && jfalse(first, "dunning_complete"));
    LOG_CHECK(log, jtrue(last, "success") && jtrue(last, "dunning_complete"));
    LOG_CHECK(log, strcmp(js(last, "butter_id"), attempt2) == 0);
    LOG_CHECK(log, jnum(last, "amount_collected") == 19.99 && jnum(last, "original_amount") == 19.99);
    LOG_CHECK(log, strcmp(js(last, "currency"), "EUR") == 0);
    LOG_CHECK(log, strcmp(js(last, "original_psp_transaction_id"), pay) == 0);
    LOG_CHECK(log, strcmp(js(jobj(last, "custom"), "note"), "caf\xc3\xa9 \xe2\x9c\x93") == 0);
    const cJSON *eod = entry_body(accepted(log, "end_of_dunning", "e2e-nsf", 0));
    LOG_CHECK(log, jtrue(eod, "recovered"));
    cJSON_Delete(log);
    free(pm);
    free(pay);
}

/* RetryStatus (signed with the merchant's secret) says the customer
 * cancelled: no charge, the invoice is cancelled and dunning ends. */
static void customer_cancelled(void **state)
{
    (void)state;
    configure("\"merchant_auth\":\"signing\",\"merchant_auth_secret\":\"merchant-signing-key\"");
    fm_control(&fm, "/_control/config", "{\"auth\":\"signing:merchant-signing-key\"}");
    fm_script_retry(&fm, "e2e-cancel",
                    "[{\"status\":200,\"body\":{\"retry\":false,\"reason\":\"User Cancellation\"}}]");
    char *pm = tokenise("4000000000009995");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-cancel", "cus_cancel", "e2e-cancel-1", pay, pm, 0, "insufficient_funds");
    hres *r = drive("e2e-cancel", "cancelled", 20);
    WANT_STATE(r, "cancelled");
    CHECK(r, jnum(r->json, "recover_attempts") == 0);
    CHECK(r, count_origin(r, "recover") == 0);
    hres_free(r);
    assert_int_equal(gateway_payments(pm).total, 1);
    cJSON *log = wait_delivered("end_of_dunning", "e2e-cancel", 1);
    check_signed(log);
    LOG_CHECK(log, fm_count(log, "retry_status", "e2e-cancel") >= 1);
    LOG_CHECK(log, jtrue(fm_nth(log, "retry_status", "e2e-cancel", 0), "auth_ok"));
    LOG_CHECK(log, fm_delivered_events(log, "end_of_dunning", "e2e-cancel") == 1);
    LOG_CHECK(log, jfalse(entry_body(accepted(log, "end_of_dunning", "e2e-cancel", 0)), "recovered"));
    LOG_CHECK(log, fm_count(log, "retry_result", "e2e-cancel") == 0);
    cJSON_Delete(log);
    free(pm);
    free(pay);
}

/* RetryStatus answers 404: the merchant does not know the invoice. */
static void retry_status_404_unknown_to_merchant(void **state)
{
    (void)state;
    configure("\"merchant_auth\":\"api_key\",\"merchant_auth_secret\":\"k-123\"");
    fm_control(&fm, "/_control/config", "{\"auth\":\"api_key:k-123\"}");
    fm_script_retry(&fm, "e2e-404", "[{\"status\":404,\"body\":{\"message\":\"no such invoice\"}}]");
    char *pm = tokenise("4000000000009995");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-404", "cus_404", "e2e-404-1", pay, pm, 0, "insufficient_funds");
    hres *r = drive("e2e-404", "unknown_to_merchant", 20);
    WANT_STATE(r, "unknown_to_merchant");
    CHECK(r, count_origin(r, "recover") == 0);
    hres_free(r);
    assert_int_equal(gateway_payments(pm).total, 1);
    cJSON *log = fm_log(&fm);
    LOG_CHECK(log, fm_count(log, "retry_status", "e2e-404") >= 1);
    LOG_CHECK(log, jtrue(fm_nth(log, "retry_status", "e2e-404", 0), "auth_ok"));
    LOG_CHECK(log, fm_count(log, "retry_result", "e2e-404") == 0);
    check_signed(log);
    cJSON_Delete(log);
    free(pm);
    free(pay);
}

/* The merchant's webhook endpoints answer 500 for two virtual days: the
 * webhooks are redelivered (every 12 h) and, once the merchant is back,
 * accepted exactly once each. */
static void merchant_down_two_days(void **state)
{
    (void)state;
    configure(NULL);
    fm_control(&fm, "/_control/webhooks", "{\"status\":500}");
    merchant_history(40);
    char *pm = tokenise("4000000000005126");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-down", "cus_down", "e2e-down-1", pay, pm, 0, "insufficient_funds");
    hres *r = drive("e2e-down", "recovered", 40);
    WANT_STATE(r, "recovered");
    CHECK(r, jnum(r->json, "recover_attempts") == 2);
    hres_free(r);
    /* Two days down, in half-day steps. */
    for (int i = 0; i < 4; i++) {
        advance(12 * 3600);
        usleep(500000);
    }
    cJSON *log = fm_log(&fm);
    LOG_CHECK(log, fm_delivered_events(log, "retry_result", "e2e-down") == 0);
    LOG_CHECK(log, fm_count(log, "end_of_dunning", "e2e-down") >= 2);
    LOG_CHECK(log, fm_count(log, "retry_result", "e2e-down") >= 4);
    /* A redelivery is the same event: the same deduplication id and body. */
    const cJSON *a = fm_nth(log, "end_of_dunning", "e2e-down", 0), *b = fm_nth(log, "end_of_dunning", "e2e-down", 1);
    LOG_CHECK(log, a && b && strcmp(js(a, "dedup_id"), js(b, "dedup_id")) == 0);
    LOG_CHECK(log, a && b && strcmp(js(a, "raw_body"), js(b, "raw_body")) == 0);
    /* Redelivered every 12 h, not more often: the expiration each delivery
     * carries is its virtual send time plus a constant. */
    for (int i = 1; i < fm_count(log, "end_of_dunning", "e2e-down"); i++) {
        const cJSON *p0 = fm_nth(log, "end_of_dunning", "e2e-down", i - 1);
        const cJSON *p1 = fm_nth(log, "end_of_dunning", "e2e-down", i);
        long long t0 = strtoll(js(jobj(p0, "headers"), "X-Butter-Webhook-Expiration"), NULL, 10);
        long long t1 = strtoll(js(jobj(p1, "headers"), "X-Butter-Webhook-Expiration"), NULL, 10);
        LOG_CHECK(log, t1 - t0 >= 12 * 3600 - 60);
    }
    int failed_before = fm_count(log, NULL, "e2e-down");
    cJSON_Delete(log);

    fm_control(&fm, "/_control/webhooks", "{\"status\":200}");
    advance(12 * 3600 + 60);
    log = wait_delivered("retry_result", "e2e-down", 2);
    cJSON_Delete(log);
    log = wait_delivered("end_of_dunning", "e2e-down", 1);
    /* Nothing more after acceptance. */
    advance(2 * 86400);
    usleep(1000000);
    cJSON_Delete(log);
    log = fm_log(&fm);
    check_signed(log);
    LOG_CHECK(log, fm_delivered_events(log, "retry_result", "e2e-down") == 2);
    LOG_CHECK(log, fm_delivered_events(log, "end_of_dunning", "e2e-down") == 1);
    int accepted_calls = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        if (strcmp(js(e, "invoice_id"), "e2e-down") == 0 && strcmp(js(e, "kind"), "retry_status") != 0 &&
            jnum(e, "status_answered") == 200)
            accepted_calls++;
    }
    LOG_CHECK(log, accepted_calls == 3);
    LOG_CHECK(log, fm_count(log, NULL, "e2e-down") > failed_before);
    cJSON_Delete(log);
    free(pm);
    free(pay);
}

/* A lost card can never be charged: dunning ends at once, without asking
 * the merchant and without a charge. */
static void hard_decline_lost_card(void **state)
{
    (void)state;
    configure(NULL);
    char *pm = tokenise("4000000000009987");
    char *pay = merchant_charge(pm, "error", "lost_card");
    forward("e2e-lost", "cus_lost", "e2e-lost-1", pay, pm, 0, "lost_card");
    hres *r = wait_state("e2e-lost", "unrecoverable");
    WANT_STATE(r, "unrecoverable");
    CHECK(r, jnull(r->json, "next_retry_at"));
    hres_free(r);
    advance(3 * 86400);
    usleep(500000);
    r = rc_get_invoice(&srv, keys.sandbox, "e2e-lost");
    WANT_STATE(r, "unrecoverable");
    CHECK(r, jnum(r->json, "recover_attempts") == 0);
    hres_free(r);
    assert_int_equal(gateway_payments(pm).total, 1);
    cJSON *log = wait_delivered("end_of_dunning", "e2e-lost", 1);
    check_signed(log);
    LOG_CHECK(log, fm_delivered_events(log, "end_of_dunning", "e2e-lost") == 1);
    LOG_CHECK(log, jfalse(entry_body(accepted(log, "end_of_dunning", "e2e-lost", 0)), "recovered"));
    LOG_CHECK(log, fm_count(log, "retry_status", "e2e-lost") == 0);
    LOG_CHECK(log, fm_count(log, "retry_result", "e2e-lost") == 0);
    cJSON_Delete(log);
    free(pm);
    free(pay);
}

/* An expired card waits for a new payment method; once the merchant
 * forwards one, Recover retries on it and recovers. */
static void expired_card_waits_for_update(void **state)
{
    (void)state;
    configure(NULL);
    char *old_pm = tokenise("4000000000000069");
    char *pay = merchant_charge(old_pm, "error", "expired_card");
    forward("e2e-exp", "cus_exp", "e2e-exp-1", pay, old_pm, 0, "expired_card");
    hres *r = wait_state("e2e-exp", "awaiting_payment_method");
    WANT_STATE(r, "awaiting_payment_method");
    hres_free(r);
    advance(2 * 86400);
    usleep(500000);
    r = rc_get_invoice(&srv, keys.sandbox, "e2e-exp");
    WANT_STATE(r, "awaiting_payment_method");
    CHECK(r, jnum(r->json, "recover_attempts") == 0);
    hres_free(r);
    assert_int_equal(gateway_payments(old_pm).total, 1);

    char *new_pm = tokenise("4242424242424242");
    char body[300];
    snprintf(body, sizeof body,
             "{\"customer_id\":\"cus_exp\",\"payment_method_id\":\"%s\",\"reason\":\"customer_updated\"}", new_pm);
    r = rc_do(&srv, keys.sandbox, "POST", "/recover/payment_method_updates", body);
    CHECK_STATUS(r, 200);
    hres_free(r);
    r = drive("e2e-exp", "recovered", 30);
    WANT_STATE(r, "recovered");
    const cJSON *t, *last_recover = NULL;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r->json, "transactions"))
        if (strcmp(js(t, "origin"), "recover") == 0) last_recover = t;
    CHECK(r, last_recover && strcmp(js(last_recover, "payment_method_id"), new_pm) == 0);
    hres_free(r);
    assert_int_equal(gateway_payments(old_pm).total, 1);
    struct gw_count g = gateway_payments(new_pm);
    assert_int_equal(g.success, 1);
    assert_int_equal(g.total, 1);
    cJSON *log = wait_delivered("end_of_dunning", "e2e-exp", 1);
    cJSON_Delete(log);
    log = wait_delivered("retry_result", "e2e-exp", 1);
    check_signed(log);
    LOG_CHECK(log, fm_delivered_events(log, "retry_result", "e2e-exp") == 1);
    LOG_CHECK(log, jtrue(entry_body(accepted(log, "retry_result", "e2e-exp", 0)), "success"));
    cJSON_Delete(log);
    free(old_pm);
    free(new_pm);
    free(pay);
}

/* The merchant collects the invoice itself before the retry: no retry
 * happens afterwards. */
static void merchant_collects_itself(void **state)
{
    (void)state;
    configure(NULL);
    char *pm = tokenise("4000000000009995");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-self", "cus_self", "e2e-self-1", pay, pm, 0, "insufficient_funds");
    hres *r = wait_state("e2e-self", "pending");
    WANT_STATE(r, "pending");
    hres_free(r);
    char *good = tokenise("4242424242424242");
    char *paid = merchant_charge(good, "success", NULL);
    forward("e2e-self", "cus_self", "e2e-self-2", paid, good, 1, "approved");
    r = wait_state("e2e-self", "paid_by_merchant");
    WANT_STATE(r, "paid_by_merchant");
    CHECK(r, jnull(r->json, "next_retry_at"));
    hres_free(r);
    for (int i = 0; i < 5; i++) {
        advance(2 * 86400);
        usleep(300000);
    }
    r = rc_get_invoice(&srv, keys.sandbox, "e2e-self");
    WANT_STATE(r, "paid_by_merchant");
    CHECK(r, jnum(r->json, "recover_attempts") == 0);
    CHECK(r, count_origin(r, "recover") == 0);
    hres_free(r);
    assert_int_equal(gateway_payments(pm).total, 1);
    assert_int_equal(gateway_payments(good).total, 1);
    cJSON *log = fm_log(&fm);
    LOG_CHECK(log, fm_count(log, "retry_status", "e2e-self") == 0);
    LOG_CHECK(log, fm_count(log, "retry_result", "e2e-self") == 0);
    check_signed(log);
    cJSON_Delete(log);
    free(pm);
    free(pay);
    free(good);
    free(paid);
}

/* A subscription platform charges on Recover's signed request and reports
 * the outcome back as a recover_retry transaction. */
/* Moves the clock from planned retry to planned retry until the merchant's
 * platform has been asked to charge the invoice; returns the merchant's log
 * then (the caller deletes it), with the request in it unless it never came. */
static cJSON *wait_platform_request(const char *invoice)
{
    cJSON *log = NULL;
    hres *r = rc_get_invoice(&srv, keys.sandbox, invoice);
    int asked = 0;
    for (int step = 0; step < 20 && !asked; step++) {
        r = step_to_next_retry(invoice, r);
        for (int i = 0; i < 40 && !asked; i++) {
            cJSON_Delete(log);
            log = fm_log(&fm);
            asked = fm_count(log, "platform_retry", invoice) > 0;
            if (!asked)
                usleep(50000);
        }
    }
    hres_free(r);
    return log;
}

static void platform_integration(void **state)
{
    (void)state;
    char platform[160], extra[400];
    fm_url(&fm, "/platform/retry", platform, sizeof platform);
    snprintf(extra, sizeof extra, "\"integration\":\"platform\",\"platform_retry_url\":\"%s\"", platform);
    configure(extra);
    char *pm = tokenise("4000000000009995");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-plat", "cus_plat", "e2e-plat-1", pay, pm, 0, "insufficient_funds");
    cJSON *log = wait_platform_request("e2e-plat");
    LOG_CHECK(log, fm_count(log, "platform_retry", "e2e-plat") == 1);
    check_signed(log);
    const cJSON *req = entry_body(fm_nth(log, "platform_retry", "e2e-plat", 0));
    LOG_CHECK(log, strcmp(js(req, "invoice_id"), "e2e-plat") == 0);
    LOG_CHECK(log, jnum(req, "amount") == 19.99 && strcmp(js(req, "currency"), "EUR") == 0);
    char butter_id[200];
    snprintf(butter_id, sizeof butter_id, "%s", js(req, "butter_id"));
    cJSON_Delete(log);
    /* Recover itself charged nothing. */
    assert_int_equal(gateway_payments(pm).total, 1);

    /* The platform charges and reports back. */
    char *good = tokenise("4242424242424242");
    char *paid = merchant_charge(good, "success", NULL);
    char at[40];
    clock_text(clock_now(), at, sizeof at);
    cJSON *p = rc_event("e2e-plat", "cus_plat", "e2e-plat-2", 1, "approved", at);
    rc_set_str(p, "transactions[0].psp", "recoup");
    rc_set_str(p, "transactions[0].psp_transaction_id", paid);
    rc_set_str(p, "transactions[0].payment_method_id", good);
    rc_set(p, "transactions[0].amount", "19.99");
    rc_set_str(p, "transactions[0].currency", "EUR");
    rc_set(p, "transactions[0].recover_retry", "true");
    rc_send_free(&srv, keys.sandbox, p);
    wait_applied("e2e-plat", "e2e-plat-2");
    hres *r = wait_state("e2e-plat", "recovered");
    WANT_STATE(r, "recovered");
    CHECK(r, count_origin(r, "recover") == 1);
    hres_free(r);
    log = wait_delivered("retry_result", "e2e-plat", 1);
    check_signed(log);
    LOG_CHECK(log, fm_delivered_events(log, "retry_result", "e2e-plat") == 1);
    const cJSON *res = entry_body(accepted(log, "retry_result", "e2e-plat", 0));
    LOG_CHECK(log, jtrue(res, "success"));
    LOG_CHECK(log, strcmp(js(res, "butter_id"), butter_id) == 0);
    cJSON_Delete(log);
    free(pm);
    free(pay);
    free(good);
    free(paid);
}

/* The merchant's platform is asked to charge and never reports: nothing
 * else is asked of it, and dunning ends with the window, exhausted, with
 * End of Dunning. */
static void platform_never_reports(void **state)
{
    (void)state;
    char platform[160], extra[400];
    fm_url(&fm, "/platform/retry", platform, sizeof platform);
    snprintf(extra, sizeof extra, "\"integration\":\"platform\",\"platform_retry_url\":\"%s\",\"dunning_days\":10",
             platform);
    configure(extra);
    char *pm = tokenise("4000000000009995");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-silent", "cus_silent", "e2e-silent-1", pay, pm, 0, "insufficient_funds");
    cJSON *log = wait_platform_request("e2e-silent");
    int asked = fm_count(log, "platform_retry", "e2e-silent") > 0;
    cJSON_Delete(log);
    assert_true(asked);
    for (int day = 0; day < 12; day++)
        advance(86400);
    hres *r = wait_state("e2e-silent", "exhausted");
    WANT_STATE(r, "exhausted");
    CHECK(r, jnum(r->json, "recover_attempts") == 1);
    hres_free(r);
    log = wait_delivered("end_of_dunning", "e2e-silent", 1);
    LOG_CHECK(log, fm_count(log, "platform_retry", "e2e-silent") == 1);
    check_signed(log);
    cJSON_Delete(log);
    assert_int_equal(gateway_payments(pm).total, 1);
    free(pm);
    free(pay);
}

/* A card that always declines, a two-day window and two retries at most:
 * dunning ends exhausted and unrecovered, with no charge beyond the
 * attempts Recover reports. */
static void window_exhausted(void **state)
{
    (void)state;
    configure("\"dunning_days\":2,\"max_retries\":2");
    char *pm = tokenise("4000000000009995");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-exh", "cus_exh", "e2e-exh-1", pay, pm, 0, "insufficient_funds");
    hres *r = drive("e2e-exh", "exhausted", 40);
    WANT_STATE(r, "exhausted");
    int attempts = (int)jnum(r->json, "recover_attempts");
    /* The planner may judge even the first retry not worth it in so short
     * a window; it never goes past max_retries. */
    CHECK(r, attempts >= 0 && attempts <= 2);
    CHECK(r, jnull(r->json, "next_retry_at"));
    hres_free(r);
    struct gw_count g = gateway_payments(pm);
    assert_int_equal(g.total, 1 + attempts);
    assert_int_equal(g.success, 0);
    cJSON *log = wait_delivered("retry_result", "e2e-exh", attempts);
    cJSON_Delete(log);
    log = wait_delivered("end_of_dunning", "e2e-exh", 1);
    check_signed(log);
    LOG_CHECK(log, fm_delivered_events(log, "retry_result", "e2e-exh") == attempts);
    LOG_CHECK(log, fm_delivered_events(log, "end_of_dunning", "e2e-exh") == 1);
    LOG_CHECK(log, jfalse(entry_body(accepted(log, "end_of_dunning", "e2e-exh", 0)), "recovered"));
    if (attempts > 0)
        LOG_CHECK(log, jfalse(entry_body(accepted(log, "retry_result", "e2e-exh", attempts - 1)), "success") &&
                           jtrue(entry_body(accepted(log, "retry_result", "e2e-exh", attempts - 1)), "dunning_complete"));
    cJSON_Delete(log);
    free(pm);
    free(pay);
}

/* recoupd is killed after the gateway approved the second retry and before
 * Recover heard of it: after a restart the attempt runs again with the same
 * idempotency key, so the customer is charged once, and every webhook is
 * delivered once. */
static void crash_in_the_middle_of_an_attempt(void **state)
{
    (void)state;
    char psp[160], extra[300];
    fm_url(&fm, "/psp", psp, sizeof psp);
    snprintf(extra, sizeof extra, "\"psp_url\":\"%s\"", psp);
    configure(extra);
    merchant_history(40);
    char *pm = tokenise("4000000000005126");
    char *pay = merchant_charge(pm, "error", "insufficient_funds");
    forward("e2e-crash", "cus_crash", "e2e-crash-1", pay, pm, 0, "insufficient_funds");

    /* The first retry goes through the proxy without a hold. */
    hres *r = rc_get_invoice(&srv, keys.sandbox, "e2e-crash");
    for (int step = 0; step < 20 && !(jnum(r->json, "recover_attempts") >= 1); step++) {
        r = step_to_next_retry("e2e-crash", r);
    }
    CHECK(r, jnum(r->json, "recover_attempts") == 1);
    hres_free(r);
    assert_int_equal(gateway_payments(pm).total, 2);

    /* The second is held in the proxy once the gateway has answered. */
    fm_control(&fm, "/_control/psp", "{\"hold_ms\":60000}");
    cJSON *log = NULL;
    int charged = 0;
    r = rc_get_invoice(&srv, keys.sandbox, "e2e-crash");
    for (int step = 0; step < 20 && !charged; step++) {
        r = step_to_next_retry("e2e-crash", r);
        for (int i = 0; i < 100 && !charged; i++) {
            cJSON_Delete(log);
            log = fm_log(&fm);
            charged = fm_count(log, "psp", NULL) >= 2;
            if (!charged)
                usleep(50000);
        }
    }
    hres_free(r);
    LOG_CHECK(log, charged);
    const cJSON *held = fm_nth(log, "psp", NULL, 1);
    LOG_CHECK(log, strcmp(js(jobj(held, "upstream_body"), "status"), "success") == 0);
    char idem[200];
    snprintf(idem, sizeof idem, "%s", js(jobj(held, "headers"), "Idempotency-Key"));
    LOG_CHECK(log, idem[0] != '\0');
    cJSON_Delete(log);
    assert_int_equal(gateway_payments(pm).success, 1);

    server_kill(&srv, SIGKILL);
    fm_control(&fm, "/_control/psp", "{\"hold_ms\":0}");
    server_restart(&srv, virtual_clock);
    char cfg[120];
    snprintf(cfg, sizeof cfg, "{\"psp_upstream\":\"http://127.0.0.1:%d\"}", srv.payments);
    fm_control(&fm, "/_control/config", cfg);

    /* After the lease runs out the attempt is taken over. */
    r = drive("e2e-crash", "recovered", 40);
    WANT_STATE(r, "recovered");
    CHECK(r, jnum(r->json, "recover_attempts") == 2);
    const cJSON *x, *second = NULL;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(r->json, "retries")) if (jnum(x, "attempt_no") == 2) second = x;
    /* The charge's idempotency key is the attempt's id. */
    CHECK(r, second && strcmp(js(second, "attempt_id"), idem) == 0);
    hres_free(r);
    struct gw_count g = gateway_payments(pm);
    assert_int_equal(g.total, 3);
    assert_int_equal(g.success, 1);

    log = wait_delivered("retry_result", "e2e-crash", 2);
    cJSON_Delete(log);
    log = wait_delivered("end_of_dunning", "e2e-crash", 1);
    /* Let any stray redelivery come in before counting. */
    advance(86400);
    usleep(1000000);
    cJSON_Delete(log);
    log = fm_log(&fm);
    check_signed(log);
    LOG_CHECK(log, fm_delivered_events(log, "retry_result", "e2e-crash") == 2);
    LOG_CHECK(log, fm_delivered_events(log, "end_of_dunning", "e2e-crash") == 1);
    /* The re-run charged with the held attempt's key. */
    int same_key = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
        same_key += strcmp(js(e, "kind"), "psp") == 0 && strcmp(js(jobj(e, "headers"), "Idempotency-Key"), idem) == 0;
    LOG_CHECK(log, same_key >= 2);
    const cJSON *last = entry_body(accepted(log, "retry_result", "e2e-crash", 1));
    LOG_CHECK(log, jtrue(last, "success"));
    cJSON_Delete(log);
    free(pm);
    free(pay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(insufficient_funds_recovered_on_second_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(customer_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_status_404_unknown_to_merchant, setup, teardown),
        cmocka_unit_test_setup_teardown(merchant_down_two_days, setup, teardown),
        cmocka_unit_test_setup_teardown(hard_decline_lost_card, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_card_waits_for_update, setup, teardown),
        cmocka_unit_test_setup_teardown(merchant_collects_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(platform_integration, setup, teardown),
        cmocka_unit_test_setup_teardown(platform_never_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(window_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_in_the_middle_of_an_attempt, setup, teardown),
    };
    /* One case by name, when looking into one. */
    const char *only = getenv("RC_E2E_ONLY");
    if (only && *only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests_name("rc_e2e", tests, NULL, NULL);
}
