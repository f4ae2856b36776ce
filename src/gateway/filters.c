#include "gateway/filters.h"

#include <string.h>

#include "core/buf.h"
#include "core/money.h"
#include "core/timefmt.h"

int gw_filter_paging_param(const char *key, const char *value, int *limit, int64_t *before_seq, verrs *e)
{
    int64_t v;
    if (strcmp(key, "limit") == 0) {
        if (str_to_i64(value, &v) != 0 || v < 1 || v > GW_LIST_MAX_LIMIT)
            verrs_add(e, "limit", "must be an integer from 1 to %d", GW_LIST_MAX_LIMIT);
        else
            *limit = (int)v;
        return 1;
    }
    if (strcmp(key, "cursor") == 0) {
        if (str_to_i64(value, &v) != 0 || v < 1)
            verrs_add(e, "cursor", "must be the X-Next-Cursor value of a previous page");
        else
            *before_seq = v;
        return 1;
    }
    return 0;
}

static void time_param(const char *key, const char *value, int *has, int64_t *out, verrs *e)
{
    if (time_parse_iso8601(value, out) != 0)
        verrs_add(e, key, "must be an ISO-8601 date-time such as 2020-01-01T00:00:00");
    else
        *has = 1;
}

/* Any amount a payment can have is a valid bound, in any currency. */
static void amount_param(const char *key, const char *value, int *has, struct money_scaled *out, verrs *e)
{
    if (money_parse_scaled(value, out) != MONEY_OK)
        verrs_add(e, key, "must be a non-negative decimal number such as 50.0 (at most 15 digits and 4 decimals)");
    else
        *has = 1;
}

static int one_of(const char *value, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(value, *allowed) == 0)
            return 1;
    return 0;
}

/* A payment page's cursor: "<created_at ms>.<seq>" of the page's last row. */
static int parse_payment_cursor(const char *value, int64_t *created_at, int64_t *seq)
{
    const char *dot = strchr(value, '.');
    char head[32];
    if (!dot || (size_t)(dot - value) >= sizeof head)
        return -1;
    memcpy(head, value, (size_t)(dot - value));
    head[dot - value] = '\0';
    return str_to_i64(head, created_at) == 0 && str_to_i64(dot + 1, seq) == 0 && *seq > 0 ? 0 : -1;
}

void gw_filter_payment_param(struct payment_filter *f, const char *key, const char *value, verrs *e)
{
    static const char *const methods[] = {"credit_card", "mbway", NULL};
    static const char *const statuses[] = {"success", "error", "settled", NULL};
    if (strcmp(key, "cursor") == 0) {
        if (parse_payment_cursor(value, &f->cursor_created_at, &f->cursor_seq) != 0)
            verrs_add(e, "cursor", "must be the X-Next-Cursor value of a previous page");
        else
            f->has_cursor = 1;
        return;
    }
    int64_t unused_seq = 0;
    if (gw_filter_paging_param(key, value, &f->limit, &unused_seq, e))
        return;
    if (strcmp(key, "payment_id") == 0) {
        if (strlen(value) > 255)
            verrs_add(e, key, "must be at most 255 characters");
        else
            f->payment_id = value;
    } else if (strcmp(key, "payment_method") == 0) {
        if (!one_of(value, methods))
            verrs_add(e, key, "must be credit_card or mbway");
        else
            f->method = value;
    } else if (strcmp(key, "status") == 0) {
        if (!one_of(value, statuses))
            verrs_add(e, key, "must be success, error or settled");
        else
            f->status = value;
    } else if (strcmp(key, "amount_gte") == 0) {
        amount_param(key, value, &f->has_amount_gte, &f->amount_gte, e);
    } else if (strcmp(key, "amount_lte") == 0) {
        amount_param(key, value, &f->has_amount_lte, &f->amount_lte, e);
    } else if (strcmp(key, "created_at_gte") == 0) {
        time_param(key, value, &f->has_created_gte, &f->created_gte, e);
    } else if (strcmp(key, "created_at_lte") == 0) {
        time_param(key, value, &f->has_created_lte, &f->created_lte, e);
    } else if (strcmp(key, "settled_at_gte") == 0) {
        time_param(key, value, &f->has_settled_gte, &f->settled_gte, e);
    } else if (strcmp(key, "settled_at_lte") == 0) {
        time_param(key, value, &f->has_settled_lte, &f->settled_lte, e);
    } else {
        verrs_add(e, key, "is not a known parameter (payment_id, payment_method, status, amount_gte, amount_lte, "
                          "created_at_gte, created_at_lte, settled_at_gte, settled_at_lte, limit, cursor)");
    }
}

void gw_filter_refund_param(struct refund_filter *f, const char *key, const char *value, verrs *e)
{
    if (gw_filter_paging_param(key, value, &f->limit, &f->before_seq, e))
        return;
    if (strcmp(key, "payment_id") == 0 || strcmp(key, "refund_id") == 0) {
        if (strlen(value) > 255)
            verrs_add(e, key, "must be at most 255 characters");
        else if (key[0] == 'p')
            f->payment_id = value;
        else
            f->refund_id = value;
    } else {
        verrs_add(e, key, "is not a known parameter (payment_id, refund_id, limit, cursor)");
    }
}
