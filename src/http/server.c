#include "http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "core/ids.h"
#include "core/log.h"
#include "http/metrics.h"

struct conn_ctx {
    char *raw_path; /* the current request's path as sent, %-escapes intact */
};

struct http_listener {
    struct app *app;
    struct http_listener_spec spec;
    struct MHD_Daemon *daemon;
    int port;
    int metrics_index;
    atomic_int active;
    atomic_int connections;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- response builders ---- */

void resp_set_header(http_resp *resp, const char *name, const char *value)
{
    for (int i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0) {
            free(resp->headers[i].value);
            resp->headers[i].value = strdup(value);
            return;
        }
    if (resp->nheaders >= HTTP_MAX_RESP_HEADERS)
        return;
    str_copy(resp->headers[resp->nheaders].name, sizeof resp->headers[0].name, name);
    resp->headers[resp->nheaders].value = strdup(value);
    resp->nheaders++;
}

void resp_json(http_resp *resp, int status, cJSON *body)
{
    resp->status = status;
    buf_reset(&resp->body);
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    if (text) {
        buf_puts(&resp->body, text);
        cJSON_free(text);
    } else {
        buf_puts(&resp->body, "{}");
    }
    cJSON_Delete(body);
    resp->content_type = NULL;
}

void resp_text(http_resp *resp, int status, const char *content_type, const char *text)
{
    resp->status = status;
    buf_reset(&resp->body);
    buf_puts(&resp->body, text);
    resp->content_type = content_type;
}

void resp_message(http_resp *resp, int status, const char *message, cJSON *errors)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", message);
    if (errors)
        cJSON_AddItemToObject(o, "errors", errors);
    resp_json(resp, status, o);
}

/* ---- request accessors ---- */

const char *http_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_iter_ctx {
    http_query_iter fn;
    void *ctx;
};

static enum MHD_Result query_iter_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct query_iter_ctx *q = cls;
    return q->fn(q->ctx, key, value ? value : "") ? MHD_NO : MHD_YES;
}

void http_query_each(const http_req *req, http_query_iter fn, void *ctx)
{
    struct query_iter_ctx q = {fn, ctx};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_iter_cb, &q);
}

const char *http_param(const http_req *req, int i) { return i < req->nparams ? req->params[i] : NULL; }

/* ---- generic error answers, used when a family leaves a member NULL ---- */

static void generic_not_found(http_req *req, http_resp *resp)
{
    (void)req;
    resp_message(resp, 404, "Not found", NULL);
}

static void generic_method_not_allowed(http_req *req, http_resp *resp, const char *allow)
{
    (void)req;
    resp_message(resp, 405, "Method not allowed", NULL);
    resp_set_header(resp, "Allow", allow);
}

static void generic_unsupported_media(http_req *req, http_resp *resp)
{
    (void)req;
    resp_message(resp, 415, "Unsupported media type", cJSON_CreateString("Content-Type must be application/json"));
}

static void generic_too_large(http_req *req, http_resp *resp, size_t limit)
{
    (void)req;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", "Request body too large");
    cJSON_AddNumberToObject(o, "limit_bytes", (double)limit);
    resp_json(resp, 413, o);
}

static void generic_bad_json(http_req *req, http_resp *resp, const char *detail)
{
    (void)req;
    cJSON *errs = cJSON_CreateArray();
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "field", "body");
    cJSON_AddStringToObject(e, "message", detail);
    cJSON_AddItemToArray(errs, e);
    resp_message(resp, 400, "Invalid request body", errs);
}

static void generic_internal(http_req *req, http_resp *resp)
{
    (void)req;
    resp_message(resp, 500, "Internal server error", NULL);
}

/* ---- routing ---- */

/* A path segment with %XX sequences decoded; NULL when it holds a bad
 * escape or decodes to a NUL (which no id may contain). Routing works on
 * the raw path, so an encoded '/' inside an id stays part of the id. */
