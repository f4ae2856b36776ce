/* Connection and request limits: idle and stalled connections are closed
 * after idle_timeout, oversized headers, URLs and bodies get their 4xx
 * without harming the server, and a listener holds no more than
 * max_connections open connections while the ones it holds stay usable. */
#include <errno.h>
#include <poll.h>
#include <sys/time.h>

#include "ref_helpers.h"

static rserver srv; /* --idle_timeout=2 */

static int setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--idle_timeout=2", NULL};
    server_start(&srv, args);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return server_stop(&srv) == 0 ? 0 : -1;
}

/* Waits up to timeout_ms for the peer to close fd. Returns the seconds it
 * took, or -1 when it stayed open, -2 when data arrived instead. */
static double wait_closed(int fd, int timeout_ms)
{
    double t0 = mono_seconds();
    struct pollfd p = {fd, POLLIN, 0};
    int left = timeout_ms;
    while (left > 0) {
        int r = poll(&p, 1, left);
        if (r == 0)
            return -1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (r > 0) {
            char b[256];
            ssize_t n = recv(fd, b, sizeof b, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return mono_seconds() - t0;
            if (n > 0)
                return -2;
        }
        left = timeout_ms - (int)((mono_seconds() - t0) * 1000);
    }
    return -1;
}

/* Reads one whole response (headers and Content-Length bytes of body) from
 * fd within timeout_ms. Returns its status, 0 when the connection was
 * closed, -1 when nothing came in time, -2 when it is not HTTP. */
static int read_response(int fd, int timeout_ms)
{
    char b[16384];
    size_t have = 0;
    double until = mono_seconds() + timeout_ms / 1000.0;
    long need = -1;
    int status = -2;
    for (;;) {
        int left = (int)((until - mono_seconds()) * 1000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) != 1)
            return have ? -2 : -1;
        ssize_t got = recv(fd, b + have, sizeof b - 1 - have, 0);
        if (got <= 0)
            return have ? -2 : 0;
        have += (size_t)got;
        b[have] = '\0';
        char *end = strstr(b, "\r\n\r\n");
        if (!end)
            continue;
        if (need < 0) {
            if (sscanf(b, "HTTP/1.1 %d", &status) != 1)
                return -2;
            const char *cl = strcasestr(b, "\r\nContent-Length:");
            need = cl && cl < end ? strtol(cl + 17, NULL, 10) : 0;
        }
        if ((long)(have - (size_t)(end + 4 - b)) >= need)
            return status;
    }
}

/* Sends one GET on fd and reads its answer (see read_response). */
static int request_on(int fd, const char *key, int timeout_ms)
{
    char req[400];
    int n = snprintf(req, sizeof req, "GET /api/payments?limit=1 HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\n\r\n", key);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return 0;
    return read_response(fd, timeout_ms);
}

