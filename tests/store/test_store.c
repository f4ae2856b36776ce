/* The storage interface, straight through store.h, with the same tests for
 * every backend: SQLite, or PostgreSQL when RECOUP_TEST_STORE=postgres
 * (the test cluster in RECOUP_TEST_PG_HOST, _PORT, _USER). Each test gets
 * a fresh database: a new file, or a new PostgreSQL database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/money.h"
#include "store/store.h"

struct fixture {
    int postgres;
    char dir[128];     /* SQLite: the directory of the database file */
    char path[256];    /* SQLite: the database file */
    char dbname[64];   /* PostgreSQL: the test's database */
    char url[512];     /* PostgreSQL: its connection string */
    store *s;
};

static int on_postgres(void)
{
    const char *v = getenv("RECOUP_TEST_STORE");
    return v && strcmp(v, "postgres") == 0;
}

static void cluster_conninfo(char *out, size_t outsz, const char *dbname)
{
    const char *host = getenv("RECOUP_TEST_PG_HOST"), *port = getenv("RECOUP_TEST_PG_PORT"),
               *user = getenv("RECOUP_TEST_PG_USER");
    snprintf(out, outsz, "host=%s port=%s user=%s dbname=%s", host ? host : "", port && *port ? port : "5432",
             user && *user ? user : "postgres", dbname);
}

/* Database names are made here from a fixed pattern, never from input. */
static int pg_admin(const char *sql)
{
    char conninfo[600];
    cluster_conninfo(conninfo, sizeof conninfo, "postgres");
    PGconn *c = PQconnectdb(conninfo);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "test cluster: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

static store *open_store(struct fixture *f)
{
    char err[512] = "";
    struct store_options opt = {.sqlite_path = f->path, .commit_batch_max = 64, .database_url = f->url,
                                .pg_pool_size = 8};
    store *s = store_open(f->postgres ? "postgres" : "sqlite", &opt, err, sizeof err);
    if (!s)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

static int setup(void **state)
{
    static int counter;
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->postgres = on_postgres();
    if (f->postgres) {
        snprintf(f->dbname, sizeof f->dbname, "recoup_store_%ld_%d", (long)getpid(), counter++);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->dbname);
        if (pg_admin(sql) != 0) {
            free(f);
            return -1;
        }
        cluster_conninfo(f->url, sizeof f->url, f->dbname);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/recoup-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(f->dir)) {
            free(f);
            return -1;
        }
        snprintf(f->path, sizeof f->path, "%s/recoup.db", f->dir);
    }
    f->s = open_store(f);
    *state = f;
    return f->s ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    if (f->postgres) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
        pg_admin(sql);
    } else {
        char p[300];
        const char *suffixes[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
            unlink(p);
        }
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void add_merchant(store *s, const char *id, int64_t at)
{
    struct merchant_row m;
    memset(&m, 0, sizeof m);
    str_copy(m.merchant_id, sizeof m.merchant_id, id);
    snprintf(m.name, sizeof m.name, "Merchant %s", id);
    m.created_at = at;
    assert_int_equal(s->ops->merchant_create(s, &m), STORE_OK);
}

/* A payment id of the gateway's shape: 200 capital letters from a tag. */
static void make_id(char *out, size_t len, const char *tag)
{
    size_t t = strlen(tag);
    for (size_t i = 0; i < len; i++)
        out[i] = i < t ? tag[i] : (char)('A' + (i * 7) % 26);
    out[len] = '\0';
}

static struct payment_row payment(const char *merchant, const char *tag, int64_t amount, const char *currency,
                                  const char *method, const char *status, int64_t created_at)
{
    struct payment_row p;
    memset(&p, 0, sizeof p);
    str_copy(p.merchant_id, sizeof p.merchant_id, merchant);
    make_id(p.payment_id, PAYMENT_ID_LEN, tag);
    p.amount = amount;
    str_copy(p.currency, sizeof p.currency, currency);
    str_copy(p.method, sizeof p.method, method);
    str_copy(p.status, sizeof p.status, status);
    p.created_at = created_at;
    if (strcmp(status, "error") == 0) {
        str_copy(p.decline_code, sizeof p.decline_code, "insufficient_funds");
        str_copy(p.decline_message, sizeof p.decline_message, "Insufficient funds");
        str_copy(p.network_code, sizeof p.network_code, "51");
    }
    if (strcmp(method, "credit_card") == 0) {
        str_copy(p.card_sealed, sizeof p.card_sealed, "v1:sealed-card-number");
        str_copy(p.card_masked, sizeof p.card_masked, "424242******4242");
        str_copy(p.card_brand, sizeof p.card_brand, "visa");
        str_copy(p.card_name, sizeof p.card_name, "Zoë Ångström");
        str_copy(p.exp_month, sizeof p.exp_month, "12");
        str_copy(p.exp_year, sizeof p.exp_year, "2031");
    } else {
        str_copy(p.phone, sizeof p.phone, "+351912345678");
    }
    return p;
}

static void insert_payment(store *s, const struct payment_row *p)
{
    assert_int_equal(s->gateway->payment_insert(s, p, NULL, NULL), STORE_OK);
}

static struct refund_row refund(const char *merchant, const char *payment_id, const char *tag, int64_t amount,
                                int64_t at)
{
    struct refund_row r;
    memset(&r, 0, sizeof r);
    str_copy(r.merchant_id, sizeof r.merchant_id, merchant);
    str_copy(r.payment_id, sizeof r.payment_id, payment_id);
    make_id(r.refund_id, REFUND_ID_LEN, tag);
    r.amount = amount;
    r.created_at = at;
    return r;
}

static size_t list_count(store *s, const char *merchant, struct payment_filter f)
{
    if (!f.limit)
        f.limit = 100;
    struct payment_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->gateway->payment_list(s, merchant, &f, &rows, &n), STORE_OK);
    free(rows);
    return n;
}

/* ---- tests ---- */

static void migrations_apply_once(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(f->s->ops->backend, f->postgres ? "postgres" : "sqlite");
    assert_int_equal(f->s->ops->ping(f->s), 0);
    add_merchant(f->s, "m1", 1000);
    /* Opening again finds every migration applied and the data intact. */
    store_close(f->s);
    f->s = open_store(f);
    assert_non_null(f->s);
    store *second = open_store(f);
    assert_non_null(second); /* a second node opening the same database */
    struct merchant_row m;
    assert_int_equal(f->s->ops->merchant_get(f->s, "m1", &m), STORE_OK);
    assert_int_equal(second->ops->merchant_get(second, "m1", &m), STORE_OK);
    assert_int_equal(m.created_at, 1000);
    store_close(second);
}

struct opener {
    struct fixture *f;
    pthread_barrier_t *start;
    store *s;
};

static void *open_node(void *arg)
{
    struct opener *o = arg;
    pthread_barrier_wait(o->start);
    o->s = open_store(o->f);
    return NULL;
}

/* Nodes started together on a new database: the advisory lock lets one
 * migrate while the others wait, and then find every migration applied. */
static void nodes_starting_together_migrate_once(void **state)
{
    struct fixture *f = *state;
    struct fixture fresh = *f;
    static int counter;
    snprintf(fresh.dbname, sizeof fresh.dbname, "recoup_nodes_%ld_%d", (long)getpid(), counter++);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", fresh.dbname);
    assert_int_equal(pg_admin(sql), 0);
    cluster_conninfo(fresh.url, sizeof fresh.url, fresh.dbname);
    enum { NODES = 4 };
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NODES);
    struct opener o[NODES];
    pthread_t th[NODES];
    for (int i = 0; i < NODES; i++) {
        o[i] = (struct opener){.f = &fresh, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, open_node, &o[i]), 0);
    }
    for (int i = 0; i < NODES; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int opened = 0;
    for (int i = 0; i < NODES; i++) {
        opened += o[i].s != NULL;
        store_close(o[i].s);
    }
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", fresh.dbname);
    pg_admin(sql);
    assert_int_equal(opened, NODES);
}

static void merchants(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "beta", 2000);
    add_merchant(s, "alpha", 2000);
    add_merchant(s, "Zed", 1000);
    struct merchant_row m;
    memset(&m, 0, sizeof m);
    str_copy(m.merchant_id, sizeof m.merchant_id, "alpha");
    assert_int_equal(s->ops->merchant_create(s, &m), STORE_EXISTS);
    assert_int_equal(s->ops->merchant_get(s, "alpha", &m), STORE_OK);
    assert_string_equal(m.name, "Merchant alpha");
    assert_int_equal(s->ops->merchant_get(s, "nobody", &m), STORE_NOT_FOUND);
    struct merchant_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->ops->merchant_list(s, &rows, &n), STORE_OK);
    assert_int_equal(n, 3);
    /* By creation time, then id in byte order. */
    assert_string_equal(rows[0].merchant_id, "Zed");
    assert_string_equal(rows[1].merchant_id, "alpha");
    assert_string_equal(rows[2].merchant_id, "beta");
    free(rows);
}

static struct api_key_row key(const char *merchant, const char *id, int64_t at)
{
    struct api_key_row k;
    memset(&k, 0, sizeof k);
    str_copy(k.merchant_id, sizeof k.merchant_id, merchant);
    str_copy(k.key_id, sizeof k.key_id, id);
    str_copy(k.service, sizeof k.service, "gateway");
    str_copy(k.env, sizeof k.env, "sandbox");
    str_copy(k.label, sizeof k.label, "test");
    str_copy(k.secret_hash, sizeof k.secret_hash, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    k.created_at = at;
    return k;
}

static void api_keys(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    struct api_key_row k = key("ghost", "k000000000000001", 1);
    assert_int_equal(s->ops->api_key_insert(s, &k), STORE_NOT_FOUND);
    add_merchant(s, "m1", 1);
    add_merchant(s, "m2", 1);
    k = key("m1", "k000000000000002", 20);
    assert_int_equal(s->ops->api_key_insert(s, &k), STORE_OK);
    k = key("m1", "k000000000000001", 10);
    assert_int_equal(s->ops->api_key_insert(s, &k), STORE_OK);
    k = key("m2", "k000000000000001", 10); /* key ids are unique across merchants */
    assert_int_equal(s->ops->api_key_insert(s, &k), STORE_EXISTS);

    struct api_key_row got;
    assert_int_equal(s->ops->api_key_get(s, "k000000000000001", &got), STORE_OK);
    assert_string_equal(got.merchant_id, "m1");
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(s->ops->api_key_get(s, "k999999999999999", &got), STORE_NOT_FOUND);

    struct api_key_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->ops->api_key_list(s, "m1", &rows, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].key_id, "k000000000000001");
    free(rows);
    assert_int_equal(s->ops->api_key_list(s, "m2", &rows, &n), STORE_OK);
    assert_int_equal(n, 0);
    free(rows);

    assert_int_equal(s->ops->api_key_revoke(s, "m2", "k000000000000001", 50), STORE_NOT_FOUND);
    assert_int_equal(s->ops->api_key_revoke(s, "m1", "k000000000000001", 50), STORE_OK);
    assert_int_equal(s->ops->api_key_revoke(s, "m1", "k000000000000001", 60), STORE_NOT_FOUND);
    assert_int_equal(s->ops->api_key_get(s, "k000000000000001", &got), STORE_OK);
    assert_int_equal(got.revoked_at, 50);
}

static struct idem_in idem(const char *key, const char *hash, const char *body)
{
    struct idem_in i = {.key = key, .scope = "POST /api/payments", .request_hash = hash, .status = 201,
                        .body = body, .created_at = 1000};
    return i;
}

static void idempotency(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    add_merchant(s, "m2", 1);
    struct payment_row p = payment("m1", "IDEM", 1000, "EUR", "credit_card", "success", 100);
    struct idem_in in = idem("key-1", "hash-a", "{\"first\":true}");
    struct idem_out out = {0, NULL};
    assert_int_equal(s->ops->idem_get(s, "m1", &in, &out), STORE_OK);
    assert_int_equal(s->gateway->payment_insert(s, &p, &in, &out), STORE_OK);

    /* The same request again: the first answer, and no second payment. */
    struct payment_row p2 = payment("m1", "IDEMSECOND", 1000, "EUR", "credit_card", "success", 100);
    assert_int_equal(s->gateway->payment_insert(s, &p2, &in, &out), STORE_REPLAY);
    assert_int_equal(out.status, 201);
    assert_string_equal(out.body, "{\"first\":true}");
    free(out.body);
    out.body = NULL;
    assert_int_equal(s->ops->idem_get(s, "m1", &in, &out), STORE_REPLAY);
    assert_string_equal(out.body, "{\"first\":true}");
    free(out.body);
    out.body = NULL;
    struct payment_row got;
    assert_int_equal(s->gateway->payment_get(s, "m1", p2.payment_id, &got), STORE_NOT_FOUND);

    /* The same key with another request. */
    struct idem_in other = idem("key-1", "hash-b", "{}");
    assert_int_equal(s->gateway->payment_insert(s, &p2, &other, &out), STORE_IDEM_MISMATCH);
    assert_null(out.body);
    assert_int_equal(s->ops->idem_get(s, "m1", &other, &out), STORE_IDEM_MISMATCH);

    /* Keys belong to one merchant. */
    struct payment_row p3 = payment("m2", "IDEM", 1000, "EUR", "credit_card", "success", 100);
    assert_int_equal(s->gateway->payment_insert(s, &p3, &other, &out), STORE_OK);

    /* A creation that fails remembers nothing. */
    struct payment_row dup = payment("m1", "IDEM", 1000, "EUR", "credit_card", "success", 100);
    struct idem_in fresh = idem("key-2", "hash-c", "{}");
    assert_int_equal(s->gateway->payment_insert(s, &dup, &fresh, &out), STORE_EXISTS);
    assert_int_equal(s->ops->idem_get(s, "m1", &fresh, &out), STORE_OK);

    int64_t purged = -1;
    assert_int_equal(s->ops->idem_purge(s, 999, &purged), STORE_OK);
    assert_int_equal(purged, 0);
    assert_int_equal(s->ops->idem_purge(s, 1001, &purged), STORE_OK);
    assert_int_equal(purged, 2);
    assert_int_equal(s->ops->idem_get(s, "m1", &in, &out), STORE_OK);
}

static void payments_and_filters(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    add_merchant(s, "m2", 1);
    struct payment_row a = payment("m1", "PA", 1050, "EUR", "credit_card", "success", 1000);  /* 10.50 */
    struct payment_row b = payment("m1", "PB", 500, "JPY", "mbway", "success", 2000);         /* 500 */
    struct payment_row c = payment("m1", "PC", 2000, "EUR", "credit_card", "error", 3000);    /* 20.00 */
    struct payment_row d = payment("m1", "PD", 12345, "KWD", "credit_card", "success", 4000); /* 12.345 */
    struct payment_row e = payment("m2", "PE", 1050, "EUR", "credit_card", "success", 1000);
    insert_payment(s, &a);
    insert_payment(s, &b);
    insert_payment(s, &c);
    insert_payment(s, &d);
    insert_payment(s, &e);
    assert_int_equal(s->gateway->payment_insert(s, &a, NULL, NULL), STORE_EXISTS);
    struct payment_row ghost = payment("ghost", "PG", 100, "EUR", "mbway", "success", 1);
    assert_int_equal(s->gateway->payment_insert(s, &ghost, NULL, NULL), STORE_NOT_FOUND);

    struct payment_row got;
    assert_int_equal(s->gateway->payment_get(s, "m1", a.payment_id, &got), STORE_OK);
    assert_int_equal(got.amount, 1050);
    assert_string_equal(got.currency, "EUR");
    assert_string_equal(got.card_name, "Zoë Ångström");
    assert_string_equal(got.card_sealed, "v1:sealed-card-number");
    assert_int_equal(got.settled, 0);
    assert_int_equal(got.refunded, 0);
    assert_string_equal(got.decline_code, "");
    assert_int_equal(s->gateway->payment_get(s, "m1", c.payment_id, &got), STORE_OK);
    assert_string_equal(got.decline_code, "insufficient_funds");
    assert_string_equal(got.network_code, "51");
    assert_int_equal(s->gateway->payment_get(s, "m1", b.payment_id, &got), STORE_OK);
    assert_string_equal(got.phone, "+351912345678");
    assert_string_equal(got.card_masked, "");
    /* Merchants see only their own payments. */
    assert_int_equal(s->gateway->payment_get(s, "m2", a.payment_id, &got), STORE_NOT_FOUND);

    struct payment_filter f;
    memset(&f, 0, sizeof f);
    assert_int_equal(list_count(s, "m1", f), 4);
    assert_int_equal(list_count(s, "m2", f), 1);
    f.payment_id = a.payment_id;
    assert_int_equal(list_count(s, "m1", f), 1);
    memset(&f, 0, sizeof f);
    f.method = "mbway";
    assert_int_equal(list_count(s, "m1", f), 1);
    memset(&f, 0, sizeof f);
    f.status = "success";
    assert_int_equal(list_count(s, "m1", f), 3);
    memset(&f, 0, sizeof f);
    f.has_amount_gte = 1;
    f.amount_gte = (struct money_scaled){10, 5000}; /* 10.50 and up, across currencies */
    assert_int_equal(list_count(s, "m1", f), 4);
    f.amount_gte = (struct money_scaled){10, 5001};
    assert_int_equal(list_count(s, "m1", f), 3);
    memset(&f, 0, sizeof f);
    f.has_amount_lte = 1;
    f.amount_lte = (struct money_scaled){12, 3450};
    assert_int_equal(list_count(s, "m1", f), 2); /* 10.50 and 12.345 */
    memset(&f, 0, sizeof f);
    f.has_created_gte = f.has_created_lte = 1;
    f.created_gte = 2000;
    f.created_lte = 3000;
    assert_int_equal(list_count(s, "m1", f), 2);

    /* Newest first by (created_at, seq); the cursor is the page's last row. */
    memset(&f, 0, sizeof f);
    f.limit = 3;
    struct payment_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->gateway->payment_list(s, "m1", &f, &rows, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].payment_id, d.payment_id);
    assert_string_equal(rows[2].payment_id, b.payment_id);
    assert_true(rows[0].seq > rows[1].seq && rows[1].seq > rows[2].seq);
    f.has_cursor = 1;
    f.cursor_created_at = rows[2].created_at;
    f.cursor_seq = rows[2].seq;
    free(rows);
    assert_int_equal(s->gateway->payment_list(s, "m1", &f, &rows, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].payment_id, a.payment_id);
    f.cursor_created_at = rows[0].created_at;
    f.cursor_seq = rows[0].seq;
    free(rows);
    assert_int_equal(s->gateway->payment_list(s, "m1", &f, &rows, &n), STORE_OK);
    assert_int_equal(n, 0);
    free(rows);

    /* Settlement filters see only settled payments. */
    struct fee_schedule fees = {0, 0};
    assert_int_equal(s->gateway->payment_settle_one(s, "m1", a.payment_id, 5000, -1, &fees, &got), STORE_OK);
    memset(&f, 0, sizeof f);
    f.has_settled_gte = 1;
    f.settled_gte = 5000;
    assert_int_equal(list_count(s, "m1", f), 1);
    f.settled_gte = 5001;
    assert_int_equal(list_count(s, "m1", f), 0);
    memset(&f, 0, sizeof f);
    f.has_settled_lte = 1;
    f.settled_lte = 5000;
    assert_int_equal(list_count(s, "m1", f), 1);
}

