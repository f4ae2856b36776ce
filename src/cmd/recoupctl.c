/* recoupctl: the admin tool. It speaks to a running recoupd's admin
 * listener (loopback), so it works the same whatever the storage backend. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "http/client.h"
#include "cmd/ctl_listen.h"
#include "core/timefmt.h"
#include "lab/simulate.h"

static const char *usage_text =
    "usage: recoupctl [--admin URL] COMMAND [ARGS]\n"
    "\n"
    "The admin URL defaults to $RECOUP_ADMIN_URL or http://127.0.0.1:9090.\n"
    "\n"
    "commands:\n"
    "  health                         liveness of recoupd\n"
    "  ready                          readiness (store reachable, not shutting down)\n"
    "  metrics                        Prometheus metrics\n"
    "  settle                         run a gateway settlement batch now\n"
    "  merchants list\n"
    "  merchants create ID NAME\n"
    "  merchants show ID\n"
    "  keys list MERCHANT\n"
    "  keys create MERCHANT SERVICE ENV [LABEL]   SERVICE: gateway|recover, ENV: sandbox|production\n"
    "  keys revoke MERCHANT KEY_ID\n"
    "  gateway-keys create --merchant ID [--env sandbox|production] [--label TEXT]\n"
    "  disputes-credentials list MERCHANT\n"
    "  disputes-credentials create MERCHANT staging|production [LABEL]\n"
    "  disputes-credentials revoke MERCHANT USERNAME\n"
    "  disputes enable|disable MERCHANT   let a merchant's Disputes credentials work, or refuse them (403)\n"
    "  disputes purge                 delete Disputes records older than the retention age now\n"
    "  clock                          show recoupd's clock\n"
    "  clock advance SECONDS          move a virtual clock forward\n"
    "  clock advance-to TIME          move a virtual clock forward to an ISO-8601 time\n"
    "  recover show MERCHANT          Recover settings of a merchant\n"
    "  recover set MERCHANT NAME=VALUE ...\n"
    "                                 change settings: dunning_days, max_retries, timezone,\n"
    "                                 integration (psp|platform), retry_status_url, retry_results_url,\n"
    "                                 end_of_dunning_url, end_of_dunning_enabled (true|false),\n"
    "                                 merchant_auth (none|basic|api_key|signing),\n"
    "                                 merchant_auth_username, merchant_auth_secret,\n"
    "                                 platform_retry_url, psp_url, psp_api_key\n"
    "  recover webhook-secret MERCHANT   make a new webhook signing secret (shown once)\n"
    "  recover invoice MERCHANT INVOICE_ID [--env sandbox|production]\n"
    "                                 an invoice with its transactions, planner decisions,\n"
    "                                 retries and history\n"
    "  recover listen PORT [--secret=WEBHOOK_SECRET] [--answer=JSON]\n"
    "                                 a stand-in merchant on 127.0.0.1:PORT: answers RetryStatus\n"
    "                                 ({\"retry\": true} by default), prints every call and checks\n"
    "                                 webhook signatures\n"
    "  recover webhooks MERCHANT [--state=pending|delivered|failed] [--invoice=ID]\n"
    "                                 the webhook delivery log, newest first (a table)\n"
    "  recover redeliver MERCHANT WEBHOOK_ID\n"
    "                                 send a webhook again now, with a new redelivery period\n"
    "  simulate SCENARIO.json [--seed N] [--invoices N] [--strategies LIST] [--jobs N] [--json] [--check]\n"
    "                                 run the strategy lab locally (no recoupd needed):\n"
    "                                 recoup's planner against fixed schedules and an oracle\n";

/* A path segment from the command line, percent-encoded. */
static void put_segment(buf *b, const char *s) { buf_put_url_escaped(b, s, NULL); }

/* Builds a path from a pattern where each %s is replaced by the next
 * argument, percent-encoded. */
