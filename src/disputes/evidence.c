/* POST /v1/evidence: for a disputed charge, the stored records that match
 * it and a Visa Compelling Evidence 3.0 verdict that says what qualifies,
 * or exactly what is missing. The disputed charge is described by the ids
 * of its stored record and/or its own data elements; elements given in the
 * request win over the stored record's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "disputes/ce3.h"
#include "disputes/disputes_internal.h"
#include "http/metrics.h"

#define DAY_MS 86400000LL
#define RELATED_PER_KEY 20
#define RELATED_MAX 50
#define WINDOW_MAX 100
#define NEIGHBOURS_MAX 20

/* The searchable columns in the order a disputed record is looked for:
 * the ids that name one charge first, a subscription (many charges) last. */
static const struct {
    enum dsp_key key;
    const char *name;
    size_t off;
} id_keys[] = {
    {DSP_KEY_CHARGE, "charge_id", offsetof(struct dsp_evidence_query, charge_id)},
    {DSP_KEY_TRANSACTION, "transaction_id", offsetof(struct dsp_evidence_query, transaction_id)},
    {DSP_KEY_NETWORK_TRANSACTION, "network_transaction_id",
     offsetof(struct dsp_evidence_query, network_transaction_id)},
    {DSP_KEY_INVOICE, "invoice_id", offsetof(struct dsp_evidence_query, invoice_id)},
    {DSP_KEY_SUBSCRIPTION, "subscription_id", offsetof(struct dsp_evidence_query, subscription_id)},
};

enum {
    M_RECORD_ID = 1 << DSP_KEY_COUNT, /* bits below are 1 << dsp_key */
};

static const char *key_name(int bit)
{
    static const char *const names[] = {
        [DSP_KEY_INVOICE] = "invoice_id",
        [DSP_KEY_SUBSCRIPTION] = "subscription_id",
        [DSP_KEY_CHARGE] = "charge_id",
        [DSP_KEY_TRANSACTION] = "transaction_id",
        [DSP_KEY_NETWORK_TRANSACTION] = "network_transaction_id",
        [DSP_KEY_CREDENTIAL] = "payment_credential",
        [DSP_KEY_EMAIL] = "customer_email",
        [DSP_KEY_IP] = "ipv4_address",
        [DSP_KEY_DEVICE] = "device_id",
        [DSP_KEY_ACCOUNT] = "account_id",
    };
    return bit == DSP_KEY_COUNT ? "record_id" : names[bit];
}

struct related {
    struct dsp_record_row *rows;
    unsigned *matched;
    size_t n, cap;
};

static int related_add(struct related *rel, const struct dsp_record_row *r, unsigned bit)
{
    for (size_t i = 0; i < rel->n; i++)
        if (strcmp(rel->rows[i].record_id, r->record_id) == 0) {
            rel->matched[i] |= bit;
            return 0;
        }
    if (rel->n == rel->cap) {
        size_t cap = rel->cap ? rel->cap * 2 : 16;
        struct dsp_record_row *rows = realloc(rel->rows, cap * sizeof *rows);
        if (!rows)
            return -1;
        rel->rows = rows;
        unsigned *m = realloc(rel->matched, cap * sizeof *m);
        if (!m)
            return -1;
        rel->matched = m;
        rel->cap = cap;
    }
    rel->rows[rel->n] = *r;
    rel->matched[rel->n] = bit;
    rel->n++;
    return 0;
}

static void related_free(struct related *rel)
{
    free(rel->rows);
    free(rel->matched);
}

/* Adds every record whose column key equals value. */
static enum store_rc find_into(struct app *app, http_req *req, enum dsp_key key, const char *value,
                               struct related *rel)
{
    if (!value || !*value)
        return STORE_OK;
    struct dsp_record_row *rows = NULL;
    size_t n = 0;
    enum store_rc rc = app->store->disputes->record_find(app->store, req->merchant_id, req->key_env, key, value,
                                                         RELATED_PER_KEY, &rows, &n);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        if (related_add(rel, &rows[i], 1u << key) != 0)
            rc = STORE_ERROR;
    free(rows);
    return rc;
}

