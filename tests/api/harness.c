#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(99);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    return b;
}

int server_on_postgres(void)
{
    const char *v = getenv("RECOUP_TEST_STORE");
    return v && strcmp(v, "postgres") == 0;
}

static void pg_cluster_conninfo(char *out, size_t outsz, const char *dbname)
{
    const char *host = getenv("RECOUP_TEST_PG_HOST"), *port = getenv("RECOUP_TEST_PG_PORT"),
               *user = getenv("RECOUP_TEST_PG_USER");
    if (!host || !*host)
        die("RECOUP_TEST_STORE=postgres needs a test cluster in RECOUP_TEST_PG_HOST (scripts/run-tests.sh starts "
            "one)");
    snprintf(out, outsz, "host=%s port=%s user=%s dbname=%s", host, port && *port ? port : "5432",
             user && *user ? user : "postgres", dbname);
}

/* Runs one administrative statement on the cluster's maintenance database.
 * Database names are made here from a fixed pattern, never from input. */
static void pg_admin(const char *sql)
{
    char conninfo[600];
    pg_cluster_conninfo(conninfo, sizeof conninfo, "postgres");
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        die("cannot reach the PostgreSQL test cluster: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void pg_create_database(rserver *s)
{
    static int counter;
    snprintf(s->pg_db, sizeof s->pg_db, "recoup_t_%ld_%d", (long)getpid(), counter++);
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", s->pg_db);
    pg_admin(sql);
    pg_cluster_conninfo(s->pg_url, sizeof s->pg_url, s->pg_db);
}

static void pg_drop_database(rserver *s)
{
    if (!s->pg_db[0])
        return;
    if (s->peer) {
        s->pg_db[0] = '\0';
        return;
    }
    char sql[200];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", s->pg_db);
    pg_admin(sql);
    s->pg_db[0] = '\0';
}

const char *server_store_args(const rserver *s)
{
    static char args[700];
    if (!s->pg_db[0])
        return "";
    snprintf(args, sizeof args, " --store=postgres '--database_url=%s'", s->pg_url);
    return args;
}

static void spawn(rserver *s, const char *const *extra_args)
{
    const char *bin = getenv("RECOUPD");
    if (!bin || !*bin)
        bin = "./build/recoupd";
    char listeners[320];
    snprintf(listeners, sizeof listeners, "%s/listeners.json", s->dir);
    unlink(listeners);
    snprintf(s->log_path, sizeof s->log_path, "%s.log", s->dir);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        const char *argv[64];
        int n = 0;
        char data_dir[300];
        snprintf(data_dir, sizeof data_dir, "--data_dir=%s", s->dir);
        argv[n++] = bin;
        argv[n++] = data_dir;
        argv[n++] = "--payments_port=0";
        argv[n++] = "--refunds_port=0";
        argv[n++] = "--api_port=0";
        argv[n++] = "--admin_port=0";
        argv[n++] = "--http_threads=8";
        char url[600];
        if (s->pg_db[0]) {
            snprintf(url, sizeof url, "--database_url=%s", s->pg_url);
            argv[n++] = "--store=postgres";
            argv[n++] = url;
        }
        char key_file[340];
        if (s->peer) {
            snprintf(key_file, sizeof key_file, "--card_key_file=%s", s->card_key_file);
            argv[n++] = key_file;
            argv[n++] = "--sandbox=false";
        }
        for (const char *const *a = extra_args; a && *a && n < 62; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        FILE *log = freopen(s->log_path, "a", stderr);
        (void)log;
        if (!freopen("/dev/null", "w", stdout))
            _exit(98);
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(97);
    }
    s->pid = pid;
    for (int i = 0; i < 400; i++) {
        char *text = read_file(listeners);
        if (text) {
            cJSON *j = cJSON_Parse(text);
            free(text);
            if (j) {
                cJSON *v;
                s->payments = (v = cJSON_GetObjectItem(j, "payments")) ? v->valueint : 0;
                s->refunds = (v = cJSON_GetObjectItem(j, "refunds")) ? v->valueint : 0;
                s->api = (v = cJSON_GetObjectItem(j, "api")) ? v->valueint : 0;
                s->admin = (v = cJSON_GetObjectItem(j, "admin")) ? v->valueint : 0;
                cJSON_Delete(j);
                char sandbox[320];
                snprintf(sandbox, sizeof sandbox, "%s/sandbox.json", s->dir);
                char *sb = read_file(sandbox);
                cJSON *sj = sb ? cJSON_Parse(sb) : NULL;
                free(sb);
                const cJSON *gw = sj ? cJSON_GetObjectItem(sj, "gateway") : NULL;
                const cJSON *key = gw ? cJSON_GetObjectItem(gw, "api_key") : NULL;
                if (cJSON_IsString(key))
                    snprintf(s->gateway_key, sizeof s->gateway_key, "%s", key->valuestring);
                cJSON_Delete(sj);
                return;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            char *log = read_file(s->log_path);
            die("recoupd exited during start-up (status %d); log:\n%s", status, log ? log : "");
        }
        usleep(50000);
    }
    die("recoupd did not write %s within 20 s", listeners);
}

void server_start(rserver *s, const char *const *extra_args)
{
    memset(s, 0, sizeof *s);
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/recoup-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir))
        die("mkdtemp: %s", strerror(errno));
    if (server_on_postgres())
        pg_create_database(s);
    spawn(s, extra_args);
}

void server_start_peer(rserver *peer, const rserver *first, const char *const *extra_args)
{
    if (!first->pg_db[0])
        die("server_start_peer needs PostgreSQL: on SQLite nodes cannot share a store");
    memset(peer, 0, sizeof *peer);
    const char *tmp = getenv("TMPDIR");
    snprintf(peer->dir, sizeof peer->dir, "%s/recoup-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(peer->dir))
        die("mkdtemp: %s", strerror(errno));
    peer->peer = 1;
    snprintf(peer->pg_db, sizeof peer->pg_db, "%s", first->pg_db);
    snprintf(peer->pg_url, sizeof peer->pg_url, "%s", first->pg_url);
    snprintf(peer->card_key_file, sizeof peer->card_key_file, "%s/card.key", first->dir);
    snprintf(peer->gateway_key, sizeof peer->gateway_key, "%s", first->gateway_key);
    spawn(peer, extra_args);
}

void server_restart(rserver *s, const char *const *extra_args) { spawn(s, extra_args); }

static int wait_exit(rserver *s, int timeout_s)
{
    int status = 0;
    for (int i = 0; i < timeout_s * 20; i++) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(50000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return 124;
}

int server_stop_keep(rserver *s)
{
    if (!s->pid)
        return -1;
    kill(s->pid, SIGTERM);
    int rc = wait_exit(s, 30);
    if (rc != 0) {
        char *log = read_file(s->log_path);
        fprintf(stderr, "recoupd exited with %d; log tail:\n%s\n", rc,
                log ? (strlen(log) > 6000 ? log + strlen(log) - 6000 : log) : "");
        free(log);
    }
    return rc;
}

static void remove_tree(const char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    pid_t p = fork();
    if (p == 0) {
        execvp("rm", (char *const *)argv);
        _exit(1);
    }
    int st;
    waitpid(p, &st, 0);
}

int server_stop(rserver *s)
{
    int rc = server_stop_keep(s);
    pg_drop_database(s);
    remove_tree(s->dir);
    unlink(s->log_path);
    return rc;
}

void server_kill(rserver *s, int sig)
{
    if (!s->pid)
        return;
    kill(s->pid, sig);
    int status;
    waitpid(s->pid, &status, 0);
    s->pid = 0;
}

struct grow {
    char *p;
    size_t n;
};

static size_t on_data(char *d, size_t size, size_t nmemb, void *ud)
{
    struct grow *g = ud;
    size_t add = size * nmemb;
    char *np = realloc(g->p, g->n + add + 1);
    if (!np)
        return 0;
    memcpy(np + g->n, d, add);
    g->n += add;
    np[g->n] = '\0';
    g->p = np;
    return add;
}

hres *http_do(const char *method, int port, const char *path, const char *const *headers, const char *body)
{
    hres *r = calloc(1, sizeof *r);
    struct grow b = {calloc(1, 1), 0}, h = {calloc(1, 1), 0};
    char url[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r->body = b.p;
    r->len = b.n;
    r->headers = h.p;
    r->json = cJSON_Parse(r->body);
    return r;
}

hres *gw_do_h(rserver *s, const char *method, int port, const char *path, const char *const *extra_headers,
              const char *body)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->gateway_key);
    const char *headers[24] = {auth, "Content-Type: application/json", "Accept: application/json"};
    int n = 3;
    for (const char *const *p = extra_headers; p && *p && n < 23; p++)
        headers[n++] = *p;
    headers[n] = NULL;
    return http_do(method, port, path, headers, body);
}

hres *gw_do(rserver *s, const char *method, int port, const char *path, const char *body)
{
    return gw_do_h(s, method, port, path, NULL, body);
}

char *hres_header(const hres *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            return strndup(v, len - (size_t)(v - line));
        }
        line = end ? end + 2 : line + len;
    }
    return NULL;
}