static char *build_path(const char *pattern, const char *a1, const char *a2)
{
    buf b;
    buf_init(&b);
    const char *args[2] = {a1, a2};
    int next = 0;
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '%' && p[1] == 's' && next < 2) {
            put_segment(&b, args[next++]);
            p++;
        } else {
            buf_putc(&b, *p);
        }
    }
    return buf_steal(&b, NULL);
}

static int call(const char *base, const char *method, const char *path, const char *body)
{
    buf url;
    buf_init(&url);
    buf_puts(&url, base);
    while (url.len > 0 && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    buf_puts(&url, path);
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", NULL};
    struct http_client_response r;
    int rc = http_client_request(method, buf_cstr(&url), headers, body, 30000, &r);
    if (rc != 0) {
        fprintf(stderr, "recoupctl: cannot reach recoupd at %s: %s\n", base, r.error);
        buf_free(&url);
        http_client_response_free(&r);
        return r.malformed_url ? 2 : 3;
    }
    fwrite(buf_cstr(&r.body), 1, r.body.len, stdout);
    if (r.body.len && r.body.data[r.body.len - 1] != '\n')
        fputc('\n', stdout);
    int ok = r.status >= 200 && r.status < 300;
    if (!ok)
        fprintf(stderr, "recoupctl: %s %s answered %ld\n", method, path, r.status);
    buf_free(&url);
    http_client_response_free(&r);
    return ok ? 0 : 1;
}

static char *json_obj2(const char *k1, const char *v1, const char *k2, const char *v2, const char *k3, const char *v3)
{
    buf b;
    buf_init(&b);
    buf_putc(&b, '{');
    const char *ks[] = {k1, k2, k3};
    const char *vs[] = {v1, v2, v3};
    int first = 1;
    for (int i = 0; i < 3; i++) {
        if (!ks[i] || !vs[i])
            continue;
        if (!first)
            buf_putc(&b, ',');
        first = 0;
        buf_put_json_string(&b, ks[i]);
        buf_putc(&b, ':');
        buf_put_json_string(&b, vs[i]);
    }
    buf_putc(&b, '}');
    return buf_steal(&b, NULL);
}

/* NAME=VALUE pairs into a JSON object: numbers and true/false as such,
 * "null" clears, everything else is a string. */
static char *settings_body(char **pairs, int n)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(pairs[i], '=');
        if (!eq || eq == pairs[i]) {
            fprintf(stderr, "recoupctl: '%s' is not NAME=VALUE\n", pairs[i]);
            cJSON_Delete(o);
            return NULL;
        }
        char name[64];
        size_t nl = (size_t)(eq - pairs[i]);
        if (nl >= sizeof name)
            nl = sizeof name - 1;
        memcpy(name, pairs[i], nl);
        name[nl] = '\0';
        const char *v = eq + 1;
        char *end;
        long long num = strtoll(v, &end, 10);
        if (*v && !*end && (strcmp(name, "dunning_days") == 0 || strcmp(name, "max_retries") == 0))
            cJSON_AddNumberToObject(o, name, (double)num);
        else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
            cJSON_AddBoolToObject(o, name, strcmp(v, "true") == 0);
        else if (strcmp(v, "null") == 0)
            cJSON_AddNullToObject(o, name);
        else
            cJSON_AddStringToObject(o, name, v);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static int usage(void);

/* Moves a virtual clock to a time (as read in a next_retry_at, say). */
static int clock_advance_to(const char *base, const char *when)
{
    int64_t target;
    if (time_parse_iso8601_strict(when, &target) != 0) {
        fprintf(stderr, "recoupctl: TIME must be an ISO-8601 time such as 2026-12-01T12:00:00Z\n");
        return 2;
    }
    char url[512];
    snprintf(url, sizeof url, "%s/admin/clock", base);
    struct http_client_response r;
    int ok = http_client_request("GET", url, NULL, NULL, 10000, &r) == 0 && r.status == 200;
    cJSON *j = ok ? cJSON_Parse(r.body.data) : NULL;
    const cJSON *now_text = cJSON_GetObjectItemCaseSensitive(j, "now");
    int64_t now;
    ok = cJSON_IsString(now_text) && time_parse_iso8601_strict(now_text->valuestring, &now) == 0;
    cJSON_Delete(j);
    http_client_response_free(&r);
    if (!ok) {
        fprintf(stderr, "recoupctl: cannot read recoupd's clock at %s\n", url);
        return 3;
    }
    if (target <= now) {
        fprintf(stderr, "recoupctl: the clock is already past %s\n", when);
        return 1;
    }
    char b[64];
    snprintf(b, sizeof b, "{\"seconds\":%lld}", (long long)((target - now + 999) / 1000));
    return call(base, "POST", "/admin/clock/advance", b);
}

/* The delivery log as a table: one line per delivery, the columns an
 * operator scans first; the full records are in the JSON answer. */
static int webhooks_table(const char *base, const char *path)
{
    buf url;
    buf_init(&url);
    buf_puts(&url, base);
    while (url.len > 0 && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    buf_puts(&url, path);
    const char *headers[] = {"Accept: application/json", NULL};
    struct http_client_response r;
    int rc = http_client_request("GET", buf_cstr(&url), headers, NULL, 30000, &r);
    buf_free(&url);
    if (rc != 0) {
        fprintf(stderr, "recoupctl: cannot reach recoupd at %s: %s\n", base, r.error);
        http_client_response_free(&r);
        return 3;
    }
    cJSON *doc = cJSON_Parse(buf_cstr(&r.body));
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "webhooks");
    if (r.status != 200 || !cJSON_IsArray(list)) {
        fwrite(buf_cstr(&r.body), 1, r.body.len, stderr);
        fprintf(stderr, "\nrecoupctl: GET %s answered %ld\n", path, r.status);
        cJSON_Delete(doc);
        http_client_response_free(&r);
        return 1;
    }
    printf("%-32s  %-14s  %-9s  %8s  %6s  %-24s  %-24s  %s\n", "ID", "TYPE", "STATE", "ATTEMPTS", "STATUS",
           "CREATED", "NEXT/DELIVERED", "INVOICE / LAST ERROR");
    const cJSON *w;
    cJSON_ArrayForEach(w, list)
    {
        const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "state"));
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(w, "last_status");
        char status[16] = "-";
        if (cJSON_IsNumber(st))
            snprintf(status, sizeof status, "%d", st->valueint);
        const char *when = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            w, state && strcmp(state, "delivered") == 0 ? "delivered_at" : "next_attempt_at"));
        const char *inv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "invoice_id"));
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "last_error"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "id"));
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "type"));
        const char *created = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "created_at"));
        const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(w, "attempts");
        printf("%-32s  %-14s  %-9s  %8d  %6s  %-24s  %-24s  %s%s%s\n", id ? id : "", type ? type : "",
               state ? state : "", cJSON_IsNumber(attempts) ? attempts->valueint : 0, status, created ? created : "",
               when ? when : "-", inv ? inv : "-", err ? " / " : "", err ? err : "");
    }
    cJSON_Delete(doc);
    http_client_response_free(&r);
    return 0;
}

