/* The webhook delivery log on the admin listener: what was sent to a
 * merchant, with each delivery's state and last answer, and a way to send
 * one again (after the merchant fixed its endpoint, for instance). */
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "app.h"
#include "core/ids.h"
#include "core/jsonout.h"
#include "http/metrics.h"
#include "recover/webhooks.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

static int log_available(http_req *req, http_resp *resp)
{
    const struct store_recover_ops *ops = req->app->store->recover;
    if (ops && ops->webhooks_list && ops->webhook_get && ops->webhook_redeliver)
        return 1;
    resp_message(resp, 503, "The webhook delivery log is not available on this store", NULL);
    return 0;
}

static cJSON *webhook_json(const struct rc_webhook *w)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", w->webhook_id);
    cJSON_AddStringToObject(o, "type", w->type);
    cJSON_AddStringToObject(o, "env", w->env);
    cJSON_AddItemToObject(o, "invoice_id", json_str_or_null(w->invoice_id));
    cJSON_AddStringToObject(o, "url", w->url);
    cJSON_AddStringToObject(o, "state", w->state);
    cJSON_AddNumberToObject(o, "attempts", (double)w->attempts);
    if (w->last_status > 0)
        cJSON_AddNumberToObject(o, "last_status", (double)w->last_status);
    else
        cJSON_AddNullToObject(o, "last_status");
    cJSON_AddItemToObject(o, "last_error", json_str_or_null(w->last_error));
    cJSON_AddItemToObject(o, "created_at", json_time(1, w->created_at));
    cJSON_AddItemToObject(o, "next_attempt_at", json_time(strcmp(w->state, "pending") == 0, w->next_attempt_at));
    cJSON_AddItemToObject(o, "delivered_at", json_time(w->delivered_at != 0, w->delivered_at));
    cJSON_AddItemToObject(o, "give_up_at", json_time(1, w->give_up_at));
    cJSON *body = w->body ? cJSON_Parse(w->body) : NULL;
    cJSON_AddItemToObject(o, "body", body ? body : json_str_or_null(w->body));
    return o;
}

static void webhooks_list(http_req *req, http_resp *resp)
{
    if (!admin_merchant_exists(req, resp) || !log_available(req, resp))
        return;
    struct app *app = req->app;
    const char *state = http_query(req, "state");
    const char *invoice = http_query(req, "invoice_id");
    const char *limit_text = http_query(req, "limit");
    if (state && !*state)
        state = NULL;
    if (invoice && !*invoice)
        invoice = NULL;
    if (state && strcmp(state, "pending") != 0 && strcmp(state, "delivered") != 0 && strcmp(state, "failed") != 0) {
        resp_message(resp, 400, "state must be pending, delivered or failed", NULL);
        return;
    }
    int64_t limit = LIST_DEFAULT;
    if (limit_text && (str_to_i64(limit_text, &limit) != 0 || limit < 1 || limit > LIST_MAX)) {
        resp_message(resp, 400, "limit must be a whole number from 1 to 1000", NULL);
        return;
    }
    struct rc_webhook *rows = NULL;
    size_t n = 0;
    if (app->store->recover->webhooks_list(app->store, http_param(req, 0), state, invoice, (int)limit, &rows, &n) !=
        STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "webhooks");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(arr, webhook_json(&rows[i]));
        free(rows[i].body);
    }
    free(rows);
    resp_json(resp, 200, o);
}

/* Ids are 32 lower-case hex characters; anything else cannot exist. */
static int get_one(http_req *req, http_resp *resp, struct rc_webhook *w)
{
    const char *id = http_param(req, 1);
    enum store_rc rc = STORE_NOT_FOUND;
    memset(w, 0, sizeof *w);
    if (id_matches(id, 32, ID_HEX))
        rc = req->app->store->recover->webhook_get(req->app->store, http_param(req, 0), id, w);
    if (rc == STORE_NOT_FOUND)
        resp_message(resp, 404, "No such webhook", NULL);
    else if (rc != STORE_OK)
        resp_message(resp, 500, "Internal server error", NULL);
    return rc == STORE_OK;
}

static void webhook_show(http_req *req, http_resp *resp)
{
    if (!admin_merchant_exists(req, resp) || !log_available(req, resp))
        return;
    struct rc_webhook w;
    if (!get_one(req, resp, &w))
        return;
    resp_json(resp, 200, webhook_json(&w));
    free(w.body);
}

/* Pending again at once, with a full redelivery period from now: a
 * merchant who fixed its endpoint after the delivery was given up gets
 * the same redelivery policy as a new event. */
static void webhook_redeliver(http_req *req, http_resp *resp)
{
    if (!admin_merchant_exists(req, resp) || !log_available(req, resp))
        return;
    struct app *app = req->app;
    const char *id = http_param(req, 1);
    int64_t now = clock_now_ms(app->clock);
    enum store_rc rc = id_matches(id, 32, ID_HEX)
                           ? app->store->recover->webhook_redeliver(app->store, http_param(req, 0), id, now,
                                                                     now + app->webhooks.retry_for_s * 1000)
                           : STORE_NOT_FOUND;
    if (rc == STORE_NOT_FOUND) {
        resp_message(resp, 404, "No such webhook", NULL);
        return;
    }
    if (rc != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    metrics_count("recoup_recover_webhooks_redeliver_requests_total", 1);
    webhook_dispatcher_kick(app);
    struct rc_webhook w;
    if (!get_one(req, resp, &w))
        return;
    resp_json(resp, 200, webhook_json(&w));
    free(w.body);
}

const struct route recover_webhook_admin_routes[] = {
    {"GET", "/admin/merchants/{id}/recover/webhooks", webhooks_list, 0},
    {"GET", "/admin/merchants/{id}/recover/webhooks/{webhook}", webhook_show, 0},
    {"POST", "/admin/merchants/{id}/recover/webhooks/{webhook}/redeliver", webhook_redeliver, ROUTE_RAW_BODY},
};
const size_t recover_webhook_admin_routes_count =
    sizeof recover_webhook_admin_routes / sizeof recover_webhook_admin_routes[0];
