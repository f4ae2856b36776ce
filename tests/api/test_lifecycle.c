/* The daemon's life: start, serve, health and readiness, graceful stop
 * with a clean exit (no leak reported by the sanitizers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void starts_serves_and_stops_cleanly(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    assert_true(strlen(s.gateway_key) > 20);

    hres *h = http_do("GET", s.admin, "/healthz", NULL, NULL);
    assert_int_equal(h->status, 200);
    assert_string_equal(jstr(h->json, "status"), "ok");
    hres_free(h);

    h = http_do("GET", s.admin, "/readyz", NULL, NULL);
    assert_int_equal(h->status, 200);
    hres_free(h);

    char *id = make_card_payment(&s, "4242424242424242", "12.34");
    char path[300];
    snprintf(path, sizeof path, "/api/payments/%s", id);
    h = gw_do(&s, "GET", s.payments, path, NULL);
    assert_int_equal(h->status, 200);
    assert_string_equal(jstr(h->json, "status"), "success");
    assert_true(jnum(h->json, "amount") == 12.34);
    hres_free(h);
    free(id);

    h = http_do("GET", s.admin, "/metrics", NULL, NULL);
    assert_int_equal(h->status, 200);
    assert_non_null(strstr(h->body, "recoup_http_requests_total{listener=\"payments\",code=\"201\"} 1"));
    hres_free(h);

    assert_int_equal(server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starts_serves_and_stops_cleanly),
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