static int recover_command(const char *base, char **a, int nargs, char **path, char **body)
{
    if (strcmp(a[0], "show") == 0 && nargs == 2) {
        *path = build_path("/admin/merchants/%s/recover", a[1], NULL);
        return call(base, "GET", *path, NULL);
    }
    if (strcmp(a[0], "set") == 0 && nargs >= 3) {
        char *json = settings_body(a + 2, nargs - 2);
        if (!json)
            return 2;
        *body = strdup(json);
        cJSON_free(json);
        *path = build_path("/admin/merchants/%s/recover", a[1], NULL);
        return call(base, "PUT", *path, *body);
    }
    if (strcmp(a[0], "webhook-secret") == 0 && nargs == 2) {
        *path = build_path("/admin/merchants/%s/recover/webhook-secret", a[1], NULL);
        return call(base, "POST", *path, "{}");
    }
    if (strcmp(a[0], "listen") == 0 && nargs >= 2) {
        int rc = ctl_listen(nargs - 1, a + 1);
        return rc == 2 ? usage() : rc;
    }
    if (strcmp(a[0], "invoice") == 0 && (nargs == 3 || nargs == 5)) {
        const char *env = "sandbox";
        if (nargs == 5) {
            if (strcmp(a[3], "--env") != 0)
                return usage();
            env = a[4];
        }
        char *p = build_path("/admin/merchants/%s/recover/invoices/%s", a[1], a[2]);
        buf b;
        buf_init(&b);
        buf_puts(&b, p);
        buf_puts(&b, "?env=");
        put_segment(&b, env);
        free(p);
        *path = buf_steal(&b, NULL);
        return call(base, "GET", *path, NULL);
    }
    if (strcmp(a[0], "webhooks") == 0 && nargs >= 2 && nargs <= 4) {
        char *p = build_path("/admin/merchants/%s/recover/webhooks", a[1], NULL);
        buf b;
        buf_init(&b);
        buf_puts(&b, p);
        free(p);
        char sep = '?';
        for (int i = 2; i < nargs; i++) {
            const char *name = strncmp(a[i], "--state=", 8) == 0     ? "state"
                               : strncmp(a[i], "--invoice=", 10) == 0 ? "invoice_id"
                                                                      : NULL;
            if (!name) {
                buf_free(&b);
                return usage();
            }
            buf_printf(&b, "%c%s=", sep, name);
            put_segment(&b, strchr(a[i], '=') + 1);
            sep = '&';
        }
        *path = buf_steal(&b, NULL);
        return webhooks_table(base, *path);
    }
    if (strcmp(a[0], "redeliver") == 0 && nargs == 3) {
        *path = build_path("/admin/merchants/%s/recover/webhooks/%s/redeliver", a[1], a[2]);
        return call(base, "POST", *path, "{}");
    }
    return usage();
}