static char *percent_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (len - i < 3 || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2])) {
            free(out);
            return NULL;
        }
        char hex[3] = {s[i + 1], s[i + 2], '\0'};
        long v = strtol(hex, NULL, 16);
        if (v == 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)v;
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* Matches path against pattern; {x} segments are captured into req. */
static int route_match(const char *pattern, const char *path, http_req *req)
{
    int n = 0;
    const char *p = pattern, *s = path;
    char *captured[HTTP_MAX_PARAMS] = {0};
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            size_t len = se ? (size_t)(se - s) : strlen(s);
            if (!pe || len == 0 || n >= HTTP_MAX_PARAMS)
                goto fail;
            captured[n] = percent_decode(s, len);
            if (!captured[n])
                goto fail;
            n++;
            p = pe + 1;
            s += len;
        } else if (*p == *s) {
            p++;
            s++;
        } else {
            goto fail;
        }
    }
    if (*p || *s)
        goto fail;
    if (req) {
        for (int i = 0; i < n; i++)
            req->params[i] = captured[i];
        req->nparams = n;
    } else {
        for (int i = 0; i < n; i++)
            free(captured[i]);
    }
    return 1;
fail:
    for (int i = 0; i < n; i++)
        free(captured[i]);
    return 0;
}

static int method_is(const char *m, const char *want) { return strcmp(m, want) == 0; }

/* Finds the route for method and path across the listener's mounts, and
 * the family that answers for the path. On a path match with another
 * method, returns NULL and fills allow with the methods the path has. */
static const struct route *route_find(const struct http_listener_spec *spec, const char *method, const char *path,
                                      http_req *req, char *allow, size_t allowsz, int *path_known)
{
    *path_known = 0;
    allow[0] = '\0';
    const char *m = method_is(method, "HEAD") ? "GET" : method;
    size_t best_prefix = 0;
    req->family = NULL;
    for (size_t mi = 0; mi < spec->nmounts; mi++) {
        const struct http_mount *mount = &spec->mounts[mi];
        size_t pl = strlen(mount->prefix);
        /* "/recover" belongs to the "/recover/" mount too. */
        int under = strncmp(path, mount->prefix, pl) == 0 ||
                    (pl > 1 && strlen(path) == pl - 1 && strncmp(path, mount->prefix, pl - 1) == 0);
        if (under && (pl >= best_prefix || !req->family)) {
            best_prefix = pl;
            req->family = mount->family;
        }
    }
    const struct route *found = NULL;
    for (size_t mi = 0; mi < spec->nmounts && !found; mi++) {
        const struct http_mount *mount = &spec->mounts[mi];
        for (size_t i = 0; i < mount->nroutes; i++) {
            const struct route *r = &mount->routes[i];
            if (!route_match(r->pattern, path, NULL))
                continue;
            req->family = mount->family;
            if (method_is(r->method, m)) {
                route_match(r->pattern, path, req);
                found = r;
                break;
            }
            *path_known = 1;
            if (!strstr(allow, r->method)) {
                size_t al = strlen(allow);
                snprintf(allow + al, allowsz - al, "%s%s", al ? ", " : "", r->method);
            }
        }
    }
    return found;
}

/* ---- the libmicrohttpd callbacks ---- */

static int sane_request_id(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static enum MHD_Result sum_query_len(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    size_t *n = cls;
    *n += strlen(key) + (value ? strlen(value) : 0) + 2;
    return MHD_YES;
}

static int content_type_is_json(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0)
        return 0;
    char c = ct[n];
    return c == '\0' || c == ';' || c == ' ';
}

static enum MHD_Result send_response(struct http_listener *l, http_req *req, http_resp *resp)
{
    size_t len = 0;
    char *body = buf_steal(&resp->body, &len);
    struct MHD_Response *mr =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(mr, "X-Request-Id", req->request_id);
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    for (int i = 0; i < resp->nheaders; i++) {
        if (resp->headers[i].value)
            MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
        free(resp->headers[i].value);
        resp->headers[i].value = NULL;
    }
    resp->nheaders = 0;
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    req->responded = 1;

