#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"

const struct setting_def config_settings[] = {
    {"config", "", "configuration file (default: ./recoup.conf when it exists)"},
    {"data_dir", "./var", "directory for the SQLite database, keys and sandbox.json"},
    {"services", "gateway,recover,disputes", "services to serve: gateway, recover, disputes"},
    {"role", "all", "what this node runs: api, worker or all"},
    {"listen_address", "127.0.0.1", "address of the public listeners (0.0.0.0 for all interfaces)"},
    {"payments_port", "1111", "gateway payments listener port (0 picks a free port)"},
    {"refunds_port", "2222", "gateway refunds listener port (0 picks a free port)"},
    {"api_port", "8080", "Recover and Disputes listener port (0 picks a free port)"},
    {"admin_address", "127.0.0.1", "admin listener address; must be a loopback address"},
    {"admin_port", "9090", "admin listener port: health, readiness, metrics, admin API"},
    {"store", "sqlite", "storage backend: sqlite (or postgres)"},
    {"sqlite_path", "", "SQLite database file (default: DATA_DIR/recoup.db)"},
    {"database_url", "", "PostgreSQL connection string, for store = postgres"},
    {"pg_pool_size", "16", "PostgreSQL connections per node, for store = postgres (requests wait for a free one)"},
    {"http_threads", "64", "HTTP worker threads per listener (a thread waiting for a durable commit serves no other connection)"},
    {"max_connections", "1024", "open connections per listener"},
    {"max_body_bytes", "65536", "largest accepted request body (413 beyond)"},
    {"max_url_bytes", "2048", "longest accepted URL, query included (414 beyond)"},
    {"max_header_bytes", "16384", "memory for a request's headers (431 beyond)"},
    {"idle_timeout", "30", "seconds before an idle or stalled connection is closed"},
    {"shutdown_timeout", "30", "seconds to finish in-flight work on SIGTERM"},
    {"log_level", "info", "debug, info, warn or error"},
    {"card_key_file", "", "key that encrypts card numbers at rest (default: DATA_DIR/card.key, created 0600 on first run)"},
    {"settlement_interval", "3600", "seconds between settlement batches (0 disables the schedule)"},
    {"fee_fixed", "0", "settlement fee per payment, in minor units of its currency"},
    {"fee_bps", "0", "settlement fee in hundredths of a percent of the amount"},
    {"idempotency_ttl", "86400", "seconds an Idempotency-Key is remembered"},
    {"disputes_retention_months", "18", "months a Disputes checkout record is kept, counted from its purchase time"},
    {"disputes_purge_interval", "3600", "seconds between Disputes retention purges (0 disables the schedule)"},
    {"disputes_ce3_min_days", "120", "Visa CE 3.0: fewest whole days between a prior transaction and the disputed one"},
    {"disputes_ce3_max_days", "365", "Visa CE 3.0: most whole days between a prior transaction and the disputed one"},
    {"disputes_ce3_min_prior", "2", "Visa CE 3.0: qualifying prior transactions needed"},
    {"network_rules_file", "", "JSON file overriding the card-network retry rules (empty: built-in defaults; docs/network-rules-config.md)"},
    {"retry_workers", "64", "Recover: attempts run at once on this node (each waits on the merchant and the PSP; 64 measured best, docs/benchmarks.md)"},
    {"retry_lease", "300", "Recover: seconds an attempt stays claimed by a node; after a crash it is taken over once this passes"},
    {"retry_postpone", "3600", "Recover: seconds to wait when RetryStatus times out or answers 429 or 5xx"},
    {"merchant_connect_timeout_ms", "2000", "Recover: connect timeout for calls to the merchant (RetryStatus, platform retries)"},
    {"merchant_timeout_ms", "10000", "Recover: total timeout for calls to the merchant"},
    {"psp_timeout_ms", "30000", "Recover: total timeout for a charge at the PSP"},
    {"webhook_retry_interval", "43200", "Recover: seconds between redeliveries of a webhook the merchant did not accept (2xx)"},
    {"webhook_retry_for", "604800", "Recover: seconds after its event that a webhook is still redelivered; then it is given up"},
    {"webhook_expiry", "300", "Recover: seconds after sending that a webhook expires (X-Butter-Webhook-Expiration)"},
    {"webhook_connect_timeout_ms", "2000", "Recover: connect timeout for webhook deliveries"},
    {"webhook_timeout_ms", "10000", "Recover: total timeout for one webhook delivery"},
    {"webhook_concurrency", "256", "Recover: webhook deliveries in flight at once on this node"},
    {"clock", "real", "real, or virtual (time moves only through the admin API; sandbox and tests)"},
    {"clock_start", "", "virtual clock only: the time it starts at (ISO-8601; empty: the real time at start)"},
    {"commit_batch_max", "512", "most writes grouped into one durable commit"},
    {"sandbox", "true", "create the sandbox merchant and its keys on first start"},
};
const size_t config_settings_count = sizeof config_settings / sizeof config_settings[0];

enum source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };
static const char *const source_names[] = {"default", "file", "env", "flag"};

struct config {
    char **values;
    enum source *sources;
};

static int find(const char *name)
{
    for (size_t i = 0; i < config_settings_count; i++)
        if (strcmp(config_settings[i].name, name) == 0)
            return (int)i;
    return -1;
}

