/* Pieces shared by the Disputes service's files. */
#ifndef RECOUP_DISPUTES_INTERNAL_H
#define RECOUP_DISPUTES_INTERNAL_H

#include <cjson/cJSON.h>

#include "disputes/disputes.h"
#include "disputes/validate.h"
#include "store/store.h"

/* Handlers of the API listener. */
void dsp_analytics_create(http_req *req, http_resp *resp);
void dsp_analytics_get(http_req *req, http_resp *resp);
void dsp_analytics_mark_disputed(http_req *req, http_resp *resp);
void dsp_analytics_mark_fraud(http_req *req, http_resp *resp);
void dsp_evidence_lookup(http_req *req, http_resp *resp);

/* The credential that authenticated the request (req->merchant_id and
 * req->key_env hold its merchant and environment). */
int dsp_authenticate(http_req *req, http_resp *resp);

/* {"detail": text} with status. */
void dsp_detail(http_resp *resp, int status, const char *text);
/* 422 {"detail": [...]} from the collected errors. */
void dsp_unprocessable(http_resp *resp, dsp_errs *e);
/* 500 for a store failure (details are in the log). */
void dsp_store_failed(http_resp *resp);

/* now_ms less whole calendar months, at the same time of day; a day past
 * the end of the shorter month becomes its last day (31 August less six
 * months is 28 or 29 February). The retention cutoff. */
int64_t dsp_months_before(int64_t now_ms, int64_t months);

/* A record as the API shows it. */
cJSON *dsp_record_json(const struct dsp_record_row *r);
/* An instant as ISO-8601 UTC text. */
cJSON *dsp_time_json(int64_t ms);

#endif
