/* The admin listener (loopback only): health, readiness, Prometheus
 * metrics, and the admin API that recoupctl speaks. */
#ifndef RECOUP_ADMIN_ADMIN_H
#define RECOUP_ADMIN_ADMIN_H

#include <stddef.h>

#include "http/server.h"

extern const struct api_family admin_family;
extern const struct route admin_routes[];
extern const size_t admin_routes_count;

#endif
