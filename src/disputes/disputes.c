/* Route table, error answers and rendering shared by the Disputes
 * endpoints. Every answer of this API has the body shape of the published
 * reference it follows: {"detail": text} for errors found before the
 * handler, {"detail": [{"loc", "msg", "type"}]} for invalid bodies. */
#include "disputes/disputes.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "core/money.h"
#include "core/timefmt.h"
#include "disputes/disputes_internal.h"

const struct route disputes_routes[] = {
    {"POST", "/v1/analytics", dsp_analytics_create, ROUTE_JSON_BODY},
    {"GET", "/v1/analytics/{id}", dsp_analytics_get, 0},
    {"POST", "/v1/analytics/{id}/disputed", dsp_analytics_mark_disputed, ROUTE_RAW_BODY},
    {"POST", "/v1/analytics/{id}/fraud_reported", dsp_analytics_mark_fraud, ROUTE_RAW_BODY},
    {"POST", "/v1/evidence", dsp_evidence_lookup, ROUTE_JSON_BODY},
};
const size_t disputes_routes_count = sizeof disputes_routes / sizeof disputes_routes[0];

void dsp_detail(http_resp *resp, int status, const char *text)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "detail", text);
    resp_json(resp, status, o);
}

void dsp_unprocessable(http_resp *resp, dsp_errs *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "detail", dsp_errs_take(e));
    resp_json(resp, 422, o);
}

void dsp_store_failed(http_resp *resp) { dsp_detail(resp, 500, "Internal Server Error"); }

static void fam_not_found(http_req *req, http_resp *resp)
{
    (void)req;
    dsp_detail(resp, 404, "Not Found");
}

static void fam_method_not_allowed(http_req *req, http_resp *resp, const char *allow)
{
    (void)req;
    dsp_detail(resp, 405, "Method Not Allowed");
    resp_set_header(resp, "Allow", allow);
}

static void fam_unsupported_media(http_req *req, http_resp *resp)
{
    (void)req;
    dsp_detail(resp, 415, "Unsupported Media Type: Content-Type must be application/json");
}

static void fam_too_large(http_req *req, http_resp *resp, size_t limit)
{
    (void)req;
    char text[96];
    snprintf(text, sizeof text, "Request body too large: the limit is %zu bytes", limit);
    dsp_detail(resp, 413, text);
}

/* Malformed JSON is answered like any invalid body, as the reference does. */
static void fam_bad_json(http_req *req, http_resp *resp, const char *detail)
{
    (void)req;
    dsp_errs e;
    dsp_errs_init(&e);
    dsp_errs_add(&e, NULL, NULL, "json_invalid", "JSON decode error: %s", detail);
    dsp_unprocessable(resp, &e);
}

static void fam_internal(http_req *req, http_resp *resp)
{
    (void)req;
    dsp_detail(resp, 500, "Internal Server Error");
}

const struct api_family disputes_family = {
    .name = "disputes",
    .not_found = fam_not_found,
    .method_not_allowed = fam_method_not_allowed,
    .unsupported_media = fam_unsupported_media,
    .too_large = fam_too_large,
    .bad_json = fam_bad_json,
    .internal = fam_internal,
    .authenticate = dsp_authenticate,
};

cJSON *dsp_time_json(int64_t ms)
{
    char t[40];
    time_format_ms(ms, t, sizeof t);
    return cJSON_CreateString(t);
}

static void add_text(cJSON *o, const char *name, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

cJSON *dsp_record_json(const struct dsp_record_row *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->record_id);
    cJSON_AddStringToObject(o, "environment", r->environment);
    cJSON_AddItemToObject(o, "received_at", dsp_time_json(r->received_at));
    cJSON_AddItemToObject(o, "purchased_at", dsp_time_json(r->purchased_at));
    add_text(o, "customer_email", r->customer_email);
    add_text(o, "ipv4_address", r->ipv4_address);
    add_text(o, "psp", r->psp);
    add_text(o, "customer_id", r->customer_id);
    add_text(o, "invoice_id", r->invoice_id);
    add_text(o, "subscription_id", r->subscription_id);
    add_text(o, "charge_id", r->charge_id);
    add_text(o, "transaction_id", r->transaction_id);
    add_text(o, "network_transaction_id", r->network_transaction_id);
    add_text(o, "user_agent", r->user_agent);
    add_text(o, "device_id", r->device_id);
    add_text(o, "account_id", r->account_id);
    add_text(o, "payment_credential", r->payment_credential);
    if (r->has_shipping) {
        cJSON *a = cJSON_AddObjectToObject(o, "shipping_address");
        add_text(a, "line1", r->shipping.line1);
        add_text(a, "line2", r->shipping.line2);
        add_text(a, "city", r->shipping.city);
        add_text(a, "state", r->shipping.state);
        add_text(a, "postal_code", r->shipping.postal_code);
        add_text(a, "country", r->shipping.country);
    } else {
        cJSON_AddNullToObject(o, "shipping_address");
    }
    if (r->has_amount) {
        char text[40];
        int e = currency_exponent(r->currency);
        money_format(r->amount, e < 0 ? 2 : e, text, sizeof text);
        cJSON_AddItemToObject(o, "amount", cJSON_CreateRaw(text));
        cJSON_AddStringToObject(o, "currency", r->currency);
    } else {
        cJSON_AddNullToObject(o, "amount");
        cJSON_AddNullToObject(o, "currency");
    }
    add_text(o, "product_description", r->product_description);
    cJSON_AddBoolToObject(o, "disputed", r->disputed_at != 0);
    cJSON_AddItemToObject(o, "disputed_at", r->disputed_at ? dsp_time_json(r->disputed_at) : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "fraud_reported", r->fraud_reported_at != 0);
    cJSON_AddItemToObject(o, "fraud_reported_at",
                          r->fraud_reported_at ? dsp_time_json(r->fraud_reported_at) : cJSON_CreateNull());
    return o;
}
