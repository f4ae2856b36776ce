#include "disputes/validate.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/money.h"
#include "core/timefmt.h"

/* ---- error list ---- */

void dsp_errs_init(dsp_errs *e)
{
    e->list = cJSON_CreateArray();
    e->count = 0;
}

void dsp_errs_free(dsp_errs *e)
{
    cJSON_Delete(e->list);
    e->list = NULL;
    e->count = 0;
}

cJSON *dsp_errs_take(dsp_errs *e)
{
    cJSON *l = e->list;
    e->list = NULL;
    e->count = 0;
    return l;
}

void dsp_errs_add(dsp_errs *e, const char *field, const char *sub, const char *type, const char *fmt, ...)
{
    buf b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cJSON *item = cJSON_CreateObject();
    cJSON *loc = cJSON_AddArrayToObject(item, "loc");
    cJSON_AddItemToArray(loc, cJSON_CreateString("body"));
    if (field)
        cJSON_AddItemToArray(loc, cJSON_CreateString(field));
    if (field && sub)
        cJSON_AddItemToArray(loc, cJSON_CreateString(sub));
    cJSON_AddStringToObject(item, "msg", buf_cstr(&b));
    cJSON_AddStringToObject(item, "type", type);
    cJSON_AddItemToArray(e->list, item);
    e->count++;
    buf_free(&b);
}

/* ---- field rules ---- */

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* RFC 5322 "atext": what an unquoted local part may hold besides dots. */
static int is_atext(char c) { return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c)); }

/* addr-spec with a dot-atom local part and a host name of at least two
 * labels. Quoted local parts, address literals ("[1.2.3.4]") and non-ASCII
 * text are refused: checkout forms do not produce them, and each would be a
 * second spelling of one address. */
int dsp_email_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n > 254 || !at || strchr(at + 1, '@'))
        return 0;
    size_t local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || at[-1] == '.')
        return 0;
    for (const char *p = s; p < at; p++) {
        if (*p == '.') {
            if (p[1] == '.')
                return 0;
        } else if (!is_atext(*p)) {
            return 0;
        }
    }
    const char *d = at + 1;
    size_t dl = strlen(d);
    if (dl == 0 || dl > 253)
        return 0;
    int labels = 0;
    const char *label = d;
    for (const char *p = d;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t len = (size_t)(p - label);
            if (len == 0 || len > 63 || label[0] == '-' || p[-1] == '-')
                return 0;
            labels++;
            if (*p == '\0')
                break;
            label = p + 1;
        } else if (!is_alpha(*p) && !is_digit(*p) && *p != '-') {
            return 0;
        }
    }
    /* The top-level domain is never all digits ("a@1.2" is no mail host). */
    int tld_letter = 0;
    for (const char *p = label; *p; p++)
        tld_letter |= is_alpha(*p);
    return labels >= 2 && tld_letter;
}

/* Four decimal octets, 0 to 255, joined by single dots. Leading zeros are
 * refused because some parsers read them as octal (010 = 8), blanks and
 * any other character because the text is stored and compared as sent. */
int dsp_ipv4_valid(const char *s)
{
    if (!s)
        return 0;
    const char *p = s;
    for (int octet = 0; octet < 4; octet++) {
        if (octet > 0) {
            if (*p != '.')
                return 0;
            p++;
        }
        int digits = 0, value = 0;
        const char *start = p;
        while (is_digit(*p) && digits < 4) {
            value = value * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && *start == '0'))
            return 0;
    }
    return *p == '\0';
}

static const char *const psp_names[] = {"stripe", "braintree", "adyen", "worldpay", "recurly", "recharge"};

int dsp_psp_valid(const char *s)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < sizeof psp_names / sizeof psp_names[0]; i++)
        if (strcmp(s, psp_names[i]) == 0)
            return 1;
    return 0;
}

