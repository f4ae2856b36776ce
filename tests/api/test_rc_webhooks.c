/* Webhook delivery through a real recoupd on a virtual clock: the fake
 * merchant (tests/fake_merchant) receives the End of Dunning webhook that a
 * hard decline causes, refuses it when told to, and checks every delivery
 * with both published signature verifiers. Redelivery waits for the
 * interval on the clock, a delivered webhook is not sent again, the
 * deduplication id never changes, a delivery survives a restart, and the
 * delivery log (admin API and recoupctl) shows and redelivers it. */
#include <sys/types.h>

#include "fake_merchant_client.h"
#include "rc_common.h"

static rserver srv;
static fmerchant fm;
static struct rc_keys keys;
static const char *const virtual_clock[] = {"--clock=virtual", NULL};

#define HOUR_S 3600

static void advance(int64_t seconds)
{
    char body[64];
    snprintf(body, sizeof body, "{\"seconds\":%lld}", (long long)seconds);
    hres *r = rc_admin(&srv, "POST", "/admin/clock/advance", body);
    CHECK_STATUS(r, 200);
    hres_free(r);
}

/* The sandbox merchant sends End of Dunning to the fake merchant, which
 * verifies with the signing secret recoupd makes now. */
static void configure(void)
{
    char eod[160], body[600];
    fm_url(&fm, "/webhooks/end-of-dunning", eod, sizeof eod);
    snprintf(body, sizeof body, "{\"end_of_dunning_url\":\"%s\",\"end_of_dunning_enabled\":true}", eod);
    hres *r = rc_admin(&srv, "PUT", "/admin/merchants/sandbox/recover", body);
    CHECK_STATUS(r, 200);
    hres_free(r);
    r = rc_admin(&srv, "POST", "/admin/merchants/sandbox/recover/webhook-secret", "{}");
    CHECK_STATUS(r, 200);
    char cfg[400];
    snprintf(cfg, sizeof cfg, "{\"webhook_secret\":\"%s\"}", js(r->json, "webhook_signing_secret"));
    hres_free(r);
    fm_control(&fm, "/_control/config", cfg);
}

static int setup(void **state)
{
    (void)state;
    server_start(&srv, virtual_clock);
    rc_read_keys(&srv, &keys);
    fm_start(&fm, NULL);
    configure();
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

static void merchant_answers(int status)
{
    char body[64];
    snprintf(body, sizeof body, "{\"status\":%d}", status);
    fm_control(&fm, "/_control/webhooks", body);
}

/* A failed payment that no retry can fix: dunning ends at once. */
static void lost_card(const char *invoice)
{
    char txn[64];
    snprintf(txn, sizeof txn, "%s-txn", invoice);
    cJSON *p = rc_event(invoice, "cus_wh", txn, 0, "lost_card", "2024-03-01T10:00:00Z");
    rc_set(p, "custom", "{\"plan\":\"pro\",\"note\":\"caf\\u00e9 \\u2713 \\ud83d\\ude00\",\"seats\":3,\"price\":12.5}");
    rc_send_free(&srv, keys.sandbox, p);
}

/* Waits (real time, bounded at 20 s) until the fake merchant has received n
 * End of Dunning calls for the invoice; returns its log. */
static cJSON *wait_received(const char *invoice, int n)
{
    cJSON *log = NULL;
    for (int i = 0; i < 400; i++) {
        cJSON_Delete(log);
        log = fm_log(&fm);
        if (fm_count(log, "end_of_dunning", invoice) >= n)
            return log;
        usleep(50000);
    }
    char *text = cJSON_PrintUnformatted(log);
    fail_msg("%d End of Dunning calls for %s expected; the merchant's log: %s", n, invoice, text ? text : "?");
    return NULL;
}

/* The invoice's one delivery from the log, as the admin API shows it. */
static cJSON *delivery_of(const char *invoice)
{
    char path[256];
    snprintf(path, sizeof path, "/admin/merchants/sandbox/recover/webhooks?invoice_id=%s", invoice);
    hres *r = rc_admin(&srv, "GET", path, NULL);
    CHECK_STATUS(r, 200);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->json, "webhooks");
    CHECK(r, cJSON_GetArraySize(list) == 1);
    cJSON *one = cJSON_Duplicate(cJSON_GetArrayItem(list, 0), 1);
    hres_free(r);
    return one;
}

