/* Gateway storage: payments, refunds and stored payment methods. */
#ifndef RECOUP_STORE_GATEWAY_STORE_H
#define RECOUP_STORE_GATEWAY_STORE_H

#include <stddef.h>
#include <stdint.h>

/* store.h defines the shared types and includes this file after them. */
#include "core/money.h"
#include "store/store.h"

struct payment_row {
    char merchant_id[ID_MAX];
    char payment_id[PAYMENT_ID_LEN + 1];
    int64_t seq; /* insertion order, the paging cursor */
    int64_t amount;
    char currency[4];
    char method[16]; /* credit_card, mbway */
    char status[16]; /* success, error, settled */
    char decline_code[40];
    char decline_message[128];
    char network_code[8];
    int64_t created_at;
    int settled; /* settled_at/settled_amount meaningful */
    int64_t settled_at;
    int64_t settled_amount;
    int64_t refunded; /* sum of refunds, filled on reads */
    char payment_method_id[40];
    /* instrument */
    char card_sealed[192]; /* encrypted card number */
    char card_masked[24];
    char card_brand[16];
    char card_name[404]; /* 100 characters of UTF-8 */
    char exp_month[4];
    char exp_year[8];
    char phone[24];
};

struct payment_filter {
    const char *payment_id;
    const char *method;
    const char *status;
    int has_amount_gte, has_amount_lte;
    struct money_scaled amount_gte, amount_lte;
    int has_created_gte, has_created_lte, has_settled_gte, has_settled_lte;
    int64_t created_gte, created_lte, settled_gte, settled_lte;
    /* Paging, newest first by (created_at, seq): the page starts after
     * the row with this created_at and seq. */
    int has_cursor;
    int64_t cursor_created_at, cursor_seq;
    int limit;
};

struct refund_row {
    char merchant_id[ID_MAX];
    char refund_id[REFUND_ID_LEN + 1];
    char payment_id[PAYMENT_ID_LEN + 1];
    int64_t seq;
    int64_t amount;
    char currency[4];
    int64_t created_at;
};

struct refund_filter {
    const char *payment_id;
    const char *refund_id;
    int64_t before_seq;
    int limit;
};

struct payment_method_row {
    char merchant_id[ID_MAX];
    char payment_method_id[40];
    char type[16];
    char brand[16];
    char bin[9];
    char last4[5];
    char masked[24];
    char name[404]; /* 100 characters of UTF-8 */
    char exp_month[4];
    char exp_year[8];
    char sealed[192];
    int64_t created_at;
};

struct fee_schedule {
    int64_t fixed_minor;
    int64_t bps;
};

struct store_gateway_ops {
    /* gateway payments */
    enum store_rc (*payment_insert)(store *s, const struct payment_row *p, const struct idem_in *idem,
                                    struct idem_out *out);
    enum store_rc (*payment_get)(store *s, const char *merchant_id, const char *payment_id, struct payment_row *out);
    enum store_rc (*payment_list)(store *s, const char *merchant_id, const struct payment_filter *f,
                                  struct payment_row **out, size_t *n);
    /* Manual settlement, once, of a successful payment. settled_amount < 0
     * means: amount less refunds less fees. */
    enum store_rc (*payment_settle_one)(store *s, const char *merchant_id, const char *payment_id,
                                        int64_t settled_at, int64_t settled_amount, const struct fee_schedule *fees,
                                        struct payment_row *out);
    /* Deletes a payment with no refunds that is not settled; out gets it as it was. */
    enum store_rc (*payment_delete)(store *s, const char *merchant_id, const char *payment_id,
                                    struct payment_row *out);
    /* Settles every successful unsettled payment created at or before now. */
    enum store_rc (*settle_batch)(store *s, int64_t now, const struct fee_schedule *fees, int64_t *settled);

    /* gateway refunds: the balance check and the insert are one atomic step.
     * On STORE_LIMIT, *refundable holds what is left. */
    enum store_rc (*refund_insert)(store *s, const struct refund_row *r, const struct idem_in *idem,
                                   struct idem_out *out, int64_t *refundable);
    enum store_rc (*refund_get)(store *s, const char *merchant_id, const char *refund_id, struct refund_row *out);
    enum store_rc (*refund_list)(store *s, const char *merchant_id, const struct refund_filter *f,
                                 struct refund_row **out, size_t *n);

    /* gateway vault */
    enum store_rc (*payment_method_insert)(store *s, const struct payment_method_row *pm, const struct idem_in *idem,
                                           struct idem_out *out);
    enum store_rc (*payment_method_get)(store *s, const char *merchant_id, const char *pm_id,
                                        struct payment_method_row *out);
    enum store_rc (*payment_method_delete)(store *s, const char *merchant_id, const char *pm_id);
    /* How many payments (any status) were made with this stored payment
     * method: the sandbox's retry cards decide by it. */
    enum store_rc (*payment_method_charges)(store *s, const char *merchant_id, const char *pm_id, int64_t *count);
};

#endif
