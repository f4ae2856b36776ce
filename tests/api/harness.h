/* Black-box test harness: starts a real recoupd on free loopback ports with
 * a temporary data directory, talks HTTP to it with libcurl, and stops it,
 * checking that it exits cleanly (under the sanitizers a leak or an error
 * at shutdown makes the exit status non-zero). */
#ifndef RECOUP_TESTS_HARNESS_H
#define RECOUP_TESTS_HARNESS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct rserver {
    char dir[256];  /* the data directory, removed by server_stop */
    pid_t pid;
    int payments, refunds, api, admin; /* bound ports */
    char gateway_key[160];             /* the sandbox merchant's gateway key */
    char log_path[300];                /* recoupd's stderr */
    char pg_db[64];                    /* PostgreSQL runs: the server's own database, dropped by server_stop */
    char pg_url[512];                  /* its connection string */
    int peer;                          /* started by server_start_peer: the database and card key are another's */
    char card_key_file[300];           /* a peer's: the first node's card.key */
} rserver;

/* Which store the servers use: PostgreSQL when RECOUP_TEST_STORE=postgres
 * (with the test cluster in RECOUP_TEST_PG_HOST, _PORT, _USER), else
 * SQLite. On PostgreSQL each server_start makes a fresh database. */
int server_on_postgres(void);
/* The store flags recoupd is started with, for a shell command line:
 * "" on SQLite, or " --store=postgres --database_url='...' ..." */
const char *server_store_args(const rserver *s);

/* Starts recoupd ($RECOUPD, else ./build/recoupd) with the given extra
 * "--name=value" arguments (NULL-terminated, may be NULL). Aborts the test
 * process when it does not come up within 20 seconds. */
void server_start(rserver *s, const char *const *extra_args);
/* Starts a further node of the same deployment as first (PostgreSQL
 * only; aborts on SQLite): its own data directory and ports, first's
 * database and card key (card_key_file), and no sandbox bootstrap, since
 * first made the sandbox merchant and its keys (gateway_key is copied).
 * server_stop of a peer leaves the database to first. */
void server_start_peer(rserver *peer, const rserver *first, const char *const *extra_args);
/* SIGTERM, wait, and return the exit status (0 = clean, no leaks). The
 * data directory is removed. */
int server_stop(rserver *s);
/* Restart on the same data directory (after server_stop_keep or a kill). */
int server_stop_keep(rserver *s);
void server_restart(rserver *s, const char *const *extra_args);
/* Sends sig (e.g. SIGKILL) and reaps the process; the data stays. */
void server_kill(rserver *s, int sig);

typedef struct hres {
    long status;  /* 0 when the connection failed */
    char *body;   /* NUL-terminated */
    size_t len;
    char *headers; /* raw response headers */
    cJSON *json;  /* parsed body, or NULL */
} hres;

/* One request to 127.0.0.1:port. headers: NULL-terminated "Name: value"
 * list, may be NULL. body may be NULL. */
hres *http_do(const char *method, int port, const char *path, const char *const *headers, const char *body);
/* A request with the sandbox gateway key and Content-Type: application/json. */
hres *gw_do(rserver *s, const char *method, int port, const char *path, const char *body);
/* The same, with extra headers as well. */
hres *gw_do_h(rserver *s, const char *method, int port, const char *path, const char *const *extra_headers,
              const char *body);
/* Value of a response header (case-insensitive name), malloc'd, or NULL. */
char *hres_header(const hres *r, const char *name);
void hres_free(hres *r);

/* JSON helpers for assertions. */
const char *jstr(const cJSON *obj, const char *name);   /* NULL when absent or not a string */
double jnum(const cJSON *obj, const char *name);         /* NAN when absent */
int jnull(const cJSON *obj, const char *name);            /* present and null */
/* Whether an "errors" array of a 4xx body names this field. */
int has_error_field(const cJSON *body, const char *field);

/* Creates a card payment and returns its id (malloc'd); asserts 201. */
char *make_card_payment(rserver *s, const char *number, const char *amount_text);

/* A valid future expiry year, as text. */
const char *future_year(void);

/* A request with the given API key (NULL: none) sent as a Bearer token, and
 * Content-Type: application/json, plus extra headers (may be NULL). */
hres *key_do(const char *key, const char *method, int port, const char *path, const char *const *extra_headers,
             const char *body);
/* Creates the merchant through the admin API (an existing one is reused)
 * and a new sandbox gateway key for it, written to key. Returns 0 on
 * success. */
int make_merchant_key(rserver *s, const char *merchant_id, char *key, size_t keysz);
/* Runs a settlement batch now (POST /admin/settlements). Returns the number
 * of payments it settled, or -1; batch_at (may be NULL) receives its time. */
int settle_now(rserver *s, char *batch_at, size_t batch_at_sz);

#endif