static void refunds_keep_to_the_balance(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    add_merchant(s, "m2", 1);
    struct payment_row p = payment("m1", "RP", 1000, "EUR", "credit_card", "success", 100);
    struct payment_row bad = payment("m1", "RBAD", 1000, "EUR", "credit_card", "error", 100);
    insert_payment(s, &p);
    insert_payment(s, &bad);
    int64_t left = -1;
    struct refund_row r1 = refund("m1", p.payment_id, "R1", 600, 200);
    assert_int_equal(s->gateway->refund_insert(s, &r1, NULL, NULL, &left), STORE_OK);
    assert_int_equal(left, 400);
    struct refund_row r2 = refund("m1", p.payment_id, "R2", 401, 300);
    assert_int_equal(s->gateway->refund_insert(s, &r2, NULL, NULL, &left), STORE_LIMIT);
    assert_int_equal(left, 400);
    r2.amount = 400;
    assert_int_equal(s->gateway->refund_insert(s, &r2, NULL, NULL, &left), STORE_OK);
    assert_int_equal(left, 0);
    struct refund_row r3 = refund("m1", p.payment_id, "R3", 1, 400);
    assert_int_equal(s->gateway->refund_insert(s, &r3, NULL, NULL, &left), STORE_LIMIT);
    struct refund_row r4 = refund("m1", bad.payment_id, "R4", 1, 400);
    assert_int_equal(s->gateway->refund_insert(s, &r4, NULL, NULL, &left), STORE_STATE);
    struct refund_row r5 = refund("m2", p.payment_id, "R5", 1, 400); /* another merchant's payment */
    assert_int_equal(s->gateway->refund_insert(s, &r5, NULL, NULL, &left), STORE_NOT_FOUND);

    struct payment_row got;
    assert_int_equal(s->gateway->payment_get(s, "m1", p.payment_id, &got), STORE_OK);
    assert_int_equal(got.refunded, 1000);
    struct refund_row rg;
    assert_int_equal(s->gateway->refund_get(s, "m1", r1.refund_id, &rg), STORE_OK);
    assert_int_equal(rg.amount, 600);
    assert_string_equal(rg.currency, "EUR");
    assert_string_equal(rg.payment_id, p.payment_id);
    assert_int_equal(s->gateway->refund_get(s, "m2", r1.refund_id, &rg), STORE_NOT_FOUND);

    struct refund_filter f = {.limit = 10};
    struct refund_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->gateway->refund_list(s, "m1", &f, &rows, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].refund_id, r2.refund_id); /* newest first */
    f.before_seq = rows[0].seq;
    free(rows);
    assert_int_equal(s->gateway->refund_list(s, "m1", &f, &rows, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].refund_id, r1.refund_id);
    free(rows);
    f = (struct refund_filter){.refund_id = r2.refund_id, .payment_id = p.payment_id, .limit = 10};
    assert_int_equal(s->gateway->refund_list(s, "m1", &f, &rows, &n), STORE_OK);
    assert_int_equal(n, 1);
    free(rows);
    f = (struct refund_filter){.payment_id = bad.payment_id, .limit = 10};
    assert_int_equal(s->gateway->refund_list(s, "m1", &f, &rows, &n), STORE_OK);
    assert_int_equal(n, 0);
    free(rows);
}

enum { RACERS = 8, RACE_ROUNDS = 6 };

struct racer {
    store *s;
    const char *payment_id;
    int index, round;
    const char *idem_key; /* NULL: each racer its own refund */
    enum store_rc rc;
    struct idem_out out;
    pthread_barrier_t *start;
};

static void *race_refund(void *arg)
{
    struct racer *r = arg;
    char tag[32];
    snprintf(tag, sizeof tag, "RACE%dX%d", r->round, r->index);
    struct refund_row ref = refund("m1", r->payment_id, tag, 300, 1000);
    struct idem_in in = {.key = r->idem_key, .scope = "POST /api/refunds", .request_hash = "same", .status = 201,
                         .body = "{\"refund\":1}", .created_at = 1000};
    pthread_barrier_wait(r->start);
    int64_t left;
    r->rc = r->s->gateway->refund_insert(r->s, &ref, r->idem_key ? &in : NULL, &r->out, &left);
    return NULL;
}

static void race(store *s, const char *payment_id, int round, const char *idem_key, struct racer *racers)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, RACERS);
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){.s = s, .payment_id = payment_id, .index = i, .round = round,
                                   .idem_key = idem_key, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, race_refund, &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
}

static void racing_refunds_never_exceed_the_payment(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char tag[16];
        snprintf(tag, sizeof tag, "RACEP%d", round);
        struct payment_row p = payment("m1", tag, 1000, "EUR", "credit_card", "success", 100);
        insert_payment(s, &p);
        /* Eight refunds of 3.00 on 10.00: exactly three fit. */
        struct racer racers[RACERS];
        race(s, p.payment_id, round, NULL, racers);
        int ok = 0, limit = 0;
        for (int i = 0; i < RACERS; i++) {
            ok += racers[i].rc == STORE_OK;
            limit += racers[i].rc == STORE_LIMIT;
        }
        assert_int_equal(ok, 3);
        assert_int_equal(limit, RACERS - 3);
        struct payment_row got;
        assert_int_equal(s->gateway->payment_get(s, "m1", p.payment_id, &got), STORE_OK);
        assert_int_equal(got.refunded, 900);
    }
}

static void racing_requests_with_one_key_make_one_refund(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    struct payment_row p = payment("m1", "KEYRACE", 100000, "EUR", "credit_card", "success", 100);
    insert_payment(s, &p);
    struct racer racers[RACERS];
    race(s, p.payment_id, 0, "the-one-key", racers);
    int ok = 0, replay = 0;
    for (int i = 0; i < RACERS; i++) {
        ok += racers[i].rc == STORE_OK;
        if (racers[i].rc == STORE_REPLAY) {
            replay++;
            assert_string_equal(racers[i].out.body, "{\"refund\":1}");
        }
        free(racers[i].out.body);
    }
    assert_int_equal(ok, 1);
    assert_int_equal(replay, RACERS - 1);
    struct payment_row got;
    assert_int_equal(s->gateway->payment_get(s, "m1", p.payment_id, &got), STORE_OK);
    assert_int_equal(got.refunded, 300);
}

static void settlement(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    add_merchant(s, "m2", 1);
    struct payment_row a = payment("m1", "SA", 10000, "EUR", "credit_card", "success", 1000);
    struct payment_row b = payment("m2", "SB", 2000, "EUR", "mbway", "success", 2000);
    struct payment_row c = payment("m1", "SC", 3000, "EUR", "credit_card", "error", 1000);
    struct payment_row late = payment("m1", "SL", 4000, "EUR", "credit_card", "success", 9000);
    insert_payment(s, &a);
    insert_payment(s, &b);
    insert_payment(s, &c);
    insert_payment(s, &late);
    struct refund_row r = refund("m1", a.payment_id, "SR", 1000, 1500);
    assert_int_equal(s->gateway->refund_insert(s, &r, NULL, NULL, NULL), STORE_OK);

    struct fee_schedule fees = {25, 150}; /* 0.25 + 1.5% */
    int64_t settled = -1;
    assert_int_equal(s->gateway->settle_batch(s, 5000, &fees, &settled), STORE_OK);
    assert_int_equal(settled, 2); /* a and b: not the declined one, not the later one */
    struct payment_row got;
    assert_int_equal(s->gateway->payment_get(s, "m1", a.payment_id, &got), STORE_OK);
    assert_string_equal(got.status, "settled");
    assert_int_equal(got.settled, 1);
    assert_int_equal(got.settled_at, 5000);
    assert_int_equal(got.settled_amount, 10000 - 1000 - (25 + 150));
    assert_int_equal(s->gateway->payment_get(s, "m2", b.payment_id, &got), STORE_OK);
    assert_int_equal(got.settled_amount, 2000 - (25 + 30));
    assert_int_equal(s->gateway->payment_get(s, "m1", c.payment_id, &got), STORE_OK);
    assert_string_equal(got.status, "error");

    assert_int_equal(s->gateway->settle_batch(s, 6000, &fees, &settled), STORE_OK);
    assert_int_equal(settled, 0); /* never twice */
    /* A settled payment can still be refunded, but not settled again. */
    struct refund_row r2 = refund("m1", a.payment_id, "SR2", 100, 6000);
    assert_int_equal(s->gateway->refund_insert(s, &r2, NULL, NULL, NULL), STORE_OK);
    assert_int_equal(s->gateway->payment_settle_one(s, "m1", a.payment_id, 7000, 1, &fees, &got), STORE_STATE);
    assert_string_equal(got.status, "settled");
    assert_int_equal(s->gateway->payment_settle_one(s, "m1", late.payment_id, 9500, 3999, &fees, &got), STORE_OK);
    assert_int_equal(got.settled_amount, 3999);
    assert_int_equal(s->gateway->payment_settle_one(s, "m2", late.payment_id, 9500, 1, &fees, &got),
                     STORE_NOT_FOUND);
    assert_int_equal(s->gateway->payment_settle_one(s, "m1", c.payment_id, 9500, 1, &fees, &got), STORE_STATE);
}

struct node {
    store *s;
    pthread_barrier_t *start;
    enum store_rc rc;
    int64_t settled;
};

static void *settle_node(void *arg)
{
    struct node *n = arg;
    pthread_barrier_wait(n->start);
    n->rc = n->s->gateway->settle_batch(n->s, 100, NULL, &n->settled);
    return NULL;
}

static void two_nodes_settle_each_payment_once(void **state)
{
    struct fixture *f = *state;
    store *s = f->s;
    add_merchant(s, "m1", 1);
    enum { N = 2500 }; /* more than one settlement chunk */
    for (int i = 0; i < N; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "BULK%d", i);
        struct payment_row p = payment("m1", tag, 100 + i, "EUR", "mbway", "success", 10);
        insert_payment(s, &p);
    }
    /* Two stores on one database, as two recoupd nodes: their batches run
     * at once and between them settle every payment exactly once. */
    store *other = open_store(f);
    assert_non_null(other);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct node nodes[2] = {{.s = s, .start = &start}, {.s = other, .start = &start}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, settle_node, &nodes[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    store_close(other);
    assert_int_equal(nodes[0].rc, STORE_OK);
    assert_int_equal(nodes[1].rc, STORE_OK);
    assert_int_equal(nodes[0].settled + nodes[1].settled, N);
    struct payment_filter pf = {.status = "success", .limit = 10};
    assert_int_equal(list_count(s, "m1", pf), 0);
    int64_t settled = -1;
    assert_int_equal(s->gateway->settle_batch(s, 200, NULL, &settled), STORE_OK);
    assert_int_equal(settled, 0);
}

static void delete_rules(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    struct payment_row plain = payment("m1", "DPLAIN", 1000, "EUR", "credit_card", "success", 100);
    struct payment_row declined = payment("m1", "DDECL", 1000, "EUR", "credit_card", "error", 100);
    struct payment_row refunded = payment("m1", "DREF", 1000, "EUR", "credit_card", "success", 100);
    struct payment_row settled = payment("m1", "DSET", 1000, "EUR", "credit_card", "success", 100);
    insert_payment(s, &plain);
    insert_payment(s, &declined);
    insert_payment(s, &refunded);
    insert_payment(s, &settled);
    struct refund_row r = refund("m1", refunded.payment_id, "DR", 10, 200);
    assert_int_equal(s->gateway->refund_insert(s, &r, NULL, NULL, NULL), STORE_OK);
    struct payment_row got;
    assert_int_equal(s->gateway->payment_settle_one(s, "m1", settled.payment_id, 300, -1, NULL, &got), STORE_OK);

    assert_int_equal(s->gateway->payment_delete(s, "m2", plain.payment_id, &got), STORE_NOT_FOUND);
    assert_int_equal(s->gateway->payment_delete(s, "m1", plain.payment_id, &got), STORE_OK);
    assert_string_equal(got.payment_id, plain.payment_id); /* as it was */
    assert_int_equal(s->gateway->payment_get(s, "m1", plain.payment_id, &got), STORE_NOT_FOUND);
    assert_int_equal(s->gateway->payment_delete(s, "m1", plain.payment_id, &got), STORE_NOT_FOUND);
    assert_int_equal(s->gateway->payment_delete(s, "m1", declined.payment_id, &got), STORE_OK);
    assert_int_equal(s->gateway->payment_delete(s, "m1", refunded.payment_id, &got), STORE_STATE);
    assert_int_equal(s->gateway->payment_delete(s, "m1", settled.payment_id, &got), STORE_STATE);
    assert_int_equal(s->gateway->payment_get(s, "m1", refunded.payment_id, &got), STORE_OK);
}

static void payment_methods(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    add_merchant(s, "m2", 1);
    struct payment_method_row pm;
    memset(&pm, 0, sizeof pm);
    str_copy(pm.merchant_id, sizeof pm.merchant_id, "m1");
    str_copy(pm.payment_method_id, sizeof pm.payment_method_id, "pm_abcdefghijklmnopqrstuvwxyz012345");
    str_copy(pm.type, sizeof pm.type, "card");
    str_copy(pm.brand, sizeof pm.brand, "visa");
    str_copy(pm.bin, sizeof pm.bin, "424242");
    str_copy(pm.last4, sizeof pm.last4, "4242");
    str_copy(pm.masked, sizeof pm.masked, "424242******4242");
    str_copy(pm.name, sizeof pm.name, "Zoë");
    str_copy(pm.exp_month, sizeof pm.exp_month, "01");
    str_copy(pm.exp_year, sizeof pm.exp_year, "2030");
    str_copy(pm.sealed, sizeof pm.sealed, "v1:sealed");
    pm.created_at = 77;
    struct idem_in in = idem("pm-key", "h1", "{\"pm\":1}");
    in.scope = "POST /api/payment_methods";
    struct idem_out out = {0, NULL};
    assert_int_equal(s->gateway->payment_method_insert(s, &pm, &in, &out), STORE_OK);
    assert_int_equal(s->gateway->payment_method_insert(s, &pm, &in, &out), STORE_REPLAY);
    free(out.body);
    assert_int_equal(s->gateway->payment_method_insert(s, &pm, NULL, NULL), STORE_EXISTS);
    struct payment_method_row got;
    assert_int_equal(s->gateway->payment_method_get(s, "m1", pm.payment_method_id, &got), STORE_OK);
    assert_string_equal(got.name, "Zoë");
    assert_int_equal(got.created_at, 77);
    assert_int_equal(s->gateway->payment_method_get(s, "m2", pm.payment_method_id, &got), STORE_NOT_FOUND);
    assert_int_equal(s->gateway->payment_method_delete(s, "m2", pm.payment_method_id), STORE_NOT_FOUND);
    assert_int_equal(s->gateway->payment_method_delete(s, "m1", pm.payment_method_id), STORE_OK);
    assert_int_equal(s->gateway->payment_method_delete(s, "m1", pm.payment_method_id), STORE_NOT_FOUND);
}

/* ---- Recover ---- */

static enum store_rc rc_append(store *s, const char *merchant, const char *env, const char *kind, const char *fp,
                               const char *request_id, const char *payload, int64_t at, int *dup, char rid[72])
{
    struct rc_inbox_row ev;
    memset(&ev, 0, sizeof ev);
    str_copy(ev.merchant_id, sizeof ev.merchant_id, merchant);
    str_copy(ev.env, sizeof ev.env, env);
    str_copy(ev.kind, sizeof ev.kind, kind);
    str_copy(ev.fingerprint, sizeof ev.fingerprint, fp);
    str_copy(ev.request_id, sizeof ev.request_id, request_id);
    ev.payload = (char *)payload;
    ev.received_at = at;
    return s->recover->inbox_append(s, &ev, dup, rid);
}

static void rc_rows_free(struct rc_inbox_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].payload);
    free(rows);
}