config *config_new(void)
{
    config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->values = calloc(config_settings_count, sizeof *c->values);
    c->sources = calloc(config_settings_count, sizeof *c->sources);
    if (!c->values || !c->sources) {
        config_free(c);
        return NULL;
    }
    for (size_t i = 0; i < config_settings_count; i++)
        c->values[i] = strdup(config_settings[i].def);
    return c;
}

void config_free(config *c)
{
    if (!c)
        return;
    if (c->values)
        for (size_t i = 0; i < config_settings_count; i++)
            free(c->values[i]);
    free(c->values);
    free(c->sources);
    free(c);
}

static int set_from(config *c, const char *name, const char *value, enum source src)
{
    int i = find(name);
    if (i < 0)
        return -1;
    char *v = strdup(value);
    if (!v)
        return -1;
    free(c->values[i]);
    c->values[i] = v;
    c->sources[i] = src;
    return 0;
}

int config_set(config *c, const char *name, const char *value) { return set_from(c, name, value, SRC_FLAG); }

const char *config_get(const config *c, const char *name)
{
    int i = find(name);
    return i < 0 ? NULL : c->values[i];
}

const char *config_source(const config *c, const char *name)
{
    int i = find(name);
    return i < 0 ? "unknown" : source_names[c->sources[i]];
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(config *c, const char *path, int must_exist, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!must_exist && errno == ENOENT)
            return 0;
        snprintf(err, errsz, "cannot read configuration file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errsz, "%s:%d: expected 'name = value'", path, lineno);
            fclose(f);
            return -1;
        }
        *eq = '\0';
        char *name = trim(s);
        char *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        if (strcmp(name, "config") == 0 || set_from(c, name, value, SRC_FILE) != 0) {
            snprintf(err, errsz, "%s:%d: unknown setting '%s' (recoupd --help lists them)", path, lineno, name);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static void env_name(const char *name, char *out, size_t outsz)
{
    size_t o = 0;
    const char *prefix = "RECOUP_";
    for (const char *p = prefix; *p && o + 1 < outsz; p++)
        out[o++] = *p;
    for (const char *p = name; *p && o + 1 < outsz; p++)
        out[o++] = (char)toupper((unsigned char)*p);
    out[o] = '\0';
}

int config_load(config *c, int argc, char **argv, char *err, size_t errsz)
{
    /* First pass over the flags: --help and --config decide what to read. */
    const char *config_path = getenv("RECOUP_CONFIG");
    int explicit_config = config_path && *config_path;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help(stdout, argv[0]);
            return 1;
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
            explicit_config = 1;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[i + 1];
            explicit_config = 1;
        }
    }
    if (!explicit_config)
        config_path = "recoup.conf";
    if (load_file(c, config_path, explicit_config, err, errsz) != 0)
        return -1;
    if (explicit_config)
        set_from(c, "config", config_path, SRC_FLAG);

    for (size_t i = 0; i < config_settings_count; i++) {
        char en[128];
        env_name(config_settings[i].name, en, sizeof en);
        const char *v = getenv(en);
        if (v && strcmp(config_settings[i].name, "config") != 0)
            set_from(c, config_settings[i].name, v, SRC_ENV);
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errsz, "unexpected argument '%s' (settings are --name=value)", a);
            return -1;
        }
        a += 2;
        char name[128];
        const char *value;
        const char *eq = strchr(a, '=');
        if (eq) {
            size_t nl = (size_t)(eq - a);
            if (nl >= sizeof name)
                nl = sizeof name - 1;
            memcpy(name, a, nl);
            name[nl] = '\0';
            value = eq + 1;
        } else {
            str_copy(name, sizeof name, a);
            if (i + 1 >= argc) {
                snprintf(err, errsz, "--%s needs a value", name);
                return -1;
            }
            value = argv[++i];
        }
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        if (strcmp(name, "config") == 0)
            continue;
        if (set_from(c, name, value, SRC_FLAG) != 0) {
            snprintf(err, errsz, "unknown setting --%s (recoupd --help lists them)", name);
            return -1;
        }
    }
    return 0;
}

int config_get_int(const config *c, const char *name, int64_t min, int64_t max, int64_t *out,
                   char *err, size_t errsz)
{
    const char *v = config_get(c, name);
    int64_t x;
    if (!v || str_to_i64(v, &x) != 0 || x < min || x > max) {
        snprintf(err, errsz, "setting %s must be an integer from %lld to %lld (got '%s')", name,
                 (long long)min, (long long)max, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

int config_get_bool(const config *c, const char *name, int *out, char *err, size_t errsz)
{
    const char *v = config_get(c, name);
    if (v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)) {
        *out = 1;
        return 0;
    }
    if (v && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0)) {
        *out = 0;
        return 0;
    }
    snprintf(err, errsz, "setting %s must be true or false (got '%s')", name, v ? v : "");
    return -1;
}

void config_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [--name=value ...]\n\n"
            "Every setting can be given in the configuration file (name = value),\n"
            "as an environment variable RECOUP_NAME, or as a flag --name=value;\n"
            "a flag beats the environment, which beats the file.\n\n"
            "settings (default in brackets):\n",
            prog);
    for (size_t i = 0; i < config_settings_count; i++) {
        char en[128];
        env_name(config_settings[i].name, en, sizeof en);
        fprintf(out, "  --%-22s %s [%s]\n  %-24s   env %s\n", config_settings[i].name, config_settings[i].help,
                config_settings[i].def, "", en);
    }
}