static int newest_first(const void *a, const void *b)
{
    const struct dsp_record_row *x = a, *y = b;
    return x->purchased_at < y->purchased_at ? 1 : x->purchased_at > y->purchased_at ? -1
                                                                                      : strcmp(x->record_id, y->record_id);
}

static cJSON *elements_json(unsigned mask)
{
    cJSON *arr = cJSON_CreateArray();
    static const enum ce3_element order[] = {CE3_ACCOUNT, CE3_IP, CE3_SHIPPING, CE3_DEVICE};
    for (size_t i = 0; i < 4; i++)
        if (mask & order[i])
            cJSON_AddItemToArray(arr, cJSON_CreateString(ce3_element_name(order[i])));
    return arr;
}

static void date_text(int64_t ms, char out[16])
{
    char t[40];
    time_format_ms(ms, t, sizeof t);
    str_copy(out, 11, t);
}

static void add_missing(cJSON *missing, const char *code, const char *message)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "code", code);
    cJSON_AddStringToObject(m, "message", message);
    cJSON_AddItemToArray(missing, m);
}

static struct ce3_txn txn_of(const struct dsp_record_row *r)
{
    struct ce3_txn t = {
        .id = r->record_id,
        .credential = r->payment_credential,
        .ip = r->ipv4_address,
        .device = r->device_id,
        .account = r->account_id,
        .shipping = r->shipping_norm,
        .purchased_at = r->purchased_at,
        .disputed = r->disputed_at != 0,
        .fraud_reported = r->fraud_reported_at != 0,
    };
    return t;
}

/* Appends rows to *all (grown as needed). */
static enum store_rc priors_into(struct app *app, http_req *req, const char *credential, int64_t from, int64_t to,
                                 int limit, struct dsp_record_row **all, size_t *n)
{
    if (to <= from)
        return STORE_OK;
    struct dsp_record_row *rows = NULL;
    size_t k = 0;
    enum store_rc rc = app->store->disputes->record_priors(app->store, req->merchant_id, req->key_env, credential,
                                                           from, to, limit, &rows, &k);
    if (rc == STORE_OK && k > 0) {
        struct dsp_record_row *grown = realloc(*all, (*n + k) * sizeof **all);
        if (!grown) {
            rc = STORE_ERROR;
        } else {
            memcpy(grown + *n, rows, k * sizeof *rows);
            *all = grown;
            *n += k;
        }
    }
    free(rows);
    return rc;
}