/* Waits until the delivery's attempt is recorded (the merchant's log sees
 * the request before recoupd records the answer). */
static cJSON *wait_delivery(const char *invoice, const char *state, int attempts)
{
    cJSON *d = NULL;
    for (int i = 0; i < 400; i++) {
        cJSON_Delete(d);
        d = delivery_of(invoice);
        if (strcmp(js(d, "state"), state) == 0 && jnum(d, "attempts") == attempts)
            return d;
        usleep(50000);
    }
    char *text = cJSON_PrintUnformatted(d);
    fail_msg("delivery of %s: %s, want %s after %d attempts", invoice, text ? text : "?", state, attempts);
    return NULL;
}

static void assert_all_signed(const cJSON *log)
{
    char why[2048] = "";
    if (!fm_all_signed_ok(log, why, sizeof why))
        fail_msg("a delivery failed a verifier: %s", why);
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        const char *k = jstr(e, "kind");
        if (k && strcmp(k, "end_of_dunning") == 0)
            assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "body_is_compact")));
    }
}

static void redelivered_after_the_interval_and_delivered_once(void **state)
{
    (void)state;
    merchant_answers(500);
    lost_card("wh-1");
    cJSON *log = wait_received("wh-1", 1);
    cJSON *d = wait_delivery("wh-1", "pending", 1);
    assert_int_equal((int)jnum(d, "last_status"), 500);
    assert_string_equal(js(d, "type"), "end_of_dunning");
    const char *first_dedup = jstr(fm_nth(log, "end_of_dunning", "wh-1", 0), "dedup_id");
    assert_non_null(first_dedup);
    char dedup[40];
    snprintf(dedup, sizeof dedup, "%s", first_dedup);
    assert_string_equal(js(d, "id"), dedup);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(d, "body");
    assert_string_equal(js(body, "invoice_id"), "wh-1");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body, "recovered")));
    cJSON_Delete(d);

    /* Short of the interval nothing is sent; at 12 hours it is. */
    merchant_answers(200);
    advance(11 * HOUR_S);
    usleep(1500000);
    cJSON_Delete(log);
    log = fm_log(&fm);
    assert_int_equal(fm_count(log, "end_of_dunning", "wh-1"), 1);
    advance(1 * HOUR_S);
    cJSON_Delete(log);
    log = wait_received("wh-1", 2);
    d = wait_delivery("wh-1", "delivered", 2);
    assert_int_equal((int)jnum(d, "last_status"), 200);
    assert_true(jstr(d, "delivered_at") != NULL);
    cJSON_Delete(d);

    /* Delivered: later intervals send nothing more. */
    advance(13 * HOUR_S);
    usleep(1500000);
    cJSON_Delete(log);
    log = fm_log(&fm);
    assert_int_equal(fm_count(log, "end_of_dunning", "wh-1"), 2);
    assert_int_equal(fm_delivered_events(log, "end_of_dunning", "wh-1"), 1);
    assert_string_equal(jstr(fm_nth(log, "end_of_dunning", "wh-1", 1), "dedup_id"), dedup);
    assert_all_signed(log);
    cJSON_Delete(log);
}

static void a_pending_delivery_survives_a_restart(void **state)
{
    (void)state;
    merchant_answers(503);
    lost_card("wh-2");
    cJSON *log = wait_received("wh-2", 1);
    cJSON *d = wait_delivery("wh-2", "pending", 1);
    char id[40];
    snprintf(id, sizeof id, "%s", js(d, "id"));
    cJSON_Delete(d);
    cJSON_Delete(log);

    assert_int_equal(server_stop_keep(&srv), 0);
    merchant_answers(200);
    server_restart(&srv, virtual_clock);
    /* The new virtual clock starts from the real time again. */
    advance(13 * HOUR_S);
    log = wait_received("wh-2", 2);
    d = wait_delivery("wh-2", "delivered", 2);
    assert_string_equal(js(d, "id"), id);
    assert_string_equal(jstr(fm_nth(log, "end_of_dunning", "wh-2", 1), "dedup_id"), id);
    assert_all_signed(log);
    cJSON_Delete(d);
    cJSON_Delete(log);
}

