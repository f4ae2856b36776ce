/* Webhooks to merchants: Retry Results and End of Dunning (spec/recover.md).
 *
 * A webhook is made (rc_webhook_make) by the code that changes the state it
 * reports, and written to the outbox by the store in the same transaction
 * as that change, so that it can neither be lost nor sent for a change that
 * did not happen. The dispatcher (a worker thread) claims due deliveries
 * under a lease, sends them concurrently, and records each result: a 2xx is
 * delivered; anything else is redelivered every webhook_retry_interval
 * until webhook_retry_for has passed since the event, then given up. */
#ifndef RECOUP_RECOVER_WEBHOOKS_H
#define RECOUP_RECOVER_WEBHOOKS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/server.h"
#include "store/recover_store.h"

struct app;

#define RC_WEBHOOK_RETRY_RESULT "retry_result"
#define RC_WEBHOOK_END_OF_DUNNING "end_of_dunning"

/* Serialises v the way the older published verifier re-serialises a parsed
 * body (Python json.dumps(body, separators=(",", ":")), ensure_ascii): no
 * insignificant white space, non-ASCII as \uXXXX (surrogate pairs beyond
 * the BMP), numbers in shortest round-trip form (integers without a
 * fraction), keys in the order given. Returns 0, or -1 (invalid UTF-8 or
 * out of memory). */
int rc_json_compact(const cJSON *v, buf *out);

/* Lower-case hex HMAC-SHA256 keyed with secret over body, "+", and the
 * expiration as decimal text. */
void rc_webhook_signature(const char *secret, const char *body, size_t body_len, int64_t expiration,
                          char out[65]);

/* Fills w for a new delivery: a deduplication id derived from key (stable:
 * the same event always gets the same id), the compact body of body_json,
 * due at now, given up after now + retry_for_ms. url is the endpoint.
 * Returns 0, or -1. */
int rc_webhook_make(struct rc_webhook *w, const char *merchant_id, const char *env, const char *type,
                    const char *invoice_id, const char *url, const char *key, const cJSON *body_json, int64_t now,
                    int64_t retry_for_ms);

/* Marks one delivery attempt's result on w (as claimed): a 2xx status is
 * delivered at now; anything else (status 0: no answer came, error says
 * why) is due again at now + retry_interval_ms, or failed when that is
 * after w->give_up_at. Counts the attempt and keeps status and error; the
 * lease stays as claimed, for the store to check and release. Pure: the
 * dispatcher stores w afterwards. */
void rc_webhook_after_attempt(struct rc_webhook *w, long status, const char *error, int64_t now,
                              int64_t retry_interval_ms);

/* Where the dispatcher's time went since it started, for benchmarks:
 * claiming due deliveries, sending them (from hand-over to curl until the
 * answer, summed over deliveries, so concurrent sends overlap), and
 * recording results (from the answer until its result is durable, summed
 * over deliveries); wait_ns sums each delivery's wait, once signed, for a
 * free transfer. */
struct webhook_dispatcher_stats {
    int64_t claimed, delivered, retried, failed;
    int64_t claim_ns, send_ns, record_ns, claim_calls, wait_ns;
};
void webhook_dispatcher_stats(struct app *app, struct webhook_dispatcher_stats *out);

/* The admin API's delivery log (webhook_admin.c): list, show, redeliver. */
extern const struct route recover_webhook_admin_routes[];
extern const size_t recover_webhook_admin_routes_count;

/* The dispatcher thread (started by app_start on worker nodes). kick wakes
 * it when a webhook was written. */
int webhook_dispatcher_start(struct app *app);
void webhook_dispatcher_kick(struct app *app);
void webhook_dispatcher_stop(struct app *app);

#endif
