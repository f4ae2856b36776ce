#include "recover/declines.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "http/metrics.h"

#define SQ_MAX 256

/* Lower-case letters and digits only, so "Insufficient Funds",
 * "insufficient_funds" and "INSUFFICIENT-FUNDS" compare equal. */
static void squash(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    if (in)
        for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < outsz; p++)
            if (isalnum(*p))
                out[o++] = (char)tolower(*p);
    out[o] = '\0';
}

static int psp_is(const char *rule_psp, const char *psp_sq)
{
    char r[32];
    squash(rule_psp, r, sizeof r);
    return strcmp(r, psp_sq) == 0;
}

const struct rc_decline_reason *rc_decline_reason_find(const char *name)
{
    for (size_t i = 0; i < rc_decline_reasons_count; i++)
        if (name && strcmp(rc_decline_reasons[i].name, name) == 0)
            return &rc_decline_reasons[i];
    return NULL;
}

const char *rc_decline_class_name(enum rc_decline_class cls)
{
    switch (cls) {
    case RC_DCL_NONE:
        return "none";
    case RC_DCL_LATER:
        return "later";
    case RC_DCL_TECHNICAL:
        return "technical";
    case RC_DCL_FIX_DATA:
        return "fix_data";
    case RC_DCL_CUSTOMER_ACTION:
        return "customer_action";
    case RC_DCL_NEVER:
        return "never";
    }
    return "later";
}

/* A row for this PSP (psp_specific) or for every PSP ("*"). */
static int row_applies(const struct rc_decline_rule *r, const char *psp_sq, int psp_specific)
{
    if (strcmp(r->psp, "*") == 0)
        return !psp_specific;
    return psp_specific && psp_sq[0] && psp_is(r->psp, psp_sq);
}

static const char *find_code(const char *psp_sq, enum rc_decline_field field, const char *code_sq, int psp_specific)
{
    if (!code_sq[0])
        return NULL;
    char p[SQ_MAX];
    for (size_t i = 0; i < rc_decline_rules_count; i++) {
        const struct rc_decline_rule *r = &rc_decline_rules[i];
        if (r->field != field || !row_applies(r, psp_sq, psp_specific))
            continue;
        squash(r->pattern, p, sizeof p);
        if (strcmp(p, code_sq) == 0)
            return r->canonical;
    }
    return NULL;
}

/* Whole texts first (the most precise), then phrases inside longer
 * sentences; the raw message before the PSP's message in each pass. */
static const char *find_text(const char *psp_sq, const char *const texts[2], int psp_specific)
{
    char p[SQ_MAX];
    for (int pass = 0; pass < 2; pass++) {
        enum rc_decline_field field = pass == 0 ? RC_DF_TEXT : RC_DF_PHRASE;
        for (int t = 0; t < 2; t++) {
            if (!texts[t][0])
                continue;
            for (size_t i = 0; i < rc_decline_rules_count; i++) {
                const struct rc_decline_rule *r = &rc_decline_rules[i];
                if (r->field != field || !row_applies(r, psp_sq, psp_specific))
                    continue;
                squash(r->pattern, p, sizeof p);
                if (p[0] && (field == RC_DF_TEXT ? strcmp(texts[t], p) == 0 : strstr(texts[t], p) != NULL))
                    return r->canonical;
            }
            /* The canonical names are every PSP's vocabulary too (Stripe's
             * decline codes are mostly these very names). */
            if (!psp_specific && field == RC_DF_TEXT)
                for (size_t i = 0; i < rc_decline_reasons_count; i++) {
                    squash(rc_decline_reasons[i].name, p, sizeof p);
                    if (strcmp(texts[t], p) == 0)
                        return rc_decline_reasons[i].name;
                }
        }
    }
    return NULL;
}

/* Whether the PSP has its own code space in the table: then its
 * processor_response_code is never read as a network code (Adyen's 12 is
 * insufficient funds, the network's 12 an invalid transaction). */
static int psp_has_codes(const char *psp_sq)
{
    if (!psp_sq[0])
        return 0;
    for (size_t i = 0; i < rc_decline_rules_count; i++)
        if (rc_decline_rules[i].field == RC_DF_CODE && strcmp(rc_decline_rules[i].psp, "*") != 0 &&
            psp_is(rc_decline_rules[i].psp, psp_sq))
            return 1;
    return 0;
}

/* A network or advice code token: one or two letters and digits with at
 * least one digit ("51", "R0", "N7", "1A"); a lone digit reads as "0n". */
