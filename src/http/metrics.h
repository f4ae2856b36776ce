/* Process-wide counters and histograms in Prometheus text format. The
 * counters are atomics: metrics are the one piece of state every thread
 * touches, and a lock there would serialise all requests. */
#ifndef RECOUP_HTTP_METRICS_H
#define RECOUP_HTTP_METRICS_H

#include <stdint.h>

#include "core/buf.h"

enum metric_listener { ML_PAYMENTS = 0, ML_REFUNDS, ML_API, ML_ADMIN, ML_COUNT };

int metrics_listener_index(const char *name);
void metrics_observe_request(int listener, int status, double seconds);
void metrics_observe_commit(int batch_size, double seconds);
void metrics_count(const char *name, int64_t delta); /* named counters, see metrics.c */
void metrics_render(buf *out);

#endif