void hres_free(hres *r)
{
    if (!r)
        return;
    cJSON_Delete(r->json);
    free(r->body);
    free(r->headers);
    free(r);
}

const char *jstr(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double jnum(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int jnull(const cJSON *obj, const char *name) { return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, name)); }

int has_error_field(const cJSON *body, const char *field)
{
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(body, "errors");
    const cJSON *e;
    cJSON_ArrayForEach(e, errs)
    {
        const char *f = jstr(e, "field");
        if (f && strcmp(f, field) == 0)
            return 1;
    }
    return 0;
}

const char *future_year(void)
{
    /* Per thread: writer threads build request bodies with it at once, and
     * snprintf empties its buffer before filling it, so a shared buffer
     * could be read as "" by another thread. */
    static _Thread_local char y[16];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(y, sizeof y, "%d", tm.tm_year + 1900 + 3);
    return y;
}

char *make_card_payment(rserver *s, const char *number, const char *amount_text)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"amount\":%s,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":\"%s\","
             "\"name\":\"Test Holder\",\"expiration_month\":\"12\",\"expiration_year\":\"%s\",\"cvv\":\"%s\"}}",
             amount_text, number, future_year(), number[0] == '3' ? "1234" : "123");
    hres *r = gw_do(s, "POST", s->payments, "/api/payments", body);
    if (r->status != 201 || !jstr(r->json, "payment_id"))
        die("make_card_payment: status %ld body %s", r->status, r->body);
    char *id = strdup(jstr(r->json, "payment_id"));
    hres_free(r);
    return id;
}

