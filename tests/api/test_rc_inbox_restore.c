/* The inbox of acknowledged events is a file of its own on SQLite (so this
 * test is listed in tests-sqlite-only.txt). If it is
 * lost, or restored from a backup older than the main file, the events that
 * arrive afterwards must still be applied: their seqs may never fall among
 * those the main file already counts as applied. */
#include "rc_common.h"

#include <stdio.h>
#include <unistd.h>

static void events_after_a_lost_inbox_are_applied(void **state)
{
    (void)state;
    rserver s;
    server_start(&s, RC_FIXTURE_CLOCK);
    struct rc_keys k;
    rc_read_keys(&s, &k);
    char inv[32], txn[32];
    for (int i = 0; i < 5; i++) {
        snprintf(inv, sizeof inv, "inv-before-%d", i);
        snprintf(txn, sizeof txn, "txn-before-%d", i);
        rc_send_free(&s, k.sandbox, rc_event(inv, "cus_lost", txn, 0, "insufficient_funds", "2024-03-01T00:00:00Z"));
    }
    struct rc_want applied = {"pending", 1, 1, -1};
    hres *r = rc_wait(&s, k.sandbox, "inv-before-4", applied);
    RC_WAIT_OK(r, applied);
    hres_free(r);
    assert_int_equal(server_stop_keep(&s), 0);

    /* The inbox is gone (lost, or replaced by an empty older copy). */
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/recoup.db-inbox%s", s.dir, suffixes[i]);
        unlink(path);
    }
    server_restart(&s, RC_FIXTURE_CLOCK);
    for (int i = 0; i < 3; i++) {
        snprintf(inv, sizeof inv, "inv-after-%d", i);
        snprintf(txn, sizeof txn, "txn-after-%d", i);
        rc_send_free(&s, k.sandbox, rc_event(inv, "cus_lost", txn, 0, "insufficient_funds", "2024-03-02T00:00:00Z"));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(inv, sizeof inv, "inv-after-%d", i);
        r = rc_wait(&s, k.sandbox, inv, applied);
        RC_WAIT_OK(r, applied);
        hres_free(r);
    }
    assert_int_equal(server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_after_a_lost_inbox_are_applied),
    };
    return cmocka_run_group_tests_name("rc_inbox_restore", tests, NULL, NULL);
}
