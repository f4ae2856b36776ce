/* recoupd: the daemon serving the services named in its configuration. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "core/log.h"
#include "store/store.h"

int main(int argc, char **argv)
{
    /* Everything recoupd creates (database, WAL, keys) holds payment data:
     * readable by its owner only, whatever the caller's umask. */
    umask(077);
    config *cfg = config_new();
    if (!cfg) {
        fprintf(stderr, "recoupd: out of memory\n");
        return 1;
    }
    char err[1024] = "";
    int rc = config_load(cfg, argc, argv, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "recoupd: %s\n", err);
        config_free(cfg);
        return rc < 0 ? 2 : 0;
    }

    /* Signals are taken synchronously by the main thread; every other
     * thread inherits the blocked mask and never sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct app app;
    if (app_open(&app, cfg, err, sizeof err) != 0) {
        log_error("cannot start: %s", err);
        app_close(&app); /* what was opened before the failure */
        config_free(cfg);
        return 1;
    }
    if (app_start(&app, err, sizeof err) != 0) {
        log_error("cannot start: %s", err);
        app_stop(&app);
        app_close(&app);
        config_free(cfg);
        return 1;
    }
    const char *kv[] = {"store", app.store->ops->backend, "data_dir", app.data_dir, "clock",
                        config_get(cfg, "clock"), NULL};
    log_kv(LOG_INFO, "recoupd ready", kv);

    int sig = 0;
    sigwait(&sigs, &sig);
    const char *kv2[] = {"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL};
    log_kv(LOG_INFO, "shutting down: finishing in-flight requests", kv2);
    app_stop(&app);
    app_close(&app);
    log_info("stopped cleanly");
    config_free(cfg);
    curl_global_cleanup();
    return 0;
}
