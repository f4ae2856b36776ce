#include "admin/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth/api_keys.h"
#include "core/jsonv.h"
#include "core/ttl_cache.h"
#include "core/timefmt.h"
#include "disputes/disputes.h"
#include "gateway/gateway.h"
#include "http/metrics.h"
#include "store/store.h"

static void healthz(http_req *req, http_resp *resp)
{
    (void)req;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    resp_json(resp, 200, o);
}

static void readyz(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    int ready = atomic_load(&app->ready) && !atomic_load(&app->shutting_down);
    int store_ok = app->store->ops->ping(app->store) == 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", ready && store_ok ? "ready" : "not ready");
    cJSON_AddBoolToObject(o, "store", store_ok);
    cJSON_AddBoolToObject(o, "shutting_down", atomic_load(&app->shutting_down));
    resp_json(resp, ready && store_ok ? 200 : 503, o);
}

static void metrics(http_req *req, http_resp *resp)
{
    (void)req;
    buf b;
    buf_init(&b);
    metrics_render(&b);
    resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", buf_cstr(&b));
    buf_free(&b);
}

static void settle(http_req *req, http_resp *resp)
{
    int64_t batch_at = 0;
    int64_t n = gateway_settle_now(req->app, &batch_at);
    if (n < 0) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "settled", (double)n);
    char t[40];
    time_format_ms(batch_at, t, sizeof t);
    cJSON_AddStringToObject(o, "batch_at", t);
    resp_json(resp, 200, o);
}

static cJSON *merchant_json(const struct merchant_row *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "merchant_id", m->merchant_id);
    cJSON_AddStringToObject(o, "name", m->name);
    char t[40];
    time_format_ms(m->created_at, t, sizeof t);
    cJSON_AddStringToObject(o, "created_at", t);
    return o;
}

int admin_merchant_exists(http_req *req, http_resp *resp)
{
    struct merchant_row m;
    enum store_rc rc = req->app->store->ops->merchant_get(req->app->store, http_param(req, 0), &m);
    if (rc == STORE_NOT_FOUND)
        resp_message(resp, 404, "No such merchant", NULL);
    else if (rc != STORE_OK)
        resp_message(resp, 500, "Internal server error", NULL);
    return rc == STORE_OK;
}

static void merchants_list(http_req *req, http_resp *resp)
{
    struct merchant_row *rows = NULL;
    size_t n = 0;
    if (req->app->store->ops->merchant_list(req->app->store, &rows, &n) != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, merchant_json(&rows[i]));
    free(rows);
    resp_json(resp, 200, arr);
}