static int luhn_ok(const char *digits, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

int dsp_looks_like_pan(const char *s)
{
    if (!s)
        return 0;
    const char *p = s;
    while (*p) {
        if (!is_digit(*p)) {
            p++;
            continue;
        }
        /* A run of digits, where one blank or dash between two digits
         * continues it ("4242 4242 4242 4242"). */
        char digits[64];
        size_t n = 0;
        while (*p) {
            if (is_digit(*p)) {
                if (n < sizeof digits)
                    digits[n] = *p;
                n++;
                p++;
            } else if ((*p == ' ' || *p == '-') && is_digit(p[1])) {
                p++;
            } else {
                break;
            }
        }
        if (n >= 12 && n <= 19 && luhn_ok(digits, n))
            return 1;
    }
    return 0;
}

int dsp_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        }
        int extra = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (extra < 0 || (c == 0xC0 || c == 0xC1 || c > 0xF4))
            return 0;
        for (int i = 1; i <= extra; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += extra + 1;
    }
    return 1;
}

int dsp_country_valid(const char *s)
{
    return s && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] == '\0';
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }
static char upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c; }

void dsp_email_normalize(const char *s, char *out, size_t outsz)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outsz; i++)
        out[i] = lower(s[i]);
    if (outsz)
        out[i < outsz ? i : outsz - 1] = '\0';
}

static const struct {
    const char *word, *abbrev;
} address_words[] = {
    {"street", "st"},     {"avenue", "ave"}, {"road", "rd"},   {"boulevard", "blvd"}, {"drive", "dr"},
    {"lane", "ln"},       {"court", "ct"},   {"place", "pl"},  {"square", "sq"},      {"highway", "hwy"},
    {"apartment", "apt"}, {"suite", "ste"},  {"floor", "fl"},  {"building", "bldg"},  {"north", "n"},
    {"south", "s"},       {"east", "e"},     {"west", "w"},    {"number", "no"},
};

/* One address part in comparison form: ASCII letters lower-cased, anything
 * that is not a letter, digit or non-ASCII byte taken as a blank, blanks
 * collapsed, and the words above abbreviated. */
static void normalize_part(const char *s, buf *out)
{
    char word[64];
    size_t wl = 0;
    int first = 1;
    for (const unsigned char *p = (const unsigned char *)s;; p++) {
        int keep = *p && (is_alpha((char)*p) || is_digit((char)*p) || *p >= 0x80);
        if (keep) {
            if (wl + 1 < sizeof word)
                word[wl++] = lower((char)*p);
            continue;
        }
        if (wl > 0) {
            word[wl] = '\0';
            const char *w = word;
            for (size_t i = 0; i < sizeof address_words / sizeof address_words[0]; i++)
                if (strcmp(word, address_words[i].word) == 0)
                    w = address_words[i].abbrev;
            if (!first)
                buf_putc(out, ' ');
            buf_puts(out, w);
            first = 0;
            wl = 0;
        }
        if (!*p)
            break;
    }
}

void dsp_address_normalize(const struct dsp_address *a, char *out, size_t outsz)
{
    buf b;
    buf_init(&b);
    normalize_part(a->line1, &b);
    buf_putc(&b, '|');
    normalize_part(a->line2, &b);
    buf_putc(&b, '|');
    normalize_part(a->city, &b);
    buf_putc(&b, '|');
    normalize_part(a->state, &b);
    buf_putc(&b, '|');
    for (const char *p = a->postal_code; *p; p++)
        if (*p != ' ' && *p != '-')
            buf_putc(&b, upper(*p));
    buf_putc(&b, '|');
    for (const char *p = a->country; *p; p++)
        buf_putc(&b, upper(*p));
    str_copy(out, outsz, buf_cstr(&b));
    buf_free(&b);
}

/* ---- declarative reading of request bodies ---- */

enum fkind { FK_TEXT, FK_BOOL, FK_OBJECT, FK_AMOUNT, FK_TIME, FK_DATE_OR_TIME };

enum fflags {
    F_REQUIRED = 1,
    F_CHARS = 2, /* max counts UTF-8 characters */
    F_ID = 4,    /* one of the checkout's ids: at least one is required */
};

struct rfield {
    const char *name;
    enum fkind kind;
    unsigned flags;
    size_t max;
    int (*rule)(const char *s); /* text: 1 when acceptable */
    const char *rule_type, *rule_msg;
    size_t off; /* destination (text: char array of size size) */
    size_t size;
};

