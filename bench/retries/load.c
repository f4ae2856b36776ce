/* The load of the end-to-end retry benchmark (bench/retries.sh).
 *
 *   load seed PAYMENTS_URL GATEWAY_KEY API_URL RECOVER_KEY N APPROVE_PCT HISTORY CONCURRENCY NOW_ISO RUN_TAG
 *
 * stores N cards at the gateway (POST /api/payment_methods), then sends
 * Recover one failed payment per card (POST /recover/payments), each its
 * own invoice, so that every invoice has a card of its own and no
 * card-network cap on one card binds; with them, HISTORY paid renewals per
 * failure, interleaved, as a merchant forwards all its payments (without
 * them the retry model, learning only failures, soon judges no retry worth
 * its cost). APPROVE_PCT of the cards are 4242 4242 4242 4242 (every charge
 * approved), the rest 4000 0000 0000 9995 (every charge declined,
 * insufficient funds), spread evenly. NOW_ISO (recoupd's clock) dates the
 * payments.
 *
 *   load charges PAYMENTS_URL GATEWAY_KEY M CONCURRENCY RUN_TAG
 *
 * the reference of a run: M charges of stored cards at the gateway, as
 * Recover makes them (by payment_method_id, an Idempotency-Key each).
 *
 *   load posts URL M CONCURRENCY BODY_LEN
 *
 * the reference of the webhook dispatcher: M POSTs of a BODY_LEN-byte JSON
 * body, no store.
 *
 * All keep CONCURRENCY requests in flight through one libcurl multi handle
 * on reused connections, print one line of results on stdout and exit
 * non-zero if any request was not answered as expected. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PM_ID_MAX 64

struct slot {
    CURL *easy;
    long index;
    char body[4096];
    char *answer;
    size_t answer_len, answer_cap;
    struct curl_slist *own_headers; /* with the request's Idempotency-Key */
};

struct phase {
    const char *name;
    long count;
    const char *url;
    struct curl_slist *headers;
    long expect_status;
    int idempotency_keys; /* a key of its own on every request */
    /* Writes request i's body; returns 0 on success. */
    int (*build)(long i, char *out, size_t outsz);
    /* Looks at request i's answer; returns 0 if it is as expected. */
    int (*check)(long i, const char *answer, size_t len);
};

static long n_total;
static long n_history; /* successful payments sent per failed one */
static int approve_pct;
static const char *now_iso;
static const char *run_tag;
static char (*pm_ids)[PM_ID_MAX];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spreads the approving cards evenly: card i approves when the running
 * share of approvals would otherwise fall below APPROVE_PCT. */
static int approves(long i) { return (i + 1) * approve_pct / 100 > i * approve_pct / 100; }