static const char *check_merchant_id(const cJSON *v)
{
    for (const char *p = v->valuestring; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return "may contain only lower-case letters, digits, '_' and '-'";
    return NULL;
}

static void merchants_create(http_req *req, http_resp *resp)
{
    verrs e;
    verrs_init(&e);
    const struct jv_field fields[] = {
        {"merchant_id", JV_STRING, JV_REQUIRED, 63, check_merchant_id},
        {"name", JV_STRING, JV_REQUIRED, 127, NULL},
    };
    if (!cJSON_IsObject(req->json))
        verrs_add(&e, "body", "must be a JSON object");
    else
        jv_check(req->json, "", fields, 2, 1, &e);
    if (e.count) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    struct merchant_row m;
    memset(&m, 0, sizeof m);
    str_copy(m.merchant_id, sizeof m.merchant_id, jv_get_string(req->json, "merchant_id"));
    str_copy(m.name, sizeof m.name, jv_get_string(req->json, "name"));
    m.created_at = clock_now_ms(req->app->clock);
    enum store_rc rc = req->app->store->ops->merchant_create(req->app->store, &m);
    if (rc == STORE_EXISTS)
        resp_message(resp, 409, "A merchant with this id exists", NULL);
    else if (rc != STORE_OK)
        resp_message(resp, 500, "Internal server error", NULL);
    else
        resp_json(resp, 201, merchant_json(&m));
}

static void merchants_get(http_req *req, http_resp *resp)
{
    struct merchant_row m;
    enum store_rc rc = req->app->store->ops->merchant_get(req->app->store, http_param(req, 0), &m);
    if (rc == STORE_NOT_FOUND)
        resp_message(resp, 404, "No such merchant", NULL);
    else if (rc != STORE_OK)
        resp_message(resp, 500, "Internal server error", NULL);
    else
        resp_json(resp, 200, merchant_json(&m));
}

static cJSON *key_json(const struct api_key_row *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key_id", k->key_id);
    cJSON_AddStringToObject(o, "merchant_id", k->merchant_id);
    cJSON_AddStringToObject(o, "service", k->service);
    cJSON_AddStringToObject(o, "env", k->env);
    cJSON_AddStringToObject(o, "label", k->label);
    char t[40];
    time_format_ms(k->created_at, t, sizeof t);
    cJSON_AddStringToObject(o, "created_at", t);
    if (k->revoked_at) {
        time_format_ms(k->revoked_at, t, sizeof t);
        cJSON_AddStringToObject(o, "revoked_at", t);
    } else {
        cJSON_AddNullToObject(o, "revoked_at");
    }
    return o;
}

static const char *check_service(const cJSON *v)
{
    return strcmp(v->valuestring, "gateway") == 0 || strcmp(v->valuestring, "recover") == 0
               ? NULL
               : "must be gateway or recover";
}

static const char *check_env(const cJSON *v)
{
    return strcmp(v->valuestring, "sandbox") == 0 || strcmp(v->valuestring, "production") == 0
               ? NULL
               : "must be sandbox or production";
}

static void keys_create(http_req *req, http_resp *resp)
{
    verrs e;
    verrs_init(&e);
    const struct jv_field fields[] = {
        {"service", JV_STRING, JV_REQUIRED, 16, check_service},
        {"env", JV_STRING, JV_REQUIRED, 16, check_env},
        {"label", JV_STRING, JV_ALLOW_EMPTY, 63, NULL},
    };
    if (!cJSON_IsObject(req->json))
        verrs_add(&e, "body", "must be a JSON object");
    else
        jv_check(req->json, "", fields, 3, 1, &e);
    if (e.count) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    char key[API_KEY_MAX];
    struct api_key_row row;
    enum store_rc rc = api_key_create(req->app, http_param(req, 0), jv_get_string(req->json, "service"),
                                      jv_get_string(req->json, "env"), jv_get_string(req->json, "label"), key,
                                      sizeof key, &row);
    if (rc == STORE_NOT_FOUND) {
        resp_message(resp, 404, "No such merchant", NULL);
        return;
    }
    if (rc != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = key_json(&row);
    cJSON_AddStringToObject(o, "api_key", key);
    cJSON_AddStringToObject(o, "note", "the key is shown once; only its hash is stored");
    resp_json(resp, 201, o);
}

static void keys_list(http_req *req, http_resp *resp)
{
    struct api_key_row *rows = NULL;
    size_t n = 0;
    if (!admin_merchant_exists(req, resp))
        return;
    if (req->app->store->ops->api_key_list(req->app->store, http_param(req, 0), &rows, &n) != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, key_json(&rows[i]));
    free(rows);
    resp_json(resp, 200, arr);
}

static void keys_revoke(http_req *req, http_resp *resp)
{
    enum store_rc rc = req->app->store->ops->api_key_revoke(req->app->store, http_param(req, 0), http_param(req, 1),
                                                            clock_now_ms(req->app->clock));
    /* This process forgets the key at once; others within the cache's ttl. */
    ttl_cache_clear(req->app->api_keys);
    if (rc == STORE_NOT_FOUND)
        resp_message(resp, 404, "No such active key for this merchant", NULL);
    else if (rc != STORE_OK)
        resp_message(resp, 500, "Internal server error", NULL);
    else
        resp_message(resp, 200, "revoked", NULL);
}

static void clock_show(http_req *req, http_resp *resp)
{
    cJSON *o = cJSON_CreateObject();
    char t[40];
    time_format_ms(clock_now_ms(req->app->clock), t, sizeof t);
    cJSON_AddStringToObject(o, "now", t);
    cJSON_AddBoolToObject(o, "virtual", clock_is_virtual(req->app->clock));
    resp_json(resp, 200, o);
}

static void clock_advance(http_req *req, http_resp *resp)
{
    if (!clock_is_virtual(req->app->clock)) {
        resp_message(resp, 409, "The clock is real; start recoupd with --clock=virtual to move it", NULL);
        return;
    }
    verrs e;
    verrs_init(&e);
    const struct jv_field fields[] = {{"seconds", JV_INT, JV_REQUIRED, 0, NULL}};
    if (!cJSON_IsObject(req->json))
        verrs_add(&e, "body", "must be a JSON object");
    else
        jv_check(req->json, "", fields, 1, 1, &e);
    const cJSON *s = jv_get(req->json, "seconds");
    if (!e.count && (s->valuedouble < 0 || s->valuedouble > 366.0 * 86400))
        verrs_add(&e, "seconds", "must be from 0 to one year");
    if (e.count) {
        resp_message(resp, 400, "Invalid request body", verrs_take(&e));
        return;
    }
    verrs_free(&e);
    clock_advance_ms(req->app->clock, (int64_t)s->valuedouble * 1000);
    clock_show(req, resp);
}

const struct route admin_routes[] = {
    {"GET", "/healthz", healthz, 0},
    {"GET", "/readyz", readyz, 0},
    {"GET", "/metrics", metrics, 0},
    {"POST", "/admin/settlements", settle, ROUTE_RAW_BODY},
    {"GET", "/admin/merchants", merchants_list, 0},
    {"POST", "/admin/merchants", merchants_create, ROUTE_JSON_BODY},
    {"GET", "/admin/merchants/{id}", merchants_get, 0},
    {"GET", "/admin/merchants/{id}/keys", keys_list, 0},
    {"POST", "/admin/merchants/{id}/keys", keys_create, ROUTE_JSON_BODY},
    {"DELETE", "/admin/merchants/{id}/keys/{key}", keys_revoke, 0},
    {"GET", "/admin/merchants/{id}/disputes/credentials", disputes_admin_credentials_list, 0},
    {"POST", "/admin/merchants/{id}/disputes/credentials", disputes_admin_credentials_create, ROUTE_JSON_BODY},
    {"DELETE", "/admin/merchants/{id}/disputes/credentials/{username}", disputes_admin_credentials_revoke, 0},
    {"PUT", "/admin/merchants/{id}/disputes", disputes_admin_merchant_set, ROUTE_JSON_BODY},
    {"POST", "/admin/disputes/purge", disputes_admin_purge, ROUTE_RAW_BODY},
    {"GET", "/admin/clock", clock_show, 0},
    {"POST", "/admin/clock/advance", clock_advance, ROUTE_JSON_BODY},
};
const size_t admin_routes_count = sizeof admin_routes / sizeof admin_routes[0];

const struct api_family admin_family = {.name = "admin"};