static int not_pan(const char *s) { return !dsp_looks_like_pan(s); }

static int currency_ok(const char *s) { return currency_exponent(s) >= 0; }

static const char email_msg[] =
    "value is not a valid email address: expected local-part@domain.tld, without blanks";
static const char ipv4_msg[] =
    "value is not a valid IPv4 address: expected four decimal octets 0-255 separated by dots, such as "
    "192.168.1.1, without leading zeros or blanks";
static const char psp_msg[] =
    "Input should be 'stripe', 'braintree', 'adyen', 'worldpay', 'recurly' or 'recharge' (lower case)";
static const char pan_msg[] =
    "looks like a full card number (12 to 19 digits passing the Luhn check); send the PSP's card token or "
    "fingerprint instead";
static const char currency_msg[] = "value is not an ISO 4217 currency code in upper case, such as EUR";
static const char country_msg[] = "value is not an ISO 3166-1 alpha-2 country code, such as US";

#define R(member) offsetof(struct dsp_record_row, member), sizeof(((struct dsp_record_row *)0)->member)
#define Q(member) offsetof(struct dsp_evidence_query, member), sizeof(((struct dsp_evidence_query *)0)->member)
#define A(member) offsetof(struct dsp_address, member), sizeof(((struct dsp_address *)0)->member)

