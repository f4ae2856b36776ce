/* Query-string filters of the gateway's listings: every parameter is
 * validated, and a bad or unknown one is reported by name. */
#ifndef RECOUP_GATEWAY_FILTERS_H
#define RECOUP_GATEWAY_FILTERS_H

#include "core/jsonv.h"
#include "store/store.h"

#define GW_LIST_DEFAULT_LIMIT 100
#define GW_LIST_MAX_LIMIT 1000

/* Applies one parameter of GET /api/payments to f; problems go to e. The
 * value must outlive f (it is referenced, not copied). */
void gw_filter_payment_param(struct payment_filter *f, const char *key, const char *value, verrs *e);
/* The same for the refund listing. */
void gw_filter_refund_param(struct refund_filter *f, const char *key, const char *value, verrs *e);

/* limit and cursor, shared by both; returns 1 when key was one of them. */
int gw_filter_paging_param(const char *key, const char *value, int *limit, int64_t *before_seq, verrs *e);

#endif
