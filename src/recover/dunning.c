/* The bodies of Recover's webhooks (spec/recover.md), made by the step that
 * changes the state they report and written in the same transaction. Field
 * order follows the spec; amounts are numbers in major units, as the
 * merchant sent them. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/jsonout.h"
#include "core/money.h"
#include "core/timefmt.h"
#include "recover/retries.h"
#include "recover/webhooks.h"

/* How long a webhook is redelivered; the dispatcher's own setting. */
static int64_t retry_for_ms(struct app *app)
{
    int64_t s = 7 * 86400;
    const char *v = config_get(app->cfg, "webhook_retry_for");
    if (v && *v)
        s = strtoll(v, NULL, 10);
    return s * 1000;
}

static cJSON *timestamp(int64_t now)
{
    char t[40];
    time_format_ms(now, t, sizeof t);
    return cJSON_CreateString(t);
}

static cJSON *custom_of(const struct rc_invoice *inv)
{
    cJSON *c = inv->custom ? cJSON_Parse(inv->custom) : NULL;
    return c ? c : cJSON_CreateNull();
}

int rc_end_of_dunning_webhook(struct app *app, const struct rc_settings *s, const struct rc_invoice *inv,
                              int recovered, int64_t now, struct rc_webhook *out)
{
    if (!s->end_of_dunning_enabled || !s->end_of_dunning_url[0])
        return 0;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "timestamp", timestamp(now));
    cJSON_AddStringToObject(b, "invoice_id", inv->invoice_id);
    cJSON_AddBoolToObject(b, "recovered", recovered);
    cJSON_AddItemToObject(b, "custom", custom_of(inv));
    /* One End of Dunning per invoice: dunning ends once. */
    int rc = rc_webhook_make(out, inv->merchant_id, inv->env, RC_WEBHOOK_END_OF_DUNNING, inv->invoice_id,
                             s->end_of_dunning_url, inv->invoice_id, b, now, retry_for_ms(app));
    cJSON_Delete(b);
    return rc == 0 ? 1 : -1;
}

int rc_retry_result_webhook(struct app *app, const struct rc_settings *s, const struct rc_invoice *inv,
                            const struct rc_txn *original, const struct rc_retry *attempt, const struct rc_txn *charge,
                            int dunning_complete, int64_t now, struct rc_webhook *out)
{
    if (!s->retry_results_url[0])
        return 0;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "timestamp", timestamp(now));
    cJSON_AddStringToObject(b, "butter_id", attempt->attempt_id);
    cJSON_AddStringToObject(b, "customer_id", inv->customer_id);
    cJSON_AddStringToObject(b, "subscription_id", inv->subscription_id);
    cJSON_AddStringToObject(b, "invoice_id", inv->invoice_id);
    cJSON_AddStringToObject(b, "transaction_id", charge->transaction_id);
    cJSON_AddItemToObject(b, "original_psp_transaction_id",
                          json_str_or_null(original ? original->psp_transaction_id : NULL));
    cJSON *arr = cJSON_AddArrayToObject(b, "psp_transactions");
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "psp_transaction_id", charge->psp_transaction_id);
    cJSON_AddItemToObject(t, "network_transaction_id", json_str_or_null(charge->network_transaction_id));
    cJSON_AddStringToObject(t, "merchant_payment_method_id", charge->payment_method_id);
    cJSON_AddBoolToObject(t, "success", charge->success);
    cJSON_AddItemToArray(arr, t);
    cJSON_AddItemToObject(b, "original_amount", cJSON_CreateNumber(money_major(inv->amount_due, inv->currency)));
    cJSON_AddItemToObject(b, "amount_collected", cJSON_CreateNumber(money_major(charge->success ? charge->amount : 0, charge->currency)));
    cJSON_AddStringToObject(b, "currency", charge->currency[0] ? charge->currency : inv->currency);
    cJSON_AddBoolToObject(b, "success", charge->success);
    cJSON_AddBoolToObject(b, "dunning_complete", dunning_complete);
    cJSON_AddItemToObject(b, "custom", custom_of(inv));
    int rc = rc_webhook_make(out, inv->merchant_id, inv->env, RC_WEBHOOK_RETRY_RESULT, inv->invoice_id,
                             s->retry_results_url, attempt->attempt_id, b, now, retry_for_ms(app));
    cJSON_Delete(b);
    return rc == 0 ? 1 : -1;
}