static const struct rfield record_fields[] = {
    {"customer_email", FK_TEXT, F_REQUIRED, 254, dsp_email_valid, "value_error", email_msg, R(customer_email)},
    {"ipv4_address", FK_TEXT, F_REQUIRED, 15, dsp_ipv4_valid, "ip_v4_address", ipv4_msg, R(ipv4_address)},
    {"psp", FK_TEXT, F_REQUIRED, 15, dsp_psp_valid, "literal_error", psp_msg, R(psp)},
    {"customer_id", FK_TEXT, 0, 255, NULL, NULL, NULL, R(customer_id)},
    {"invoice_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, R(invoice_id)},
    {"subscription_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, R(subscription_id)},
    {"charge_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, R(charge_id)},
    {"transaction_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, R(transaction_id)},
    {"network_transaction_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, R(network_transaction_id)},
    {"user_agent", FK_TEXT, 0, 1024, NULL, NULL, NULL, R(user_agent)},
    {"device_id", FK_TEXT, 0, 255, NULL, NULL, NULL, R(device_id)},
    {"account_id", FK_TEXT, 0, 255, NULL, NULL, NULL, R(account_id)},
    {"payment_credential", FK_TEXT, 0, 255, not_pan, "value_error", pan_msg, R(payment_credential)},
    {"shipping_address", FK_OBJECT, 0, 0, NULL, NULL, NULL, 0, 0},
    {"amount", FK_AMOUNT, 0, 0, NULL, NULL, NULL, 0, 0},
    {"currency", FK_TEXT, 0, 3, currency_ok, "value_error", currency_msg, R(currency)},
    {"purchased_at", FK_TIME, 0, 0, NULL, NULL, NULL, 0, 0},
    {"product_description", FK_TEXT, F_CHARS, 1000, NULL, NULL, NULL, R(product_description)},
    {"disputed", FK_BOOL, 0, 0, NULL, NULL, NULL, 0, 0},
    {"fraud_reported", FK_BOOL, 0, 0, NULL, NULL, NULL, 0, 0},
};

static const struct rfield evidence_fields[] = {
    {"invoice_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, Q(invoice_id)},
    {"subscription_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, Q(subscription_id)},
    {"charge_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, Q(charge_id)},
    {"transaction_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, Q(transaction_id)},
    {"network_transaction_id", FK_TEXT, F_ID, 255, NULL, NULL, NULL, Q(network_transaction_id)},
    {"record_id", FK_TEXT, F_ID, DSP_RECORD_ID_MAX - 1, NULL, NULL, NULL, Q(record_id)},
    {"payment_credential", FK_TEXT, F_ID, 255, not_pan, "value_error", pan_msg, Q(payment_credential)},
    {"customer_email", FK_TEXT, 0, 254, dsp_email_valid, "value_error", email_msg, Q(customer_email)},
    {"ipv4_address", FK_TEXT, 0, 15, dsp_ipv4_valid, "ip_v4_address", ipv4_msg, Q(ipv4_address)},
    {"device_id", FK_TEXT, 0, 255, NULL, NULL, NULL, Q(device_id)},
    {"account_id", FK_TEXT, 0, 255, NULL, NULL, NULL, Q(account_id)},
    {"shipping_address", FK_OBJECT, 0, 0, NULL, NULL, NULL, 0, 0},
    {"purchased_at", FK_DATE_OR_TIME, 0, 0, NULL, NULL, NULL, 0, 0},
};

static int country_rule(const char *s)
{
    char up[3] = {0};
    if (strlen(s) != 2)
        return 0;
    up[0] = upper(s[0]);
    up[1] = upper(s[1]);
    return dsp_country_valid(up);
}

static const struct rfield address_fields[] = {
    {"line1", FK_TEXT, F_REQUIRED, 255, NULL, NULL, NULL, A(line1)},
    {"line2", FK_TEXT, 0, 255, NULL, NULL, NULL, A(line2)},
    {"city", FK_TEXT, F_REQUIRED, 255, NULL, NULL, NULL, A(city)},
    {"state", FK_TEXT, 0, 255, NULL, NULL, NULL, A(state)},
    {"postal_code", FK_TEXT, 0, 31, NULL, NULL, NULL, A(postal_code)},
    {"country", FK_TEXT, F_REQUIRED, 2, country_rule, "value_error", country_msg, A(country)},
};

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* Checks one text value; copies it to dst when acceptable. parent: the
 * enclosing field for nested members (loc ["body", parent, name]). */
static void read_text(const struct rfield *f, const cJSON *v, const char *parent, char *base, dsp_errs *e)
{
    const char *field = parent ? parent : f->name;
    const char *sub = parent ? f->name : NULL;
    if (!cJSON_IsString(v)) {
        dsp_errs_add(e, field, sub, "string_type", "Input should be a valid string");
        return;
    }
    const char *s = v->valuestring;
    if (!*s) {
        /* Optional fields sent empty mean "not known", as null does. */
        if (f->flags & F_REQUIRED)
            dsp_errs_add(e, field, sub, "string_too_short", "String should have at least 1 character");
        return;
    }
    if (!dsp_text_ok(s)) {
        dsp_errs_add(e, field, sub, "string_type", "Input should be UTF-8 text without control characters");
        return;
    }
    size_t len = (f->flags & F_CHARS) ? utf8_chars(s) : strlen(s);
    if (len > f->max) {
        dsp_errs_add(e, field, sub, "string_too_long", "String should have at most %zu characters", f->max);
        return;
    }
    if (f->rule && !f->rule(s)) {
        dsp_errs_add(e, field, sub, f->rule_type, "%s", f->rule_msg);
        return;
    }
    str_copy(base + f->off, f->size, s);
}

static int is_known(const struct rfield *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (name && strcmp(fields[i].name, name) == 0)
            return 1;
    return 0;
}

static void check_unknown(const cJSON *obj, const struct rfield *fields, size_t n, const char *parent, dsp_errs *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (!is_known(fields, n, it->string))
            dsp_errs_add(e, parent ? parent : (it->string ? it->string : "?"), parent ? it->string : NULL,
                         "extra_forbidden", "Extra inputs are not permitted");
    }
}

static void read_address(const cJSON *v, struct dsp_address *a, int *has, dsp_errs *e)
{
    if (!cJSON_IsObject(v)) {
        dsp_errs_add(e, "shipping_address", NULL, "model_type",
                     "Input should be an object with line1, line2, city, state, postal_code and country");
        return;
    }
    int before = e->count;
    memset(a, 0, sizeof *a);
    size_t n = sizeof address_fields / sizeof address_fields[0];
    for (size_t i = 0; i < n; i++) {
        const struct rfield *f = &address_fields[i];
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, f->name);
        if (!m || cJSON_IsNull(m)) {
            if (f->flags & F_REQUIRED)
                dsp_errs_add(e, "shipping_address", f->name, "missing", "Field required");
            continue;
        }
        read_text(f, m, "shipping_address", (char *)a, e);
    }
    check_unknown(v, address_fields, n, "shipping_address", e);
    a->country[0] = upper(a->country[0]);
    a->country[1] = upper(a->country[1]);
    if (e->count == before)
        *has = 1;
}

/* Sent with a value: neither absent, null nor "". */
static int present(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !*v->valuestring);
}

static void hash_put(buf *h, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    buf_puts(h, name);
    buf_putc(h, '=');
    buf_puts(h, value);
    buf_putc(h, '\x1f');
}

int dsp_record_from_json(const cJSON *body, int64_t now_ms, struct dsp_record_row *r, dsp_errs *e)
{
    int before = e->count;
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(body)) {
        dsp_errs_add(e, NULL, NULL, "model_attributes_type", "Input should be a valid JSON object");
        return e->count - before;
    }
    size_t n = sizeof record_fields / sizeof record_fields[0];
    const cJSON *amount = NULL;
    int has_purchased = 0, disputed = 0, fraud = 0;
    for (size_t i = 0; i < n; i++) {
        const struct rfield *f = &record_fields[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, f->name);
        if (!v || cJSON_IsNull(v)) {
            if (f->flags & F_REQUIRED)
                dsp_errs_add(e, f->name, NULL, "missing", "Field required");
            continue;
        }
        switch (f->kind) {
        case FK_TEXT:
            read_text(f, v, NULL, (char *)r, e);
            break;
        case FK_BOOL:
            if (!cJSON_IsBool(v))
                dsp_errs_add(e, f->name, NULL, "bool_type", "Input should be a valid boolean");
            else if (strcmp(f->name, "disputed") == 0)
                disputed = cJSON_IsTrue(v);
            else
                fraud = cJSON_IsTrue(v);
            break;
        case FK_OBJECT:
            read_address(v, &r->shipping, &r->has_shipping, e);
            break;
        case FK_AMOUNT:
            if (!cJSON_IsNumber(v) && !cJSON_IsString(v))
                dsp_errs_add(e, f->name, NULL, "decimal_type", "Input should be a number, such as 19.99");
            else
                amount = v;
            break;
        case FK_TIME:
        case FK_DATE_OR_TIME:
            if (!cJSON_IsString(v) || time_parse_iso8601_strict(v->valuestring, &r->purchased_at) != 0) {
                dsp_errs_add(e, f->name, NULL, "datetime_parsing",
                             "Input should be an ISO-8601 date and time with a zone, such as 2026-05-01T12:30:00Z");
            } else if (r->purchased_at > now_ms + 86400000) {
                dsp_errs_add(e, f->name, NULL, "datetime_future",
                             "Input should not be more than 24 hours in the future");
            } else {
                has_purchased = 1;
            }
            break;
        }
    }
    check_unknown(body, record_fields, n, NULL, e);

    /* An id that was sent but refused has its own error already. */
    int any_id = 0;
    for (size_t i = 0; i < n; i++)
        if ((record_fields[i].flags & F_ID) && present(body, record_fields[i].name))
            any_id = 1;
    if (!any_id)
        dsp_errs_add(e, NULL, NULL, "missing_identifier",
                     "at least one of invoice_id, subscription_id, charge_id, transaction_id or "
                     "network_transaction_id is required");

    int has_currency = r->currency[0] != '\0';
    if (amount && !has_currency && !present(body, "currency")) {
        dsp_errs_add(e, "currency", NULL, "missing", "Field required when amount is given");
    } else if (!amount && has_currency) {
        dsp_errs_add(e, "amount", NULL, "missing", "Field required when currency is given");
    } else if (amount && has_currency) {
        int exponent = currency_exponent(r->currency);
        enum money_err me = money_parse_json(amount, exponent, &r->amount);
        if (me == MONEY_TOO_PRECISE)
            dsp_errs_add(e, "amount", NULL, "decimal_max_places", "%s has %d decimals; the amount has more",
                         r->currency, exponent);
        else if (me != MONEY_OK)
            dsp_errs_add(e, "amount", NULL, "decimal_parsing", "%s", money_err_message(me));
        else if (r->amount < 0)
            dsp_errs_add(e, "amount", NULL, "greater_than_equal", "Input should be greater than or equal to 0");
        else
            r->has_amount = 1;
    }

    if (e->count > before)
        return e->count - before;

    dsp_email_normalize(r->customer_email, r->email_norm, sizeof r->email_norm);
    if (r->has_shipping)
        dsp_address_normalize(&r->shipping, r->shipping_norm, sizeof r->shipping_norm);
    if (!has_purchased)
        r->purchased_at = now_ms;
    r->disputed_at = disputed ? now_ms : 0;
    r->fraud_reported_at = fraud ? now_ms : 0;

    /* The content hash covers what was sent, as stored, so that the same
     * record sent twice is found again whatever the JSON's layout. */
    buf h;
    buf_init(&h);
    char num[64];
    for (size_t i = 0; i < n; i++) {
        const struct rfield *f = &record_fields[i];
        if (f->kind == FK_TEXT)
            hash_put(&h, f->name, (const char *)r + f->off);
    }
    if (r->has_shipping) {
        hash_put(&h, "ship.line1", r->shipping.line1);
        hash_put(&h, "ship.line2", r->shipping.line2);
        hash_put(&h, "ship.city", r->shipping.city);
        hash_put(&h, "ship.state", r->shipping.state);
        hash_put(&h, "ship.postal_code", r->shipping.postal_code);
        hash_put(&h, "ship.country", r->shipping.country);
    }
    if (r->has_amount) {
        snprintf(num, sizeof num, "%lld", (long long)r->amount);
        hash_put(&h, "amount", num);
    }
    if (has_purchased) {
        snprintf(num, sizeof num, "%lld", (long long)r->purchased_at);
        hash_put(&h, "purchased_at", num);
    }
    hash_put(&h, "disputed", disputed ? "1" : NULL);
    hash_put(&h, "fraud_reported", fraud ? "1" : NULL);
    char hex[65];
    crypto_sha256_hex(h.data ? h.data : "", h.len, hex);
    buf_free(&h);
    str_copy(r->content_hash, sizeof r->content_hash, hex); /* the first 128 bits */
    return 0;
}

int dsp_evidence_from_json(const cJSON *body, struct dsp_evidence_query *q, dsp_errs *e)
{
    int before = e->count;
    memset(q, 0, sizeof *q);
    if (!cJSON_IsObject(body)) {
        dsp_errs_add(e, NULL, NULL, "model_attributes_type", "Input should be a valid JSON object");
        return e->count - before;
    }
    size_t n = sizeof evidence_fields / sizeof evidence_fields[0];
    int any_id = 0;
    for (size_t i = 0; i < n; i++) {
        const struct rfield *f = &evidence_fields[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, f->name);
        if (!v || cJSON_IsNull(v))
            continue;
        if ((f->flags & F_ID) && present(body, f->name))
            any_id = 1;
        switch (f->kind) {
        case FK_TEXT:
            read_text(f, v, NULL, (char *)q, e);
            break;
        case FK_OBJECT:
            read_address(v, &q->shipping, &q->has_shipping, e);
            break;
        case FK_DATE_OR_TIME:
            /* A date alone is enough: the rule counts whole days. */
            if (!cJSON_IsString(v) || time_parse_iso8601(v->valuestring, &q->purchased_at) != 0)
                dsp_errs_add(e, f->name, NULL, "datetime_parsing",
                             "Input should be an ISO-8601 date or date and time, such as 2026-05-01 or "
                             "2026-05-01T12:30:00Z");
            else
                q->has_purchased_at = 1;
            break;
        default:
            break;
        }
    }
    check_unknown(body, evidence_fields, n, NULL, e);
    if (!any_id)
        dsp_errs_add(e, NULL, NULL, "missing_identifier",
                     "at least one of invoice_id, subscription_id, charge_id, transaction_id, "
                     "network_transaction_id, record_id or payment_credential is required");
    return e->count - before;
}
