/* The gateway service: payments (port 1111) and refunds (port 2222). */
#ifndef RECOUP_GATEWAY_GATEWAY_H
#define RECOUP_GATEWAY_GATEWAY_H

#include <stddef.h>

#include "http/server.h"
#include "store/store.h"

struct app;

extern const struct api_family gateway_family;
extern const struct route gateway_payments_routes[];
extern const size_t gateway_payments_routes_count;
extern const struct route gateway_refunds_routes[];
extern const size_t gateway_refunds_routes_count;

/* Runs one settlement batch now; returns how many payments it settled, or
 * -1 on a store failure. *batch_at (when not NULL) gets the batch time,
 * which is every settled payment's settled_at. */
int64_t gateway_settle_now(struct app *app, int64_t *batch_at);
/* Background work: settlement on its interval, idempotency key expiry. */
void gateway_tick(struct app *app, int64_t now_ms);

#endif
