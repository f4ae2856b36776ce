/* API keys of every service. A key reads rk_<env>_<key id>_<secret>: the key
 * id finds the row, the secret is checked against its stored hash in
 * constant time. The full key is shown once, at creation. */
#ifndef RECOUP_AUTH_API_KEYS_H
#define RECOUP_AUTH_API_KEYS_H

#include <stddef.h>

#include "store/store.h"

struct app;

#define API_KEY_MAX 128

/* Creates a key for merchant and service ("gateway", "recover") in env
 * ("sandbox", "production"). Writes the full key (shown once) to out. */
enum store_rc api_key_create(struct app *app, const char *merchant_id, const char *service, const char *env,
                             const char *label, char *out, size_t outsz, struct api_key_row *row);

/* Checks a presented key for service. Returns 0 and fills row when it is
 * valid and active; -1 when not (unknown, wrong secret, revoked, other
 * service); -2 when the store failed. */
int api_key_verify(struct app *app, const char *presented, const char *service, struct api_key_row *row);

/* The key of an "Authorization: Bearer" or "x-api-key" header, or NULL. */
struct http_req;
const char *api_key_from_request(const struct http_req *req);

/* Verifies the request's key for service and, when valid, sets the
 * request's merchant and environment. Returns as api_key_verify; the
 * caller answers the failures in its API's shape. */
int api_key_authenticate(struct http_req *req, const char *service);

#endif
