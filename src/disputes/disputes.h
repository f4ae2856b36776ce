/* The Disputes service: checkout records sent by merchants over HTTP Basic
 * (POST /v1/analytics), evidence lookups with a Visa Compelling Evidence
 * 3.0 verdict (POST /v1/evidence), status marks, and retention. */
#ifndef RECOUP_DISPUTES_DISPUTES_H
#define RECOUP_DISPUTES_DISPUTES_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "http/server.h"

struct app;

/* Served on the API listener under "/v1/". */
extern const struct api_family disputes_family;
extern const struct route disputes_routes[];
extern const size_t disputes_routes_count;

/* Admin API handlers, mounted by admin/admin.c. */
void disputes_admin_credentials_list(http_req *req, http_resp *resp);
void disputes_admin_credentials_create(http_req *req, http_resp *resp);
void disputes_admin_credentials_revoke(http_req *req, http_resp *resp);
void disputes_admin_merchant_set(http_req *req, http_resp *resp);
void disputes_admin_purge(http_req *req, http_resp *resp);

/* Whether sandbox.json should get a "disputes" section: the service is
 * served and the store holds its data. */
int disputes_sandbox_wanted(const struct app *app);
/* Fills the "disputes" section of sandbox.json: a staging credential of
 * the sandbox merchant and the URL to send records to. */
int disputes_sandbox_section(struct app *app, cJSON *section, char *err, size_t errsz);

/* Retention: deletes every record purchased before the retention age.
 * Returns the number deleted, or -1 on a store failure; *cutoff_ms (when
 * not NULL) gets the cutoff used. */
int64_t disputes_purge_now(struct app *app, int64_t *cutoff_ms);
/* Background work: the retention purge on its interval. */
void disputes_tick(struct app *app, int64_t now_ms);

#endif