    double secs = (double)(mono_ns() - req->started_ns) / 1e9;
    metrics_observe_request(l->metrics_index, resp->status, secs);
    if (log_enabled(LOG_INFO) || resp->status >= 500) {
        char st[16], dur[32], sz[24];
        snprintf(st, sizeof st, "#%d", resp->status);
        snprintf(dur, sizeof dur, "#%.3f", secs * 1000.0);
        snprintf(sz, sizeof sz, "#%zu", len);
        const char *kv[] = {"listener", l->spec.name, "request_id", req->request_id, "method", req->method,
                            "path", req->url, "status", st, "duration_ms", dur, "bytes", sz,
                            "merchant", req->merchant_id[0] ? req->merchant_id : "-", NULL};
        log_kv(resp->status >= 500 ? LOG_ERROR : LOG_INFO, "request", kv);
    }
    return ret;
}

static void resp_init(http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body);
    resp->status = 200;
}

static void resp_cleanup(http_resp *resp)
{
    buf_free(&resp->body);
    for (int i = 0; i < resp->nheaders; i++)
        free(resp->headers[i].value);
    resp->nheaders = 0;
}

#define FAMILY_CALL(req, member, generic, ...) \
    ((req)->family && (req)->family->member ? (req)->family->member(__VA_ARGS__) : generic(__VA_ARGS__))

static enum MHD_Result answer_now(struct http_listener *l, http_req *req, http_resp *resp)
{
    enum MHD_Result r = send_response(l, req, resp);
    resp_cleanup(resp);
    return r;
}

static int request_has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    int64_t n;
    if (cl && (str_to_i64(cl, &n) != 0 || n > 0))
        return 1;
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding") != NULL;
}

/* An answer found before the body is read. Sent at once, libmicrohttpd
 * must close the connection (the unread body would be taken for the next
 * request), which is right when a body is coming; without one the answer
 * waits for the request's last callback so the connection stays alive. */
static enum MHD_Result answer_early(struct http_listener *l, struct MHD_Connection *conn, http_req *req,
                                    http_resp *resp)
{
    if (request_has_body(conn))
        return answer_now(l, req, resp);
    req->pending = malloc(sizeof *req->pending);
    if (!req->pending)
        return answer_now(l, req, resp);
    *req->pending = *resp;
    return MHD_YES;
}

