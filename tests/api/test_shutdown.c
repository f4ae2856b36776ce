/* Graceful shutdown: SIGTERM while many requests are in flight. Every
 * request that got an answer got a complete one, recoupd exits 0, and every
 * payment acknowledged with a 201 is there after a restart. A request that
 * stalls mid-body gets shutdown_timeout to finish, and no more. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "ref_helpers.h"

enum { CLIENTS = 20, PER_CLIENT = 400 };

struct grow {
    char *p;
    size_t n;
};

static size_t on_body(char *d, size_t size, size_t nmemb, void *ud)
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

struct client {
    rserver *s;
    atomic_int *stop;
    atomic_int *acked_total;
    int index;
    int sent, acked, refused;     /* refused: no answer at all (connection closed or refused) */
    int bad;                      /* an answer that was not a complete, valid 201 */
    char bad_detail[600];
    char (*ids)[201];             /* acknowledged payment ids */
    char amounts[PER_CLIENT][16]; /* the amount each acknowledged payment was created with */
};

static void note_bad(struct client *c, const char *what, long status, const char *body)
{
    if (!c->bad)
        snprintf(c->bad_detail, sizeof c->bad_detail, "%s: status %ld body %.400s", what, status, body ? body : "");
    c->bad++;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->s->gateway_key);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/payments", c->s->payments);
    for (int i = 0; i < PER_CLIENT && !atomic_load(c->stop); i++) {
        char amount[16], body[600];
        snprintf(amount, sizeof amount, "%d.%02d", 1 + c->index, i % 100);
        snprintf(body, sizeof body,
                 "{\"amount\":%s,\"payment_method\":\"credit_card\",\"additional_params\":{\"number\":"
                 "\"4242424242424242\",\"name\":\"Shutdown Test\",\"expiration_month\":\"12\","
                 "\"expiration_year\":\"%s\",\"cvv\":\"123\"}}",
                 amount, future_year());
        CURL *h = curl_easy_init();
        struct curl_slist *hl = NULL;
        hl = curl_slist_append(hl, auth);
        hl = curl_slist_append(hl, "Content-Type: application/json");
        hl = curl_slist_append(hl, "Expect:");
        struct grow g = {calloc(1, 1), 0};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &g);
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        c->sent++;
        if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING ||
            ((rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR) && status == 0)) {
            /* Nothing was answered: the request may or may not have been
             * executed, and the client cannot know; it is not counted. */
            c->refused++;
        } else if (rc != CURLE_OK) {
            /* An answer was started but not finished. */
            note_bad(c, curl_easy_strerror(rc), status, g.p);
        } else {
            cJSON *j = cJSON_Parse(g.p);
            const char *id = jstr(j, "payment_id");
            if (status == 201 && is_payment_id(id) && strcmp(jstr(j, "status") ? jstr(j, "status") : "", "success") == 0) {
                snprintf(c->ids[c->acked], 201, "%s", id);
                snprintf(c->amounts[c->acked], sizeof c->amounts[0], "%s", amount);
                c->acked++;
                atomic_fetch_add(c->acked_total, 1);
            } else {
                note_bad(c, "answer", status, g.p);
            }
            cJSON_Delete(j);
        }
        free(g.p);
        curl_slist_free_all(hl);
        curl_easy_cleanup(h);
        if (rc == CURLE_COULDNT_CONNECT)
            break; /* the listener is closed: nothing more will be served */
    }
    return NULL;
}

