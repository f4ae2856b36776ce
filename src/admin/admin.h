/* The admin listener (loopback only): health, readiness, Prometheus
 * metrics, and the admin API that recoupctl speaks. */
#ifndef RECOUP_ADMIN_ADMIN_H
#define RECOUP_ADMIN_ADMIN_H

#include <stddef.h>

#include "http/server.h"

extern const struct api_family admin_family;

/* For admin handlers under /admin/merchants/{id}/...: 1 when the path's
 * merchant exists; otherwise resp holds the 404 (or 500) and 0 is returned. */
int admin_merchant_exists(http_req *req, http_resp *resp);
extern const struct route admin_routes[];
extern const size_t admin_routes_count;

#endif