static int run_ctl(const char *args, const char *out_path)
{
    const char *ctl = getenv("RECOUPCTL");
    if (!ctl || !*ctl)
        ctl = "./build/recoupctl";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --admin http://127.0.0.1:%d %s >%s 2>&1", ctl, srv.admin, args, out_path);
    return system(cmd);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void the_delivery_log_lists_shows_and_redelivers(void **state)
{
    (void)state;
    lost_card("wh-3");
    cJSON_Delete(wait_received("wh-3", 1));
    cJSON *d = wait_delivery("wh-3", "delivered", 1);
    char id[40];
    snprintf(id, sizeof id, "%s", js(d, "id"));
    cJSON_Delete(d);

    /* One delivery by its id, and filters that exclude it. */
    char path[300];
    snprintf(path, sizeof path, "/admin/merchants/sandbox/recover/webhooks/%s", id);
    hres *r = rc_admin(&srv, "GET", path, NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, strcmp(js(r->json, "state"), "delivered") == 0);
    CHECK(r, strcmp(js(r->json, "invoice_id"), "wh-3") == 0);
    CHECK(r, strstr(js(r->json, "url"), "/webhooks/end-of-dunning") != NULL);
    CHECK(r, jstr(r->json, "give_up_at") != NULL);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/webhooks?state=failed&invoice_id=wh-3", NULL);
    CHECK_STATUS(r, 200);
    CHECK(r, cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, "webhooks")) == 0);
    hres_free(r);

    /* recoupctl: the table names it; a redelivery sends it again, same id. */
    char out[320];
    snprintf(out, sizeof out, "%s.ctl", srv.dir);
    assert_int_equal(run_ctl("recover webhooks sandbox --state=delivered --invoice=wh-3", out), 0);
    char *text = read_all(out);
    assert_non_null(strstr(text, id));
    assert_non_null(strstr(text, "end_of_dunning"));
    free(text);
    char args[200];
    snprintf(args, sizeof args, "recover redeliver sandbox %s", id);
    assert_int_equal(run_ctl(args, out), 0);
    cJSON *log = wait_received("wh-3", 2);
    assert_string_equal(jstr(fm_nth(log, "end_of_dunning", "wh-3", 1), "dedup_id"), id);
    assert_all_signed(log);
    cJSON_Delete(log);
    d = wait_delivery("wh-3", "delivered", 2);
    cJSON_Delete(d);

    /* What does not exist is a 404; a bad filter a 400. */
    r = rc_admin(&srv, "POST",
                 "/admin/merchants/sandbox/recover/webhooks/ffffffffffffffffffffffffffffffff/redeliver", "{}");
    CHECK_STATUS(r, 404);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/webhooks/not-an-id", NULL);
    CHECK_STATUS(r, 404);
    hres_free(r);
    snprintf(path, sizeof path, "/admin/merchants/nobody/recover/webhooks/%s", id);
    r = rc_admin(&srv, "GET", path, NULL);
    CHECK_STATUS(r, 404);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/webhooks?state=lost", NULL);
    CHECK_STATUS(r, 400);
    hres_free(r);
    r = rc_admin(&srv, "GET", "/admin/merchants/sandbox/recover/webhooks?limit=0", NULL);
    CHECK_STATUS(r, 400);
    hres_free(r);
    snprintf(args, sizeof args, "recover redeliver sandbox ffffffffffffffffffffffffffffffff");
    assert_int_not_equal(run_ctl(args, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(redelivered_after_the_interval_and_delivered_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_pending_delivery_survives_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(the_delivery_log_lists_shows_and_redelivers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
