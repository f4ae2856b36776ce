/* Starting, steering and reading the fake merchant (tests/fake_merchant)
 * from an API test: it is started like recoupd, on a free loopback port,
 * and controlled through its /_control endpoints. Header-only (static
 * inline) so that each test stays one translation unit, as
 * tests/api/meson.build expects. */
#ifndef RECOUP_TESTS_FAKE_MERCHANT_CLIENT_H
#define RECOUP_TESTS_FAKE_MERCHANT_CLIENT_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef struct fmerchant {
    pid_t pid;
    int port;
    char dir[256];
} fmerchant;

/* $FAKE_MERCHANT, else the one built next to $RECOUPD. */
static inline void fm_binary(char *out, size_t outsz)
{
    const char *env = getenv("FAKE_MERCHANT");
    if (env && *env) {
        snprintf(out, outsz, "%s", env);
        return;
    }
    const char *recoupd = getenv("RECOUPD");
    char dir[512] = "build";
    if (recoupd && *recoupd) {
        snprintf(dir, sizeof dir, "%s", recoupd);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
    }
    snprintf(out, outsz, "%s/tests/fake_merchant/fake_merchant", dir);
}

/* Starts it with extra "--name=value" arguments (NULL-terminated, may be
 * NULL); exits the test process when it does not come up in 10 s. */
static inline void fm_start(fmerchant *m, const char *const *extra_args)
{
    memset(m, 0, sizeof *m);
    const char *tmp = getenv("TMPDIR");
    snprintf(m->dir, sizeof m->dir, "%s/recoup-fm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(m->dir)) {
        fprintf(stderr, "fake merchant: mkdtemp: %s\n", strerror(errno));
        exit(99);
    }
    char bin[600], port_file[300], port_arg[320], log_path[300];
    fm_binary(bin, sizeof bin);
    snprintf(port_file, sizeof port_file, "%s/port", m->dir);
    snprintf(port_arg, sizeof port_arg, "--port-file=%s", port_file);
    snprintf(log_path, sizeof log_path, "%s/log", m->dir);
    const char *argv[24];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = port_arg;
    for (int i = 0; extra_args && extra_args[i] && n < 22; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        FILE *out = freopen(log_path, "w", stdout);
        (void)out;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    m->pid = pid;
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int port = 0;
            int got = fscanf(f, "%d", &port);
            fclose(f);
            if (got == 1 && port > 0) {
                m->port = port;
                return;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "fake merchant %s exited during start-up (status %d)\n", bin, status);
            exit(99);
        }
        usleep(50000);
    }
    fprintf(stderr, "fake merchant %s did not start in 10 s\n", bin);
    kill(pid, SIGKILL);
    exit(99);
}

/* SIGTERM and wait; returns its exit status (0: clean, no leaks). */
static inline int fm_stop(fmerchant *m)
{
    if (!m->pid)
        return -1;
    kill(m->pid, SIGTERM);
    int status = 0, rc = 124;
    for (int i = 0; i < 400; i++) {
        if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        usleep(50000);
    }
    if (rc == 124) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, &status, 0);
    }
    m->pid = 0;
    char path[300];
    snprintf(path, sizeof path, "%s/port", m->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/log", m->dir);
    unlink(path);
    rmdir(m->dir);
    return rc;
}

/* Its base URL, e.g. for Recover's settings: "http://127.0.0.1:PORT". */
static inline void fm_url(const fmerchant *m, const char *path, char *out, size_t outsz)
{
    snprintf(out, outsz, "http://127.0.0.1:%d%s", m->port, path ? path : "");
}

static inline hres *fm_do(const fmerchant *m, const char *method, const char *path, const char *body)
{
    static const char *const json[] = {"Content-Type: application/json", NULL};
    return http_do(method, m->port, path, body ? json : NULL, body);
}

/* A control call that must succeed. */
static inline void fm_control(const fmerchant *m, const char *path, const char *body)
{
    hres *r = fm_do(m, "PUT", path, body);
    if (r->status != 200) {
        fprintf(stderr, "fake merchant: PUT %s answered %ld: %s\n", path, r->status, r->body ? r->body : "");
        hres_free(r);
        exit(99);
    }
    hres_free(r);
}