static int64_t rc_backlog(store *s)
{
    int64_t n = -1;
    assert_int_equal(s->recover->inbox_backlog(s, &n), STORE_OK);
    return n;
}

static void recover_settings(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m1", 1);
    struct rc_settings in, out;
    assert_int_equal(s->recover->settings_get(s, "m1", &out), STORE_NOT_FOUND);
    memset(&in, 0, sizeof in);
    str_copy(in.merchant_id, sizeof in.merchant_id, "ghost");
    in.dunning_days = 30;
    in.max_retries = 8;
    str_copy(in.timezone, sizeof in.timezone, "UTC");
    str_copy(in.integration, sizeof in.integration, "psp");
    str_copy(in.merchant_auth, sizeof in.merchant_auth, "none");
    in.updated_at = 10;
    assert_int_equal(s->recover->settings_put(s, &in), STORE_NOT_FOUND); /* no such merchant */
    str_copy(in.merchant_id, sizeof in.merchant_id, "m1");
    str_copy(in.retry_status_url, sizeof in.retry_status_url, "https://billing.example.com/recoup");
    str_copy(in.merchant_auth, sizeof in.merchant_auth, "basic");
    str_copy(in.merchant_auth_username, sizeof in.merchant_auth_username, "Zoë");
    str_copy(in.merchant_auth_secret, sizeof in.merchant_auth_secret, "v1:sealed-secret");
    str_copy(in.webhook_secret, sizeof in.webhook_secret, "v1:sealed-webhook");
    in.end_of_dunning_enabled = 1;
    assert_int_equal(s->recover->settings_put(s, &in), STORE_OK);
    assert_int_equal(s->recover->settings_get(s, "m1", &out), STORE_OK);
    assert_string_equal(out.merchant_id, "m1");
    assert_int_equal(out.dunning_days, 30);
    assert_string_equal(out.retry_status_url, "https://billing.example.com/recoup");
    assert_string_equal(out.retry_results_url, "");
    assert_string_equal(out.merchant_auth_username, "Zoë");
    assert_string_equal(out.webhook_secret, "v1:sealed-webhook");
    assert_int_equal(out.end_of_dunning_enabled, 1);
    /* A second put replaces every field; an empty value reads back empty. */
    in.dunning_days = 21;
    in.retry_status_url[0] = '\0';
    str_copy(in.timezone, sizeof in.timezone, "Europe/Lisbon");
    in.updated_at = 20;
    assert_int_equal(s->recover->settings_put(s, &in), STORE_OK);
    assert_int_equal(s->recover->settings_get(s, "m1", &out), STORE_OK);
    assert_int_equal(out.dunning_days, 21);
    assert_string_equal(out.retry_status_url, "");
    assert_string_equal(out.timezone, "Europe/Lisbon");
    assert_int_equal(out.updated_at, 20);
}

enum { APPENDERS = 8 };

struct appender {
    store *s;
    int index;
    pthread_barrier_t *start;
    enum store_rc rc;
    int dup;
    char rid[72];
};

static void *append_same_event(void *arg)
{
    struct appender *a = arg;
    char request_id[72];
    snprintf(request_id, sizeof request_id, "req-race-%d", a->index);
    pthread_barrier_wait(a->start);
    a->rc = rc_append(a->s, "m1", "sandbox", "payment", "fp-race", request_id, "{\"race\":true}", 500, &a->dup,
                      a->rid);
    return NULL;
}

static void recover_inbox_duplicates(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    int dup = -1;
    char rid[72];
    assert_int_equal(rc_append(s, "m1", "sandbox", "payment", "fp-1", "req-1", "{}", 100, &dup, rid), STORE_OK);
    assert_int_equal(dup, 0);
    assert_string_equal(rid, "req-1");
    /* The same event again: nothing stored, the first request id. */
    assert_int_equal(rc_append(s, "m1", "sandbox", "payment", "fp-1", "req-2", "{}", 200, &dup, rid), STORE_OK);
    assert_int_equal(dup, 1);
    assert_string_equal(rid, "req-1");
    /* Another kind, environment or merchant is another event. */
    assert_int_equal(rc_append(s, "m1", "sandbox", "payment_method_update", "fp-1", "req-3", "{}", 300, &dup, rid),
                     STORE_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(rc_append(s, "m1", "production", "payment", "fp-1", "req-4", "{}", 300, &dup, rid), STORE_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(rc_append(s, "m2", "sandbox", "payment", "fp-1", "req-5", "{}", 300, &dup, rid), STORE_OK);
    assert_int_equal(dup, 0);
    assert_string_equal(rid, "req-5");
    assert_int_equal(rc_backlog(s), 4);

    /* One event sent by several clients at once is stored once, and every
     * answer names the request id of the one stored. */
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, APPENDERS);
    struct appender a[APPENDERS];
    pthread_t th[APPENDERS];
    for (int i = 0; i < APPENDERS; i++) {
        a[i] = (struct appender){.s = s, .index = i, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, append_same_event, &a[i]), 0);
    }
    for (int i = 0; i < APPENDERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int stored = 0;
    const char *first = NULL;
    for (int i = 0; i < APPENDERS; i++) {
        assert_int_equal(a[i].rc, STORE_OK);
        if (!a[i].dup) {
            stored++;
            first = a[i].rid;
        }
    }
    assert_int_equal(stored, 1);
    for (int i = 0; i < APPENDERS; i++)
        assert_string_equal(a[i].rid, first);
    assert_int_equal(rc_backlog(s), 5);
}

static void recover_inbox_pending_order(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    /* Payloads come back byte for byte, whitespace and key order included. */
    static const char *const payloads[] = {
        "{\"b\": 1,  \"a\": [1, 2]}", "{\"name\":\"Zoë Ångström\"}", "{}", "{\"x\":\"\\u00e9\\n\"}",
        "{ \"z\" : null }",           "[1,2,3]",
    };
    static const char *const merchants[] = {"m2", "m1", "m2", "m1", "m1", "m2"};
    static const char *const envs[] = {"sandbox", "production", "sandbox", "sandbox", "production", "production"};
    enum { N = 6 };
    for (int i = 0; i < N; i++) {
        char fp[16], rid[72];
        snprintf(fp, sizeof fp, "fp-%d", i);
        snprintf(rid, sizeof rid, "req-%d", i);
        int dup;
        char out[72];
        assert_int_equal(rc_append(s, merchants[i], envs[i], i % 2 ? "payment_method_update" : "payment", fp, rid,
                                   payloads[i], 1000 + i, &dup, out),
                         STORE_OK);
    }
    struct rc_inbox_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->inbox_pending(s, 100, &rows, &n), STORE_OK);
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++) {
        char fp[16];
        snprintf(fp, sizeof fp, "fp-%d", i);
        assert_string_equal(rows[i].fingerprint, fp); /* oldest first, across merchants */
        assert_string_equal(rows[i].merchant_id, merchants[i]);
        assert_string_equal(rows[i].env, envs[i]);
        assert_string_equal(rows[i].kind, i % 2 ? "payment_method_update" : "payment");
        assert_string_equal(rows[i].payload, payloads[i]);
        assert_int_equal(rows[i].received_at, 1000 + i);
        if (i > 0)
            assert_true(rows[i].seq > rows[i - 1].seq);
    }
    rc_rows_free(rows, n);
    assert_int_equal(s->recover->inbox_pending(s, 2, &rows, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[1].fingerprint, "fp-1");

    /* Events that cannot be applied leave the queue as rejected items of
     * a batch; applying the same items again changes nothing. */
    struct rc_apply_item items[2];
    for (int round = 0; round < 2; round++) {
        memset(items, 0, sizeof items);
        for (int i = 0; i < 2; i++) {
            items[i].rejected = &rows[i];
            items[i].reject_reason = "does not parse";
        }
        assert_int_equal(s->recover->apply_events(s, items, 2), STORE_OK);
        assert_int_equal(items[0].rc, STORE_OK);
        assert_int_equal(items[1].rc, STORE_OK);
        assert_int_equal(rc_backlog(s), N - 2);
    }
    rc_rows_free(rows, n);
    assert_int_equal(s->recover->inbox_pending(s, 100, &rows, &n), STORE_OK);
    assert_int_equal(n, N - 2);
    assert_string_equal(rows[0].fingerprint, "fp-2");
    rc_rows_free(rows, n);
}

/* Many clients appending at once, as the acknowledgement path does under
 * load (on PostgreSQL through the appender, which writes whatever is
 * waiting in one transaction). Each round every client sends one event at
 * the same moment: a new one, one that four clients send together
 * (duplicates inside one batch, or in two batches in flight at once), or
 * a repeat of one of its own stored events (a duplicate across batches).
 * Meanwhile a worker's pending reads check rule 1: a list never lacks an
 * earlier event, and holds every event acknowledged before it was read. */
enum { BATCH_CLIENTS = 16, BATCH_ROUNDS = 24, BATCH_SNAPSHOTS = 400 };
/* Quotes and backslashes, which travel escaped inside the batch. */
#define BATCH_PAYLOAD "{\"batch\":\"a \\\"quoted\\\" \\\\ value\"}"

struct batch_client {
    store *s;
    int index;
    pthread_barrier_t *round;
    atomic_int *acked; /* rounds this client has had answered */
    enum store_rc rc[BATCH_ROUNDS];
    int dup[BATCH_ROUNDS];
    char fp[BATCH_ROUNDS][32];
    char rid[BATCH_ROUNDS][72];
};

static void batch_fingerprint(int client, int round, char out[32])
{
    if (round % 3 == 1)
        snprintf(out, 32, "shared-%d-%d", round, client % 4);
    else if (round % 3 == 2)
        snprintf(out, 32, "own-%d-%d", client, round - 2);
    else
        snprintf(out, 32, "own-%d-%d", client, round);
}

static void *batch_client_main(void *arg)
{
    struct batch_client *c = arg;
    for (int r = 0; r < BATCH_ROUNDS; r++) {
        char request_id[72];
        snprintf(request_id, sizeof request_id, "req-%d-%d", c->index, r);
        batch_fingerprint(c->index, r, c->fp[r]);
        pthread_barrier_wait(c->round);
        c->rc[r] = rc_append(c->s, "m1", "sandbox", "payment", c->fp[r], request_id, BATCH_PAYLOAD, 1000 + r,
                             &c->dup[r], c->rid[r]);
        atomic_store(&c->acked[c->index], r + 1);
    }
    return NULL;
}

struct batch_snapshot {
    int acked[BATCH_CLIENTS]; /* read before the pending list */
    int64_t *seqs;
    size_t n;
};

struct batch_watcher {
    store *s;
    atomic_int *acked;
    atomic_int stop;
    struct batch_snapshot snaps[BATCH_SNAPSHOTS];
    int nsnaps;
    int failures;
};

static void *batch_watcher_main(void *arg)
{
    struct batch_watcher *w = arg;
    while (!atomic_load(&w->stop) && w->nsnaps < BATCH_SNAPSHOTS) {
        struct batch_snapshot *snap = &w->snaps[w->nsnaps];
        for (int i = 0; i < BATCH_CLIENTS; i++)
            snap->acked[i] = atomic_load(&w->acked[i]);
        struct rc_inbox_row *rows = NULL;
        size_t n = 0;
        if (w->s->recover->inbox_pending(w->s, 100000, &rows, &n) != STORE_OK) {
            w->failures++;
            continue;
        }
        snap->seqs = calloc(n ? n : 1, sizeof *snap->seqs);
        for (size_t i = 0; snap->seqs && i < n; i++)
            snap->seqs[i] = rows[i].seq;
        snap->n = n;
        rc_rows_free(rows, n);
        w->nsnaps++;
        usleep(2000);
    }
    return NULL;
}

static int64_t seq_of(const struct rc_inbox_row *rows, size_t n, const char *fp)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].fingerprint, fp) == 0)
            return rows[i].seq;
    return -1;
}

static void recover_inbox_concurrent_appends(void **state)
{
    struct fixture *f = *state;
    store *s = f->s;
    pthread_barrier_t round;
    pthread_barrier_init(&round, NULL, BATCH_CLIENTS);
    atomic_int acked[BATCH_CLIENTS];
    struct batch_client *clients = calloc(BATCH_CLIENTS, sizeof *clients);
    struct batch_watcher *watcher = calloc(1, sizeof *watcher);
    assert_non_null(clients);
    assert_non_null(watcher);
    for (int i = 0; i < BATCH_CLIENTS; i++)
        atomic_init(&acked[i], 0);
    watcher->s = s;
    watcher->acked = acked;
    atomic_init(&watcher->stop, 0);
    pthread_t wth, th[BATCH_CLIENTS];
    assert_int_equal(pthread_create(&wth, NULL, batch_watcher_main, watcher), 0);
    for (int i = 0; i < BATCH_CLIENTS; i++) {
        clients[i] = (struct batch_client){.s = s, .index = i, .round = &round, .acked = acked};
        assert_int_equal(pthread_create(&th[i], NULL, batch_client_main, &clients[i]), 0);
    }
    for (int i = 0; i < BATCH_CLIENTS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&watcher->stop, 1);
    pthread_join(wth, NULL);
    pthread_barrier_destroy(&round);

    struct rc_inbox_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->inbox_pending(s, 100000, &rows, &n), STORE_OK);
    /* Every three rounds: a new event per client, and four shared by
     * four clients each. */
    size_t expected = (size_t)BATCH_CLIENTS * (BATCH_ROUNDS / 3) + (size_t)(BATCH_ROUNDS / 3) * 4;
    assert_int_equal(n, expected);
    assert_int_equal(rc_backlog(s), (int64_t)expected);

    /* Every answer is OK; each event was stored once, by exactly one of
     * the requests that sent it, and every answer names that request. */
    for (size_t i = 0; i < n; i++) {
        int stored_by = 0, answers = 0;
        for (int c = 0; c < BATCH_CLIENTS; c++) {
            for (int r = 0; r < BATCH_ROUNDS; r++) {
                if (strcmp(clients[c].fp[r], rows[i].fingerprint) != 0)
                    continue;
                assert_int_equal(clients[c].rc[r], STORE_OK);
                assert_string_equal(clients[c].rid[r], rows[i].request_id);
                answers++;
                if (!clients[c].dup[r]) {
                    stored_by++;
                    char own[72];
                    snprintf(own, sizeof own, "req-%d-%d", c, r);
                    assert_string_equal(rows[i].request_id, own);
                }
            }
        }
        assert_int_equal(stored_by, 1);
        assert_true(answers >= 1);
        assert_string_equal(rows[i].payload, BATCH_PAYLOAD);
    }
    for (int c = 0; c < BATCH_CLIENTS; c++) {
        int64_t last = 0;
        for (int r = 0; r < BATCH_ROUNDS; r++) {
            if (r % 3 == 2) {
                /* A repeat is a duplicate naming the first request. */
                char first[72];
                snprintf(first, sizeof first, "req-%d-%d", c, r - 2);
                assert_int_equal(clients[c].dup[r], 1);
                assert_string_equal(clients[c].rid[r], first);
            }
            /* An event acknowledged before the next was sent comes
             * first in the inbox. */
            int64_t seq = seq_of(rows, n, clients[c].fp[r]);
            assert_true(seq > 0);
            if (r % 3 != 2) {
                assert_true(seq > last);
                last = seq;
            }
        }
    }

    /* Rule 1, seen by the worker: each list is a prefix of the final
     * inbox (no later event without every earlier one), and holds every
     * event acknowledged before the read began. */
    assert_int_equal(watcher->failures, 0);
    assert_true(watcher->nsnaps > 0);
    for (int k = 0; k < watcher->nsnaps; k++) {
        struct batch_snapshot *snap = &watcher->snaps[k];
        assert_non_null(snap->seqs);
        assert_true(snap->n <= n);
        for (size_t i = 0; i < snap->n; i++)
            assert_int_equal(snap->seqs[i], rows[i].seq);
        for (int c = 0; c < BATCH_CLIENTS; c++) {
            for (int r = 0; r < snap->acked[c]; r++) {
                int64_t seq = seq_of(rows, n, clients[c].fp[r]);
                assert_true(snap->n > 0 && seq <= snap->seqs[snap->n - 1]);
            }
        }
        free(snap->seqs);
    }

    if (f->postgres) {
        /* The events were written in shared transactions: fewer writing
         * transactions than rows. */
        PGconn *c = PQconnectdb(f->url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *r = PQexec(c, "SELECT COUNT(*), COUNT(DISTINCT xmin::text) FROM rc_inbox");
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        long rows_n = strtol(PQgetvalue(r, 0, 0), NULL, 10), txs = strtol(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
        PQfinish(c);
        assert_int_equal(rows_n, (long)expected);
        assert_true(txs < rows_n);
    }
    rc_rows_free(rows, n);
    free(clients);
    free(watcher);
}

/* An event the database refuses (bytes that are not UTF-8, which
 * PostgreSQL rejects and SQLite stores) fails alone: the events written
 * beside it are stored and acknowledged. */
struct bad_neighbour {
    store *s;
    int index, round;
    pthread_barrier_t *start;
    enum store_rc rc;
    int dup;
    char rid[72];
};

static void *append_beside_bad(void *arg)
{
    struct bad_neighbour *a = arg;
    char fp[32], request_id[72];
    snprintf(fp, sizeof fp, "fp-%d-%d", a->round, a->index);
    snprintf(request_id, sizeof request_id, "req-%d-%d", a->round, a->index);
    pthread_barrier_wait(a->start);
    a->rc = rc_append(a->s, "m1", "sandbox", "payment", fp, request_id, a->index == 0 ? "{\"bad\":\"\xff\"}" : "{}",
                      10, &a->dup, a->rid);
    return NULL;
}

static void recover_inbox_bad_event_fails_alone(void **state)
{
    struct fixture *f = *state;
    enum { CLIENTS = 8, ROUNDS = 5 };
    int64_t stored = 0;
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, CLIENTS);
        struct bad_neighbour a[CLIENTS];
        pthread_t th[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            a[i] = (struct bad_neighbour){.s = f->s, .index = i, .round = round, .start = &start};
            assert_int_equal(pthread_create(&th[i], NULL, append_beside_bad, &a[i]), 0);
        }
        for (int i = 0; i < CLIENTS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        assert_int_equal(a[0].rc, f->postgres ? STORE_ERROR : STORE_OK);
        stored += f->postgres ? 0 : 1;
        for (int i = 1; i < CLIENTS; i++) {
            char want[72];
            snprintf(want, sizeof want, "req-%d-%d", round, i);
            assert_int_equal(a[i].rc, STORE_OK);
            assert_int_equal(a[i].dup, 0);
            assert_string_equal(a[i].rid, want);
            stored++;
        }
        assert_int_equal(rc_backlog(f->s), stored);
    }
}

