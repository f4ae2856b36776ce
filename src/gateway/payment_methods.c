/* Stored payment methods (the vault): card details in, token out, so other
 * services can charge a card without ever handling its number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "gateway/card.h"
#include "core/jsonout.h"
#include "gateway/gateway_internal.h"

void gw_string_or_int(const cJSON *v, char *out, size_t outsz)
{
    if (cJSON_IsString(v))
        snprintf(out, outsz, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(out, outsz, "%lld", (long long)v->valuedouble);
    else if (outsz)
        out[0] = '\0';
}

static const char *check_card_number_chars(const cJSON *v)
{
    for (const char *p = v->valuestring; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == ' ' || *p == '-'))
            return "must contain only digits (spaces or dashes between groups are allowed)";
    return NULL;
}

static const char *check_digits(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return v->valuedouble >= 0 ? NULL : "must be digits";
    for (const char *p = v->valuestring; *p; p++)
        if (*p < '0' || *p > '9')
            return "must be digits";
    return NULL;
}

void gw_card_read(const cJSON *obj, const char *path, int cvv_required, int64_t now_ms, struct card_input *card,
                  verrs *e)
{
    memset(card, 0, sizeof *card);
    const struct jv_field fields[] = {
        {"number", JV_STRING, JV_REQUIRED, 40, check_card_number_chars},
        {"name", JV_STRING, JV_REQUIRED | JV_MAX_CHARS, 100, NULL},
        {"expiration_month", JV_STRING_OR_INT, JV_REQUIRED, 2, NULL},
        {"expiration_year", JV_STRING_OR_INT, JV_REQUIRED, 4, NULL},
        {"cvv", JV_STRING_OR_INT, cvv_required ? JV_REQUIRED : 0, 4, check_digits},
    };
    int before = e->count;
    jv_check(obj, path, fields, sizeof fields / sizeof fields[0], 0, e);
    char fp[128], text[32];
    int month = 0, year = 0;
    const cJSON *v = jv_get(obj, "expiration_month");
    if (v && (cJSON_IsString(v) || cJSON_IsNumber(v))) {
        gw_string_or_int(v, text, sizeof text);
        if (card_parse_month(text, &month) != 0) {
            jv_path(fp, sizeof fp, path, "expiration_month");
            verrs_add(e, fp, "must be a month from 1 to 12");
        }
    }
    v = jv_get(obj, "expiration_year");
    if (v && (cJSON_IsString(v) || cJSON_IsNumber(v))) {
        gw_string_or_int(v, text, sizeof text);
        if (card_parse_year(text, &year) != 0) {
            jv_path(fp, sizeof fp, path, "expiration_year");
            verrs_add(e, fp, "must be a four-digit year");
        }
    }
    const char *name = jv_get_string(obj, "name");
    if (name) {
        int blank = 1;
        for (const char *p = name; *p && blank; p++)
            blank = *p == ' ' || *p == '\t';
        if (blank && *name) {
            jv_path(fp, sizeof fp, path, "name");
            verrs_add(e, fp, "must not be blank");
        }
    }
    if (e->count > before)
        return;

    const char *number = jv_get_string(obj, "number");
    int n = card_normalize(number, card->digits, sizeof card->digits);
    if (n < 0) {
        /* Well-formed text of the wrong length: the issuer would not know it. */
        size_t o = 0;
        for (const char *p = number; *p && o + 1 < sizeof card->digits; p++)
            if (*p >= '0' && *p <= '9')
                card->digits[o++] = *p;
        card->digits[o] = '\0';
        card->decline = "incorrect_number";
    }
    str_copy(card->brand, sizeof card->brand, card_brand(card->digits));
    card_mask(card->digits, card->masked, sizeof card->masked);
    str_copy(card->name, sizeof card->name, name);
    snprintf(card->exp_month, sizeof card->exp_month, "%02d", month);
    snprintf(card->exp_year, sizeof card->exp_year, "%04d", year);
    const cJSON *cvv = jv_get(obj, "cvv");
    char cvvtext[16] = "";
    if (cvv) {
        card->has_cvv = 1;
        gw_string_or_int(cvv, cvvtext, sizeof cvvtext);
    }
    card->bad_number = card->decline != NULL || !card_luhn_ok(card->digits);
    card->expired = !card_expiry_valid(month, year, now_ms);
    card->bad_cvv = card->has_cvv && !card_cvv_ok(cvvtext, card->brand);
    /* An issuer answers with one reason; this is the order they check in. */
    card->decline = card->bad_number ? "incorrect_number"
                    : card->expired  ? "expired_card"
                    : card->bad_cvv  ? "incorrect_cvc"
                                     : NULL;
}