static int build_token(long i, char *out, size_t outsz)
{
    int n = snprintf(out, outsz,
                     "{\"type\":\"credit_card\",\"number\":\"%s\",\"name\":\"Customer %ld\","
                     "\"expiration_month\":12,\"expiration_year\":2099,\"cvv\":\"123\"}",
                     approves(i) ? "4242424242424242" : "4000000000009995", i);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static int check_token(long i, const char *answer, size_t len)
{
    (void)len;
    static const char key[] = "\"payment_method_id\":\"";
    const char *p = strstr(answer, key);
    if (!p)
        return -1;
    p += sizeof key - 1;
    const char *end = strchr(p, '"');
    if (!end || end - p >= PM_ID_MAX)
        return -1;
    memcpy(pm_ids[i], p, (size_t)(end - p));
    pm_ids[i][end - p] = '\0';
    return 0;
}

/* Event j of the events phase: every (1 + n_history)-th is a failure, of
 * invoice j / (1 + n_history); the others are renewals that were paid. */
static int build_event(long j, char *out, size_t outsz)
{
    long i = j / (1 + n_history);
    int failed = j % (1 + n_history) == 0;
    long id = failed ? i : j;
    int cents = 500 + (int)(j % 9500);
    char pm[PM_ID_MAX + 8];
    if (failed)
        snprintf(pm, sizeof pm, "%s", pm_ids[i]);
    else
        snprintf(pm, sizeof pm, "pm_paid_%ld", j);
    int n = snprintf(
        out, outsz,
        "{\"customer\":{\"id\":\"cus_%s_%c%ld\",\"created_at\":\"2025-01-10T09:00:00Z\",\"postal_code\":\"94107\"},"
        "\"subscription\":{\"id\":\"sub_%s_%c%ld\",\"start_date\":\"2025-01-10T09:00:00Z\",\"product_id\":\"pro_monthly\","
        "\"billing\":{\"period\":\"month\",\"frequency\":1}},"
        "\"invoice\":{\"id\":\"in_%s_%c%ld\",\"created_at\":\"%s\"},"
        "\"transactions\":[{\"id\":\"txn_%s_%c%ld\",\"psp_transaction_id\":\"ch_%s_%c%ld\",\"psp\":\"recoup\","
        "\"acquirer_country\":\"US\",\"amount\":%d.%02d,\"currency\":\"EUR\",\"funding_source\":\"credit\","
        "\"payment_method_id\":\"%s\",\"psp_transaction_created_at\":\"%s\",\"scheme\":\"visa\",\"success\":%s,"
        "\"bin\":\"%s\",\"issuer_country\":\"US\",\"billing_postal_code\":\"94107\",%s}],"
        "\"custom\":{\"plan\":\"pro\",\"account\":\"A-%ld\",\"region\":\"us-west\",\"channel\":\"web\"}}",
        run_tag, failed ? 'f' : 'p', id, run_tag, failed ? 'f' : 'p', id, run_tag, failed ? 'f' : 'p', id, now_iso,
        run_tag, failed ? 'f' : 'p', id, run_tag, failed ? 'f' : 'p', id, cents / 100, cents % 100, pm, now_iso,
        failed ? "false" : "true", failed && !approves(i) ? "400000" : "424242",
        failed ? "\"outcome\":{\"raw_response_message\":\"insufficient_funds\",\"psp_response_message\":"
                 "\"Your card has insufficient funds.\",\"processor_response_code\":\"51\",\"network_status\":"
                 "\"declined_by_network\",\"response_type\":\"soft_decline\"}"
               : "\"outcome\":{\"raw_response_message\":\"approved\",\"processor_response_code\":\"00\","
                 "\"network_status\":\"approved_by_network\"}",
        id);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static int build_charge(long i, char *out, size_t outsz)
{
    int n = snprintf(out, outsz,
                     "{\"amount\":%ld.%02ld,\"currency\":\"EUR\",\"payment_method\":\"credit_card\","
                     "\"payment_method_id\":\"%s\"}",
                     5 + i % 95, i % 100, pm_ids[i % n_total]);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static int check_charge(long i, const char *answer, size_t len)
{
    (void)i;
    (void)len;
    return strstr(answer, "\"payment_id\"") ? 0 : -1;
}

static size_t post_len;

static int build_post(long i, char *out, size_t outsz)
{
    (void)i;
    size_t len = post_len < 16 ? 16 : post_len;
    if (len >= outsz)
        len = outsz - 1;
    memcpy(out, "{\"pad\":\"", 8);
    memset(out + 8, 'x', len - 10);
    memcpy(out + len - 2, "\"}", 3);
    return 0;
}

static int check_any(long i, const char *answer, size_t len)
{
    (void)i;
    (void)answer;
    (void)len;
    return 0;
}

static int check_event(long i, const char *answer, size_t len)
{
    (void)i;
    (void)len;
    return strstr(answer, "\"request_id\"") ? 0 : -1;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *userdata)
{
    struct slot *s = userdata;
    size_t n = size * nmemb;
    if (s->answer_len + n + 1 > s->answer_cap) {
        size_t cap = (s->answer_len + n + 1) * 2;
        char *a = realloc(s->answer, cap);
        if (!a)
            return 0;
        s->answer = a;
        s->answer_cap = cap;
    }
    memcpy(s->answer + s->answer_len, p, n);
    s->answer_len += n;
    s->answer[s->answer_len] = '\0';
    return n;
}

static int start(CURLM *multi, struct slot *s, const struct phase *ph, long i)
{
    s->index = i;
    s->answer_len = 0;
    if (s->answer)
        s->answer[0] = '\0';
    if (ph->build(i, s->body, sizeof s->body) != 0)
        return -1;
    curl_easy_setopt(s->easy, CURLOPT_URL, ph->url);
    const struct curl_slist *headers = ph->headers;
    if (ph->idempotency_keys) {
        curl_slist_free_all(s->own_headers);
        s->own_headers = NULL;
        for (const struct curl_slist *h = ph->headers; h; h = h->next)
            s->own_headers = curl_slist_append(s->own_headers, h->data);
        char key[128];
        snprintf(key, sizeof key, "Idempotency-Key: bench-%s-%ld", run_tag, i);
        s->own_headers = curl_slist_append(s->own_headers, key);
        headers = s->own_headers;
    }
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    return curl_multi_add_handle(multi, s->easy) == CURLM_OK ? 0 : -1;
}

/* Runs requests 0..N-1 of a phase; returns the errors, prints progress. */
static long run_phase(const struct phase *ph, struct slot *slots, int conc, double *secs)
{
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
    long next = 0, done = 0, errors = 0;
    double t0 = now_s(), last_note = t0;
    for (int k = 0; k < conc && next < ph->count; k++)
        if (start(multi, &slots[k], ph, next++) != 0)
            errors++;
    while (done < ph->count) {
        int running;
        curl_multi_perform(multi, &running);
        int left;
        CURLMsg *m;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(multi, s->easy);
            if (res != CURLE_OK || status != ph->expect_status ||
                ph->check(s->index, s->answer ? s->answer : "", s->answer_len) != 0) {
                if (errors < 5)
                    fprintf(stderr, "load: %s %ld: %s, status %ld: %.300s\n", ph->name, s->index,
                            curl_easy_strerror(res), status, s->answer ? s->answer : "");
                errors++;
            }
            done++;
            if (next < ph->count && start(multi, s, ph, next++) != 0) {
                errors++;
                done++;
            }
        }
        if (now_s() - last_note > 5) {
            last_note = now_s();
            fprintf(stderr, "load: %s: %ld of %ld answered\n", ph->name, done, ph->count);
        }
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    *secs = now_s() - t0;
    curl_multi_cleanup(multi);
    return errors;
}

static struct slot *slots_new(int conc)
{
    struct slot *slots = calloc((size_t)conc, sizeof *slots);
    for (int k = 0; slots && k < conc; k++) {
        slots[k].easy = curl_easy_init();
        curl_easy_setopt(slots[k].easy, CURLOPT_PRIVATE, &slots[k]);
    }
    return slots;
}

static void slots_free(struct slot *slots, int conc)
{
    for (int k = 0; k < conc; k++) {
        curl_easy_cleanup(slots[k].easy);
        curl_slist_free_all(slots[k].own_headers);
        free(slots[k].answer);
    }
    free(slots);
}

static struct curl_slist *json_headers(const char *key)
{
    char hdr[512];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* Without this, curl holds bodies over 1 KB for a 100-continue. */
    h = curl_slist_append(h, "Expect:");
    snprintf(hdr, sizeof hdr, "x-api-key: %s", key);
    return curl_slist_append(h, hdr);
}

/* The reference: the gateway's own charges of stored cards (as Recover
 * makes them, with an Idempotency-Key each), CONCURRENCY cards charged in
 * turn, M charges in all. */
static int charges_main(char **argv)
{
    long m = strtol(argv[4], NULL, 10);
    int conc = (int)strtol(argv[5], NULL, 10);
    run_tag = argv[6];
    if (m <= 0 || conc <= 0 || conc > 1024) {
        fprintf(stderr, "load: bad M or CONCURRENCY\n");
        return 2;
    }
    n_total = conc;
    approve_pct = 100;
    pm_ids = calloc((size_t)n_total, sizeof *pm_ids);
    struct slot *slots = slots_new(conc);
    if (!pm_ids || !slots)
        return 1;
    char url[512], url2[512];
    struct curl_slist *headers = json_headers(argv[3]);
    snprintf(url, sizeof url, "%s/api/payment_methods", argv[2]);
    snprintf(url2, sizeof url2, "%s/api/payments", argv[2]);
    struct phase tokens = {"tokens", n_total, url, headers, 201, 0, build_token, check_token};
    struct phase charges = {"charges", m, url2, headers, 201, 1, build_charge, check_charge};
    double tok_s = 0, ch_s = 0;
    long errors = run_phase(&tokens, slots, conc, &tok_s);
    if (!errors)
        errors = run_phase(&charges, slots, conc, &ch_s);
    printf("CHARGES charges=%ld charge_s=%.2f charge_rate=%.0f errors=%ld\n", m, ch_s, ch_s > 0 ? (double)m / ch_s : 0,
           errors);
    slots_free(slots, conc);
    curl_slist_free_all(headers);
    free(pm_ids);
    return errors ? 1 : 0;
}

/* The reference of the dispatcher: M POSTs of a BODY_LEN-byte body. */
static int posts_main(char **argv)
{
    long m = strtol(argv[3], NULL, 10);
    int conc = (int)strtol(argv[4], NULL, 10);
    post_len = (size_t)strtol(argv[5], NULL, 10);
    if (m <= 0 || conc <= 0 || conc > 4096) {
        fprintf(stderr, "load: bad M or CONCURRENCY\n");
        return 2;
    }
    struct slot *slots = slots_new(conc);
    if (!slots)
        return 1;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    struct phase posts = {"posts", m, argv[2], headers, 200, 0, build_post, check_any};
    double secs = 0;
    long errors = run_phase(&posts, slots, conc, &secs);
    printf("POSTS posts=%ld post_s=%.2f post_rate=%.0f errors=%ld\n", m, secs, (double)m / secs, errors);
    slots_free(slots, conc);
    curl_slist_free_all(headers);
    return errors ? 1 : 0;
}

static int seed_main(char **argv)
{
    n_total = strtol(argv[6], NULL, 10);
    approve_pct = (int)strtol(argv[7], NULL, 10);
    n_history = strtol(argv[8], NULL, 10);
    int conc = (int)strtol(argv[9], NULL, 10);
    now_iso = argv[10];
    run_tag = argv[11];
    if (n_total <= 0 || approve_pct < 0 || approve_pct > 100 || n_history < 0 || n_history > 100 || conc <= 0 ||
        conc > 1024) {
        fprintf(stderr, "load: bad N, APPROVE_PCT, HISTORY or CONCURRENCY\n");
        return 2;
    }
    pm_ids = calloc((size_t)n_total, sizeof *pm_ids);
    struct slot *slots = slots_new(conc);
    if (!pm_ids || !slots)
        return 1;

    char url[512], url2[512];
    struct curl_slist *gw_headers = json_headers(argv[3]);
    snprintf(url, sizeof url, "%s/api/payment_methods", argv[2]);
    struct phase tokens = {"tokens", n_total, url, gw_headers, 201, 0, build_token, check_token};
    double tok_s = 0;
    long tok_err = run_phase(&tokens, slots, conc, &tok_s);
    if (tok_err) {
        printf("LOAD tokens=%ld token_errors=%ld\n", n_total, tok_err);
        return 1;
    }

    struct curl_slist *rc_headers = json_headers(argv[5]);
    snprintf(url2, sizeof url2, "%s/recover/payments", argv[4]);
    struct phase events = {"events", n_total * (1 + n_history), url2, rc_headers, 200, 0, build_event, check_event};
    double ev_s = 0;
    long ev_err = run_phase(&events, slots, conc, &ev_s);

    long approving = 0;
    for (long i = 0; i < n_total; i++)
        approving += approves(i);
    printf("LOAD tokens=%ld token_s=%.2f token_rate=%.0f events=%ld failed=%ld event_s=%.2f event_rate=%.0f "
           "approving=%ld errors=%ld\n",
           n_total, tok_s, (double)n_total / tok_s, events.count, n_total, ev_s, (double)events.count / ev_s,
           approving, ev_err);
    slots_free(slots, conc);
    free(pm_ids);
    curl_slist_free_all(gw_headers);
    curl_slist_free_all(rc_headers);
    return ev_err ? 1 : 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc == 12 && strcmp(argv[1], "seed") == 0)
        rc = seed_main(argv);
    else if (argc == 7 && strcmp(argv[1], "charges") == 0)
        rc = charges_main(argv);
    else if (argc == 6 && strcmp(argv[1], "posts") == 0)
        rc = posts_main(argv);
    else
        fprintf(stderr, "usage: load seed PAYMENTS_URL GATEWAY_KEY API_URL RECOVER_KEY N APPROVE_PCT HISTORY "
                        "CONCURRENCY NOW_ISO RUN_TAG\n"
                        "       load charges PAYMENTS_URL GATEWAY_KEY M CONCURRENCY RUN_TAG\n"
                        "       load posts URL M CONCURRENCY BODY_LEN\n");
    curl_global_cleanup();
    return rc;
}