/* One event of a Recover scenario: a payment event with one transaction,
 * or a payment-method update (txn then names the new method). */
struct rc_case {
    int pm;
    char customer[32], invoice[32], txn[32], outcome[24], reason[24];
    int success;
    int64_t amount;
    const char *custom, *raw;
};

/* The decisions the store calls, simplified so that every payment event
 * leaves a history entry naming its transaction, and whether the store
 * found it new: the history then shows which events were applied, how
 * often and in which order. */
static void trace_decide(struct rc_invoice *inv, const struct rc_txn *txns, size_t ntxns, int64_t now,
                         struct rc_transition *out)
{
    (void)now;
    memset(out, 0, sizeof *out);
    if (ntxns == 0)
        return;
    const struct rc_txn *t = &txns[0];
    const char *to = "pending";
    if (!t->is_new) {
        to = inv->exists ? inv->state : "pending";
    } else if (t->success) {
        to = "paid";
        inv->has_closed = 1;
        inv->closed_at = t->psp_created_at;
    } else {
        inv->failed_attempts++;
        inv->amount_due = t->amount;
        if (!inv->has_dunning_started) {
            inv->has_dunning_started = 1;
            inv->dunning_started_at = t->psp_created_at;
        }
        if (strcmp(t->raw_response_message, "expired_card") == 0)
            to = "awaiting_payment_method";
    }
    str_copy(inv->currency, sizeof inv->currency, t->currency);
    out->changed = 1;
    str_copy(out->to_state, sizeof out->to_state, to);
    snprintf(out->reason, sizeof out->reason, "%.64s %s", t->transaction_id, t->is_new ? "new" : "known");
}

static void trace_pm_decide(struct rc_invoice *inv, const char *reason, int64_t now, struct rc_transition *out)
{
    (void)now;
    memset(out, 0, sizeof *out);
    if (strcmp(inv->state, "awaiting_payment_method") != 0)
        return;
    out->changed = 1;
    str_copy(out->to_state, sizeof out->to_state, "pending");
    snprintf(out->reason, sizeof out->reason, "pm %.64s", reason);
}

struct rc_built {
    struct rc_payment_event pay;
    struct rc_pm_update up;
    struct rc_txn txn;
};

static void rc_build(struct rc_built *b, struct rc_apply_item *item, const char *merchant, const char *env,
                     const struct rc_case *c, int64_t seq, int64_t at)
{
    memset(b, 0, sizeof *b);
    memset(item, 0, sizeof *item);
    if (c->pm) {
        struct rc_pm_update *up = &b->up;
        up->merchant_id = merchant;
        up->env = env;
        up->inbox_seq = seq;
        up->received_at = at;
        str_copy(up->customer_id, sizeof up->customer_id, c->customer);
        str_copy(up->payment_method_id, sizeof up->payment_method_id, c->txn);
        str_copy(up->reason, sizeof up->reason, c->reason);
        up->decide = trace_pm_decide;
        item->pm_update = up;
        return;
    }
    struct rc_payment_event *ev = &b->pay;
    ev->merchant_id = merchant;
    ev->env = env;
    ev->inbox_seq = seq;
    ev->received_at = at;
    str_copy(ev->customer.customer_id, sizeof ev->customer.customer_id, c->customer);
    str_copy(ev->customer.psp_id, sizeof ev->customer.psp_id, "cus_psp");
    snprintf(ev->subscription.subscription_id, sizeof ev->subscription.subscription_id, "sub_%s", c->customer);
    ev->subscription.start_date = 1;
    ev->subscription.discounted = -1;
    str_copy(ev->invoice_id, sizeof ev->invoice_id, c->invoice);
    ev->invoice_created_at = at;
    ev->custom = (char *)c->custom;
    struct rc_txn *t = &b->txn;
    str_copy(t->transaction_id, sizeof t->transaction_id, c->txn);
    snprintf(t->psp_transaction_id, sizeof t->psp_transaction_id, "ch_%s", c->txn);
    str_copy(t->psp, sizeof t->psp, "stripe");
    str_copy(t->acquirer_country, sizeof t->acquirer_country, "US");
    t->amount = c->amount;
    str_copy(t->currency, sizeof t->currency, "EUR");
    str_copy(t->funding_source, sizeof t->funding_source, "credit");
    snprintf(t->payment_method_id, sizeof t->payment_method_id, "pm_%s", c->customer);
    t->psp_created_at = at;
    str_copy(t->scheme, sizeof t->scheme, "visa");
    t->success = c->success;
    str_copy(t->raw_response_message, sizeof t->raw_response_message, c->outcome[0] ? c->outcome : "approved");
    str_copy(t->origin, sizeof t->origin, "merchant");
    t->raw = (char *)c->raw;
    ev->txns = t;
    ev->ntxns = 1;
    ev->decide = trace_decide;
    item->payment = ev;
}

/* Appends cases[i] as event "ev<i>", received at base_at + i. */
static void rc_append_cases(store *s, const char *merchant, const char *env, const struct rc_case *cases, size_t n,
                            int64_t base_at)
{
    for (size_t i = 0; i < n; i++) {
        char fp[24], rid[72], out[72];
        snprintf(fp, sizeof fp, "ev%zu", i);
        snprintf(rid, sizeof rid, "req-%s-%zu", env, i);
        int dup = -1;
        assert_int_equal(rc_append(s, merchant, env, cases[i].pm ? "payment_method_update" : "payment", fp, rid,
                                   "{}", base_at + (int64_t)i, &dup, out),
                         STORE_OK);
        assert_int_equal(dup, 0);
    }
}

/* An inbox worker in miniature: pending events in batches, built from the
 * scenario (found by fingerprint), applied; until none is left. Counts
 * instead of asserting, so that it can run on a thread of its own. */
struct applier {
    store *s;
    const struct rc_case *cases;
    size_t ncases;
    int batch;
    pthread_barrier_t *start;
    int failures;
    int batches;
};

static void *run_applier(void *arg)
{
    struct applier *a = arg;
    if (a->start)
        pthread_barrier_wait(a->start);
    for (int round = 0; round < 10000; round++) {
        struct rc_inbox_row *rows = NULL;
        size_t n = 0;
        if (a->s->recover->inbox_pending(a->s, a->batch, &rows, &n) != STORE_OK) {
            a->failures++;
            break;
        }
        if (n == 0) {
            free(rows);
            break;
        }
        struct rc_built *built = calloc(n, sizeof *built);
        struct rc_apply_item *items = calloc(n, sizeof *items);
        if (!built || !items) {
            a->failures++;
            free(built);
            free(items);
            rc_rows_free(rows, n);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            int64_t k = -1;
            if (str_to_i64(rows[i].fingerprint + 2, &k) != 0 || k < 0 || (size_t)k >= a->ncases) {
                a->failures++;
                k = 0;
            }
            rc_build(&built[i], &items[i], rows[i].merchant_id, rows[i].env, &a->cases[k], rows[i].seq,
                     rows[i].received_at);
        }
        a->s->recover->apply_events(a->s, items, n);
        for (size_t i = 0; i < n; i++)
            a->failures += items[i].rc != STORE_OK;
        a->batches++;
        free(built);
        free(items);
        rc_rows_free(rows, n);
    }
    return NULL;
}

static void rc_apply_all(store *s, const struct rc_case *cases, size_t n)
{
    struct applier a = {.s = s, .cases = cases, .ncases = n, .batch = 64};
    run_applier(&a);
    assert_int_equal(a.failures, 0);
}

/* The invoice, its transactions and its history as one line, to compare. */
static void rc_describe(store *s, const char *merchant, const char *env, const char *invoice, buf *out)
{
    struct rc_invoice inv;
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    assert_int_equal(s->recover->invoice_get(s, merchant, env, invoice, &inv, &txns, &ntxns, &events, &nevents),
                     STORE_OK);
    buf_printf(out, "%s state=%s reason=%s customer=%s sub=%s created=%lld due=%lld %s failed=%lld dunning=%d:%lld "
               "closed=%d:%lld custom=%s txns:",
               inv.invoice_id, inv.state, inv.state_reason, inv.customer_id, inv.subscription_id,
               (long long)inv.created_at, (long long)inv.amount_due, inv.currency, (long long)inv.failed_attempts,
               inv.has_dunning_started, (long long)inv.dunning_started_at, inv.has_closed, (long long)inv.closed_at,
               inv.custom ? inv.custom : "null");
    for (size_t i = 0; i < ntxns; i++)
        buf_printf(out, " %s/%d/%lld", txns[i].transaction_id, txns[i].success, (long long)txns[i].amount);
    buf_printf(out, " history:");
    for (size_t i = 0; i < nevents; i++)
        buf_printf(out, " [%s>%s %s @%lld]", events[i].from_state, events[i].to_state, events[i].reason,
                   (long long)events[i].at);
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);
}

