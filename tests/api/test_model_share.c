/* Two recoupd nodes on one PostgreSQL database learn from different
 * payments, each before either has saved its model; when both have
 * stopped (and so synced), the stored model counts every outcome either
 * node learned. Were one node's save to replace the other's, the stored
 * count would be one node's share alone.
 *
 * Which node applies an event is the inbox's choice: the other node is
 * paused (SIGSTOP) meanwhile, so that each node learns its own share.
 * Only on PostgreSQL (tests-pg-only.txt): nodes cannot share SQLite. */
#include <libpq-fe.h>
#include <signal.h>
#include <sys/types.h>

#include "rc_common.h"

#define FIRST_SHARE 12
#define SECOND_SHARE 17

static rserver node[2];
static struct rc_keys keys;
static PGconn *db;

static int64_t db_count(const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", sql, PQerrorMessage(db));
        PQclear(r);
        fail_msg("%s", msg);
    }
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Waits (real time, up to 20 s) until every event is applied and no
 * invoice waits to be planned. */
static void wait_applied(void)
{
    int64_t waiting = -1;
    for (int i = 0; i < 400 && waiting != 0; i++) {
        usleep(50000);
        waiting = db_count("SELECT (SELECT count(*) FROM rc_inbox WHERE processed_at IS NULL) + "
                           "(SELECT count(*) FROM rc_invoices WHERE plan_needed = 1)");
    }
    assert_int_equal(waiting, 0);
}

/* Paid renewals: one successful charge each, one outcome learned each. */
static void send_paid(const rserver *s, const char *tag, int n)
{
    for (int i = 0; i < n; i++) {
        char inv[64], txn[64];
        snprintf(inv, sizeof inv, "share-%s-%d", tag, i);
        snprintf(txn, sizeof txn, "share-%s-txn-%d", tag, i);
        rc_send_free(s, keys.sandbox, rc_event(inv, "cus_share", txn, 1, "approved", "2026-03-02T08:00:00Z"));
    }
}

/* The outcomes a stored scope counts ("" the global one): the blob's
 * count field, a little-endian 64-bit integer after the magic, the
 * format version, the scope kind and the hash bits. */
static int64_t stored_count(const char *scope)
{
    const char *params[1] = {scope};
    PGresult *r = PQexecParams(db, "SELECT blob FROM rc_models WHERE scope = $1", 1, NULL, params, NULL, NULL, 1);
    int64_t n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetlength(r, 0, 0) >= 24) {
        const unsigned char *b = (const unsigned char *)PQgetvalue(r, 0, 0);
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
            v = v << 8 | b[16 + i];
        n = (int64_t)v;
    }
    PQclear(r);
    return n;
}

static void both_nodes_learning_is_stored(void **state)
{
    (void)state;
    server_start(&node[0], NULL);
    rc_read_keys(&node[0], &keys);
    db = PQconnectdb(node[0].pg_url);
    if (PQstatus(db) != CONNECTION_OK)
        fail_msg("cannot connect to the test database: %s", PQerrorMessage(db));
    server_start_peer(&node[1], &node[0], NULL);
    /* Both started from an empty model. */
    assert_int_equal(db_count("SELECT count(*) FROM rc_models"), 0);

    assert_int_equal(kill(node[1].pid, SIGSTOP), 0);
    send_paid(&node[0], "first", FIRST_SHARE);
    wait_applied();
    assert_int_equal(kill(node[1].pid, SIGCONT), 0);

    assert_int_equal(kill(node[0].pid, SIGSTOP), 0);
    send_paid(&node[1], "second", SECOND_SHARE);
    wait_applied();
    assert_int_equal(kill(node[0].pid, SIGCONT), 0);

    /* Each node syncs what it learned as it stops. */
    assert_int_equal(server_stop(&node[1]), 0);
    assert_int_equal(server_stop_keep(&node[0]), 0);
    assert_int_equal(stored_count(""), FIRST_SHARE + SECOND_SHARE);
    assert_int_equal(stored_count("sandbox"), FIRST_SHARE + SECOND_SHARE);
    PQfinish(db);
    db = NULL;
    /* The first node owns the database: started again to drop it. */
    server_restart(&node[0], NULL);
    assert_int_equal(server_stop(&node[0]), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_nodes_learning_is_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