static int usage(void)
{
    fputs(usage_text, stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *base = getenv("RECOUP_ADMIN_URL");
    if (!base || !*base)
        base = "http://127.0.0.1:9090";
    int i = 1;
    if (i < argc && strcmp(argv[i], "--admin") == 0 && i + 1 < argc) {
        base = argv[i + 1];
        i += 2;
    } else if (i < argc && strncmp(argv[i], "--admin=", 8) == 0) {
        base = argv[i] + 8;
        i++;
    }
    if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "help") == 0) {
        fputs(usage_text, i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    /* The lab runs in this process; it needs no recoupd. */
    if (strcmp(argv[i], "simulate") == 0)
        return lab_simulate_main(argc - i - 1, argv + i + 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *cmd = argv[i++];
    int nargs = argc - i;
    char **a = argv + i;
    int rc = 2;
    char *path = NULL;
    char *body = NULL;
    if (strcmp(cmd, "health") == 0) {
        rc = call(base, "GET", "/healthz", NULL);
    } else if (strcmp(cmd, "ready") == 0) {
        rc = call(base, "GET", "/readyz", NULL);
    } else if (strcmp(cmd, "metrics") == 0) {
        rc = call(base, "GET", "/metrics", NULL);
    } else if (strcmp(cmd, "settle") == 0) {
        rc = call(base, "POST", "/admin/settlements", "{}");
    } else if (strcmp(cmd, "merchants") == 0 && nargs >= 1) {
        if (strcmp(a[0], "list") == 0) {
            rc = call(base, "GET", "/admin/merchants", NULL);
        } else if (strcmp(a[0], "create") == 0 && nargs == 3) {
            body = json_obj2("merchant_id", a[1], "name", a[2], NULL, NULL);
            rc = call(base, "POST", "/admin/merchants", body);
        } else if (strcmp(a[0], "show") == 0 && nargs == 2) {
            path = build_path("/admin/merchants/%s", a[1], NULL);
            rc = call(base, "GET", path, NULL);
        } else {
            rc = usage();
        }
    } else if (strcmp(cmd, "keys") == 0 && nargs >= 2) {
        path = build_path("/admin/merchants/%s/keys", a[1], NULL);
        if (strcmp(a[0], "list") == 0 && nargs == 2) {
            rc = call(base, "GET", path, NULL);
        } else if (strcmp(a[0], "create") == 0 && (nargs == 4 || nargs == 5)) {
            body = json_obj2("service", a[2], "env", a[3], "label", nargs == 5 ? a[4] : "");
            rc = call(base, "POST", path, body);
        } else if (strcmp(a[0], "revoke") == 0 && nargs == 3) {
            free(path);
            path = build_path("/admin/merchants/%s/keys/%s", a[1], a[2]);
            rc = call(base, "DELETE", path, NULL);
        } else {
            rc = usage();
        }
    } else if (strcmp(cmd, "gateway-keys") == 0 && nargs >= 1 && strcmp(a[0], "create") == 0) {
        const char *merchant = NULL, *env = "sandbox", *label = "";
        for (int j = 1; j + 1 < nargs; j += 2) {
            if (strcmp(a[j], "--merchant") == 0)
                merchant = a[j + 1];
            else if (strcmp(a[j], "--env") == 0)
                env = a[j + 1];
            else if (strcmp(a[j], "--label") == 0)
                label = a[j + 1];
        }
        if (!merchant) {
            rc = usage();
        } else {
            path = build_path("/admin/merchants/%s/keys", merchant, NULL);
            body = json_obj2("service", "gateway", "env", env, "label", label);
            rc = call(base, "POST", path, body);
        }
    } else if (strcmp(cmd, "disputes-credentials") == 0 && nargs >= 2) {
        path = build_path("/admin/merchants/%s/disputes/credentials", a[1], NULL);
        if (strcmp(a[0], "list") == 0 && nargs == 2) {
            rc = call(base, "GET", path, NULL);
        } else if (strcmp(a[0], "create") == 0 && (nargs == 3 || nargs == 4)) {
            body = json_obj2("environment", a[2], "label", nargs == 4 ? a[3] : "", NULL, NULL);
            rc = call(base, "POST", path, body);
        } else if (strcmp(a[0], "revoke") == 0 && nargs == 3) {
            free(path);
            path = build_path("/admin/merchants/%s/disputes/credentials/%s", a[1], a[2]);
            rc = call(base, "DELETE", path, NULL);
        } else {
            rc = usage();
        }
    } else if (strcmp(cmd, "disputes") == 0 && nargs == 1 && strcmp(a[0], "purge") == 0) {
        rc = call(base, "POST", "/admin/disputes/purge", "{}");
    } else if (strcmp(cmd, "disputes") == 0 && nargs == 2 &&
               (strcmp(a[0], "enable") == 0 || strcmp(a[0], "disable") == 0)) {
        path = build_path("/admin/merchants/%s/disputes", a[1], NULL);
        rc = call(base, "PUT", path, strcmp(a[0], "enable") == 0 ? "{\"enabled\":true}" : "{\"enabled\":false}");
    } else if (strcmp(cmd, "recover") == 0 && nargs >= 2) {
        rc = recover_command(base, a, nargs, &path, &body);
    } else if (strcmp(cmd, "clock") == 0) {
        if (nargs == 0) {
            rc = call(base, "GET", "/admin/clock", NULL);
        } else if (nargs == 2 && strcmp(a[0], "advance") == 0) {
            char *end;
            long long s = strtoll(a[1], &end, 10);
            if (*end || s < 0) {
                rc = usage();
            } else {
                char b[64];
                snprintf(b, sizeof b, "{\"seconds\":%lld}", s);
                rc = call(base, "POST", "/admin/clock/advance", b);
            }
        } else if (nargs == 2 && strcmp(a[0], "advance-to") == 0) {
            rc = clock_advance_to(base, a[1]);
        } else {
            rc = usage();
        }
    } else {
        rc = usage();
    }
    free(body);
    free(path);
    curl_global_cleanup();
    return rc;
}