static void recover_apply_and_invoice_get(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    static const struct rc_case cases[] = {
        {.customer = "cus_1", .invoice = "inv/A", .txn = "t1", .outcome = "expired_card", .amount = 1223,
         .custom = "{\"plan\": \"pro\",  \"seats\":3}",
         .raw = "{\"id\":\"t1\",\"amount\":12.23, \"enhanced_data\":{\"level_2\":{}}}"},
        {.customer = "cus_1", .invoice = "inv/B", .txn = "t2", .outcome = "insufficient_funds", .amount = 500},
        {.pm = 1, .customer = "cus_1", .txn = "pm_new", .reason = "customer_updated"},
        {.customer = "cus_1", .invoice = "inv/A", .txn = "t4", .success = 1, .amount = 1223},
        {.customer = "cus_2", .invoice = "inv/D", .txn = "t5", .outcome = "expired_card", .amount = 900},
        {.pm = 1, .customer = "cus_2", .txn = "pm_gone", .reason = "expired"},
        {.customer = "cus_1", .invoice = "inv/E", .txn = "t2", .outcome = "insufficient_funds", .amount = 500},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    rc_append_cases(s, "m1", "sandbox", cases, N, 1000);
    assert_int_equal(rc_backlog(s), N);

    /* One batch, as the worker applies it. */
    struct rc_inbox_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->inbox_pending(s, 100, &rows, &n), STORE_OK);
    assert_int_equal(n, N);
    struct rc_built built[N];
    struct rc_apply_item items[N];
    for (size_t i = 0; i < N; i++)
        rc_build(&built[i], &items[i], "m1", "sandbox", &cases[i], rows[i].seq, rows[i].received_at);
    assert_int_equal(s->recover->apply_events(s, items, N), STORE_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(items[i].rc, STORE_OK);
    assert_int_equal(rc_backlog(s), 0);
    assert_true(built[0].txn.is_new);
    assert_false(built[6].txn.is_new); /* t2 was received before, with inv/B */

    struct rc_invoice inv;
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    assert_int_equal(s->recover->invoice_get(s, "m1", "sandbox", "inv/A", &inv, &txns, &ntxns, &events, &nevents),
                     STORE_OK);
    assert_string_equal(inv.state, "paid");
    assert_string_equal(inv.customer_id, "cus_1");
    assert_string_equal(inv.subscription_id, "sub_cus_1");
    assert_int_equal(inv.created_at, 1000);
    assert_int_equal(inv.failed_attempts, 1);
    assert_int_equal(inv.amount_due, 1223);
    assert_string_equal(inv.currency, "EUR");
    assert_true(inv.has_dunning_started);
    assert_int_equal(inv.dunning_started_at, 1000);
    assert_true(inv.has_closed);
    assert_int_equal(inv.closed_at, 1003);
    assert_string_equal(inv.custom, "{\"plan\": \"pro\",  \"seats\":3}"); /* as given */
    assert_int_equal(ntxns, 2);
    assert_string_equal(txns[0].transaction_id, "t1"); /* oldest first */
    assert_string_equal(txns[0].raw, "{\"id\":\"t1\",\"amount\":12.23, \"enhanced_data\":{\"level_2\":{}}}");
    assert_string_equal(txns[0].raw_response_message, "expired_card");
    assert_string_equal(txns[0].psp_transaction_id, "ch_t1");
    assert_string_equal(txns[0].origin, "merchant");
    assert_false(txns[0].success);
    assert_string_equal(txns[1].transaction_id, "t4");
    assert_true(txns[1].success);
    assert_null(txns[1].raw);
    /* The payment-method update moved the waiting invoice to pending. */
    assert_int_equal(nevents, 3);
    assert_string_equal(events[0].from_state, "");
    assert_string_equal(events[0].to_state, "awaiting_payment_method");
    assert_string_equal(events[1].from_state, "awaiting_payment_method");
    assert_string_equal(events[1].to_state, "pending");
    assert_string_equal(events[1].reason, "pm customer_updated");
    assert_int_equal(events[1].at, 1002);
    assert_string_equal(events[2].to_state, "paid");
    assert_string_equal(events[2].reason, "t4 new");
    assert_true(events[0].seq < events[1].seq && events[1].seq < events[2].seq);
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);

    /* inv/B was pending, not waiting: the update left it alone. */
    buf d;
    buf_init(&d);
    rc_describe(s, "m1", "sandbox", "inv/B", &d);
    assert_non_null(strstr(buf_cstr(&d), "state=pending reason=t2 new"));
    assert_null(strstr(buf_cstr(&d), "pm customer_updated"));
    buf_free(&d);
    /* An expiry marks the method; the invoice keeps waiting. */
    buf_init(&d);
    rc_describe(s, "m1", "sandbox", "inv/D", &d);
    assert_non_null(strstr(buf_cstr(&d), "state=awaiting_payment_method"));
    buf_free(&d);
    /* A transaction received before, under another invoice, is not new. */
    buf_init(&d);
    rc_describe(s, "m1", "sandbox", "inv/E", &d);
    assert_non_null(strstr(buf_cstr(&d), "reason=t2 known"));
    assert_non_null(strstr(buf_cstr(&d), "txns: history:")); /* t2 stays with inv/B */
    buf_free(&d);

    /* The batch again, as after a crash between commit and acknowledgement
     * of the batch: every event is skipped, nothing changes. */
    buf before;
    buf_init(&before);
    rc_describe(s, "m1", "sandbox", "inv/A", &before);
    for (size_t i = 0; i < N; i++)
        rc_build(&built[i], &items[i], "m1", "sandbox", &cases[i], rows[i].seq, rows[i].received_at);
    assert_int_equal(s->recover->apply_events(s, items, N), STORE_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(items[i].rc, STORE_OK);
    buf after;
    buf_init(&after);
    rc_describe(s, "m1", "sandbox", "inv/A", &after);
    assert_string_equal(buf_cstr(&after), buf_cstr(&before));
    buf_free(&before);
    buf_free(&after);
    rc_rows_free(rows, n);

    /* Reads stay within the merchant and the environment. */
    assert_int_equal(s->recover->invoice_get(s, "m1", "production", "inv/A", &inv, &txns, &ntxns, &events, &nevents),
                     STORE_NOT_FOUND);
    assert_int_equal(s->recover->invoice_get(s, "m2", "sandbox", "inv/A", &inv, &txns, &ntxns, &events, &nevents),
                     STORE_NOT_FOUND);
    assert_int_equal(s->recover->invoice_get(s, "m1", "sandbox", "inv/Z", &inv, &txns, &ntxns, &events, &nevents),
                     STORE_NOT_FOUND);
    assert_int_equal(ntxns + nevents, 0);
}

/* A scenario where order matters: five customers, three invoices each,
 * failures that need a new card, successes, payment-method updates (some
 * of them expiries), and transactions sent again under another invoice. */
static struct rc_case *rc_scenario(size_t n)
{
    struct rc_case *cases = calloc(n, sizeof *cases);
    assert_non_null(cases);
    for (size_t k = 0; k < n; k++) {
        struct rc_case *c = &cases[k];
        snprintf(c->customer, sizeof c->customer, "cus_%zu", k % 5);
        if (k % 9 == 8) {
            c->pm = 1;
            snprintf(c->txn, sizeof c->txn, "pm_%zu", k);
            str_copy(c->reason, sizeof c->reason, k % 2 ? "customer_updated" : "expired");
            continue;
        }
        snprintf(c->invoice, sizeof c->invoice, "inv_%zu_%zu", k % 5, (k / 5) % 3);
        snprintf(c->txn, sizeof c->txn, "t%zu", k % 17 == 16 ? k - 5 : k);
        c->success = k % 13 == 12;
        str_copy(c->outcome, sizeof c->outcome, k % 4 == 0 ? "expired_card" : "insufficient_funds");
        c->amount = 100 + (int64_t)k;
        c->custom = k % 3 == 0 ? "{\"k\": \"three\"}" : NULL;
    }
    return cases;
}

/* Two workers applying the same inbox at once (two nodes on PostgreSQL;
 * on SQLite, one node's two threads) end with what one worker makes of
 * it: every event applied once, each invoice's events in their order. */
static void recover_two_appliers_apply_each_event_once(void **state)
{
    struct fixture *f = *state;
    enum { N = 360 };
    struct rc_case *cases = rc_scenario(N);

    /* What one worker makes of the scenario, on a database of its own. */
    void *ref_state = NULL;
    assert_int_equal(setup(&ref_state), 0);
    struct fixture *ref = ref_state;
    rc_append_cases(ref->s, "m1", "sandbox", cases, N, 10000);
    rc_apply_all(ref->s, cases, N);

    rc_append_cases(f->s, "m1", "sandbox", cases, N, 10000);
    store *other = f->postgres ? open_store(f) : f->s;
    assert_non_null(other);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct applier a[2] = {
        {.s = f->s, .cases = cases, .ncases = N, .batch = 6, .start = &start},
        {.s = other, .cases = cases, .ncases = N, .batch = 6, .start = &start},
    };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, run_applier, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    if (other != f->s)
        store_close(other);
    assert_int_equal(a[0].failures, 0);
    assert_int_equal(a[1].failures, 0);
    assert_true(a[0].batches > 0 && a[1].batches > 0);
    assert_int_equal(rc_backlog(f->s), 0);

    size_t payments = 0, traced = 0;
    for (size_t k = 0; k < N; k++)
        payments += !cases[k].pm;
    for (int c = 0; c < 5; c++) {
        for (int i = 0; i < 3; i++) {
            char invoice[32];
            snprintf(invoice, sizeof invoice, "inv_%d_%d", c, i);
            buf got, want;
            buf_init(&got);
            buf_init(&want);
            rc_describe(f->s, "m1", "sandbox", invoice, &got);
            rc_describe(ref->s, "m1", "sandbox", invoice, &want);
            assert_string_equal(buf_cstr(&got), buf_cstr(&want));
            /* Each payment event leaves exactly one " new]" or " known]". */
            for (const char *p = buf_cstr(&got); (p = strstr(p, " @")) != NULL; p++)
                traced += strncmp(p - 4, " new", 4) == 0 || strncmp(p - 6, " known", 6) == 0;
            buf_free(&got);
            buf_free(&want);
        }
    }
    assert_int_equal(traced, payments);
    teardown(&ref_state);
    free(cases);
}

struct pending_reader {
    store *s;
    struct rc_inbox_row *rows;
    size_t n;
    enum store_rc rc;
    atomic_int done;
};

static void *read_pending(void *arg)
{
    struct pending_reader *r = arg;
    r->rc = r->s->recover->inbox_pending(r->s, 10, &r->rows, &r->n);
    atomic_store(&r->done, 1);
    return NULL;
}

/* PostgreSQL only: an append that has drawn its seq but not committed yet
 * holds back the pending read, which would otherwise return the events
 * after it without it, and so let a worker apply them out of order. The
 * append is played by hand, with the shared lock every append takes
 * (pg_recover.c, rule 1). */
static void recover_pending_waits_for_appends_in_flight(void **state)
{
    struct fixture *f = *state;
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    static const char *const steps[] = {
        "BEGIN",
        "SELECT pg_advisory_xact_lock_shared(114099105110098120)",
        "INSERT INTO rc_inbox(merchant_id, env, kind, fingerprint, request_id, payload, received_at) "
        "VALUES ('m1', 'sandbox', 'payment', 'fp-early', 'req-early', '{}', 1)",
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        PGresult *r = PQexec(c, steps[i]);
        assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
        PQclear(r);
    }
    int dup;
    char rid[72];
    assert_int_equal(rc_append(f->s, "m1", "sandbox", "payment", "fp-late", "req-late", "{}", 2, &dup, rid), STORE_OK);

    struct pending_reader reader = {.s = f->s};
    atomic_init(&reader.done, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_pending, &reader), 0);
    usleep(300 * 1000);
    int waited = !atomic_load(&reader.done);
    PGresult *r = PQexec(c, "COMMIT");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    pthread_join(th, NULL);
    assert_true(waited);
    assert_int_equal(reader.rc, STORE_OK);
    assert_int_equal(reader.n, 2);
    assert_string_equal(reader.rows[0].fingerprint, "fp-early");
    assert_string_equal(reader.rows[1].fingerprint, "fp-late");
    rc_rows_free(reader.rows, reader.n);
}

struct held_append {
    store *s;
    enum store_rc rc;
    atomic_int done;
};

static void *append_while_held(void *arg)
{
    struct held_append *a = arg;
    int dup;
    char rid[72];
    a->rc = rc_append(a->s, "m1", "sandbox", "payment", "fp-held", "req-held", "{}", 3, &dup, rid);
    atomic_store(&a->done, 1);
    return NULL;
}

/* PostgreSQL only: the other half of rule 1. While a pending read holds
 * the inbox lock exclusively (played here by hand), an append, batched or
 * not, waits: it cannot draw a seq the read might skip over. */
static void recover_appends_wait_for_a_pending_read(void **state)
{
    struct fixture *f = *state;
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "BEGIN");
    PQclear(r);
    r = PQexec(c, "SELECT pg_advisory_xact_lock(114099105110098120)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    struct held_append a = {.s = f->s};
    atomic_init(&a.done, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_while_held, &a), 0);
    usleep(300 * 1000);
    int waited = !atomic_load(&a.done);
    r = PQexec(c, "SELECT COUNT(*) FROM rc_inbox");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    r = PQexec(c, "COMMIT");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    pthread_join(th, NULL);
    assert_true(waited);
    assert_int_equal(a.rc, STORE_OK);
    assert_int_equal(rc_backlog(f->s), 1);
}

static void pg_exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* PostgreSQL only: how a batch meets failures. A failure of the store's
 * (here a lock wait that runs out) ends the batch: what came before
 * commits, that event and the ones after it wait for the next round. An
 * event the database refuses for good (bytes that are not UTF-8) is
 * recorded as rejected, and the events after it are applied. */
static void recover_failures_in_a_batch(void **state)
{
    struct fixture *f = *state;
    static const struct rc_case cases[] = {
        {.customer = "cus_1", .invoice = "inv_1", .txn = "t1", .outcome = "insufficient_funds", .amount = 100},
        {.customer = "cus_2", .invoice = "inv_2", .txn = "t2", .outcome = "insufficient_funds", .amount = 200},
        {.customer = "cus_2", .invoice = "inv_2", .txn = "t3", .success = 1, .amount = 200},
        {.customer = "cus_3", .invoice = "inv_3", .txn = "t4", .outcome = "insufficient_funds", .amount = 300},
        {.customer = "cus_3", .invoice = "inv_3", .txn = "bad\xff", .outcome = "insufficient_funds", .amount = 300},
        {.customer = "cus_3", .invoice = "inv_3", .txn = "t6", .success = 1, .amount = 300},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    rc_append_cases(f->s, "m1", "sandbox", cases, N, 1000);
    struct rc_inbox_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(f->s->recover->inbox_pending(f->s, 100, &rows, &n), STORE_OK);
    assert_int_equal(n, N);
    /* inv_2 exists, and another session holds it; the store's sessions
     * give up waiting for a lock after 200 ms. */
    struct rc_built built[N];
    struct rc_apply_item items[N];
    rc_build(&built[1], &items[1], "m1", "sandbox", &cases[1], rows[1].seq, rows[1].received_at);
    assert_int_equal(f->s->recover->apply_events(f->s, &items[1], 1), STORE_OK);
    assert_int_equal(items[1].rc, STORE_OK);
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char sql[200];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s SET lock_timeout = '200ms'", f->dbname);
    pg_exec_ok(c, sql);
    store *node = open_store(f);
    assert_non_null(node);
    pg_exec_ok(c, "BEGIN");
    pg_exec_ok(c, "SELECT 1 FROM rc_invoices WHERE invoice_id = 'inv_2' FOR UPDATE");

    for (size_t i = 0; i < N; i++)
        rc_build(&built[i], &items[i], "m1", "sandbox", &cases[i], rows[i].seq, rows[i].received_at);
    assert_int_equal(node->recover->apply_events(node, items, N), STORE_OK);
    assert_int_equal(items[0].rc, STORE_OK);
    assert_int_equal(items[1].rc, STORE_OK); /* applied before */
    assert_int_equal(items[2].rc, STORE_ERROR);
    for (size_t i = 3; i < N; i++)
        assert_int_equal(items[i].rc, STORE_ERROR); /* not attempted */
    assert_int_equal(rc_backlog(node), N - 2);
    pg_exec_ok(c, "ROLLBACK");
    PQfinish(c);

    /* The next round, with the lock gone. */
    for (size_t i = 0; i < N; i++)
        rc_build(&built[i], &items[i], "m1", "sandbox", &cases[i], rows[i].seq, rows[i].received_at);
    assert_int_equal(node->recover->apply_events(node, items, N), STORE_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(items[i].rc, i == 4 ? STORE_STATE : STORE_OK);
    assert_int_equal(rc_backlog(node), 0);
    buf d;
    buf_init(&d);
    rc_describe(node, "m1", "sandbox", "inv_2", &d);
    assert_non_null(strstr(buf_cstr(&d), "state=paid reason=t3 new"));
    buf_free(&d);
    buf_init(&d);
    rc_describe(node, "m1", "sandbox", "inv_3", &d);
    assert_non_null(strstr(buf_cstr(&d), "txns: t4/0/300 t6/1/300 history:"));
    buf_free(&d);
    store_close(node);
    rc_rows_free(rows, n);
}

/* ---- Recover: planning, execution, webhooks, the model ---- */

/* Appends cases[from..to) as events "ev<i>" received at base_at + i, and
 * applies them: a scenario can then go on in phases over one array. */
static void rc_feed(store *s, const struct rc_case *cases, size_t from, size_t to, size_t ncases, int64_t base_at)
{
    for (size_t i = from; i < to; i++) {
        char fp[24], rid[72], out[72];
        snprintf(fp, sizeof fp, "ev%zu", i);
        snprintf(rid, sizeof rid, "req-%zu", i);
        int dup = -1;
        assert_int_equal(rc_append(s, "m1", "sandbox", cases[i].pm ? "payment_method_update" : "payment", fp, rid,
                                   "{}", base_at + (int64_t)i, &dup, out),
                         STORE_OK);
        assert_int_equal(dup, 0);
    }
    rc_apply_all(s, cases, ncases);
}

/* The invoice alone (its arrays freed). */
static struct rc_invoice rc_invoice_read(store *s, const char *invoice)
{
    struct rc_invoice inv;
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    assert_int_equal(s->recover->invoice_get(s, "m1", "sandbox", invoice, &inv, &txns, &ntxns, &events, &nevents),
                     STORE_OK);
    free(inv.custom);
    inv.custom = NULL;
    rc_txns_free(txns, ntxns);
    free(events);
    return inv;
}

/* The invoices the planner is asked about, as "a b c". */
static void rc_pending_names(store *s, buf *out)
{
    struct rc_invoice_ref *refs = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->plan_pending(s, 100, &refs, &n), STORE_OK);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(refs[i].merchant_id, "m1");
        buf_printf(out, "%s%s", i ? " " : "", refs[i].invoice_id);
    }
    free(refs);
}

static void rc_assert_pending(store *s, const char *want)
{
    buf got;
    buf_init(&got);
    rc_pending_names(s, &got);
    assert_string_equal(buf_cstr(&got), want);
    buf_free(&got);
}

static struct rc_plan_write rc_plan(const char *invoice, const char *action, int64_t expect, int64_t now)
{
    struct rc_plan_write w;
    memset(&w, 0, sizeof w);
    str_copy(w.decision.merchant_id, sizeof w.decision.merchant_id, "m1");
    str_copy(w.decision.env, sizeof w.decision.env, "sandbox");
    str_copy(w.decision.invoice_id, sizeof w.decision.invoice_id, invoice);
    str_copy(w.decision.action, sizeof w.decision.action, action);
    w.decision.decided_at = now;
    w.expect_updated_at = expect;
    w.now = now;
    return w;
}

/* Plans attempt no of an invoice, due at due, against its current read. */
static void rc_plan_retry(store *s, const char *invoice, int64_t no, const char *attempt_id, int64_t due, int64_t now)
{
    struct rc_invoice inv = rc_invoice_read(s, invoice);
    struct rc_plan_write w = rc_plan(invoice, "retry", inv.updated_at, now);
    w.decision.planned_at = due;
    w.retry.attempt_no = no;
    str_copy(w.retry.attempt_id, sizeof w.retry.attempt_id, attempt_id);
    w.retry.due_at = due;
    str_copy(w.retry.payment_method_id, sizeof w.retry.payment_method_id, "pm_x");
    assert_int_equal(s->recover->plan_write(s, &w), STORE_OK);
}

static struct rc_webhook rc_hook(const char *id, const char *type, const char *invoice, int64_t created)
{
    struct rc_webhook h;
    memset(&h, 0, sizeof h);
    str_copy(h.merchant_id, sizeof h.merchant_id, "m1");
    str_copy(h.env, sizeof h.env, "sandbox");
    str_copy(h.webhook_id, sizeof h.webhook_id, id);
    str_copy(h.type, sizeof h.type, type);
    str_copy(h.invoice_id, sizeof h.invoice_id, invoice);
    str_copy(h.url, sizeof h.url, "https://merchant.example.com/webhooks/retry-results");
    h.body = (char *)"{\"invoice_id\":\"x\",\"note\":\"caf\\u00e9\"}";
    h.created_at = created;
    h.next_attempt_at = created;
    h.give_up_at = created + 7 * 86400000LL;
    return h;
}

