/* HTTP server glue over libmicrohttpd. Each listener has one static route
 * table; method, path, URL length, content type and body size are checked
 * here once for all routes, and errors are written by the listener's API
 * family so that every error body of an API has the same shape. */
#ifndef RECOUP_HTTP_SERVER_H
#define RECOUP_HTTP_SERVER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct app;
struct MHD_Connection;

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_RESP_HEADERS 8

typedef struct http_resp {
    int status;
    buf body;
    const char *content_type; /* NULL means application/json */
    int nheaders;
    struct {
        char name[48];
        char *value;
    } headers[HTTP_MAX_RESP_HEADERS];
} http_resp;

typedef struct http_req http_req;
typedef void (*http_handler_fn)(http_req *req, http_resp *resp);

enum route_flags {
    ROUTE_JSON_BODY = 1, /* body must be application/json and parse */
    ROUTE_NO_AUTH = 2,   /* the family's authenticate step is skipped */
    ROUTE_RAW_BODY = 4,  /* body accepted as is (content type not checked) */
};

struct route {
    const char *method;
    const char *pattern; /* "/api/payments/{id}": {x} matches one segment */
    http_handler_fn handler;
    unsigned flags;
};

/* How one API answers the errors the router finds, and how it
 * authenticates. Any member may be NULL for the generic answer. */
struct api_family {
    const char *name;
    void (*not_found)(http_req *, http_resp *);
    void (*method_not_allowed)(http_req *, http_resp *, const char *allow);
    void (*unsupported_media)(http_req *, http_resp *);
    void (*too_large)(http_req *, http_resp *, size_t limit);
    void (*bad_json)(http_req *, http_resp *, const char *detail);
    void (*internal)(http_req *, http_resp *);
    /* Returns 0 when the request may proceed (and may set req->merchant_id);
     * otherwise fills resp. */
    int (*authenticate)(http_req *, http_resp *);
};

/* One API served under a path prefix of a listener, with its own routes
 * and error family (Recover and Disputes share a listener but not their
 * error contracts). A path that matches no route is answered by the family
 * of the longest matching prefix. */
struct http_mount {
    const char *prefix; /* "/recover/", "/v1/", or "" for everything */
    const struct route *routes;
    size_t nroutes;
    const struct api_family *family;
};

struct http_listener_spec {
    const char *name;     /* "payments", "refunds", "api", "admin" */
    const char *address;  /* IPv4 or IPv6 literal */
    int port;             /* 0: any free port */
    const struct http_mount *mounts; /* must outlive the listener */
    size_t nmounts;
};

struct http_req {
    struct app *app;
    struct MHD_Connection *conn;
    const struct http_listener_spec *spec;
    const struct api_family *family; /* of the mount that serves the path */
    const struct route *route;
    const char *method;
    const char *url;      /* the raw path (escapes intact), without the query */
    char *raw_path;
    char *params[HTTP_MAX_PARAMS];
    int nparams;
    buf body;
    cJSON *json;
    char request_id[72];
    int64_t started_ns;
    char merchant_id[64];
    char key_env[16]; /* environment of the key that authenticated: sandbox, production */
    int too_large;
    int responded;
    http_resp *pending; /* an early answer held until the request is read */
};

typedef struct http_listener http_listener;

/* Starts a listener with its own thread pool. Returns NULL and a message in
 * err on failure (port in use, bad address). */
http_listener *http_listener_start(struct app *app, const struct http_listener_spec *spec, char *err,
                                   size_t errsz);
int http_listener_port(const http_listener *l);
const char *http_listener_name(const http_listener *l);
/* Stops accepting new connections; in-flight requests go on. */
void http_listener_quiesce(http_listener *l);
/* Number of requests being processed right now. */
int http_listener_active(const http_listener *l);
/* Closes everything and frees the listener. */
void http_listener_stop(http_listener *l);

/* Request accessors. */
const char *http_header(const http_req *req, const char *name);
const char *http_query(const http_req *req, const char *name);
typedef int (*http_query_iter)(void *ctx, const char *key, const char *value);
/* Calls fn for every query parameter, in order; stops when fn returns
 * non-zero. */
void http_query_each(const http_req *req, http_query_iter fn, void *ctx);
const char *http_param(const http_req *req, int i);

/* Response builders. The body becomes JSON text. */
void resp_set_header(http_resp *resp, const char *name, const char *value);
void resp_json(http_resp *resp, int status, cJSON *body); /* takes ownership */
void resp_text(http_resp *resp, int status, const char *content_type, const char *text);
/* {"message": message} plus "errors": errors when non-NULL (ownership taken). */
void resp_message(http_resp *resp, int status, const char *message, cJSON *errors);

#endif
