/* Pieces shared by the gateway's endpoint files. */
#ifndef RECOUP_GATEWAY_INTERNAL_H
#define RECOUP_GATEWAY_INTERNAL_H

#include <cjson/cJSON.h>

#include "core/jsonv.h"
#include "gateway/gateway.h"

/* Handlers. */
void gw_payments_create(http_req *req, http_resp *resp);
void gw_payments_list(http_req *req, http_resp *resp);
void gw_payments_get(http_req *req, http_resp *resp);
void gw_payments_update(http_req *req, http_resp *resp);
void gw_payments_delete(http_req *req, http_resp *resp);
void gw_payment_methods_create(http_req *req, http_resp *resp);
void gw_payment_methods_get(http_req *req, http_resp *resp);
void gw_payment_methods_delete(http_req *req, http_resp *resp);
void gw_refunds_create(http_req *req, http_resp *resp);
void gw_refunds_list(http_req *req, http_resp *resp);
void gw_refunds_get(http_req *req, http_resp *resp);

/* The payment as the API shows it; additional_params only when asked. */
cJSON *gw_payment_json(struct app *app, const struct payment_row *p, int with_params);
cJSON *gw_refund_json(const struct refund_row *r);

/* 404 with {}, the source's "empty result" for an unknown id. */
void gw_not_found_empty(http_resp *resp);
void gw_invalid(http_resp *resp, const char *message, verrs *e);
void gw_conflict(http_resp *resp, const char *field, const char *message);
/* 500 for a store failure (details are in the log). */
void gw_store_failed(http_resp *resp);

/* X-Next-Cursor and Link headers for the page after this one. */
void gw_set_next_cursor(http_req *req, http_resp *resp, const char *cursor);

/* Idempotency-Key handling for POST endpoints. */
struct gw_idem {
    char key[256];
    int has_key;
    char scope[64];
    char request_hash[65];
};
/* Reads the header and looks for an earlier answer. Returns 1 when resp now
 * holds the answer (a replay, a mismatch, a malformed key), 0 to go on. */
int gw_idem_begin(http_req *req, http_resp *resp, const char *scope, struct gw_idem *idem);
/* Fills an idem_in that remembers the answer about to be given. */
void gw_idem_prepare(const struct gw_idem *idem, struct idem_in *in, int status, const char *body, int64_t now);
/* Answers a STORE_REPLAY or STORE_IDEM_MISMATCH from a write. */
void gw_idem_answer(http_resp *resp, enum store_rc rc, struct idem_out *out);

#endif

/* Card details read from a request object (additional_params, or a
 * tokenisation body). Format problems go to e (a 400); a well-formed card
 * that an issuer would refuse gets decline set instead. */
struct card_input {
    char digits[24];
    char brand[16];
    char masked[24];
    char name[404]; /* 100 characters of UTF-8 */
    char exp_month[4]; /* "05" */
    char exp_year[8];  /* "2028" */
    int has_cvv;
    int bad_number, expired, bad_cvv;
    const char *decline; /* incorrect_number, expired_card, incorrect_cvc, or NULL */
};
void gw_card_read(const cJSON *obj, const char *path, int cvv_required, int64_t now_ms, struct card_input *card,
                  verrs *e);
/* Text of a JV_STRING_OR_INT value ("05" or 5 -> "5"). */
void gw_string_or_int(const cJSON *v, char *out, size_t outsz);