static enum MHD_Result on_first_call(struct http_listener *l, struct MHD_Connection *conn, const char *url,
                                     const char *method, http_req *req)
{
    http_resp resp;
    resp_init(&resp);
    const struct http_limits *lim = &l->app->http;

    size_t url_len = strlen(url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, sum_query_len, &url_len);
    if (url_len > lim->max_url_bytes) {
        resp_message(&resp, 414, "URL too long", NULL);
        return answer_early(l, conn, req, &resp);
    }

    /* One trailing slash is forgiven: "/api/payments/" is "/api/payments". */
    char path[4096];
    str_copy(path, sizeof path, url);
    size_t pl = strlen(path);
    if (pl > 1 && path[pl - 1] == '/')
        path[pl - 1] = '\0';

    char allow[128];
    int path_known = 0;
    req->route = route_find(&l->spec, method, path, req, allow, sizeof allow, &path_known);
    if (!req->route) {
        if (path_known)
            FAMILY_CALL(req, method_not_allowed, generic_method_not_allowed, req, &resp, allow);
        else
            FAMILY_CALL(req, not_found, generic_not_found, req, &resp);
        return answer_early(l, conn, req, &resp);
    }

    if (!(req->route->flags & ROUTE_NO_AUTH) && req->family && req->family->authenticate) {
        if (req->family->authenticate(req, &resp) != 0)
            return answer_early(l, conn, req, &resp);
    }

    int has_body = method_is(method, "POST") || method_is(method, "PUT") || method_is(method, "PATCH");
    if (has_body && (req->route->flags & ROUTE_JSON_BODY) &&
        !content_type_is_json(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"))) {
        FAMILY_CALL(req, unsupported_media, generic_unsupported_media, req, &resp);
        return answer_early(l, conn, req, &resp);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        int64_t n;
        if (str_to_i64(cl, &n) == 0 && n > (int64_t)lim->max_body_bytes) {
            FAMILY_CALL(req, too_large, generic_too_large, req, &resp, lim->max_body_bytes);
            return answer_early(l, conn, req, &resp);
        }
    }
    resp_cleanup(&resp);
    return MHD_YES;
}

static enum MHD_Result dispatch(struct http_listener *l, http_req *req)
{
    http_resp resp;
    resp_init(&resp);
    if (req->too_large) {
        FAMILY_CALL(req, too_large, generic_too_large, req, &resp, l->app->http.max_body_bytes);
        return answer_now(l, req, &resp);
    }
    int has_body = method_is(req->method, "POST") || method_is(req->method, "PUT") || method_is(req->method, "PATCH");
    if (has_body && (req->route->flags & ROUTE_JSON_BODY)) {
        if (req->body.len == 0) {
            FAMILY_CALL(req, bad_json, generic_bad_json, req, &resp, "the request body is empty; a JSON object is expected");
            return answer_now(l, req, &resp);
        }
        const char *end = NULL;
        req->json = cJSON_ParseWithLengthOpts(buf_cstr(&req->body), req->body.len, &end, 0);
        int trailing = 0;
        if (req->json && end) {
            for (const char *p = end; p < req->body.data + req->body.len; p++)
                if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
                    trailing = 1;
        }
        if (!req->json || trailing || memchr(req->body.data, '\0', req->body.len)) {
            FAMILY_CALL(req, bad_json, generic_bad_json, req, &resp, "the request body is not valid JSON");
            return answer_now(l, req, &resp);
        }
    }
    req->route->handler(req, &resp);
    if (resp.status >= 500 && resp.status != 503) {
        /* Handlers report internal failures with a bare status; the family
         * decides what a client may see, which is never the details. */
        FAMILY_CALL(req, internal, generic_internal, req, &resp);
    }
    return answer_now(l, req, &resp);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)version;
    struct http_listener *l = cls;
    http_req *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        atomic_fetch_add(&l->active, 1);
        req->app = l->app;
        req->conn = conn;
        req->spec = &l->spec;
        req->method = method;
        req->url = url;
        req->started_ns = mono_ns();
        buf_init(&req->body);
        const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        if (sane_request_id(rid))
            str_copy(req->request_id, sizeof req->request_id, rid);
        else
            id_random_prefixed(req->request_id, sizeof req->request_id, "req_", 24, ID_LOWER_ALNUM);
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        const struct conn_ctx *cc = info ? info->socket_context : NULL;
        if (cc && cc->raw_path) {
            req->raw_path = strdup(cc->raw_path);
            if (req->raw_path)
                req->url = req->raw_path;
        }
        return on_first_call(l, conn, req->url, method, req);
    }
    if (req->responded) {
        *upload_data_size = 0; /* an early answer was queued; the rest of the body is dropped */
        return MHD_YES;
    }
    if (req->pending) {
        if (*upload_data_size > 0) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        http_resp *held = req->pending;
        req->pending = NULL;
        enum MHD_Result r = answer_now(l, req, held);
        free(held);
        return r;
    }
    if (*upload_data_size > 0) {
        if (!req->too_large) {
            if (req->body.len + *upload_data_size > l->app->http.max_body_bytes) {
                req->too_large = 1;
                buf_free(&req->body);
            } else {
                buf_append(&req->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(l, req);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct http_listener *l = cls;
    http_req *req = *con_cls;
    if (!req)
        return;
    for (int i = 0; i < req->nparams; i++)
        free(req->params[i]);
    if (req->pending) {
        resp_cleanup(req->pending);
        free(req->pending);
    }
    cJSON_Delete(req->json);
    buf_free(&req->body);
    free(req->raw_path);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&l->active, 1);
}

/* libmicrohttpd, at its own connection limit, stops accepting: clients then
 * hang in the kernel's queue. Counting connections here and refusing at
 * accept time closes a connection over the limit at once instead. */
static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    struct http_listener *l = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&l->connections, 1);
        *socket_context = calloc(1, sizeof(struct conn_ctx));
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&l->connections, 1);
        struct conn_ctx *cc = *socket_context;
        if (cc)
            free(cc->raw_path);
        free(cc);
        *socket_context = NULL;
    }
}

