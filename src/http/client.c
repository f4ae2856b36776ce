#include "http/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    buf *b = userdata;
    buf_append(b, data, size * nmemb);
    return b->oom ? 0 : size * nmemb;
}

static void setup(CURL *c, const char *method, const char *url, struct curl_slist *hl, const char *body,
                  long connect_timeout_ms, long timeout_ms, buf *out)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
}

void http_url_join(char *out, size_t outsz, const char *base, const char *path, const char *segment)
{
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    buf b;
    buf_init(&b);
    buf_append(&b, base, bl);
    buf_puts(&b, path);
    if (segment) {
        buf_putc(&b, '/');
        buf_put_url_escaped(&b, segment, NULL);
    }
    str_copy(out, outsz, b.oom ? "" : buf_cstr(&b));
    buf_free(&b);
}

struct http_conn {
    CURL *curl;
};

http_conn *http_conn_new(void)
{
    http_conn *c = calloc(1, sizeof *c);
    if (c && !(c->curl = curl_easy_init())) {
        free(c);
        return NULL;
    }
    return c;
}

void http_conn_free(http_conn *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

int http_conn_request(http_conn *conn, const char *method, const char *url, const char *const *headers,
                      const char *body, long connect_timeout_ms, long timeout_ms, struct http_client_response *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->body);
    struct curl_slist *hl = NULL;
    for (const char *const *h = headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    /* reset forgets the options, not the open connections */
    curl_easy_reset(conn->curl);
    setup(conn->curl, method, url, hl, body, connect_timeout_ms, timeout_ms, &out->body);
    CURLcode rc = curl_easy_perform(conn->curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(conn->curl, CURLINFO_RESPONSE_CODE, &out->status);
    else
        snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
    out->malformed_url = rc == CURLE_URL_MALFORMAT;
    curl_slist_free_all(hl);
    return rc == CURLE_OK ? 0 : -1;
}

int http_client_request(const char *method, const char *url, const char *const *headers, const char *body,
                        long timeout_ms, struct http_client_response *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->body);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(out->error, sizeof out->error, "cannot initialise libcurl");
        return -1;
    }
    struct curl_slist *hl = NULL;
    for (const char *const *h = headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else
        snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
    out->malformed_url = rc == CURLE_URL_MALFORMAT;
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

void http_client_response_free(struct http_client_response *r) { buf_free(&r->body); }