static void recover_plan_needed_marks(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    static const struct rc_case cases[] = {
        /* phase 1 */
        {.customer = "c_ok", .invoice = "inv_ok", .txn = "t0", .success = 1, .amount = 100},
        {.customer = "c_f", .invoice = "inv_f", .txn = "t1", .outcome = "insufficient_funds", .amount = 200},
        {.customer = "c_w", .invoice = "inv_w", .txn = "t2", .outcome = "expired_card", .amount = 300},
        /* phase 2, after the planner cleared every mark */
        {.customer = "c_ok", .invoice = "inv_ok", .txn = "t0", .success = 1, .amount = 100},
        {.pm = 1, .customer = "c_w", .txn = "pm_new", .reason = "customer_updated"},
        {.customer = "c_f", .invoice = "inv_f", .txn = "t5", .success = 1, .amount = 200},
        {.customer = "c_ok", .invoice = "inv_ok2", .txn = "t6", .success = 1, .amount = 100},
    };
    rc_feed(s, cases, 0, 3, 7, 1000);
    /* A first attempt that succeeded needs no planner; failures do, oldest
     * mark first. */
    rc_assert_pending(s, "inv_f inv_w");
    struct rc_invoice inv = rc_invoice_read(s, "inv_f");
    assert_int_equal(inv.plan_needed, 1);
    assert_int_equal(inv.recover_attempts, 0);
    assert_int_equal(inv.next_retry_at, 0);
    assert_int_equal(rc_invoice_read(s, "inv_ok").plan_needed, 0);

    const char *names[] = {"inv_f", "inv_w"};
    for (int i = 0; i < 2; i++) {
        inv = rc_invoice_read(s, names[i]);
        struct rc_plan_write w = rc_plan(names[i], "wait_payment_method", inv.updated_at, 2000);
        assert_int_equal(s->recover->plan_write(s, &w), STORE_OK);
        assert_int_equal(rc_invoice_read(s, names[i]).plan_needed, 0);
    }
    rc_assert_pending(s, "");

    /* A repeated success, a new invoice paid at once: no mark. A payment
     * method for the waiting customer, a payment of the failed invoice:
     * marked, in the order they came. */
    rc_feed(s, cases, 3, 7, 7, 3000);
    rc_assert_pending(s, "inv_w inv_f");
    assert_int_equal(rc_invoice_read(s, "inv_ok2").plan_needed, 0);
    assert_string_equal(rc_invoice_read(s, "inv_w").state, "pending");
    assert_string_equal(rc_invoice_read(s, "inv_f").state, "paid");
}

static void recover_plan_write(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    static const struct rc_case cases[] = {
        {.customer = "c1", .invoice = "inv_1", .txn = "t1", .outcome = "insufficient_funds", .amount = 200},
    };
    rc_feed(s, cases, 0, 1, 1, 1000);
    struct rc_invoice inv = rc_invoice_read(s, "inv_1");

    /* A read the invoice has moved on from: nothing is written. */
    struct rc_plan_write w = rc_plan("inv_1", "retry", inv.updated_at - 1, 2000);
    w.retry.attempt_no = 1;
    str_copy(w.retry.attempt_id, sizeof w.retry.attempt_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1");
    w.retry.due_at = 5000;
    struct rc_webhook hook = rc_hook("11111111111111111111111111111111", "retry_result", "inv_1", 2000);
    w.webhooks = &hook;
    w.nwebhooks = 1;
    assert_int_equal(s->recover->plan_write(s, &w), STORE_STATE);
    struct rc_decision_row *d = NULL;
    struct rc_retry *r = NULL;
    struct rc_webhook *hooks = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->decisions_list(s, "m1", "sandbox", "inv_1", &d, &n), STORE_OK);
    assert_int_equal(n, 0);
    rc_decisions_free(d, n);
    assert_int_equal(s->recover->webhooks_list(s, "m1", NULL, NULL, 10, &hooks, &n), STORE_OK);
    assert_int_equal(n, 0);
    rc_webhooks_free(hooks, n);
    assert_int_equal(rc_invoice_read(s, "inv_1").plan_needed, 1);

    /* The current read: decision, planned retry, next_retry_at. */
    w = rc_plan("inv_1", "retry", inv.updated_at, 2000);
    str_copy(w.decision.reason, sizeof w.decision.reason, "insufficient_funds");
    str_copy(w.decision.decline_class, sizeof w.decision.decline_class, "soft");
    w.decision.planned_at = 5000;
    w.decision.predicted_success = 0.375;
    str_copy(w.decision.limited_by, sizeof w.decision.limited_by, "visa_retry_limit");
    str_copy(w.decision.explanation, sizeof w.decision.explanation, "payday; Zoë's bank");
    w.decision.alternatives = (char *)"[{\"at\":6000,\"p\":0.25}]";
    w.retry.attempt_no = 1;
    str_copy(w.retry.attempt_id, sizeof w.retry.attempt_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1");
    w.retry.due_at = 5000;
    str_copy(w.retry.payment_method_id, sizeof w.retry.payment_method_id, "pm_c1");
    assert_int_equal(s->recover->plan_write(s, &w), STORE_OK);
    /* The same read again is stale now. */
    assert_int_equal(s->recover->plan_write(s, &w), STORE_STATE);
    inv = rc_invoice_read(s, "inv_1");
    assert_int_equal(inv.next_retry_at, 5000);
    assert_int_equal(inv.plan_needed, 0);
    assert_true(inv.updated_at > w.expect_updated_at);
    assert_int_equal(s->recover->retries_list(s, "m1", "sandbox", "inv_1", &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].state, "planned");
    assert_int_equal(r[0].due_at, 5000);
    assert_string_equal(r[0].payment_method_id, "pm_c1");
    free(r);
    int64_t due = 0;
    assert_int_equal(s->recover->retry_next_due(s, &due), STORE_OK);
    assert_int_equal(due, 5000);

    /* Planned again: the same attempt moves (same id), no second row. */
    rc_plan_retry(s, "inv_1", 1, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", 6000, 2500);
    assert_int_equal(s->recover->retries_list(s, "m1", "sandbox", "inv_1", &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].state, "planned");
    assert_int_equal(r[0].due_at, 6000);
    assert_string_equal(r[0].attempt_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1");
    free(r);

    /* Stop: the planned retry goes, the invoice closes with a history row
     * and the end-of-dunning webhook, atomically. */
    inv = rc_invoice_read(s, "inv_1");
    w = rc_plan("inv_1", "stop", inv.updated_at, 3000);
    str_copy(w.decision.reason, sizeof w.decision.reason, "window_over");
    w.close_state = "unrecovered";
    w.close_reason = "dunning window over";
    hook = rc_hook("22222222222222222222222222222222", "end_of_dunning", "inv_1", 3000);
    w.webhooks = &hook;
    w.nwebhooks = 1;
    assert_int_equal(s->recover->plan_write(s, &w), STORE_OK);
    assert_int_equal(s->recover->retries_list(s, "m1", "sandbox", "inv_1", &r, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].state, "cancelled");
    free(r);
    assert_int_equal(s->recover->retry_next_due(s, &due), STORE_NOT_FOUND);

    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    assert_int_equal(s->recover->invoice_get(s, "m1", "sandbox", "inv_1", &inv, &txns, &ntxns, &events, &nevents),
                     STORE_OK);
    assert_string_equal(inv.state, "unrecovered");
    assert_string_equal(inv.state_reason, "dunning window over");
    assert_int_equal(inv.has_closed, 1);
    assert_int_equal(inv.closed_at, 3000);
    assert_int_equal(inv.next_retry_at, 0);
    assert_int_equal(nevents, 2);
    assert_string_equal(events[1].from_state, "pending");
    assert_string_equal(events[1].to_state, "unrecovered");
    assert_string_equal(events[1].reason, "dunning window over");
    assert_int_equal(events[1].at, 3000);
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);

    assert_int_equal(s->recover->decisions_list(s, "m1", "sandbox", "inv_1", &d, &n), STORE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(d[i].seq, (int64_t)i + 1);
    assert_string_equal(d[0].action, "retry");
    assert_string_equal(d[0].reason, "insufficient_funds");
    assert_string_equal(d[0].decline_class, "soft");
    assert_int_equal(d[0].planned_at, 5000);
    assert_true(d[0].predicted_success == 0.375);
    assert_string_equal(d[0].limited_by, "visa_retry_limit");
    assert_string_equal(d[0].explanation, "payday; Zoë's bank");
    assert_string_equal(d[0].alternatives, "[{\"at\":6000,\"p\":0.25}]");
    assert_string_equal(d[2].action, "stop");
    assert_null(d[2].alternatives);
    rc_decisions_free(d, n);

    assert_int_equal(s->recover->webhooks_list(s, "m1", NULL, "inv_1", 10, &hooks, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(hooks[0].webhook_id, "22222222222222222222222222222222");
    assert_string_equal(hooks[0].type, "end_of_dunning");
    assert_string_equal(hooks[0].state, "pending");
    assert_string_equal(hooks[0].body, hook.body);
    rc_webhooks_free(hooks, n);
    rc_assert_pending(s, "");
}

/* Three failed invoices "inv_<i>", attempt 1 of each planned at due[i]. */
static void rc_three_planned(store *s, const int64_t due[3])
{
    static const struct rc_case cases[] = {
        {.customer = "c0", .invoice = "inv_0", .txn = "t0", .outcome = "insufficient_funds", .amount = 100},
        {.customer = "c1", .invoice = "inv_1", .txn = "t1", .outcome = "insufficient_funds", .amount = 100},
        {.customer = "c2", .invoice = "inv_2", .txn = "t2", .outcome = "insufficient_funds", .amount = 100},
    };
    rc_feed(s, cases, 0, 3, 3, 10);
    for (int i = 0; i < 3; i++) {
        char invoice[16], id[33];
        snprintf(invoice, sizeof invoice, "inv_%d", i);
        snprintf(id, sizeof id, "%032d", i + 1);
        rc_plan_retry(s, invoice, 1, id, due[i], 50);
    }
}

static struct rc_txn rc_charge(const char *id, int success)
{
    struct rc_txn t;
    memset(&t, 0, sizeof t);
    str_copy(t.transaction_id, sizeof t.transaction_id, id);
    snprintf(t.psp_transaction_id, sizeof t.psp_transaction_id, "ch_%s", id);
    str_copy(t.psp, sizeof t.psp, "recoup");
    str_copy(t.acquirer_country, sizeof t.acquirer_country, "US");
    t.amount = 100;
    str_copy(t.currency, sizeof t.currency, "EUR");
    str_copy(t.funding_source, sizeof t.funding_source, "credit");
    str_copy(t.payment_method_id, sizeof t.payment_method_id, "pm_x");
    t.psp_created_at = 3000;
    str_copy(t.scheme, sizeof t.scheme, "visa");
    t.success = success;
    str_copy(t.raw_response_message, sizeof t.raw_response_message, success ? "approved" : "do_not_honor");
    return t;
}

static void recover_retry_claims_and_attempts(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    const int64_t due[3] = {100, 200, 300};
    rc_three_planned(s, due);

    struct rc_retry *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(s->recover->retries_claim(s, 250, "w1", 1000, 10, &a, &na), STORE_OK);
    assert_int_equal(na, 2);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i].state, "running");
        assert_string_equal(a[i].lease_owner, "w1");
        assert_int_equal(a[i].lease_until, 1250);
        assert_true(a[i].due_at <= 250);
    }
    /* Leased: nobody else gets them; the third is not due yet. */
    assert_int_equal(s->recover->retries_claim(s, 260, "w2", 1000, 10, &b, &nb), STORE_OK);
    assert_int_equal(nb, 0);
    free(b);
    int64_t next = 0;
    assert_int_equal(s->recover->retry_next_due(s, &next), STORE_OK);
    assert_int_equal(next, 300);
    /* A batch limit holds. */
    assert_int_equal(s->recover->retries_claim(s, 400, "w2", 1000, 1, &b, &nb), STORE_OK);
    assert_int_equal(nb, 1);
    assert_int_equal(b[0].due_at, 300);
    free(b);
    assert_int_equal(s->recover->retry_next_due(s, &next), STORE_OK);
    assert_int_equal(next, 1250); /* w1's lease ends */

    /* w1 dies: after its lease, w3 takes its two attempts over. */
    assert_int_equal(s->recover->retries_claim(s, 1249, "w3", 1000, 10, &b, &nb), STORE_OK);
    assert_int_equal(nb, 0);
    free(b);
    assert_int_equal(s->recover->retries_claim(s, 1250, "w3", 1000, 10, &b, &nb), STORE_OK);
    assert_int_equal(nb, 2);
    assert_string_equal(b[0].lease_owner, "w3");

    /* w1 comes back too late: its outcome is refused, nothing changes. */
    struct rc_txn charge = rc_charge("rc_t_0", 1);
    struct rc_webhook hook = rc_hook("33333333333333333333333333333333", "retry_result", a[0].invoice_id, 3000);
    struct rc_attempt_write w;
    memset(&w, 0, sizeof w);
    w.retry = &a[0];
    w.retry_state = "done";
    w.txn = &charge;
    w.close_state = "recovered";
    w.close_reason = "retry succeeded";
    w.webhooks = &hook;
    w.nwebhooks = 1;
    w.now = 3000;
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_STATE);
    struct rc_invoice inv = rc_invoice_read(s, a[0].invoice_id);
    assert_int_equal(inv.recover_attempts, 0);
    assert_string_equal(inv.state, "pending");

    /* The holder's outcome: the charge as Recover's transaction, the
     * invoice closed, the webhook queued, once. */
    struct rc_retry *mine = strcmp(b[0].invoice_id, a[0].invoice_id) == 0 ? &b[0] : &b[1];
    w.retry = mine;
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_OK);
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_STATE);
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    assert_int_equal(s->recover->invoice_get(s, "m1", "sandbox", mine->invoice_id, &inv, &txns, &ntxns, &events,
                                             &nevents),
                     STORE_OK);
    assert_int_equal(inv.recover_attempts, 1);
    assert_string_equal(inv.state, "recovered");
    assert_int_equal(inv.closed_at, 3000);
    assert_int_equal(inv.plan_needed, 0);
    assert_int_equal(inv.next_retry_at, 0);
    assert_int_equal(ntxns, 2);
    assert_string_equal(txns[1].transaction_id, "rc_t_0");
    assert_string_equal(txns[1].origin, "recover");
    assert_int_equal(txns[1].success, 1);
    assert_string_equal(events[nevents - 1].to_state, "recovered");
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);
    struct rc_retry *rows = NULL;
    size_t nrows = 0;
    assert_int_equal(s->recover->retries_list(s, "m1", "sandbox", mine->invoice_id, &rows, &nrows), STORE_OK);
    assert_int_equal(nrows, 1);
    assert_string_equal(rows[0].state, "done");
    assert_string_equal(rows[0].lease_owner, "");
    free(rows);
    struct rc_webhook *hooks = NULL;
    size_t nhooks = 0;
    assert_int_equal(s->recover->webhooks_list(s, "m1", "pending", mine->invoice_id, 10, &hooks, &nhooks), STORE_OK);
    assert_int_equal(nhooks, 1);
    rc_webhooks_free(hooks, nhooks);

    /* The other attempt: charged and declined, then the worker crashed
     * before writing; the next holder charges with the same idempotency
     * key, gets the same transaction, and writes it twice over two
     * leases' worth of trouble: one transaction, one attempt. */
    struct rc_retry *other = mine == &b[0] ? &b[1] : &b[0];
    struct rc_txn declined = rc_charge("rc_t_1", 0);
    memset(&w, 0, sizeof w);
    w.retry = other;
    w.retry_state = "planned"; /* RetryStatus asked to wait */
    w.new_due_at = 9000;
    w.error = "merchant asked to wait";
    w.now = 3000;
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_OK);
    inv = rc_invoice_read(s, other->invoice_id);
    assert_int_equal(inv.next_retry_at, 9000);
    assert_int_equal(inv.plan_needed, 0); /* the postponement stands: not planned again */
    assert_int_equal(inv.recover_attempts, 0);
    assert_int_equal(s->recover->retries_list(s, "m1", "sandbox", other->invoice_id, &rows, &nrows), STORE_OK);
    assert_string_equal(rows[0].state, "planned");
    assert_int_equal(rows[0].due_at, 9000);
    assert_int_equal(rows[0].postponements, 1);
    assert_string_equal(rows[0].last_error, "merchant asked to wait");
    free(rows);

    struct rc_retry *c = NULL;
    size_t nc = 0;
    /* Due again: the postponed attempt, and the one w2 left running. */
    assert_int_equal(s->recover->retries_claim(s, 9000, "w4", 1000, 10, &c, &nc), STORE_OK);
    assert_int_equal(nc, 2);
    memset(&w, 0, sizeof w);
    w.retry = strcmp(c[0].invoice_id, other->invoice_id) == 0 ? &c[0] : &c[1];
    assert_string_equal(w.retry->invoice_id, other->invoice_id);
    assert_int_equal(w.retry->postponements, 1);
    w.retry_state = "done";
    w.txn = &declined;
    w.now = 9100;
    /* The same charge already reached the store once (the merchant
     * reported it): still one transaction. */
    struct rc_case reported[4]; /* events ev0..ev2 are rc_three_planned's */
    memset(reported, 0, sizeof reported);
    snprintf(reported[3].customer, sizeof reported[3].customer, "c%c", other->invoice_id[4]);
    str_copy(reported[3].invoice, sizeof reported[3].invoice, other->invoice_id);
    str_copy(reported[3].txn, sizeof reported[3].txn, "rc_t_1");
    str_copy(reported[3].outcome, sizeof reported[3].outcome, "do_not_honor");
    reported[3].amount = 100;
    rc_feed(s, reported, 3, 4, 4, 9050);
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_OK);
    assert_int_equal(s->recover->invoice_get(s, "m1", "sandbox", other->invoice_id, &inv, &txns, &ntxns, &events,
                                             &nevents),
                     STORE_OK);
    assert_int_equal(ntxns, 2);
    assert_int_equal(inv.recover_attempts, 1);
    assert_int_equal(inv.plan_needed, 1);
    assert_int_equal(inv.next_retry_at, 0);
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);
    free(a);
    free(b);
    free(c);
}