/* libmicrohttpd hands handlers a decoded URL, in which "a%2Fb" and "a/b"
 * look the same; routing needs the raw path. It is kept per connection
 * (one request at a time on a connection), so a request that fails before
 * reaching a handler leaves nothing to free. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *cc = info ? info->socket_context : NULL;
    if (cc) {
        free(cc->raw_path);
        cc->raw_path = strndup(uri, strcspn(uri, "?#"));
    }
    return NULL;
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    struct http_listener *l = cls;
    return atomic_load(&l->connections) >= (int)l->app->http.max_connections ? MHD_NO : MHD_YES;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    buf b;
    buf_init(&b);
    buf_vprintf(&b, fmt, ap);
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = '\0';
    const char *kv[] = {"component", "http", NULL};
    log_kv(LOG_DEBUG, buf_cstr(&b), kv);
    buf_free(&b);
}

http_listener *http_listener_start(struct app *app, const struct http_listener_spec *spec, char *err, size_t errsz)
{
    struct http_listener *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    l->app = app;
    l->spec = *spec;
    l->metrics_index = metrics_listener_index(spec->name);

    struct sockaddr_in sa4;
    struct sockaddr_in6 sa6;
    struct sockaddr *sa;
    /* ITC lets MHD_quiesce_daemon stop accepting in thread-pool mode, which a
     * graceful shutdown needs. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    memset(&sa4, 0, sizeof sa4);
    memset(&sa6, 0, sizeof sa6);
    if (inet_pton(AF_INET, spec->address, &sa4.sin_addr) == 1) {
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons((uint16_t)spec->port);
        sa = (struct sockaddr *)&sa4;
    } else if (inet_pton(AF_INET6, spec->address, &sa6.sin6_addr) == 1) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)spec->port);
        sa = (struct sockaddr *)&sa6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errsz, "%s listener: '%s' is not an IPv4 or IPv6 address", spec->name, spec->address);
        free(l);
        return NULL;
    }

    const struct http_limits *lim = &app->http;
    l->daemon = MHD_start_daemon(
        flags, (uint16_t)spec->port, accept_policy, l, access_handler, l,
        MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)lim->threads,
        /* Above our own limit (accept_policy), so that it never applies. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)lim->max_connections + 64,
        MHD_OPTION_NOTIFY_CONNECTION, connection_notify, l,
        MHD_OPTION_URI_LOG_CALLBACK, uri_seen, l,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)lim->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)lim->max_header_bytes,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, l,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_END);
    if (!l->daemon) {
        snprintf(err, errsz, "%s listener: cannot listen on %s:%d (in use, or not permitted)", spec->name,
                 spec->address, spec->port);
        free(l);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info ? info->port : spec->port;
    return l;
}

int http_listener_port(const http_listener *l) { return l->port; }

const char *http_listener_name(const http_listener *l) { return l->spec.name; }

void http_listener_quiesce(http_listener *l)
{
    if (!l || !l->daemon)
        return;
    MHD_socket s = MHD_quiesce_daemon(l->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

int http_listener_active(const http_listener *l) { return l ? atomic_load(&l->active) : 0; }

void http_listener_stop(http_listener *l)
{
    if (!l)
        return;
    if (l->daemon)
        MHD_stop_daemon(l->daemon);
    free(l);
}