/* The RetryStatus answers for one invoice: a JSON array of
 * {"status":..,"body":..,"delay_ms":..}, the last one repeating. */
static inline void fm_script_retry(const fmerchant *m, const char *invoice, const char *responses_json)
{
    char path[300];
    snprintf(path, sizeof path, "/_control/retry/%s", invoice);
    size_t n = strlen(responses_json) + 32;
    char *body = malloc(n);
    snprintf(body, n, "{\"responses\":%s}", responses_json);
    fm_control(m, path, body);
    free(body);
}

/* Every call it received so far (a JSON array the caller deletes). */
static inline cJSON *fm_log(const fmerchant *m)
{
    hres *r = fm_do(m, "GET", "/_control/log", NULL);
    cJSON *log = r->status == 200 && cJSON_IsArray(r->json) ? cJSON_Duplicate(r->json, 1) : cJSON_CreateArray();
    hres_free(r);
    return log;
}

static inline void fm_log_clear(const fmerchant *m)
{
    hres *r = fm_do(m, "DELETE", "/_control/log", NULL);
    hres_free(r);
}

/* Entries of a kind (NULL: any) for an invoice (NULL: any). */
static inline int fm_count(const cJSON *log, const char *kind, const char *invoice)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        const char *k = jstr(e, "kind"), *inv = jstr(e, "invoice_id");
        if ((!kind || (k && strcmp(k, kind) == 0)) && (!invoice || (inv && strcmp(inv, invoice) == 0)))
            n++;
    }
    return n;
}

/* The i-th entry (from 0) of a kind for an invoice, or NULL. */
static inline const cJSON *fm_nth(const cJSON *log, const char *kind, const char *invoice, int i)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        const char *k = jstr(e, "kind"), *inv = jstr(e, "invoice_id");
        if ((!kind || (k && strcmp(k, kind) == 0)) && (!invoice || (inv && strcmp(inv, invoice) == 0)) && i-- == 0)
            return e;
    }
    return NULL;
}

/* Distinct deduplication ids among the entries of a kind for an invoice
 * whose answer was 2xx: how many events the merchant accepted. */
static inline int fm_delivered_events(const cJSON *log, const char *kind, const char *invoice)
{
    const char *seen[256];
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        const char *k = jstr(e, "kind"), *inv = jstr(e, "invoice_id"), *d = jstr(e, "dedup_id");
        double st = jnum(e, "status_answered");
        if (!k || strcmp(k, kind) != 0 || (invoice && (!inv || strcmp(inv, invoice) != 0)) || !d || st < 200 ||
            st >= 300)
            continue;
        int dup = 0;
        for (int i = 0; i < n && !dup; i++)
            dup = strcmp(seen[i], d) == 0;
        if (!dup && n < 256)
            seen[n++] = d;
    }
    return n;
}

/* Whether every signed call (webhooks, platform retries) in the log passed
 * both signature variants with well-formed headers; why not, in why. */
static inline int fm_all_signed_ok(const cJSON *log, char *why, size_t whysz)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        const char *k = jstr(e, "kind");
        if (!k || (strcmp(k, "retry_result") != 0 && strcmp(k, "end_of_dunning") != 0 &&
                   strcmp(k, "platform_retry") != 0))
            continue;
        const cJSON *raw = cJSON_GetObjectItemCaseSensitive(e, "sig_raw_ok");
        const cJSON *compact = cJSON_GetObjectItemCaseSensitive(e, "sig_compact_ok");
        const cJSON *problems = cJSON_GetObjectItemCaseSensitive(e, "header_problems");
        if (!cJSON_IsTrue(raw) || !cJSON_IsTrue(compact) || cJSON_GetArraySize(problems) != 0) {
            char *text = cJSON_PrintUnformatted(e);
            snprintf(why, whysz, "%s", text ? text : "?");
            free(text);
            return 0;
        }
    }
    return 1;
}

#endif