static cJSON *pm_json(const struct payment_method_row *pm)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "payment_method_id", pm->payment_method_id);
    cJSON_AddStringToObject(o, "type", pm->type);
    cJSON_AddStringToObject(o, "brand", pm->brand);
    cJSON_AddStringToObject(o, "bin", pm->bin);
    cJSON_AddStringToObject(o, "last4", pm->last4);
    cJSON_AddStringToObject(o, "number", pm->masked);
    cJSON_AddStringToObject(o, "name", pm->name);
    cJSON_AddStringToObject(o, "expiration_month", pm->exp_month);
    cJSON_AddStringToObject(o, "expiration_year", pm->exp_year);
    cJSON_AddItemToObject(o, "created_at", json_time(1, pm->created_at));
    return o;
}

static const char *check_pm_type(const cJSON *v)
{
    return strcmp(v->valuestring, "credit_card") == 0 ? NULL : "must be credit_card";
}

void gw_payment_methods_create(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    struct gw_idem idem;
    if (gw_idem_begin(req, resp, "POST /api/payment_methods", &idem))
        return;
    verrs e;
    verrs_init(&e);
    if (!cJSON_IsObject(req->json)) {
        verrs_add(&e, "body", "must be a JSON object");
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    const struct jv_field top[] = {
        {"type", JV_STRING, 0, 32, check_pm_type},
        {"number", JV_ANY, 0, 0, NULL},
        {"name", JV_ANY, 0, 0, NULL},
        {"expiration_month", JV_ANY, 0, 0, NULL},
        {"expiration_year", JV_ANY, 0, 0, NULL},
        {"cvv", JV_ANY, 0, 0, NULL},
    };
    jv_check(req->json, "", top, sizeof top / sizeof top[0], 1, &e);
    int64_t now = clock_now_ms(app->clock);
    struct card_input card;
    gw_card_read(req->json, "", 0, now, &card, &e);
    if (e.count == 0 && card.decline) {
        /* Nothing is charged here, so an unusable card is simply invalid
         * input, and every problem with it is worth reporting at once. */
        if (card.bad_number)
            verrs_add(&e, "number", "is not a valid card number (length or check digit)");
        if (card.expired)
            verrs_add(&e, "expiration_year", "the card has expired (expiration_month/expiration_year)");
        if (card.bad_cvv)
            verrs_add(&e, "cvv", "has the wrong length for this card brand");
    }
    if (e.count) {
        gw_invalid(resp, "Invalid request body", &e);
        return;
    }
    verrs_free(&e);

    struct payment_method_row pm;
    memset(&pm, 0, sizeof pm);
    str_copy(pm.merchant_id, sizeof pm.merchant_id, req->merchant_id);
    id_random_prefixed(pm.payment_method_id, sizeof pm.payment_method_id, "pm_", 32, ID_ALNUM);
    str_copy(pm.type, sizeof pm.type, "credit_card");
    str_copy(pm.brand, sizeof pm.brand, card.brand);
    memcpy(pm.bin, card.digits, 6);
    str_copy(pm.last4, sizeof pm.last4, card.digits + strlen(card.digits) - 4);
    str_copy(pm.masked, sizeof pm.masked, card.masked);
    str_copy(pm.name, sizeof pm.name, card.name);
    str_copy(pm.exp_month, sizeof pm.exp_month, card.exp_month);
    str_copy(pm.exp_year, sizeof pm.exp_year, card.exp_year);
    char *sealed = crypto_seal_text(app->card_key, card.digits);
    if (!sealed) {
        gw_store_failed(resp);
        return;
    }
    str_copy(pm.sealed, sizeof pm.sealed, sealed);
    free(sealed);
    pm.created_at = now;

    cJSON *body = pm_json(&pm);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    struct idem_in in;
    gw_idem_prepare(&idem, &in, 201, text, now);
    struct idem_out out = {0, NULL};
    enum store_rc rc = app->store->gateway->payment_method_insert(app->store, &pm, &in, &out);
    if (rc == STORE_OK) {
        resp_text(resp, 201, NULL, text);
    } else if (rc == STORE_REPLAY || rc == STORE_IDEM_MISMATCH) {
        gw_idem_answer(resp, rc, &out);
    } else {
        gw_store_failed(resp);
    }
    cJSON_free(text);
}

void gw_payment_methods_get(http_req *req, http_resp *resp)
{
    struct payment_method_row pm;
    enum store_rc rc = req->app->store->gateway->payment_method_get(req->app->store, req->merchant_id, http_param(req, 0), &pm);
    if (rc == STORE_OK)
        resp_json(resp, 200, pm_json(&pm));
    else if (rc == STORE_NOT_FOUND)
        gw_not_found_empty(resp);
    else
        gw_store_failed(resp);
}

void gw_payment_methods_delete(http_req *req, http_resp *resp)
{
    struct payment_method_row pm;
    struct store *s = req->app->store;
    enum store_rc rc = s->gateway->payment_method_get(s, req->merchant_id, http_param(req, 0), &pm);
    if (rc == STORE_OK)
        rc = s->gateway->payment_method_delete(s, req->merchant_id, pm.payment_method_id);
    if (rc == STORE_OK)
        resp_json(resp, 200, pm_json(&pm));
    else if (rc == STORE_NOT_FOUND)
        gw_not_found_empty(resp);
    else
        gw_store_failed(resp);
}
