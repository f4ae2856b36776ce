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

static void put_amount(buf *b, int64_t minor, const char *currency)
{
    int e = currency_exponent(currency);
    if (e <= 0) {
        buf_printf(b, "\"%lld\"", (long long)minor);
        return;
    }
    int64_t scale = 1;
    for (int i = 0; i < e; i++)
        scale *= 10;
    buf_printf(b, "\"%lld.%0*lld\"", (long long)(minor / scale), e, (long long)(minor % scale));
}

static void put_time(buf *b, int64_t ms)
{
    char t[40];
    time_format_ms(ms, t, sizeof t);
    buf_put_json_string(b, t);
}

static void put_member(buf *b, const char *name, const char *value)
{
    buf_printf(b, ",\"%s\":", name);
    buf_put_json_string(b, value);
}

void lab_event_json(const struct lab_world *w, const struct lab_customer *c, const char *tag, int k,
                    const struct lab_attempt *a, const struct lab_psp_outcome *o, buf *out)
{
    const struct lab_scenario *s = w->s;
    const struct lab_region *r = &s->regions[c->region];
    const char *psp = s->psps[c->psp].name;
    const char *currency = s->currencies[c->currency].code;
    char id[96];
    buf_printf(out, "{\"customer\":{\"id\":\"cus_%s_%u\"", tag, c->id);
    const char *postal = lab_postal_code(w, c);
    if (*postal)
        put_member(out, "postal_code", postal);
    buf_printf(out, "},\"subscription\":{\"id\":\"sub_%s_%u\",\"start_date\":\"" SUBSCRIPTION_START "\","
                    "\"billing\":{\"period\":\"month\",\"frequency\":1}},",
               tag, c->id);
    lab_invoice_id(c, tag, id, sizeof id);
    buf_printf(out, "\"invoice\":{\"id\":\"%s\",\"created_at\":", id);
    put_time(out, c->fail_at);
    buf_printf(out, "},\"transactions\":[{\"id\":\"tx_%s_%u_%d\",\"psp_transaction_id\":\"ch_%s_%u_%d\"", tag, c->id,
               k, tag, c->id, k);
    put_member(out, "psp", psp);
    put_member(out, "acquirer_country", r->country);
    buf_puts(out, ",\"amount\":");
    put_amount(out, c->amount_minor, currency);
    put_member(out, "currency", currency);
    put_member(out, "funding_source", s->funding[c->funding].name);
    lab_payment_method_id(c, tag, a->new_card, id, sizeof id);
    put_member(out, "payment_method_id", id);
    buf_puts(out, ",\"psp_transaction_created_at\":");
    put_time(out, a->at);
    put_member(out, "scheme", s->schemes[c->scheme].name);
    buf_printf(out, ",\"success\":%s", a->success ? "true" : "false");
    put_member(out, "issuer_country", r->country);
    if (a->recover)
        buf_puts(out, ",\"recover_retry\":true");
    if (strcmp(psp, "worldpay") == 0)
        buf_printf(out, ",\"network_transaction_id\":\"ntid_%s_%u\",\"mid\":\"lab_mid\"", tag, c->id);
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
