/* Routes, authentication and error answers of the Recover API, in the
 * shapes of spec/recover.md. */
#include "recover/recover.h"

#include <string.h>

#include "app.h"
#include "auth/api_keys.h"
#include "core/buf.h"

const struct route recover_routes[] = {
    {"POST", "/recover/payments", rc_payments_create, ROUTE_JSON_BODY},
    {"POST", "/recover/payment_method_updates", rc_pm_updates_create, ROUTE_JSON_BODY},
    {"GET", "/recover/invoices/{id}", rc_invoices_get, 0},
};
const size_t recover_routes_count = sizeof recover_routes / sizeof recover_routes[0];

static void rc_not_found(http_req *req, http_resp *resp)
{
    (void)req;
    resp_message(resp, 404, "Method/path combination not found", NULL);
}

/* The contract answers a wrong method on a known path like an unknown path. */
static void rc_method_not_allowed(http_req *req, http_resp *resp, const char *allow)
{
    (void)allow;
    rc_not_found(req, resp);
}


static void rc_too_large(http_req *req, http_resp *resp, size_t limit)
{
    (void)req;
    buf b;
    buf_init(&b);
    buf_printf(&b, "the request body must be at most %zu bytes", limit);
    resp_message(resp, 413, "Request body too large", cJSON_CreateString(buf_cstr(&b)));
    buf_free(&b);
}

static int rc_authenticate(http_req *req, http_resp *resp)
{
    int rc = api_key_authenticate(req, "recover");
    if (rc == -2)
        resp_message(resp, 503, "Service unavailable", NULL);
    else if (rc != 0)
        resp_message(resp, 403, "Forbidden", cJSON_CreateString("Invalid API key"));
    return rc == 0 ? 0 : -1;
}

const struct api_family recover_family = {
    .name = "recover",
    .not_found = rc_not_found,
    .method_not_allowed = rc_method_not_allowed,
    .too_large = rc_too_large,
    /* Malformed JSON, 415 and 500 take the generic answers, which are the
     * contract's own shapes. */
    .authenticate = rc_authenticate,
};
