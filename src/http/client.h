/* Outbound HTTP over libcurl, for recoupctl and, later, calls to merchants
 * and PSPs. */
#ifndef RECOUP_HTTP_CLIENT_H
#define RECOUP_HTTP_CLIENT_H

#include <stddef.h>

#include "core/buf.h"

struct http_client_response {
    long status; /* 0 when no answer came */
    buf body;
    char error[256];
    int malformed_url; /* the request never left: the URL itself was bad */
};

/* headers: NULL-terminated "Name: value" strings. body may be NULL.
 * Returns 0 when an HTTP answer arrived (any status), -1 otherwise. */
int http_client_request(const char *method, const char *url, const char *const *headers, const char *body,
                        long timeout_ms, struct http_client_response *out);
void http_client_response_free(struct http_client_response *r);

/* base (its trailing slashes dropped) + path + "/" + segment
 * percent-encoded (segment may be NULL: none), into out (truncated to
 * outsz). For endpoints a merchant configures as a base URL. */
void http_url_join(char *out, size_t outsz, const char *base, const char *path, const char *segment);

/* One thread's reusable client: connections stay open between calls to the
 * same host (keep-alive), which matters when a worker calls the same
 * merchant and PSP thousands of times. Not shared between threads. */
typedef struct http_conn http_conn;
http_conn *http_conn_new(void);
void http_conn_free(http_conn *c);
int http_conn_request(http_conn *c, const char *method, const char *url, const char *const *headers,
                      const char *body, long connect_timeout_ms, long timeout_ms, struct http_client_response *out);

#endif