/* Whether fd is still open with nothing to read, right now. */
static int still_open(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

static void idle_and_stalled_connections_are_closed(void **state)
{
    (void)state;
    enum { IDLE_PAY, IDLE_REF, HALF_LINE, NO_BODY, N };
    static const char *const what[N] = {"an idle connection (payments)", "an idle connection (refunds)",
                                        "half a request line", "headers promising a body never sent"};
    int fds[N];
    fds[IDLE_PAY] = raw_connect(srv.payments);
    fds[IDLE_REF] = raw_connect(srv.refunds);
    fds[HALF_LINE] = raw_connect(srv.payments);
    fds[NO_BODY] = raw_connect(srv.refunds);
    for (int i = 0; i < N; i++)
        assert_true(fds[i] >= 0);
    double t0 = mono_seconds();
    const char part[] = "GET /api/paym";
    assert_int_equal(send(fds[HALF_LINE], part, sizeof part - 1, 0), (ssize_t)(sizeof part - 1));
    char req[400];
    int n = snprintf(req, sizeof req,
                     "POST /api/refunds HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100\r\n\r\n{\"pay",
                     srv.gateway_key);
    assert_int_equal(send(fds[NO_BODY], req, (size_t)n, 0), n);

    /* Meanwhile a connection kept busy, each request within the timeout but
     * over longer than it in all, is not cut. */
    int busy = raw_connect(srv.payments);
    assert_true(busy >= 0);
    for (int i = 0; i < 3; i++) {
        int st = request_on(busy, srv.gateway_key, 3000);
        if (st != 200)
            fail_msg("request %d on a kept-alive connection: %d", i + 1, st);
        if (i == 0 && mono_seconds() - t0 < 1.0) {
            sleep_ms((int)((1.0 - (mono_seconds() - t0)) * 1000));
            /* Not before the timeout: all four are still open at 1 s. */
            for (int k = 0; k < N; k++)
                if (!still_open(fds[k]))
                    fail_msg("%s was closed within 1 s with idle_timeout=2", what[k]);
        }
        sleep_ms(800);
    }
    close(busy);

    /* And all closed well within 5 s of the start. */
    for (int i = 0; i < N; i++) {
        int left = (int)((t0 + 5.0 - mono_seconds()) * 1000);
        double took = wait_closed(fds[i], left > 0 ? left : 1);
        close(fds[i]);
        if (took == -1)
            fail_msg("%s was still open 5 s after it went quiet (idle_timeout=2)", what[i]);
    }

    /* The server is still fine. */
    char *pid = make_card_payment(&srv, "4242424242424242", "3.00");
    free(pid);
}

static void huge_headers_are_refused_cleanly(void **state)
{
    (void)state;
    /* One header of 20 KiB. */
    size_t big = 20 * 1024;
    char *pad = malloc(big + 16);
    assert_non_null(pad);
    memcpy(pad, "X-Pad: ", 7);
    memset(pad + 7, 'a', big);
    pad[7 + big] = '\0';
    char auth[200];
    snprintf(auth, sizeof auth, "x-api-key: %s", srv.gateway_key);
    const char *h1[] = {auth, pad, NULL};
    hres *r = http_do("GET", srv.payments, "/api/payments", h1, NULL);
    if (r->status != 431 && r->status != 413)
        fail_msg("20 KiB of headers: status %ld body %.200s", r->status, r->body);
    hres_free(r);
    free(pad);

    /* 200 headers of 100 bytes. */
    static char lines[200][128];
    const char *h2[203];
    h2[0] = auth;
    for (int i = 0; i < 200; i++) {
        snprintf(lines[i], sizeof lines[i], "X-Pad-%03d: %0100d", i, 0);
        h2[i + 1] = lines[i];
    }
    h2[201] = NULL;
    r = http_do("GET", srv.refunds, "/api/refunds", h2, NULL);
    if (r->status != 431 && r->status != 413)
        fail_msg("200 headers of 100 bytes: status %ld body %.200s", r->status, r->body);
    hres_free(r);

    /* Still serving, on both listeners. */
    char *pid = make_card_payment(&srv, "4242424242424242", "4.00");
    char *rid = make_refund(&srv, pid, "1.00");
    free(rid);
    free(pid);
}

static void long_url_and_large_body(void **state)
{
    (void)state;
    char path[4200];
    int n = snprintf(path, sizeof path, "/api/refunds?payment_id=");
    memset(path + n, 'A', 3000);
    path[n + 3000] = '\0';
    hres *r = gw_do(&srv, "GET", srv.refunds, path, NULL);
    R_STATUS(r, 414);
    R_CHECK(r, strcmp(rs(r->json, "message"), "URL too long") == 0);
    hres_free(r);

    /* A body over 64 KiB. */
    size_t len = 70 * 1024;
    char *body = malloc(len + 64);
    assert_non_null(body);
    int k = snprintf(body, len + 64, "{\"payment_id\":\"");
    memset(body + k, 'A', len);
    snprintf(body + k + len, 64, "\",\"amount\":1.00}");
    r = gw_do(&srv, "POST", srv.refunds, "/api/refunds", body);
    R_STATUS(r, 413);
    R_CHECK(r, strcmp(rs(r->json, "message"), "Request body too large") == 0);
    hres_free(r);
    free(body);

    r = http_do("GET", srv.admin, "/readyz", NULL, NULL);
    R_STATUS(r, 200);
    hres_free(r);
}

static void fifth_connection_is_closed_at_once(void **state)
{
    (void)state;
    rserver s;
    static const char *const args[] = {"--max_connections=4", NULL};
    server_start(&s, args);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = raw_connect(s.payments);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < 4; i++) {
        int st = request_on(fds[i], s.gateway_key, 3000);
        if (st != 200)
            fail_msg("connection %d of 4: %d", i + 1, st);
    }

    /* A fifth is refused or closed at once (docs/operations.md, Limits);
     * an error answer before the close is fine, being served or left
     * hanging is not. */
    int fifth = raw_connect(s.payments);
    int outcome = 0; /* 0 refused or closed, >0 a status, -1 no answer */
    if (fifth >= 0) {
        outcome = request_on(fifth, s.gateway_key, 1500);
        close(fifth);
    }

    /* The four stay usable. */
    int later[4];
    for (int i = 0; i < 4; i++)
        later[i] = request_on(fds[i], s.gateway_key, 3000);
    /* The limit is per listener: the refunds listener serves. */
    hres *r = gw_do(&s, "GET", s.refunds, "/api/refunds", NULL);
    long refunds_status = r->status;
    hres_free(r);

    /* Once a slot is free, a new connection is served. */
    close(fds[0]);
    sleep_ms(200);
    int again = raw_connect(s.payments);
    int again_status = again >= 0 ? request_on(again, s.gateway_key, 3000) : 0;
    if (again >= 0)
        close(again);
    for (int i = 1; i < 4; i++)
        close(fds[i]);
    assert_int_equal(server_stop(&s), 0);

    for (int i = 0; i < 4; i++)
        if (later[i] != 200)
            fail_msg("connection %d of 4 after the fifth: %d", i + 1, later[i]);
    assert_int_equal(refunds_status, 200);
    assert_int_equal(again_status, 200);
    if (outcome == -1)
        fail_msg("a fifth connection with max_connections=4 was neither closed nor answered within 1.5 s");
    if (outcome >= 200 && outcome < 400)
        fail_msg("a fifth connection was served (%d) with max_connections=4", outcome);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_and_stalled_connections_are_closed),
        cmocka_unit_test(huge_headers_are_refused_cleanly),
        cmocka_unit_test(long_url_and_large_body),
        cmocka_unit_test(fifth_connection_is_closed_at_once),
    };
    return cmocka_run_group_tests_name("limits", tests, setup, teardown);
}
