/* Start-up safety and connection reuse: the card key is never silently
 * replaced, data files are private, early error answers keep the
 * connection alive when there is no body to skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static void data_files_are_private(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    const char *files[] = {"recoup.db", "card.key", "sandbox.json", "listeners.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (server_on_postgres() && strcmp(files[i], "recoup.db") == 0)
            continue; /* the data is in the PostgreSQL database */
        char path[400];
        snprintf(path, sizeof path, "%s/%s", s.dir, files[i]);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        if ((st.st_mode & 077) != 0)
            fail_msg("%s has mode %o", files[i], st.st_mode & 0777);
    }
    assert_int_equal(server_stop(&s), 0);
}

static cJSON *sandbox_doc(const rserver *s)
{
    char path[400];
    snprintf(path, sizeof path, "%s/sandbox.json", s->dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    return doc;
}

/* A node whose sandbox.json is missing (a further node of a cluster, or a
 * lost file) writes the sandbox credentials again without replacing the
 * webhook signing secret merchants verify with. */
static void sandbox_bootstrap_keeps_the_webhook_secret(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    cJSON *first = sandbox_doc(&s);
    const char *secret = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(first, "recover"), "webhook_signing_secret"));
    assert_non_null(secret);
    assert_int_equal(strlen(secret), 64);
    assert_int_equal(server_stop_keep(&s), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/sandbox.json", s.dir);
    assert_int_equal(unlink(path), 0);
    server_restart(&s, NULL);
    cJSON *second = sandbox_doc(&s);
    const char *again = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(second, "recover"), "webhook_signing_secret"));
    assert_non_null(again);
    assert_string_equal(secret, again);
    hres *h = http_do("GET", s.admin, "/admin/merchants/sandbox/recover", NULL, NULL);
    assert_int_equal(h->status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h->json, "psp_api_key_set")));
    hres_free(h);
    cJSON_Delete(first);
    cJSON_Delete(second);
    assert_int_equal(server_stop(&s), 0);
}

static void missing_card_key_beside_a_database_stops_the_start(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    char *id = make_card_payment(&s, "4242424242424242", "5.00");
    free(id);
    assert_int_equal(server_stop_keep(&s), 0);

    char key[400], moved[420];
    snprintf(key, sizeof key, "%s/card.key", s.dir);
    snprintf(moved, sizeof moved, "%s/card.key.away", s.dir);
    assert_int_equal(rename(key, moved), 0);

    /* Run it directly: the harness treats a failed start as fatal. */
    const char *bin = getenv("RECOUPD");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s --data_dir=%s --payments_port=0 --refunds_port=0 --api_port=0 --admin_port=0%s "
                              ">/dev/null 2>%s/start.err",
             bin ? bin : "./build/recoupd", s.dir, server_store_args(&s), s.dir);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) != 0);
    assert_int_not_equal(access(key, F_OK), 0); /* no new key was made */
    char errpath[420];
    snprintf(errpath, sizeof errpath, "%s/start.err", s.dir);
    FILE *f = fopen(errpath, "r");
    assert_non_null(f);
    char line[2048] = "";
    size_t n = fread(line, 1, sizeof line - 1, f);
    line[n] = '\0';
    fclose(f);
    assert_non_null(strstr(line, "card key"));
    assert_non_null(strstr(line, "restore"));

    /* With the key back, everything stored is readable again. */
    assert_int_equal(rename(moved, key), 0);
    server_restart(&s, NULL);
    hres *h = http_do("GET", s.admin, "/readyz", NULL, NULL);
    assert_int_equal(h->status, 200);
    hres_free(h);
    assert_int_equal(server_stop(&s), 0);
}

static size_t discard(char *d, size_t size, size_t n, void *u)
{
    (void)d;
    (void)u;
    return size * n;
}

static void early_errors_keep_the_connection(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    CURL *c = curl_easy_init();
    char url[200], auth[220];
    snprintf(auth, sizeof auth, "x-api-key: %s", s.gateway_key);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    const char *paths[] = {"/api/payments/UNKNOWN", "/api/nothing-here", "/api/payments/UNKNOWN"};
    long codes[] = {404, 404, 404};
    long connects = 0;
    for (size_t i = 0; i < 3; i++) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s.payments, paths[i]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        long code = 0, nc = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
        assert_int_equal(code, codes[i]);
        connects += nc;
    }
    assert_int_equal(connects, 1); /* three answers, one connection */
    curl_slist_free_all(h);
    curl_easy_cleanup(c);

    hres *r = http_do("GET", s.admin, "/admin/merchants/nobody/keys", NULL, NULL);
    assert_int_equal(r->status, 404);
    hres_free(r);
    assert_int_equal(server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(data_files_are_private),
        cmocka_unit_test(sandbox_bootstrap_keeps_the_webhook_secret),
        cmocka_unit_test(missing_card_key_beside_a_database_stops_the_start),
        cmocka_unit_test(early_errors_keep_the_connection),
    };
    return cmocka_run_group_tests_name("startup", tests, NULL, NULL);
}
