#include "lab/events.h"

#include <stdio.h>
#include <string.h>

#include "core/money.h"
#include "core/timefmt.h"

/* The subscriptions all started a while before the lab's window. */
#define SUBSCRIPTION_START "2025-01-01T00:00:00Z"

void lab_payment_method_id(const struct lab_customer *c, const char *tag, int new_card, char *out, size_t outsz)
{
    snprintf(out, outsz, "pm_%s_%u%s", tag, c->id, new_card ? "_new" : "");
}

void lab_invoice_id(const struct lab_customer *c, const char *tag, char *out, size_t outsz)
{
    snprintf(out, outsz, "in_%s_%u", tag, c->id);
}

const char *lab_postal_code(const struct lab_world *w, const struct lab_customer *c)
{
    return c->postal >= 0 ? w->s->regions[c->region].postal_codes[c->postal] : "";
}

/* The event bodies are the lab's hottest text: digits and times are put
 * by hand rather than through printf. */
static void put_uint(buf *b, uint64_t v)
{
    char d[24];
    size_t n = 0;
    do {
        d[sizeof d - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, d + sizeof d - n, n);
}

static void put_fixed(char *out, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void put_amount(buf *b, int64_t minor, const char *currency)
{
    int e = currency_exponent(currency);
    buf_putc(b, '"');
    if (e <= 0) {
        put_uint(b, (uint64_t)minor);
    } else {
        uint64_t scale = 1;
        for (int i = 0; i < e; i++)
            scale *= 10;
        put_uint(b, (uint64_t)minor / scale);
        char frac[8];
        put_fixed(frac, (uint64_t)minor % scale, e);
        buf_putc(b, '.');
        buf_append(b, frac, (size_t)e);
    }
    buf_putc(b, '"');
}

/* As time_format_ms writes it: "2026-03-02T09:30:00.000Z" (the lab's
 * times are all after 1970). */
static void put_time(buf *b, int64_t ms)
{
    int64_t secs = ms / 1000, days = secs / 86400, rem = secs % 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char t[26] = "\"0000-00-00T00:00:00.000Z";
    put_fixed(t + 1, (uint64_t)y, 4);
    put_fixed(t + 6, m, 2);
    put_fixed(t + 9, d, 2);
    put_fixed(t + 12, (uint64_t)(rem / 3600), 2);
    put_fixed(t + 15, (uint64_t)(rem / 60 % 60), 2);
    put_fixed(t + 18, (uint64_t)(rem % 60), 2);
    put_fixed(t + 21, (uint64_t)(ms % 1000), 3);
    buf_append(b, t, sizeof t - 1);
    buf_putc(b, '"');
}

static void put_member(buf *b, const char *name, const char *value)
{
    buf_puts(b, ",\"");
    buf_puts(b, name);
    buf_puts(b, "\":");
    buf_put_json_string(b, value);
}

/* "<prefix><tag>_<id>" as a JSON string, with "_<k>" when k >= 0, then
 * suffix. */
static void put_id_suffix(buf *b, const char *prefix, const char *tag, uint32_t id, int k, const char *suffix)
{
    buf_putc(b, '"');
    buf_puts(b, prefix);
    buf_puts(b, tag);
    buf_putc(b, '_');
    put_uint(b, id);
    if (k >= 0) {
        buf_putc(b, '_');
        put_uint(b, (uint64_t)k);
    }
    buf_puts(b, suffix);
    buf_putc(b, '"');
}

static void put_id(buf *b, const char *prefix, const char *tag, uint32_t id, int k)
{
    put_id_suffix(b, prefix, tag, id, k, "");
}

void lab_event_json(const struct lab_world *w, const struct lab_customer *c, const char *tag, int k,
                    const struct lab_attempt *a, const struct lab_psp_outcome *o, buf *out)
{
    const struct lab_scenario *s = w->s;
    const struct lab_region *r = &s->regions[c->region];
    const char *psp = s->psps[c->psp].name;
    const char *currency = s->currencies[c->currency].code;
    buf_puts(out, "{\"customer\":{\"id\":");
    put_id(out, "cus_", tag, c->id, -1);
    const char *postal = lab_postal_code(w, c);
    if (*postal)
        put_member(out, "postal_code", postal);
    buf_puts(out, "},\"subscription\":{\"id\":");
    put_id(out, "sub_", tag, c->id, -1);
    buf_puts(out, ",\"start_date\":\"" SUBSCRIPTION_START "\",\"billing\":{\"period\":\"month\",\"frequency\":1}},"
                  "\"invoice\":{\"id\":");
    put_id(out, "in_", tag, c->id, -1);
    buf_puts(out, ",\"created_at\":");
    put_time(out, c->fail_at);
    buf_puts(out, "},\"transactions\":[{\"id\":");
    put_id(out, "tx_", tag, c->id, k);
    buf_puts(out, ",\"psp_transaction_id\":");
    put_id(out, "ch_", tag, c->id, k);
    put_member(out, "psp", psp);
    put_member(out, "acquirer_country", r->country);
    buf_puts(out, ",\"amount\":");
    put_amount(out, c->amount_minor, currency);
    put_member(out, "currency", currency);
    put_member(out, "funding_source", s->funding[c->funding].name);
    buf_puts(out, ",\"payment_method_id\":");
    put_id_suffix(out, "pm_", tag, c->id, -1, a->new_card ? "_new" : "");
    buf_puts(out, ",\"psp_transaction_created_at\":");
    put_time(out, a->at);
    put_member(out, "scheme", s->schemes[c->scheme].name);
    buf_puts(out, a->success ? ",\"success\":true" : ",\"success\":false");
    put_member(out, "issuer_country", r->country);
    if (a->recover)
        buf_puts(out, ",\"recover_retry\":true");
    if (strcmp(psp, "worldpay") == 0) {
        buf_puts(out, ",\"network_transaction_id\":");
        put_id(out, "ntid_", tag, c->id, -1);
        buf_puts(out, ",\"mid\":\"lab_mid\"");
    }
    buf_puts(out, ",\"outcome\":{\"raw_response_message\":");
    buf_put_json_string(out, o->raw);
    if (*o->psp_message)
        put_member(out, "psp_response_message", o->psp_message);
    if (*o->code)
        put_member(out, "processor_response_code", o->code);
    if (*o->network_status)
        put_member(out, "network_status", o->network_status);
    if (*o->response_type)
        put_member(out, "response_type", o->response_type);
    buf_puts(out, "}}]}");
}

void lab_pm_update_json(const struct lab_customer *c, const char *tag, buf *out)
{
    char pm[96];
    lab_payment_method_id(c, tag, 1, pm, sizeof pm);
    buf_printf(out, "{\"customer_id\":\"cus_%s_%u\",\"payment_method_id\":\"%s\",\"reason\":\"network_updated\"}", tag,
               c->id, pm);
}

void lab_txn_fill(const struct lab_world *w, const struct lab_customer *c, const char *tag, int k,
                  const struct lab_attempt *a, const struct lab_outcome *o, struct rc_txn *t)
{
    const struct lab_scenario *s = w->s;
    const struct lab_region *r = &s->regions[c->region];
    const char *psp = s->psps[c->psp].name;
    memset(t, 0, sizeof *t);
    snprintf(t->transaction_id, sizeof t->transaction_id, "tx_%s_%u_%d", tag, c->id, k);
    snprintf(t->psp_transaction_id, sizeof t->psp_transaction_id, "ch_%s_%u_%d", tag, c->id, k);
    str_copy(t->psp, sizeof t->psp, psp);
    str_copy(t->acquirer_country, sizeof t->acquirer_country, r->country);
    t->amount = c->amount_minor;
    str_copy(t->currency, sizeof t->currency, s->currencies[c->currency].code);
    str_copy(t->funding_source, sizeof t->funding_source, s->funding[c->funding].name);
    lab_payment_method_id(c, tag, a->new_card, t->payment_method_id, sizeof t->payment_method_id);
    t->psp_created_at = a->at;
    str_copy(t->scheme, sizeof t->scheme, s->schemes[c->scheme].name);
    t->success = a->success;
    str_copy(t->raw_response_message, sizeof t->raw_response_message, o->raw);
    str_copy(t->psp_response_message, sizeof t->psp_response_message, o->psp_message);
    str_copy(t->processor_response_code, sizeof t->processor_response_code, o->code);
    str_copy(t->network_status, sizeof t->network_status, o->network_status);
    str_copy(t->response_type, sizeof t->response_type, o->response_type);
    if (strcmp(psp, "worldpay") == 0)
        snprintf(t->network_transaction_id, sizeof t->network_transaction_id, "ntid_%s_%u", tag, c->id);
    str_copy(t->issuer_country, sizeof t->issuer_country, r->country);
    str_copy(t->origin, sizeof t->origin, a->recover ? "recover" : "merchant");
}