/* The verdict object. */
static enum store_rc ce3_section(struct app *app, http_req *req, const struct ce3_txn *d, int has_date,
                                 cJSON **out)
{
    const struct ce3_params p = {app->disputes.ce3_min_days, app->disputes.ce3_max_days,
                                 app->disputes.ce3_min_prior};
    cJSON *o = cJSON_CreateObject();
    *out = o;
    cJSON_AddStringToObject(o, "rule", "visa_compelling_evidence_3.0");
    cJSON *missing = cJSON_CreateArray();
    struct dsp_record_row *priors = NULL;
    size_t n = 0;
    enum store_rc rc = STORE_OK;
    int64_t day_start = d->purchased_at - ((d->purchased_at % DAY_MS) + DAY_MS) % DAY_MS;
    if (has_date) {
        cJSON *w = cJSON_AddObjectToObject(o, "window");
        char from[16], to[16];
        date_text(day_start - (int64_t)p.max_days * DAY_MS, from);
        date_text(day_start - (int64_t)p.min_days * DAY_MS, to);
        cJSON_AddStringToObject(w, "from", from);
        cJSON_AddStringToObject(w, "to", to);
        cJSON_AddNumberToObject(w, "min_days_before", p.min_days);
        cJSON_AddNumberToObject(w, "max_days_before", p.max_days);
    } else {
        cJSON_AddNullToObject(o, "window");
    }
    cJSON_AddNumberToObject(o, "required_prior_transactions", p.min_prior);

    int has_credential = d->credential && *d->credential;
    if (has_credential && has_date) {
        /* The window itself decides; a few records just outside it on
         * either side explain a near miss. */
        int64_t win_from = day_start - (int64_t)p.max_days * DAY_MS;
        int64_t win_to = day_start - (int64_t)(p.min_days - 1) * DAY_MS;
        rc = priors_into(app, req, d->credential, win_from, win_to, WINDOW_MAX, &priors, &n);
        if (rc == STORE_OK)
            rc = priors_into(app, req, d->credential, win_to, day_start, NEIGHBOURS_MAX, &priors, &n);
        if (rc == STORE_OK)
            rc = priors_into(app, req, d->credential, win_from - 30 * DAY_MS, win_from, NEIGHBOURS_MAX, &priors, &n);
    }
    if (rc != STORE_OK) {
        free(priors);
        cJSON_Delete(missing);
        return rc;
    }
    struct ce3_txn *txns = calloc(n ? n : 1, sizeof *txns);
    struct ce3_result *results = calloc(n ? n : 1, sizeof *results);
    if (!txns || !results) {
        free(txns);
        free(results);
        free(priors);
        cJSON_Delete(missing);
        return STORE_ERROR;
    }
    for (size_t i = 0; i < n; i++)
        txns[i] = txn_of(&priors[i]);
    struct ce3_verdict v;
    ce3_evaluate(&p, d, txns, n, results, &v);
    int qualifies = v.qualifies && has_date;
    cJSON_AddBoolToObject(o, "qualifies", qualifies);

    cJSON *qual = cJSON_AddArrayToObject(o, "prior_transactions");
    cJSON *considered = cJSON_AddArrayToObject(o, "considered");
    for (size_t i = 0; i < n; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "id", priors[i].record_id);
        cJSON_AddItemToObject(t, "purchased_at", dsp_time_json(priors[i].purchased_at));
        cJSON_AddNumberToObject(t, "days_before", (double)results[i].days_before);
        cJSON_AddItemToObject(t, "matched_elements", elements_json(results[i].matched));
        if (results[i].status == CE3_QUALIFIES) {
            cJSON_AddItemToArray(qual, t);
        } else {
            cJSON_AddStringToObject(t, "status", ce3_status_name(results[i].status));
            cJSON_AddItemToArray(considered, t);
        }
    }

    buf msg;
    buf_init(&msg);
    if (!has_credential)
        add_missing(missing, "payment_credential",
                    "the disputed transaction has no payment_credential: the rule needs earlier transactions on "
                    "the same payment credential; send payment_credential, or the ids of a stored record that has one");
    if (!has_date)
        add_missing(missing, "purchased_at",
                    "the date of the disputed transaction is unknown: send purchased_at, or the ids of its stored "
                    "record");
    if (!(v.known_elements & (CE3_IP | CE3_DEVICE)))
        add_missing(missing, "ip_or_device",
                    "the disputed transaction has neither ipv4_address nor device_id: one of the two matching data "
                    "elements must be the IP address or the device id");
    int known = (v.known_elements & 1) + ((v.known_elements >> 1) & 1) + ((v.known_elements >> 2) & 1) +
                ((v.known_elements >> 3) & 1);
    if (known < 2) {
        buf_printf(&msg,
                   "the disputed transaction has %d of the four data elements (account_id, ipv4_address, "
                   "shipping_address, device_id); at least two must match",
                   known);
        add_missing(missing, "data_elements", buf_cstr(&msg));
        buf_reset(&msg);
    }
    if (has_credential && has_date && v.qualifying < (size_t)p.min_prior) {
        char from[16], to[16];
        date_text(day_start - (int64_t)p.max_days * DAY_MS, from);
        date_text(day_start - (int64_t)p.min_days * DAY_MS, to);
        buf_printf(&msg,
                   "needs %d earlier transactions on the same payment credential made %d to %d days before the "
                   "disputed one (from %s to %s), never disputed or reported as fraud, each sharing at least two "
                   "data elements with it, one of them the IP address or the device id; found %zu",
                   p.min_prior, p.min_days, p.max_days, from, to, v.qualifying);
        size_t others = n - v.qualifying;
        if (others > 0) {
            buf_printf(&msg, ". Of the %zu other earlier transaction%s on this credential:", others,
                       others == 1 ? "" : "s");
            static const struct {
                enum ce3_status s;
                const char *what;
            } parts[] = {
                {CE3_TOO_RECENT, "too recent"},
                {CE3_TOO_OLD, "too old"},
                {CE3_NOT_EARLIER, "on the disputed day"},
                {CE3_DISPUTED, "disputed"},
                {CE3_FRAUD_REPORTED, "reported as fraud"},
                {CE3_TOO_FEW_ELEMENTS, "sharing fewer than two data elements"},
                {CE3_NO_IP_OR_DEVICE, "sharing neither the IP address nor the device id"},
                {CE3_SAME_TRANSACTION, "the disputed transaction itself"},
            };
            int first = 1;
            for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
                if (v.counts[parts[i].s]) {
                    buf_printf(&msg, "%s %zu %s", first ? "" : ",", v.counts[parts[i].s], parts[i].what);
                    first = 0;
                }
        } else {
            buf_puts(&msg, "; no other earlier transaction on this credential is stored");
        }
        add_missing(missing, "prior_transactions", buf_cstr(&msg));
        buf_reset(&msg);
    }
    cJSON_AddItemToObject(o, "missing", missing);
    if (qualifies)
        buf_printf(&msg,
                   "Qualifies: %zu earlier transactions on the same payment credential, %d to %d days before the "
                   "disputed one, never disputed or reported as fraud, each share at least two data elements with "
                   "it including the IP address or the device id.",
                   v.qualifying, p.min_days, p.max_days);
    else
        buf_printf(&msg, "Does not qualify: %d requirement%s not met (see missing).", cJSON_GetArraySize(missing),
                   cJSON_GetArraySize(missing) == 1 ? "" : "s");
    cJSON_AddStringToObject(o, "explanation", buf_cstr(&msg));
    buf_free(&msg);
    free(txns);
    free(results);
    free(priors);
    return STORE_OK;
}

