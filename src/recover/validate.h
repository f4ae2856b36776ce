/* The contract of POST /recover/payments and /recover/payment_method_updates:
 * every field checked, every problem listed with its path, and the valid
 * payload parsed into the domain's types. The same code parses the stored
 * payload when the event is processed, so what was acknowledged is exactly
 * what is applied. */
#ifndef RECOUP_RECOVER_VALIDATE_H
#define RECOUP_RECOVER_VALIDATE_H

#include <cjson/cJSON.h>

#include "core/jsonv.h"
#include "store/store.h"

/* The published examples wrap the payload in a top-level "body" object;
 * both forms are the same request. */
const cJSON *rc_unwrap_body(const cJSON *root);

/* Validates a payment event; returns the number of problems added to e.
 * When there are none and ev is not NULL, fills ev (free with
 * rc_payment_event_free); merchant_id, env, seq and decide are left to the
 * caller. */
int rc_parse_payment(const cJSON *root, struct rc_payment_event *ev, verrs *e);
void rc_payment_event_free(struct rc_payment_event *ev);

int rc_parse_pm_update(const cJSON *root, struct rc_pm_update *up, verrs *e);

/* The fingerprint that makes a re-sent event a duplicate: the sorted
 * transaction ids of a payment event (the same transaction sent twice is
 * one transaction), hex SHA-256. A payment-method update gets a fresh one:
 * updates are idempotent in effect and never dropped as repeats. */
void rc_payment_fingerprint(const cJSON *root, char out[65]);
void rc_pm_update_fingerprint(const cJSON *root, char out[65]);

#endif