static int code_token(const char *tok, size_t len, char out[4])
{
    if (len < 1 || len > 2)
        return 0;
    int digit = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)tok[i]))
            return 0;
        digit |= isdigit((unsigned char)tok[i]) != 0;
    }
    if (!digit)
        return 0;
    size_t o = 0;
    if (len == 1)
        out[o++] = '0';
    for (size_t i = 0; i < len; i++)
        out[o++] = (char)toupper((unsigned char)tok[i]);
    out[o] = '\0';
    return 1;
}

/* An explicit code: trimmed of spaces and punctuation. */
static void explicit_code(const char *in, char out[4])
{
    char sq[8];
    squash(in, sq, sizeof sq);
    if (!code_token(sq, strlen(sq), out))
        out[0] = '\0';
}

/* network_status as PSPs fill it: "51", "05 do not honor", "MAC 03",
 * "51; MAC 21", "MAC03". Words without digits are ignored. */
static void parse_network_status(const char *s, char net[4], char mac[4])
{
    if (!s)
        return;
    int want_mac = 0;
    const char *p = s;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        const char *tok = p;
        while (*p && isalnum((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - tok);
        if (len == 0)
            break;
        char code[4];
        if (len >= 3 && strncasecmp(tok, "mac", 3) == 0) {
            if (len == 3)
                want_mac = 1;
            else if (!mac[0] && code_token(tok + 3, len - 3, code))
                str_copy(mac, 4, code);
            continue;
        }
        if (code_token(tok, len, code)) {
            if (want_mac) {
                if (!mac[0])
                    str_copy(mac, 4, code);
            } else if (!net[0]) {
                str_copy(net, 4, code);
            }
        }
        want_mac = 0;
    }
}

/* ---- Unknown declines ----
 * The one piece of mutable process state of this module: operators need
 * the messages no row maps, across all requests and workers, to extend the
 * table. It is small and bounded, and a mutex is cheap next to the store
 * write every decline already costs. */
struct unknown_row {
    char key[SQ_MAX]; /* squashed psp, '/', squashed message */
    struct rc_unknown_decline pub;
};
static pthread_mutex_t unknown_mu = PTHREAD_MUTEX_INITIALIZER;
static struct unknown_row unknown_rows[RC_DECLINE_UNKNOWN_MAX];
static size_t unknown_n;
static uint64_t unknown_overflow;

static void count_unknown(const struct rc_decline_input *in, const char *psp_sq)
{
    const char *msg = in->raw_response_message && in->raw_response_message[0]     ? in->raw_response_message
                      : in->psp_response_message && in->psp_response_message[0] ? in->psp_response_message
                      : in->processor_response_code && in->processor_response_code[0]
                          ? in->processor_response_code
                          : "";
    char msg_sq[SQ_MAX - 32], key[SQ_MAX];
    squash(msg, msg_sq, sizeof msg_sq);
    size_t pl = strlen(psp_sq);
    if (pl > 30)
        pl = 30;
    memcpy(key, psp_sq, pl);
    key[pl] = '/';
    str_copy(key + pl + 1, sizeof key - pl - 1, msg_sq);

    metrics_count("recoup_recover_unknown_declines_total", 1);
    pthread_mutex_lock(&unknown_mu);
    size_t i = 0;
    while (i < unknown_n && strcmp(unknown_rows[i].key, key) != 0)
        i++;
    if (i < unknown_n) {
        unknown_rows[i].pub.count++;
    } else if (unknown_n < RC_DECLINE_UNKNOWN_MAX) {
        struct unknown_row *r = &unknown_rows[unknown_n++];
        str_copy(r->key, sizeof r->key, key);
        str_copy(r->pub.psp, sizeof r->pub.psp, in->psp ? in->psp : "");
        str_copy(r->pub.message, sizeof r->pub.message, msg);
        r->pub.count = 1;
    } else {
        unknown_overflow++;
    }
    pthread_mutex_unlock(&unknown_mu);
}

static int by_count_desc(const void *a, const void *b)
{
    const struct unknown_row *x = a, *y = b;
    if (x->pub.count != y->pub.count)
        return x->pub.count > y->pub.count ? -1 : 1;
    return strcmp(x->key, y->key);
}

size_t rc_decline_unknown_list(struct rc_unknown_decline *out, size_t max, size_t *distinct, uint64_t *overflow)
{
    pthread_mutex_lock(&unknown_mu);
    qsort(unknown_rows, unknown_n, sizeof unknown_rows[0], by_count_desc);
    size_t n = unknown_n < max ? unknown_n : max;
    for (size_t i = 0; i < n; i++)
        out[i] = unknown_rows[i].pub;
    if (distinct)
        *distinct = unknown_n;
    if (overflow)
        *overflow = unknown_overflow;
    pthread_mutex_unlock(&unknown_mu);
    return n;
}

void rc_decline_unknown_reset(void)
{
    pthread_mutex_lock(&unknown_mu);
    unknown_n = 0;
    unknown_overflow = 0;
    pthread_mutex_unlock(&unknown_mu);
}

/* ---- Normalisation ---- */

void rc_decline_input_from_txn(const struct rc_txn *t, struct rc_decline_input *in)
{
    memset(in, 0, sizeof *in);
    in->success = t->success;
    in->psp = t->psp;
    in->raw_response_message = t->raw_response_message;
    in->psp_response_message = t->psp_response_message;
    in->processor_response_code = t->processor_response_code;
    in->response_type = t->response_type;
    in->network_status = t->network_status;
}

static void set_reason(struct rc_decline *out, const char *name, enum rc_decline_source src)
{
    const struct rc_decline_reason *r = rc_decline_reason_find(name);
    if (!r) /* a row naming no canonical reason: the table test forbids it */
        return;
    out->reason = r->name;
    out->cls = r->cls;
    out->visa_category = r->visa_category;
    out->known = 1;
    out->source = src;
}

void rc_decline_normalise(const struct rc_decline_input *in, struct rc_decline *out)
{
    memset(out, 0, sizeof *out);
    if (in->network_code)
        explicit_code(in->network_code, out->network_code);
    if (in->mac)
        explicit_code(in->mac, out->mac);
    parse_network_status(in->network_status, out->network_code, out->mac);

    if (in->success) {
        out->reason = "approved";
        out->cls = RC_DCL_NONE;
        out->known = 1;
        out->source = RC_DS_SUCCESS;
        return;
    }

    char psp_sq[32], code_sq[64], raw_sq[SQ_MAX], msg_sq[SQ_MAX], net_sq[4];
    squash(in->psp, psp_sq, sizeof psp_sq);
    squash(in->processor_response_code, code_sq, sizeof code_sq);
    squash(in->raw_response_message, raw_sq, sizeof raw_sq);
    squash(in->psp_response_message, msg_sq, sizeof msg_sq);
    const char *const texts[2] = {raw_sq, msg_sq};

    /* A processor code of a PSP without its own code space is most likely
     * the network's response code passed through. */
    int has_codes = psp_has_codes(psp_sq);
    if (!out->network_code[0] && !has_codes && in->processor_response_code)
        explicit_code(in->processor_response_code, out->network_code);
    squash(out->network_code, net_sq, sizeof net_sq);

    const char *c;
    if ((c = find_code(psp_sq, RC_DF_CODE, code_sq, 1)))
        set_reason(out, c, RC_DS_PSP_CODE);
    else if ((c = find_text(psp_sq, texts, 1)))
        set_reason(out, c, RC_DS_PSP_TEXT);
    else if ((c = find_code(psp_sq, RC_DF_NETWORK, net_sq, 1)) || (c = find_code(psp_sq, RC_DF_NETWORK, net_sq, 0)))
        set_reason(out, c, RC_DS_NETWORK);
    else if ((c = find_text(psp_sq, texts, 0)))
        set_reason(out, c, RC_DS_TEXT);

    if (!out->known) {
        out->reason = "generic_decline";
        char rt[24];
        squash(in->response_type, rt, sizeof rt);
        /* The PSP says retrying this card cannot work, but not why: no
         * blind retries on it (each may cost a network fee), yet the
         * invoice stays recoverable once the customer changes the card. */
        out->cls = strcmp(rt, "harddecline") == 0 ? RC_DCL_FIX_DATA : RC_DCL_LATER;
        const struct rc_decline_reason *g = rc_decline_reason_find("generic_decline");
        out->visa_category = g ? g->visa_category : 0;
        out->source = RC_DS_NONE;
        if (strcmp(out->mac, "21") != 0)
            count_unknown(in, psp_sq);
    }

    /* The Mastercard advice is the issuer's own instruction about retries:
     * it beats whatever the text suggests. */
    if (strcmp(out->mac, "03") == 0) {
        out->cls = RC_DCL_NEVER;
    } else if (strcmp(out->mac, "21") == 0) {
        if (!out->reason || strcmp(out->reason, "stop_payment") != 0) {
            const struct rc_decline_reason *r = rc_decline_reason_find("revoked");
            out->reason = r->name;
            out->visa_category = r->visa_category;
            if (!out->known)
                out->source = RC_DS_MAC;
            out->known = 1;
        }
        out->cls = RC_DCL_NEVER;
    } else if (strcmp(out->mac, "01") == 0 && out->cls != RC_DCL_NEVER) {
        out->cls = RC_DCL_FIX_DATA;
    }
}

void rc_decline_of_txn(const struct rc_txn *t, struct rc_decline *out)
{
    struct rc_decline_input in;
    rc_decline_input_from_txn(t, &in);
    rc_decline_normalise(&in, out);
}
