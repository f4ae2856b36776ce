/* Read access to an invoice: its state, its transactions, its history. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/jsonout.h"
#include "recover/recover.h"

static cJSON *txn_json(const struct rc_txn *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "transaction_id", t->transaction_id);
    cJSON_AddStringToObject(o, "psp_transaction_id", t->psp_transaction_id);
    cJSON_AddStringToObject(o, "psp", t->psp);
    cJSON_AddItemToObject(o, "amount", json_money(t->amount, t->currency));
    cJSON_AddStringToObject(o, "currency", t->currency);
    cJSON_AddBoolToObject(o, "success", t->success);
    cJSON_AddItemToObject(o, "psp_transaction_created_at", json_time(1, t->psp_created_at));
    cJSON_AddStringToObject(o, "payment_method_id", t->payment_method_id);
    cJSON_AddStringToObject(o, "scheme", t->scheme);
    cJSON_AddStringToObject(o, "funding_source", t->funding_source);
    cJSON_AddStringToObject(o, "acquirer_country", t->acquirer_country);
    cJSON *outcome = cJSON_AddObjectToObject(o, "outcome");
    cJSON_AddStringToObject(outcome, "raw_response_message", t->raw_response_message);
    cJSON_AddItemToObject(outcome, "psp_response_message", json_str_or_null(t->psp_response_message));
    cJSON_AddItemToObject(outcome, "processor_response_code", json_str_or_null(t->processor_response_code));
    cJSON_AddItemToObject(outcome, "network_status", json_str_or_null(t->network_status));
    cJSON_AddItemToObject(outcome, "response_type", json_str_or_null(t->response_type));
    cJSON_AddStringToObject(o, "origin", t->origin);
    /* Everything the merchant sent, as sent (custom fields, enhanced data). */
    cJSON *raw = t->raw ? cJSON_Parse(t->raw) : NULL;
    cJSON_AddItemToObject(o, "received", raw ? raw : cJSON_CreateNull());
    return o;
}

static cJSON *decision_json(const struct rc_decision_row *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", (double)d->seq);
    cJSON_AddItemToObject(o, "decided_at", json_time(1, d->decided_at));
    cJSON_AddStringToObject(o, "action", d->action);
    cJSON_AddStringToObject(o, "reason", d->reason);
    cJSON_AddStringToObject(o, "decline_class", d->decline_class);
    cJSON_AddItemToObject(o, "planned_at", json_time(d->planned_at != 0, d->planned_at));
    if (strcmp(d->action, "retry") == 0)
        cJSON_AddNumberToObject(o, "predicted_success", (double)(int64_t)(d->predicted_success * 10000 + 0.5) / 10000);
    else
        cJSON_AddNullToObject(o, "predicted_success");
    cJSON_AddItemToObject(o, "limited_by", json_str_or_null(d->limited_by));
    cJSON_AddItemToObject(o, "payment_method_id", json_str_or_null(d->payment_method_id));
    cJSON_AddStringToObject(o, "explanation", d->explanation);
    cJSON *alts = d->alternatives ? cJSON_Parse(d->alternatives) : NULL;
    cJSON_AddItemToObject(o, "alternatives", alts ? alts : cJSON_CreateArray());
    return o;
}

static cJSON *retry_json(const struct rc_retry *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "attempt_id", r->attempt_id);
    cJSON_AddNumberToObject(o, "attempt_no", (double)r->attempt_no);
    cJSON_AddItemToObject(o, "due_at", json_time(1, r->due_at));
    cJSON_AddStringToObject(o, "state", r->state);
    cJSON_AddItemToObject(o, "payment_method_id", json_str_or_null(r->payment_method_id));
    cJSON_AddNumberToObject(o, "postponements", (double)r->postponements);
    cJSON_AddItemToObject(o, "last_error", json_str_or_null(r->last_error));
    cJSON_AddItemToObject(o, "updated_at", json_time(1, r->updated_at));
    return o;
}

/* The planner's decisions and Recover's attempts: why the invoice waits,
 * and for what. */