/* An attempt written with the planner's next decision: the decision and
 * the next planned attempt land with the outcome, and the invoice is not
 * left for a planning pass. */
static void recover_attempt_with_next_decision(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    const int64_t due[3] = {100, 5000, 5000};
    rc_three_planned(s, due);
    struct rc_retry *c = NULL;
    size_t nc = 0;
    assert_int_equal(s->recover->retries_claim(s, 100, "w1", 1000, 10, &c, &nc), STORE_OK);
    assert_int_equal(nc, 1);
    struct rc_txn declined = rc_charge("rc_next_1", 0);
    struct rc_decision_row d;
    memset(&d, 0, sizeof d);
    str_copy(d.merchant_id, sizeof d.merchant_id, "m1");
    str_copy(d.env, sizeof d.env, "sandbox");
    str_copy(d.invoice_id, sizeof d.invoice_id, c[0].invoice_id);
    d.decided_at = 200;
    str_copy(d.action, sizeof d.action, "retry");
    str_copy(d.reason, sizeof d.reason, "insufficient_funds");
    d.planned_at = 7000;
    d.predicted_success = 0.25;
    str_copy(d.explanation, sizeof d.explanation, "the next attempt, decided with the outcome");
    struct rc_retry next;
    memset(&next, 0, sizeof next);
    str_copy(next.merchant_id, sizeof next.merchant_id, "m1");
    str_copy(next.env, sizeof next.env, "sandbox");
    str_copy(next.invoice_id, sizeof next.invoice_id, c[0].invoice_id);
    next.attempt_no = 2;
    snprintf(next.attempt_id, sizeof next.attempt_id, "%032d", 42);
    next.due_at = 7000;
    str_copy(next.state, sizeof next.state, "planned");
    struct rc_attempt_write w;
    memset(&w, 0, sizeof w);
    w.retry = &c[0];
    w.retry_state = "done";
    w.txn = &declined;
    w.now = 200;
    w.decision = &d;
    w.next = &next;
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_OK);
    struct rc_invoice inv = rc_invoice_read(s, c[0].invoice_id);
    assert_int_equal(inv.recover_attempts, 1);
    assert_int_equal(inv.next_retry_at, 7000);
    assert_int_equal(inv.plan_needed, 0);
    struct rc_retry *rows = NULL;
    size_t nrows = 0;
    assert_int_equal(s->recover->retries_list(s, "m1", "sandbox", c[0].invoice_id, &rows, &nrows), STORE_OK);
    assert_int_equal(nrows, 2);
    assert_string_equal(rows[0].state, "done");
    assert_string_equal(rows[1].state, "planned");
    assert_int_equal(rows[1].attempt_no, 2);
    assert_int_equal(rows[1].due_at, 7000);
    free(rows);
    struct rc_decision_row *ds = NULL;
    size_t nd = 0;
    assert_int_equal(s->recover->decisions_list(s, "m1", "sandbox", c[0].invoice_id, &ds, &nd), STORE_OK);
    assert_true(nd >= 1);
    assert_string_equal(ds[nd - 1].explanation, "the next attempt, decided with the outcome");
    assert_int_equal(ds[nd - 1].planned_at, 7000);
    rc_decisions_free(ds, nd);
    /* Due at 7000, the planned attempt is claimed like any other. */
    free(c);
    c = NULL;
    assert_int_equal(s->recover->retries_claim(s, 7000, "w2", 1000, 10, &c, &nc), STORE_OK);
    int found = 0;
    struct rc_retry *other = NULL;
    for (size_t i = 0; i < nc; i++) {
        found += strcmp(c[i].attempt_id, next.attempt_id) == 0;
        if (strcmp(c[i].invoice_id, next.invoice_id) != 0)
            other = &c[i];
    }
    assert_int_equal(found, 1);
    /* Another invoice's attempt declined for want of a new card: it stays
     * open and moves to awaiting_payment_method, with its history row. */
    assert_non_null(other);
    struct rc_txn expired = rc_charge("rc_next_2", 0);
    memset(&d, 0, sizeof d);
    str_copy(d.merchant_id, sizeof d.merchant_id, "m1");
    str_copy(d.env, sizeof d.env, "sandbox");
    str_copy(d.invoice_id, sizeof d.invoice_id, other->invoice_id);
    d.decided_at = 7000;
    str_copy(d.action, sizeof d.action, "wait_payment_method");
    memset(&w, 0, sizeof w);
    w.retry = other;
    w.retry_state = "done";
    w.txn = &expired;
    w.now = 7000;
    w.decision = &d;
    w.open_state = "awaiting_payment_method";
    w.open_reason = "expired_card (fix_data): waiting for a new card";
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_OK);
    struct rc_txn *txns = NULL;
    struct rc_invoice_event *events = NULL;
    size_t ntxns = 0, nevents = 0;
    assert_int_equal(s->recover->invoice_get(s, "m1", "sandbox", other->invoice_id, &inv, &txns, &ntxns, &events,
                                             &nevents),
                     STORE_OK);
    assert_string_equal(inv.state, "awaiting_payment_method");
    assert_int_equal(inv.plan_needed, 0);
    assert_int_equal(inv.next_retry_at, 0);
    assert_true(nevents >= 2);
    assert_string_equal(events[nevents - 1].to_state, "awaiting_payment_method");
    free(inv.custom);
    rc_txns_free(txns, ntxns);
    free(events);
    free(c);
}

static void recover_requested_attempts(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    const int64_t due[3] = {100, 100, 100};
    rc_three_planned(s, due);
    struct rc_retry r;
    assert_int_equal(s->recover->retry_requested(s, "m1", "sandbox", "inv_0", &r), STORE_NOT_FOUND);
    struct rc_retry *c = NULL;
    size_t nc = 0;
    assert_int_equal(s->recover->retries_claim(s, 100, "w1", 1000, 10, &c, &nc), STORE_OK);
    assert_int_equal(nc, 3);
    struct rc_retry *mine = NULL;
    for (size_t i = 0; i < nc; i++)
        if (strcmp(c[i].invoice_id, "inv_0") == 0)
            mine = &c[i];
    assert_non_null(mine);
    /* The merchant's platform is asked to charge: that is the attempt. */
    struct rc_attempt_write w;
    memset(&w, 0, sizeof w);
    w.retry = mine;
    w.retry_state = "requested";
    w.now = 200;
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_OK);
    assert_int_equal(rc_invoice_read(s, "inv_0").recover_attempts, 1);
    assert_int_equal(s->recover->retry_requested(s, "m1", "sandbox", "inv_0", &r), STORE_OK);
    assert_string_equal(r.state, "requested");
    assert_int_equal(r.attempt_no, 1);
    /* Its report closes it without counting a second attempt; once. */
    struct rc_txn charge = rc_charge("platform_t", 1);
    memset(&w, 0, sizeof w);
    w.retry = &r;
    w.retry_state = "done";
    w.txn = &charge;
    w.close_state = "recovered";
    w.now = 300;
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_OK);
    assert_int_equal(s->recover->attempt_write(s, &w), STORE_STATE);
    struct rc_invoice inv = rc_invoice_read(s, "inv_0");
    assert_int_equal(inv.recover_attempts, 1);
    assert_string_equal(inv.state, "recovered");
    assert_int_equal(s->recover->retry_requested(s, "m1", "sandbox", "inv_0", &r), STORE_NOT_FOUND);
    free(c);
}

struct claimer {
    store *s;
    pthread_barrier_t *start;
    char owner[16];
    int claimed;
    int failures;
    char (*seen)[16]; /* invoice ids claimed, by this claimer */
};

static void *run_claimer(void *arg)
{
    struct claimer *cl = arg;
    pthread_barrier_wait(cl->start);
    for (int round = 0; round < 1000; round++) {
        struct rc_retry *rows = NULL;
        size_t n = 0;
        if (cl->s->recover->retries_claim(cl->s, 1000, cl->owner, 60000, 7, &rows, &n) != STORE_OK) {
            cl->failures++;
            break;
        }
        for (size_t i = 0; i < n; i++)
            str_copy(cl->seen[cl->claimed++], 16, rows[i].invoice_id);
        free(rows);
        if (n == 0)
            break;
    }
    return NULL;
}

/* Claimers on several threads (and, on PostgreSQL, several connections
 * of several stores: nodes) take every due attempt exactly once. */
static void recover_concurrent_claims_never_double(void **state)
{
    struct fixture *f = *state;
    store *s = f->s;
    enum { N = 120, THREADS = 4 };
    struct rc_case *cases = calloc(N, sizeof *cases);
    assert_non_null(cases);
    for (int i = 0; i < N; i++) {
        snprintf(cases[i].customer, sizeof cases[i].customer, "c%d", i);
        snprintf(cases[i].invoice, sizeof cases[i].invoice, "inv_%03d", i);
        snprintf(cases[i].txn, sizeof cases[i].txn, "t%d", i);
        str_copy(cases[i].outcome, sizeof cases[i].outcome, "insufficient_funds");
        cases[i].amount = 100;
    }
    rc_feed(s, cases, 0, N, N, 10);
    for (int i = 0; i < N; i++) {
        char id[33];
        snprintf(id, sizeof id, "%032d", i);
        rc_plan_retry(s, cases[i].invoice, 1, id, 500 + i, 100);
    }
    store *nodes[2] = {s, f->postgres ? open_store(f) : s};
    assert_non_null(nodes[1]);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    struct claimer cl[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&cl[t], 0, sizeof cl[t]);
        cl[t].s = nodes[t % 2];
        cl[t].start = &start;
        snprintf(cl[t].owner, sizeof cl[t].owner, "node%d", t);
        cl[t].seen = calloc(N, sizeof *cl[t].seen);
        assert_non_null(cl[t].seen);
        assert_int_equal(pthread_create(&th[t], NULL, run_claimer, &cl[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
    if (nodes[1] != s)
        store_close(nodes[1]);
    int total = 0;
    int counts[N];
    memset(counts, 0, sizeof counts);
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(cl[t].failures, 0);
        total += cl[t].claimed;
        for (int k = 0; k < cl[t].claimed; k++) {
            int64_t i = -1;
            assert_int_equal(str_to_i64(cl[t].seen[k] + 4, &i), 0);
            counts[i]++;
        }
        free(cl[t].seen);
    }
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(counts[i], 1);
    /* Each row names the claimer that got it. */
    for (int i = 0; i < N; i += 17) {
        struct rc_retry *rows = NULL;
        size_t n = 0;
        assert_int_equal(s->recover->retries_list(s, "m1", "sandbox", cases[i].invoice, &rows, &n), STORE_OK);
        assert_int_equal(n, 1);
        assert_string_equal(rows[0].state, "running");
        assert_int_equal(strncmp(rows[0].lease_owner, "node", 4), 0);
        free(rows);
    }
    free(cases);
}

static void recover_webhook_outbox(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    add_merchant(s, "m2", 1);
    static const struct rc_case cases[] = {
        {.customer = "c1", .invoice = "inv_a", .txn = "t1", .outcome = "insufficient_funds", .amount = 100},
        {.customer = "c2", .invoice = "inv_b", .txn = "t2", .outcome = "insufficient_funds", .amount = 100},
    };
    rc_feed(s, cases, 0, 2, 2, 10);
    struct rc_webhook a[2] = {rc_hook("a0000000000000000000000000000000", "retry_result", "inv_a", 100),
                              rc_hook("a1000000000000000000000000000000", "end_of_dunning", "inv_a", 300)};
    struct rc_webhook b = rc_hook("b0000000000000000000000000000000", "retry_result", "inv_b", 200);
    b.next_attempt_at = 5000; /* a later delivery */
    struct rc_invoice inv = rc_invoice_read(s, "inv_a");
    struct rc_plan_write w = rc_plan("inv_a", "wait_payment_method", inv.updated_at, 400);
    w.webhooks = a;
    w.nwebhooks = 2;
    assert_int_equal(s->recover->plan_write(s, &w), STORE_OK);
    inv = rc_invoice_read(s, "inv_b");
    w = rc_plan("inv_b", "wait_payment_method", inv.updated_at, 400);
    w.webhooks = &b;
    w.nwebhooks = 1;
    assert_int_equal(s->recover->plan_write(s, &w), STORE_OK);

    /* The log: newest first, filtered, limited, one merchant's only. */
    struct rc_webhook *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->webhooks_list(s, "m1", NULL, NULL, 10, &rows, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].webhook_id, a[1].webhook_id);
    assert_string_equal(rows[1].webhook_id, b.webhook_id);
    assert_string_equal(rows[2].webhook_id, a[0].webhook_id);
    assert_string_equal(rows[2].url, a[0].url);
    assert_string_equal(rows[2].body, a[0].body);
    assert_int_equal(rows[2].give_up_at, a[0].give_up_at);
    rc_webhooks_free(rows, n);
    assert_int_equal(s->recover->webhooks_list(s, "m1", NULL, "inv_a", 10, &rows, &n), STORE_OK);
    assert_int_equal(n, 2);
    rc_webhooks_free(rows, n);
    assert_int_equal(s->recover->webhooks_list(s, "m1", NULL, NULL, 1, &rows, &n), STORE_OK);
    assert_int_equal(n, 1);
    rc_webhooks_free(rows, n);
    assert_int_equal(s->recover->webhooks_list(s, "m2", NULL, NULL, 10, &rows, &n), STORE_OK);
    assert_int_equal(n, 0);
    rc_webhooks_free(rows, n);
    struct rc_webhook one;
    assert_int_equal(s->recover->webhook_get(s, "m2", a[0].webhook_id, &one), STORE_NOT_FOUND);
    int64_t next = 0;
    assert_int_equal(s->recover->webhook_next_due(s, &next), STORE_OK);
    assert_int_equal(next, 100);

    /* Claims: due ones only, each by one dispatcher. */
    struct rc_webhook *c1 = NULL, *c2 = NULL;
    size_t n1 = 0, n2 = 0;
    assert_int_equal(s->recover->webhooks_claim(s, 1000, "d1", 500, 10, &c1, &n1), STORE_OK);
    assert_int_equal(n1, 2);
    assert_string_equal(c1[0].webhook_id, a[0].webhook_id);
    assert_string_equal(c1[0].lease_owner, "d1");
    assert_int_equal(c1[0].lease_until, 1500);
    assert_non_null(c1[0].body);
    assert_int_equal(s->recover->webhooks_claim(s, 1000, "d2", 500, 10, &c2, &n2), STORE_OK);
    assert_int_equal(n2, 0);
    rc_webhooks_free(c2, n2);
    assert_int_equal(s->recover->webhook_next_due(s, &next), STORE_OK);
    assert_int_equal(next, 1500);

    /* Results: only under the caller's lease. */
    struct rc_webhook res = c1[0];
    str_copy(res.state, sizeof res.state, "delivered");
    res.attempts = 1;
    res.last_status = 200;
    res.delivered_at = 1100;
    str_copy(res.lease_owner, sizeof res.lease_owner, "d2");
    assert_int_equal(s->recover->webhook_result(s, &res), STORE_STATE);
    str_copy(res.lease_owner, sizeof res.lease_owner, "d1");
    assert_int_equal(s->recover->webhook_result(s, &res), STORE_OK);
    assert_int_equal(s->recover->webhook_result(s, &res), STORE_STATE); /* the lease is released */
    assert_int_equal(s->recover->webhook_get(s, "m1", a[0].webhook_id, &one), STORE_OK);
    assert_string_equal(one.state, "delivered");
    assert_int_equal(one.attempts, 1);
    assert_int_equal(one.last_status, 200);
    assert_int_equal(one.delivered_at, 1100);
    assert_string_equal(one.lease_owner, "");
    free(one.body);

    /* A failed attempt: pending again, 12 hours later. */
    res = c1[1];
    res.attempts = 1;
    res.last_status = 503;
    str_copy(res.last_error, sizeof res.last_error, "HTTP 503");
    res.next_attempt_at = 1100 + 43200000;
    assert_int_equal(s->recover->webhook_result(s, &res), STORE_OK);
    assert_int_equal(s->recover->webhooks_list(s, "m1", "pending", NULL, 10, &rows, &n), STORE_OK);
    assert_int_equal(n, 2);
    rc_webhooks_free(rows, n);
    assert_int_equal(s->recover->webhooks_list(s, "m1", "delivered", NULL, 10, &rows, &n), STORE_OK);
    assert_int_equal(n, 1);
    rc_webhooks_free(rows, n);
    assert_int_equal(s->recover->webhooks_claim(s, 4000, "d2", 500, 10, &c2, &n2), STORE_OK);
    assert_int_equal(n2, 0);
    rc_webhooks_free(c2, n2);

    /* A dispatcher that dies: its lease runs out and another delivers. */
    assert_int_equal(s->recover->webhooks_claim(s, 5000, "d3", 500, 10, &c2, &n2), STORE_OK);
    assert_int_equal(n2, 1);
    assert_string_equal(c2[0].webhook_id, b.webhook_id);
    rc_webhooks_free(c2, n2);
    assert_int_equal(s->recover->webhooks_claim(s, 5499, "d4", 500, 10, &c2, &n2), STORE_OK);
    assert_int_equal(n2, 0);
    rc_webhooks_free(c2, n2);
    assert_int_equal(s->recover->webhooks_claim(s, 5500, "d4", 500, 10, &c2, &n2), STORE_OK);
    assert_int_equal(n2, 1);
    assert_string_equal(c2[0].lease_owner, "d4");
    rc_webhooks_free(c2, n2);

    /* Redelivery of a delivered one, on the merchant's request. */
    assert_int_equal(s->recover->webhook_redeliver(s, "m1", "ffffffffffffffffffffffffffffffff", 5800, 9000),
                     STORE_NOT_FOUND);
    assert_int_equal(s->recover->webhook_redeliver(s, "m2", a[0].webhook_id, 5800, 9000), STORE_NOT_FOUND);
    assert_int_equal(s->recover->webhook_redeliver(s, "m1", a[0].webhook_id, 5800, 9000), STORE_OK);
    assert_int_equal(s->recover->webhook_get(s, "m1", a[0].webhook_id, &one), STORE_OK);
    assert_string_equal(one.state, "pending");
    assert_int_equal(one.next_attempt_at, 5800);
    assert_int_equal(one.give_up_at, 9000);
    assert_int_equal(one.attempts, 1);
    free(one.body);
    assert_int_equal(s->recover->webhooks_claim(s, 5900, "d5", 500, 10, &c2, &n2), STORE_OK);
    assert_int_equal(n2, 1);
    assert_string_equal(c2[0].webhook_id, a[0].webhook_id);
    rc_webhooks_free(c2, n2);
    rc_webhooks_free(c1, n1);
}

/* Several results in one write: each lands as webhook_result would land
 * it, and one refused result neither stops nor undoes the others. */
static void recover_webhook_results_batch(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    static const struct rc_case cases[] = {
        {.customer = "c1", .invoice = "inv_a", .txn = "t1", .outcome = "insufficient_funds", .amount = 100},
    };
    rc_feed(s, cases, 0, 1, 1, 10);
    struct rc_webhook h[4] = {rc_hook("c0000000000000000000000000000000", "retry_result", "inv_a", 100),
                              rc_hook("c1000000000000000000000000000000", "retry_result", "inv_a", 100),
                              rc_hook("c2000000000000000000000000000000", "retry_result", "inv_a", 100),
                              rc_hook("c3000000000000000000000000000000", "end_of_dunning", "inv_a", 100)};
    struct rc_invoice inv = rc_invoice_read(s, "inv_a");
    struct rc_plan_write w = rc_plan("inv_a", "wait_payment_method", inv.updated_at, 400);
    w.webhooks = h;
    w.nwebhooks = 4;
    assert_int_equal(s->recover->plan_write(s, &w), STORE_OK);
    struct rc_webhook *c = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->webhooks_claim(s, 1000, "d1", 500, 10, &c, &n), STORE_OK);
    assert_int_equal(n, 4);
    struct rc_webhook r[5];
    for (size_t i = 0; i < 4; i++) {
        /* claims come in due order, and all four are due at once */
        int k = (int)(c[i].webhook_id[1] - '0');
        r[k] = c[i];
        r[k].body = NULL;
    }
    rc_webhooks_free(c, n);
    str_copy(r[0].state, sizeof r[0].state, "delivered");
    r[0].attempts = 1;
    r[0].last_status = 200;
    r[0].delivered_at = 1100;
    r[0].next_attempt_at = 1100;
    /* not accepted: pending again, due in 12 hours */
    r[1].attempts = 1;
    r[1].last_status = 503;
    str_copy(r[1].last_error, sizeof r[1].last_error, "HTTP 503");
    r[1].next_attempt_at = 1100 + 43200000;
    /* given up */
    str_copy(r[2].state, sizeof r[2].state, "failed");
    r[2].attempts = 1;
    /* quotes, a backslash and non-ASCII text come back as they were */
    str_copy(r[2].last_error, sizeof r[2].last_error, "refused by \"h\xc3\xb4te\\1\"");
    r[2].next_attempt_at = 1100;
    /* reported by a dispatcher that does not hold the lease */
    str_copy(r[3].state, sizeof r[3].state, "delivered");
    r[3].attempts = 1;
    r[3].last_status = 200;
    str_copy(r[3].lease_owner, sizeof r[3].lease_owner, "d2");
    /* a delivery that does not exist */
    r[4] = r[0];
    str_copy(r[4].webhook_id, sizeof r[4].webhook_id, "ffffffffffffffffffffffffffffffff");
    const struct rc_webhook *rows[5] = {&r[3], &r[0], &r[4], &r[1], &r[2]};
    enum store_rc rcs[5] = {STORE_ERROR, STORE_ERROR, STORE_ERROR, STORE_ERROR, STORE_ERROR};
    assert_int_equal(s->recover->webhook_results(s, rows, 5, rcs), STORE_OK);
    assert_int_equal(rcs[0], STORE_STATE);
    assert_int_equal(rcs[1], STORE_OK);
    assert_int_equal(rcs[2], STORE_NOT_FOUND);
    assert_int_equal(rcs[3], STORE_OK);
    assert_int_equal(rcs[4], STORE_OK);

    struct rc_webhook one;
    assert_int_equal(s->recover->webhook_get(s, "m1", r[0].webhook_id, &one), STORE_OK);
    assert_string_equal(one.state, "delivered");
    assert_int_equal(one.attempts, 1);
    assert_int_equal(one.last_status, 200);
    assert_int_equal(one.delivered_at, 1100);
    assert_string_equal(one.lease_owner, "");
    free(one.body);
    assert_int_equal(s->recover->webhook_get(s, "m1", r[1].webhook_id, &one), STORE_OK);
    assert_string_equal(one.state, "pending");
    assert_int_equal(one.attempts, 1);
    assert_int_equal(one.last_status, 503);
    assert_string_equal(one.last_error, "HTTP 503");
    assert_int_equal(one.next_attempt_at, 1100 + 43200000);
    assert_string_equal(one.lease_owner, "");
    free(one.body);
    assert_int_equal(s->recover->webhook_get(s, "m1", r[2].webhook_id, &one), STORE_OK);
    assert_string_equal(one.state, "failed");
    assert_int_equal(one.attempts, 1);
    assert_string_equal(one.last_error, "refused by \"h\xc3\xb4te\\1\"");
    assert_string_equal(one.lease_owner, "");
    free(one.body);
    /* The refused one is untouched: still pending under d1's lease. */
    assert_int_equal(s->recover->webhook_get(s, "m1", r[3].webhook_id, &one), STORE_OK);
    assert_string_equal(one.state, "pending");
    assert_int_equal(one.attempts, 0);
    assert_string_equal(one.lease_owner, "d1");
    assert_int_equal(one.next_attempt_at, 1500);
    free(one.body);

    /* Leases released: the same batch again is refused throughout, except
     * for the one d1 still holds, which d1 can now record. */
    str_copy(r[3].lease_owner, sizeof r[3].lease_owner, "d1");
    for (size_t i = 0; i < 5; i++)
        rcs[i] = STORE_ERROR;
    assert_int_equal(s->recover->webhook_results(s, rows, 5, rcs), STORE_OK);
    assert_int_equal(rcs[0], STORE_OK);
    assert_int_equal(rcs[1], STORE_STATE);
    assert_int_equal(rcs[2], STORE_NOT_FOUND);
    assert_int_equal(rcs[3], STORE_STATE);
    assert_int_equal(rcs[4], STORE_STATE);
    assert_int_equal(s->recover->webhooks_list(s, "m1", "delivered", NULL, 10, &c, &n), STORE_OK);
    assert_int_equal(n, 2);
    rc_webhooks_free(c, n);
    assert_int_equal(s->recover->webhook_results(s, rows, 0, rcs), STORE_OK);

    /* Only the one not accepted comes due again, and only at its time. */
    assert_int_equal(s->recover->webhooks_claim(s, 1100 + 43200000 - 1, "d3", 500, 10, &c, &n), STORE_OK);
    assert_int_equal(n, 0);
    rc_webhooks_free(c, n);
    assert_int_equal(s->recover->webhooks_claim(s, 1100 + 43200000, "d3", 500, 10, &c, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].webhook_id, r[1].webhook_id);
    assert_int_equal(c[0].attempts, 1);
    rc_webhooks_free(c, n);
}

