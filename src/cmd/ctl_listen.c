/* recoupctl recover listen: a stand-in merchant endpoint on loopback, for
 * trying Recover before the real one exists. It answers RetryStatus with
 * {"retry": true} (or what --answer says), accepts webhooks and platform
 * retry requests with 200, and prints each call with the verdict on its
 * signature, so a merchant engineer sees exactly what Recover sends. */
#include "cmd/ctl_listen.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "recover/webhooks.h"

struct listen_opts {
    const char *secret; /* the webhook signing secret, or NULL: not checked */
    const char *answer; /* RetryStatus body */
};

struct call {
    buf body;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? v : "";
}

static void print_call(struct MHD_Connection *conn, const char *method, const char *url, const buf *body,
                       const struct listen_opts *o)
{
    printf("%s %s\n", method, url);
    const char *type = header(conn, "X-Butter-Webhook-Type");
    const char *sig = header(conn, "X-Butter-Webhook-Signature");
    const char *exp = header(conn, "X-Butter-Webhook-Expiration");
    if (*type) {
        printf("  type: %s  deduplication id: %s  expires: %s\n", type,
               header(conn, "X-Butter-Webhook-Deduplication-ID"), exp);
        if (o->secret) {
            char want[65];
            rc_webhook_signature(o->secret, body->data ? body->data : "", body->len, strtoll(exp, NULL, 10), want);
            printf("  signature: %s\n", strcmp(want, sig) == 0 ? "valid" : "INVALID (check the secret)");
        }
    }
    const char *auth = header(conn, "Authorization");
    if (*auth)
        printf("  authorization: %.6s...\n", auth);
    if (*header(conn, "x-api-key"))
        printf("  x-api-key: present\n");
    printf("  body: %.*s\n", (int)body->len, body->data ? body->data : "");
    fflush(stdout);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    const struct listen_opts *o = cls;
    struct call *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return MHD_NO;
        buf_init(&c->body);
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        buf_append(&c->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    print_call(conn, method, url, &c->body, o);
    const char *text = strstr(url, "/retry/") && !strstr(url, "/webhooks/") ? o->answer : "{}";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static void done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct call *c = *con_cls;
    if (c) {
        buf_free(&c->body);
        free(c);
    }
    *con_cls = NULL;
}

int ctl_listen(int argc, char **argv)
{
    if (argc < 1)
        return 2;
    char *end;
    long port = strtol(argv[0], &end, 10);
    if (*end || port < 1 || port > 65535) {
        fprintf(stderr, "recoupctl: PORT must be from 1 to 65535\n");
        return 2;
    }
    struct listen_opts o = {NULL, "{\"retry\": true}"};
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--secret=", 9) == 0)
            o.secret = argv[i] + 9;
        else if (strncmp(argv[i], "--answer=", 9) == 0)
            o.answer = argv[i] + 9;
        else
            return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, handle, &o,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "recoupctl: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("listening on http://127.0.0.1:%ld (RetryStatus answers %s); Ctrl-C stops\n", port, o.answer);
    fflush(stdout);
    while (!stopping)
        pause();
    MHD_stop_daemon(d);
    return 0;
}