static cJSON *text_or_null(const char *s) { return s && *s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

void dsp_evidence_lookup(http_req *req, http_resp *resp)
{
    struct app *app = req->app;
    struct dsp_evidence_query q;
    dsp_errs e;
    dsp_errs_init(&e);
    if (dsp_evidence_from_json(req->json, &q, &e) != 0) {
        dsp_unprocessable(resp, &e);
        return;
    }
    dsp_errs_free(&e);

    struct related rel = {0};
    enum store_rc rc = STORE_OK;
    struct dsp_record_row disputed;
    int found = 0;
    if (q.record_id[0]) {
        rc = app->store->disputes->record_get(app->store, req->merchant_id, req->key_env, q.record_id, &disputed);
        if (rc == STORE_OK) {
            found = 1;
            rc = related_add(&rel, &disputed, M_RECORD_ID) == 0 ? STORE_OK : STORE_ERROR;
        } else if (rc == STORE_NOT_FOUND) {
            rc = STORE_OK;
        }
    }
    for (size_t i = 0; rc == STORE_OK && i < sizeof id_keys / sizeof id_keys[0]; i++) {
        const char *value = (const char *)&q + id_keys[i].off;
        size_t before = rel.n;
        rc = find_into(app, req, id_keys[i].key, value, &rel);
        if (rc == STORE_OK && !found && rel.n > before) {
            /* Newest first: with a purchase date given, the newest record
             * not after that day is the disputed one. */
            size_t pick = before;
            for (size_t k = before; q.has_purchased_at && k < rel.n; k++)
                if (rel.rows[k].purchased_at < q.purchased_at + DAY_MS) {
                    pick = k;
                    break;
                }
            disputed = rel.rows[pick];
            found = 1;
        }
    }
    if (rc != STORE_OK) {
        related_free(&rel);
        dsp_store_failed(resp);
        return;
    }

    /* The disputed transaction's elements: the request's, else its record's. */
    char shipping_norm[sizeof disputed.shipping_norm] = "";
    if (q.has_shipping)
        dsp_address_normalize(&q.shipping, shipping_norm, sizeof shipping_norm);
    else if (found)
        str_copy(shipping_norm, sizeof shipping_norm, disputed.shipping_norm);
    char email_norm[DSP_TEXT_MAX] = "";
    if (q.customer_email[0])
        dsp_email_normalize(q.customer_email, email_norm, sizeof email_norm);
    else if (found)
        str_copy(email_norm, sizeof email_norm, disputed.email_norm);
#define PICK(field) (q.field[0] ? q.field : found ? disputed.field : "")
    struct ce3_txn d = {
        .id = found ? disputed.record_id : "",
        .credential = PICK(payment_credential),
        .ip = PICK(ipv4_address),
        .device = PICK(device_id),
        .account = PICK(account_id),
        .shipping = shipping_norm,
        .purchased_at = q.has_purchased_at ? q.purchased_at : found ? disputed.purchased_at : 0,
    };
#undef PICK
    int has_date = q.has_purchased_at || found;

    /* Order insight: every record sharing an element with the charge. */
    const struct {
        enum dsp_key key;
        const char *value;
    } elements[] = {
        {DSP_KEY_CREDENTIAL, d.credential}, {DSP_KEY_EMAIL, email_norm}, {DSP_KEY_IP, d.ip},
        {DSP_KEY_DEVICE, d.device},         {DSP_KEY_ACCOUNT, d.account},
    };
    for (size_t i = 0; rc == STORE_OK && i < sizeof elements / sizeof elements[0]; i++)
        rc = find_into(app, req, elements[i].key, elements[i].value, &rel);

    cJSON *verdict = NULL;
    if (rc == STORE_OK)
        rc = ce3_section(app, req, &d, has_date, &verdict);
    if (rc != STORE_OK) {
        cJSON_Delete(verdict);
        related_free(&rel);
        dsp_store_failed(resp);
        return;
    }

    cJSON *o = cJSON_CreateObject();
    cJSON *dt = cJSON_AddObjectToObject(o, "disputed_transaction");
    cJSON_AddItemToObject(dt, "record_id", text_or_null(found ? disputed.record_id : NULL));
    cJSON_AddItemToObject(dt, "payment_credential", text_or_null(d.credential));
    cJSON_AddItemToObject(dt, "customer_email",
                          text_or_null(q.customer_email[0] ? q.customer_email : found ? disputed.customer_email : NULL));
    cJSON_AddItemToObject(dt, "ipv4_address", text_or_null(d.ip));
    cJSON_AddItemToObject(dt, "device_id", text_or_null(d.device));
    cJSON_AddItemToObject(dt, "account_id", text_or_null(d.account));
    cJSON_AddItemToObject(dt, "shipping_address", text_or_null(shipping_norm[0] ? shipping_norm : NULL));
    cJSON_AddItemToObject(dt, "purchased_at", has_date ? dsp_time_json(d.purchased_at) : cJSON_CreateNull());

    /* Records newest first, each with the keys it was found by. */
    size_t *order = calloc(rel.n ? rel.n : 1, sizeof *order);
    for (size_t i = 0; order && i < rel.n; i++)
        order[i] = i;
    for (size_t i = 1; order && i < rel.n; i++)
        for (size_t k = i; k > 0 && newest_first(&rel.rows[order[k - 1]], &rel.rows[order[k]]) > 0; k--) {
            size_t t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    cJSON *records = cJSON_AddArrayToObject(o, "records");
    for (size_t i = 0; order && i < rel.n && i < RELATED_MAX; i++) {
        cJSON *r = dsp_record_json(&rel.rows[order[i]]);
        cJSON *on = cJSON_AddArrayToObject(r, "matched_on");
        for (int bit = 0; bit <= DSP_KEY_COUNT; bit++)
            if (rel.matched[order[i]] & (1u << bit))
                cJSON_AddItemToArray(on, cJSON_CreateString(key_name(bit)));
        cJSON_AddItemToArray(records, r);
    }
    cJSON_AddBoolToObject(o, "records_truncated", rel.n > RELATED_MAX);
    free(order);
    cJSON_AddItemToObject(o, "visa_ce3", verdict);
    related_free(&rel);
    metrics_count("recoup_disputes_evidence_lookups_total", 1);
    resp_json(resp, 200, o);
}