static void recover_card_history_and_model(void **state)
{
    store *s = ((struct fixture *)*state)->s;
    static const struct rc_case cases[] = {
        {.customer = "c1", .invoice = "inv_1", .txn = "t1", .outcome = "insufficient_funds", .amount = 100},
        {.customer = "c1", .invoice = "inv_2", .txn = "t2", .success = 1, .amount = 100},
        {.customer = "c2", .invoice = "inv_3", .txn = "t3", .outcome = "insufficient_funds", .amount = 100},
        {.pm = 1, .customer = "c1", .txn = "pm_first", .reason = "customer_updated"},
        {.pm = 1, .customer = "c1", .txn = "pm_second", .reason = "network_updated"},
    };
    rc_feed(s, cases, 0, 5, 5, 1000);
    /* Both invoices of c1 were paid with pm_c1 (rc_build names it). */
    struct rc_txn *t = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->card_txns(s, "m1", "sandbox", "pm_c1", 0, &t, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].transaction_id, "t1");
    assert_string_equal(t[1].transaction_id, "t2");
    rc_txns_free(t, n);
    assert_int_equal(s->recover->card_txns(s, "m1", "sandbox", "pm_c1", 1001, &t, &n), STORE_OK);
    assert_int_equal(n, 1);
    rc_txns_free(t, n);
    assert_int_equal(s->recover->card_txns(s, "m1", "production", "pm_c1", 0, &t, &n), STORE_OK);
    assert_int_equal(n, 0);
    rc_txns_free(t, n);

    char pm[RC_ID_MAX];
    int64_t at = 0;
    assert_int_equal(s->recover->pm_update_after(s, "m1", "sandbox", "c1", 0, pm, &at), STORE_OK);
    assert_string_equal(pm, "pm_second");
    assert_int_equal(at, 1004);
    assert_int_equal(s->recover->pm_update_after(s, "m1", "sandbox", "c1", 1004, pm, &at), STORE_NOT_FOUND);
    assert_int_equal(s->recover->pm_update_after(s, "m1", "sandbox", "c2", 0, pm, &at), STORE_NOT_FOUND);

    char *blob = NULL;
    size_t len = 0;
    assert_int_equal(s->recover->model_get(s, "", &blob, &len), STORE_NOT_FOUND);
    const unsigned char bytes[] = {0x00, 0xff, 0x5c, 0x78, 0x27, 0x00, 0x01};
    assert_int_equal(s->recover->model_put(s, "", bytes, sizeof bytes, 10), STORE_OK);
    assert_int_equal(s->recover->model_put(s, "m1", "merchant", 8, 10), STORE_OK);
    assert_int_equal(s->recover->model_get(s, "", &blob, &len), STORE_OK);
    assert_int_equal(len, sizeof bytes);
    assert_memory_equal(blob, bytes, sizeof bytes);
    free(blob);
    assert_int_equal(s->recover->model_put(s, "", "v2", 2, 20), STORE_OK);
    assert_int_equal(s->recover->model_get(s, "", &blob, &len), STORE_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(blob, "v2", 2);
    free(blob);
    assert_int_equal(s->recover->model_get(s, "m1", &blob, &len), STORE_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(blob, "merchant", 8);
    free(blob);
}

/* The merge callback of the tests: the blob is a decimal counter, and each
 * merge adds one (or leaves the scope when add is 0). */
struct counter_merge {
    int add;
    int runs;
    int64_t seen_version;
    char out[32];
};

static int counter_merge_fn(void *arg, const void *stored, size_t len, int64_t version, const void **out,
                            size_t *out_len)
{
    struct counter_merge *c = arg;
    c->runs++;
    c->seen_version = version;
    long long v = 0;
    if (stored) {
        char text[32] = "";
        if (len >= sizeof text)
            return -1;
        memcpy(text, stored, len);
        v = strtoll(text, NULL, 10);
    }
    if (!c->add)
        return 0;
    int n = snprintf(c->out, sizeof c->out, "%lld", v + c->add);
    *out = c->out;
    *out_len = (size_t)n;
    return 1;
}

struct merger {
    store *s;
    pthread_barrier_t *start;
    int n;
    int failures;
};

static void *merge_counter(void *arg)
{
    struct merger *m = arg;
    pthread_barrier_wait(m->start);
    for (int i = 0; i < m->n; i++) {
        struct counter_merge c = {.add = 1};
        if (m->s->recover->model_merge(m->s, "m1", 1000 + i, counter_merge_fn, &c, NULL) != STORE_OK)
            m->failures++;
    }
    return NULL;
}

static int64_t stored_counter(store *s, const char *scope)
{
    char *blob = NULL;
    size_t len = 0;
    assert_int_equal(s->recover->model_get(s, scope, &blob, &len), STORE_OK);
    int64_t v = strtoll(blob, NULL, 10);
    free(blob);
    return v;
}

static int64_t version_of(store *s, const char *scope)
{
    struct rc_model_version *v = NULL;
    size_t n = 0;
    assert_int_equal(s->recover->model_versions(s, &v, &n), STORE_OK);
    int64_t found = -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].scope, scope) == 0)
            found = v[i].version;
    free(v);
    return found;
}

static void recover_model_merge_is_atomic(void **state)
{
    struct fixture *f = *state;
    store *s = f->s;
    /* Leaving an absent scope stores nothing. */
    struct counter_merge keep = {.add = 0};
    int64_t version = -1;
    assert_int_equal(s->recover->model_merge(s, "m1", 10, counter_merge_fn, &keep, &version), STORE_OK);
    assert_int_equal(version, 0);
    char *blob = NULL;
    size_t len = 0;
    assert_int_equal(s->recover->model_get(s, "m1", &blob, &len), STORE_NOT_FOUND);
    assert_int_equal(version_of(s, "m1"), -1);

    struct counter_merge add = {.add = 5};
    assert_int_equal(s->recover->model_merge(s, "m1", 10, counter_merge_fn, &add, &version), STORE_OK);
    assert_int_equal(version, 1);
    assert_int_equal(add.seen_version, 0);
    assert_int_equal(stored_counter(s, "m1"), 5);
    keep.runs = 0;
    assert_int_equal(s->recover->model_merge(s, "m1", 11, counter_merge_fn, &keep, &version), STORE_OK);
    assert_int_equal(version, 1);
    assert_int_equal(keep.seen_version, 1);
    /* model_put counts as a write too. */
    assert_int_equal(s->recover->model_put(s, "m1", "7", 1, 12), STORE_OK);
    assert_int_equal(version_of(s, "m1"), 2);
    assert_int_equal(s->recover->model_put(s, "", "1", 1, 12), STORE_OK);
    assert_int_equal(version_of(s, ""), 1);

    /* Two nodes adding at once: every addition counts, which a read and
     * a write apart would not give. */
    store *other = f->postgres ? open_store(f) : s;
    assert_non_null(other);
    enum { N = 150 };
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct merger m[2] = {{.s = s, .start = &start, .n = N}, {.s = other, .start = &start, .n = N}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, merge_counter, &m[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    if (other != s)
        store_close(other);
    assert_int_equal(m[0].failures + m[1].failures, 0);
    assert_int_equal(stored_counter(s, "m1"), 7 + 2 * N);
    assert_int_equal(version_of(s, "m1"), 2 + 2 * N);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(migrations_apply_once),
        T(merchants),
        T(api_keys),
        T(idempotency),
        T(payments_and_filters),
        T(refunds_keep_to_the_balance),
        T(racing_refunds_never_exceed_the_payment),
        T(racing_requests_with_one_key_make_one_refund),
        T(settlement),
        T(two_nodes_settle_each_payment_once),
        T(delete_rules),
        T(payment_methods),
        T(recover_settings),
        T(recover_inbox_duplicates),
        T(recover_inbox_pending_order),
        T(recover_inbox_concurrent_appends),
        T(recover_inbox_bad_event_fails_alone),
        T(recover_apply_and_invoice_get),
        T(recover_two_appliers_apply_each_event_once),
        T(recover_plan_needed_marks),
        T(recover_plan_write),
        T(recover_retry_claims_and_attempts),
        T(recover_attempt_with_next_decision),
        T(recover_requested_attempts),
        T(recover_concurrent_claims_never_double),
        T(recover_webhook_outbox),
        T(recover_webhook_results_batch),
        T(recover_card_history_and_model),
        T(recover_model_merge_is_atomic),
        /* Last, and on PostgreSQL only: SQLite is one node's store, and
         * several processes migrating one new file at once is not a
         * supported start; its single writer orders appends itself. */
        T(nodes_starting_together_migrate_once),
        T(recover_pending_waits_for_appends_in_flight),
        T(recover_failures_in_a_batch),
        T(recover_appends_wait_for_a_pending_read),
    };
    size_t count = sizeof tests / sizeof tests[0] - (on_postgres() ? 0 : 4);
    return _cmocka_run_group_tests(on_postgres() ? "store_postgres" : "store_sqlite", tests, count, NULL, NULL);
}
