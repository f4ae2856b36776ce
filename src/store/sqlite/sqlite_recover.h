/* Recover on SQLite: what sqlite_recover.c (settings, inbox, the domain
 * model) shares with sqlite_retries.c (planning, execution, webhooks). */
#ifndef RECOUP_STORE_SQLITE_RECOVER_H
#define RECOUP_STORE_SQLITE_RECOVER_H

#include "store/recover_store_internal.h"
#include "store/sqlite/sqlite_store.h"

#define TXN_COLS                                                                                                \
    "transaction_id, psp_transaction_id, psp, acquirer_country, amount, currency, funding_source, "              \
    "payment_method_id, psp_created_at, scheme, success, raw_response_message, psp_response_message, "           \
    "processor_response_code, network_status, response_type, network_transaction_id, bin, issuer_country, "     \
    "origin, raw"

/* Reads one row of TXN_COLS. */
void sq_rc_read_txn(sqlite3_stmt *st, void *row);
/* The invoice with every column (custom malloc'd): NOT_FOUND when absent. */
enum store_rc sq_rc_load_invoice(sq_conn *c, const char *merchant_id, const char *env, const char *invoice_id,
                                 struct rc_invoice *inv);
/* One row of the invoice's history. */
enum store_rc sq_rc_add_invoice_event(sq_conn *c, const struct rc_invoice *inv, const char *from_state,
                                      const struct rc_transition *t, int64_t at);
/* Inserts t as a transaction of ev's invoice unless its id is known (sets
 * t->is_new). */
enum store_rc sq_rc_insert_txn(sq_conn *c, const struct rc_payment_event *ev, struct rc_txn *t);

/* Planning, execution, webhooks and the model: sqlite_retries.c. */
enum store_rc sq_plan_pending(store *s, int max, struct rc_invoice_ref **out, size_t *n);
enum store_rc sq_mark_window_over(store *s, const char *merchant_id, int64_t dunning_began_before, int64_t now,
                                  int64_t *marked);
enum store_rc sq_card_txns(store *s, const char *merchant_id, const char *env, const char *payment_method_id,
                           int64_t since, struct rc_txn **out, size_t *n);
enum store_rc sq_pm_update_after(store *s, const char *merchant_id, const char *env, const char *customer_id,
                                 int64_t after, char pm_id_out[RC_ID_MAX], int64_t *at_out);
enum store_rc sq_plan_write(store *s, const struct rc_plan_write *w);
enum store_rc sq_decisions_list(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                struct rc_decision_row **out, size_t *n);
enum store_rc sq_retries_list(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                              struct rc_retry **out, size_t *n);
enum store_rc sq_retries_claim(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                               struct rc_retry **out, size_t *n);
enum store_rc sq_attempt_write(store *s, const struct rc_attempt_write *w);
enum store_rc sq_retry_requested(store *s, const char *merchant_id, const char *env, const char *invoice_id,
                                 struct rc_retry *out);
enum store_rc sq_retry_next_due(store *s, int64_t *due_at);
enum store_rc sq_webhooks_claim(store *s, int64_t now, const char *owner, int64_t lease_ms, int max,
                                struct rc_webhook **out, size_t *n);
enum store_rc sq_webhook_result(store *s, const struct rc_webhook *w);
enum store_rc sq_webhook_results(store *s, const struct rc_webhook *const *w, size_t n, enum store_rc *rcs);
enum store_rc sq_webhooks_list(store *s, const char *merchant_id, const char *state, const char *invoice_id,
                               int limit, struct rc_webhook **out, size_t *n);
enum store_rc sq_webhook_get(store *s, const char *merchant_id, const char *webhook_id, struct rc_webhook *out);
enum store_rc sq_webhook_redeliver(store *s, const char *merchant_id, const char *webhook_id, int64_t now,
                                   int64_t give_up_at);
enum store_rc sq_webhook_next_due(store *s, int64_t *due_at);
enum store_rc sq_model_get(store *s, const char *scope, char **blob, size_t *len);
enum store_rc sq_model_put(store *s, const char *scope, const void *blob, size_t len, int64_t now);
enum store_rc sq_model_merge(store *s, const char *scope, int64_t now, rc_model_merge_fn fn, void *ctx,
                             int64_t *version);
enum store_rc sq_model_versions(store *s, struct rc_model_version **out, size_t *n);

#endif