static int add_plan(struct app *app, cJSON *o, const struct rc_invoice *inv)
{
    const struct store_recover_ops *ops = app->store->recover;
    cJSON_AddItemToObject(o, "next_retry_at", json_time(inv->next_retry_at != 0, inv->next_retry_at));
    cJSON_AddNumberToObject(o, "recover_attempts", (double)inv->recover_attempts);
    struct rc_decision_row *ds = NULL;
    struct rc_retry *rs = NULL;
    size_t nd = 0, nr = 0;
    if (!ops->decisions_list || !ops->retries_list)
        return 0;
    if (ops->decisions_list(app->store, inv->merchant_id, inv->env, inv->invoice_id, &ds, &nd) != STORE_OK ||
        ops->retries_list(app->store, inv->merchant_id, inv->env, inv->invoice_id, &rs, &nr) != STORE_OK) {
        rc_decisions_free(ds, nd);
        free(rs);
        return -1;
    }
    cJSON *arr = cJSON_AddArrayToObject(o, "decisions");
    for (size_t i = 0; i < nd; i++)
        cJSON_AddItemToArray(arr, decision_json(&ds[i]));
    arr = cJSON_AddArrayToObject(o, "retries");
    for (size_t i = 0; i < nr; i++)
        cJSON_AddItemToArray(arr, retry_json(&rs[i]));
    rc_decisions_free(ds, nd);
    free(rs);
    return 0;
}

void recover_invoice_answer(struct app *app, const char *merchant_id, const char *env, const char *invoice_id,
                            http_resp *resp)
{
    struct rc_invoice inv;
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    enum store_rc rc =
        app->store->recover->invoice_get(app->store, merchant_id, env, invoice_id, &inv, &txns, &ntxns, &events, &nevents);
    if (rc == STORE_NOT_FOUND) {
        resp_message(resp, 404, "Invoice not found", NULL);
        return;
    }
    if (rc != STORE_OK) {
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "invoice_id", inv.invoice_id);
    cJSON_AddStringToObject(o, "environment", inv.env);
    cJSON_AddStringToObject(o, "state", inv.state);
    cJSON_AddItemToObject(o, "state_reason", json_str_or_null(inv.state_reason));
    cJSON_AddStringToObject(o, "customer_id", inv.customer_id);
    cJSON_AddStringToObject(o, "subscription_id", inv.subscription_id);
    cJSON_AddItemToObject(o, "created_at", json_time(1, inv.created_at));
    cJSON_AddItemToObject(o, "amount_due", json_money(inv.amount_due, inv.currency));
    cJSON_AddStringToObject(o, "currency", inv.currency);
    cJSON_AddItemToObject(o, "dunning_started_at", json_time(inv.has_dunning_started, inv.dunning_started_at));
    cJSON_AddItemToObject(o, "closed_at", json_time(inv.has_closed, inv.closed_at));
    cJSON_AddNumberToObject(o, "failed_attempts", (double)inv.failed_attempts);
    cJSON *custom = inv.custom ? cJSON_Parse(inv.custom) : NULL;
    cJSON_AddItemToObject(o, "custom", custom ? custom : cJSON_CreateNull());
    cJSON *arr = cJSON_AddArrayToObject(o, "transactions");
    for (size_t i = 0; i < ntxns; i++)
        cJSON_AddItemToArray(arr, txn_json(&txns[i]));
    if (add_plan(app, o, &inv) != 0) {
        cJSON_Delete(o);
        free(inv.custom);
        rc_txns_free(txns, ntxns);
        free(events);
        resp_message(resp, 500, "Internal server error", NULL);
        return;
    }
    cJSON *hist = cJSON_AddArrayToObject(o, "history");
    for (size_t i = 0; i < nevents; i++) {
        cJSON *h = cJSON_CreateObject();
        cJSON_AddItemToObject(h, "at", json_time(1, events[i].at));
        cJSON_AddItemToObject(h, "from", json_str_or_null(events[i].from_state));
        cJSON_AddStringToObject(h, "to", events[i].to_state);
        cJSON_AddItemToObject(h, "reason", json_str_or_null(events[i].reason));
        cJSON_AddItemToArray(hist, h);
    }
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);
    resp_json(resp, 200, o);
}