hres *key_do(const char *key, const char *method, int port, const char *path, const char *const *extra_headers,
             const char *body)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    const char *headers[24];
    int n = 0;
    if (key)
        headers[n++] = auth;
    headers[n++] = "Content-Type: application/json";
    headers[n++] = "Accept: application/json";
    for (const char *const *p = extra_headers; p && *p && n < 23; p++)
        headers[n++] = *p;
    headers[n] = NULL;
    return http_do(method, port, path, headers, body);
}

int make_merchant_key(rserver *s, const char *merchant_id, char *key, size_t keysz)
{
    static const char *const json[] = {"Content-Type: application/json", NULL};
    char body[256];
    snprintf(body, sizeof body, "{\"merchant_id\":\"%s\",\"name\":\"Merchant %s\"}", merchant_id, merchant_id);
    hres *r = http_do("POST", s->admin, "/admin/merchants", json, body);
    int ok = r->status == 201 || r->status == 409;
    hres_free(r);
    if (!ok)
        return -1;
    char path[200];
    snprintf(path, sizeof path, "/admin/merchants/%s/keys", merchant_id);
    r = http_do("POST", s->admin, path, json, "{\"service\":\"gateway\",\"env\":\"sandbox\"}");
    const char *k = r->status == 201 ? jstr(r->json, "api_key") : NULL;
    int rc = k && strlen(k) < keysz ? 0 : -1;
    if (rc == 0)
        snprintf(key, keysz, "%s", k);
    hres_free(r);
    return rc;
}

int settle_now(rserver *s, char *batch_at, size_t batch_at_sz)
{
    hres *r = http_do("POST", s->admin, "/admin/settlements", NULL, NULL);
    int n = -1;
    if (r->status == 200 && !isnan(jnum(r->json, "settled"))) {
        n = (int)jnum(r->json, "settled");
        if (batch_at && batch_at_sz)
            snprintf(batch_at, batch_at_sz, "%s", jstr(r->json, "batch_at") ? jstr(r->json, "batch_at") : "");
    }
    hres_free(r);
    return n;
}
