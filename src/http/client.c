#include "http/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    buf *b = userdata;
    buf_append(b, data, size * nmemb);
    return b->oom ? 0 : size * nmemb;
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