static void sigterm_with_requests_in_flight(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    atomic_int stop = 0, acked_total = 0;
    static struct client clients[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        memset(&clients[i], 0, sizeof clients[i]);
        clients[i].s = &s;
        clients[i].stop = &stop;
        clients[i].acked_total = &acked_total;
        clients[i].index = i;
        clients[i].ids = calloc(PER_CLIENT, sizeof *clients[i].ids);
        assert_non_null(clients[i].ids);
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &clients[i]), 0);
    }
    /* Let traffic build up (bounded), then stop the server under it. */
    for (int i = 0; i < 100 && atomic_load(&acked_total) < 60; i++)
        sleep_ms(20);
    int acked_before_signal = atomic_load(&acked_total);
    int rc = server_stop_keep(&s);
    atomic_store(&stop, 1);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);

    int sent = 0, acked = 0, refused = 0, bad = 0;
    const char *detail = NULL;
    for (int i = 0; i < CLIENTS; i++) {
        sent += clients[i].sent;
        acked += clients[i].acked;
        refused += clients[i].refused;
        bad += clients[i].bad;
        if (clients[i].bad && !detail)
            detail = clients[i].bad_detail;
    }
    print_message("# %d requests sent, %d acknowledged (%d before SIGTERM), %d unanswered\n", sent, acked,
                  acked_before_signal, refused);
    if (bad)
        fail_msg("%d answers were incomplete or invalid; first: %s", bad, detail);
    assert_int_equal(rc, 0);
    assert_true(acked_before_signal > 0);

    /* Every acknowledged payment survived the shutdown. */
    server_restart(&s, NULL);
    int missing = 0;
    for (int i = 0; i < CLIENTS; i++) {
        for (int k = 0; k < clients[i].acked; k++) {
            hres *p = payment_get(&s, clients[i].ids[k]);
            char want[24];
            snprintf(want, sizeof want, "%s", clients[i].amounts[k]);
            if (p->status != 200 || !has_raw(p, "amount", want)) {
                if (!missing)
                    print_error("payment %.20s... (amount %s): status %ld body %.200s\n", clients[i].ids[k], want,
                                p->status, p->body);
                missing++;
            }
            hres_free(p);
        }
    }
    /* Nothing more than was sent, either. */
    hres *l = gw_do(&s, "GET", s.payments, "/api/payments?limit=1000", NULL);
    R_STATUS(l, 200);
    int stored = cJSON_GetArraySize(l->json);
    hres_free(l);
    for (int i = 0; i < CLIENTS; i++)
        free(clients[i].ids);
    assert_int_equal(missing, 0);
    assert_true(stored >= acked && stored <= sent);
    assert_int_equal(server_stop(&s), 0);
}

static void stalled_request_gets_its_grace_period_and_no_more(void **state)
{
    (void)state;
    rserver s;
    static const char *const args[] = {"--shutdown_timeout=2", NULL};
    server_start(&s, args);

    /* Headers announce a body that never comes. */
    int fd = raw_connect(s.payments);
    assert_true(fd >= 0);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /api/payments HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"amount\":",
                     s.gateway_key);
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    /* An idle connection, too. */
    int idle = raw_connect(s.refunds);
    assert_true(idle >= 0);
    sleep_ms(300);

    /* Signal late in a second of the (system-wide) monotonic clock: a grace
     * period counted in whole seconds would then end almost a second early,
     * every time rather than by chance. */
    for (int i = 0; i < 200; i++) {
        double now = mono_seconds();
        double frac = now - floor(now);
        if (frac >= 0.85 && frac < 0.95)
            break;
        sleep_ms(5);
    }
    double t0 = mono_seconds();
    int rc = server_stop_keep(&s);
    double took = mono_seconds() - t0;
    close(fd);
    close(idle);
    assert_int_equal(rc, 0);
    if (took > 8.0)
        fail_msg("shutdown took %.1f s with shutdown_timeout=2", took);

    /* The data directory is intact: the server comes back. */
    server_restart(&s, args);
    hres *h = http_do("GET", s.admin, "/readyz", NULL, NULL);
    R_STATUS(h, 200);
    hres_free(h);
    assert_int_equal(server_stop(&s), 0);

    /* The stalled request had its full two seconds before being cut off. */
    if (took < 1.95)
        fail_msg("the in-flight request was cut off %.2f s after SIGTERM, before shutdown_timeout=2", took);
}

static void sigint_then_more_signals_still_stop_cleanly(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, NULL);
    char *pid = make_card_payment(&s, "4242424242424242", "2.00");
    kill(s.pid, SIGINT);
    /* Further signals during the shutdown are ignored. */
    sleep_ms(20);
    kill(s.pid, SIGTERM);
    kill(s.pid, SIGINT);
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 300 && got != s.pid; i++) {
        got = waitpid(s.pid, &status, WNOHANG);
        if (got != s.pid)
            sleep_ms(50);
    }
    if (got != s.pid) {
        kill(s.pid, SIGKILL);
        waitpid(s.pid, &status, 0);
        fail_msg("recoupd did not stop within 15 s of SIGINT");
    }
    s.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    server_restart(&s, NULL);
    hres *p = payment_get(&s, pid);
    R_STATUS(p, 200);
    hres_free(p);
    free(pid);
    assert_int_equal(server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigterm_with_requests_in_flight),
        cmocka_unit_test(stalled_request_gets_its_grace_period_and_no_more),
        cmocka_unit_test(sigint_then_more_signals_still_stop_cleanly),
    };
    return cmocka_run_group_tests_name("shutdown", tests, NULL, NULL);
}
