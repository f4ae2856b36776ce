/* The Recover service: ingestion of payment events on the API listener
 * (/recover/...), the inbox worker that applies them, merchant settings on
 * the admin listener. */
#ifndef RECOUP_RECOVER_RECOVER_H
#define RECOUP_RECOVER_RECOVER_H

#include <stddef.h>

#include "http/server.h"
#include "store/store.h"

struct app;

extern const struct api_family recover_family;
extern const struct route recover_routes[];
extern const size_t recover_routes_count;
extern const struct route recover_admin_routes[];
extern const size_t recover_admin_routes_count;

/* Handlers of the API listener. */
void rc_payments_create(http_req *req, http_resp *resp);
void rc_pm_updates_create(http_req *req, http_resp *resp);
void rc_invoices_get(http_req *req, http_resp *resp);

/* The inbox worker: applies acknowledged events in order. */
int recover_worker_start(struct app *app);
void recover_worker_kick(struct app *app);
void recover_worker_stop(struct app *app);
/* Applies up to max pending events now; returns how many, -1 on failure. */
int recover_process_pending(struct app *app, int max);

/* Settings with defaults for a merchant that has none stored. */
enum store_rc recover_settings_load(struct app *app, const char *merchant_id, struct rc_settings *out);
/* Creates the merchant's settings with defaults and a new webhook signing
 * secret, which is written to secret_out (shown once). */
enum store_rc recover_settings_init(struct app *app, const char *merchant_id, char *secret_out, size_t secret_sz);
/* For the sandbox bootstrap: the webhook signing secret (made once; a
 * further node of the same cluster reads the existing one rather than
 * replacing it under the merchants' verifiers) and the gateway key of
 * recover_settings_own_gateway (also made once). */
enum store_rc recover_settings_sandbox(struct app *app, const char *merchant_id, char *secret_out, size_t secret_sz);
/* Lets Recover charge retries at this recoupd's own gateway: a gateway key
 * of the merchant's (sandbox) is made and stored as psp_api_key; an empty
 * psp_url means this node's payments listener. */
enum store_rc recover_settings_own_gateway(struct app *app, const char *merchant_id);

/* The invoice as the merchant sees it (also used by the admin API). */
void recover_invoice_answer(struct app *app, const char *merchant_id, const char *env, const char *invoice_id,
                            http_resp *resp);

#endif
