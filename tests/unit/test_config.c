/* Settings: defaults, the configuration file, RECOUP_* environment
 * variables and --flags, in that order of precedence, and typed reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

extern char **environ;

/* Short enough that every path built under it fits a PATH_MAX buffer. */
static char workdir[1024];
static char startdir[PATH_MAX];

/* Settings leaking in from the environment of whoever runs the tests would
 * make every expectation below depend on that environment. */
static void clear_recoup_env(void)
{
    char names[64][128];
    int n = 0;
    for (char **e = environ; *e && n < 64; e++) {
        if (strncmp(*e, "RECOUP_", 7) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (len >= sizeof names[0])
            continue;
        memcpy(names[n], *e, len);
        names[n][len] = '\0';
        n++;
    }
    for (int i = 0; i < n; i++)
        unsetenv(names[i]);
}

static int group_setup(void **state)
{
    (void)state;
    if (!getcwd(startdir, sizeof startdir))
        return -1;
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(workdir, sizeof workdir, "%s/recoup-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof workdir)
        return -1;
    if (!mkdtemp(workdir))
        return -1;
    /* An implicit ./recoup.conf is read when present, so run where there is none. */
    return chdir(workdir);
}

static int group_teardown(void **state)
{
    (void)state;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/recoup.conf", workdir);
    unlink(path);
    if (chdir(startdir) != 0)
        return -1;
    return rmdir(workdir);
}

static int test_setup(void **state)
{
    (void)state;
    clear_recoup_env();
    unlink("recoup.conf");
    return 0;
}

/* Writes text to a new temporary file; the caller unlinks path. */
static void write_temp(char *path, size_t pathsz, const char *text)
{
    snprintf(path, pathsz, "%s/conf-XXXXXX", workdir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static int load(config *c, char *err, size_t errsz, int argc, ...)
{
    char *argv[16];
    argv[0] = "recoupd";
    va_list ap;
    va_start(ap, argc);
    for (int i = 1; i < argc && i < 16; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    err[0] = '\0';
    return config_load(c, argc, argv, err, errsz);
}

static void defaults(void **state)
{
    (void)state;
    config *c = config_new();
    assert_non_null(c);
    char err[256];
    assert_int_equal(load(c, err, sizeof err, 1), 0);
    for (size_t i = 0; i < config_settings_count; i++) {
        assert_string_equal(config_get(c, config_settings[i].name), config_settings[i].def);
        assert_string_equal(config_source(c, config_settings[i].name), "default");
    }
    assert_string_equal(config_get(c, "data_dir"), "./var");
    assert_string_equal(config_get(c, "payments_port"), "1111");
    assert_string_equal(config_get(c, "refunds_port"), "2222");
    assert_string_equal(config_get(c, "admin_address"), "127.0.0.1");
    assert_string_equal(config_get(c, "admin_port"), "9090");
    assert_string_equal(config_get(c, "max_body_bytes"), "65536");
    assert_null(config_get(c, "no_such_setting"));
    assert_string_equal(config_source(c, "no_such_setting"), "unknown");
    assert_int_equal(config_set(c, "no_such_setting", "1"), -1);
    assert_int_equal(config_set(c, "role", "api"), 0);
    assert_string_equal(config_get(c, "role"), "api");
    config_free(c);
}

static void file_parsing(void **state)
{
    (void)state;
    char path[PATH_MAX], flag[PATH_MAX + 16], err[512];
    write_temp(path, sizeof path,
               "# a comment\n"
               "; another comment\n"
               "\n"
               "   \t\n"
               "payments_port = 3000\n"
               "  refunds_port=3001  \n"
               "data_dir = \"/srv/recoup data\"\n"
               "database_url = host=db user=recoup\n"
               "log_level = \"\"\n"
               "listen_address = \"0.0.0.0\n"
               "   # indented comment\n"
               "role\t=\tworker\n");
    snprintf(flag, sizeof flag, "--config=%s", path);
    config *c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, flag), 0);
    assert_string_equal(config_get(c, "payments_port"), "3000");
    assert_string_equal(config_source(c, "payments_port"), "file");
    assert_string_equal(config_get(c, "refunds_port"), "3001");
    assert_string_equal(config_get(c, "data_dir"), "/srv/recoup data");
    assert_string_equal(config_get(c, "database_url"), "host=db user=recoup");
    assert_string_equal(config_get(c, "log_level"), "");
    /* An unbalanced quote is kept as written rather than half-stripped. */
    assert_string_equal(config_get(c, "listen_address"), "\"0.0.0.0");
    assert_string_equal(config_get(c, "role"), "worker");
    assert_string_equal(config_get(c, "config"), path);
    assert_string_equal(config_get(c, "api_port"), "8080");
    assert_string_equal(config_source(c, "api_port"), "default");
    config_free(c);
    unlink(path);
}

static void file_errors_name_the_line(void **state)
{
    (void)state;
    char path[PATH_MAX], flag[PATH_MAX + 16], err[512], want[PATH_MAX + 64];
    write_temp(path, sizeof path, "# ok\npayments_port = 1\nbogus_setting = 1\n");
    snprintf(flag, sizeof flag, "--config=%s", path);
    config *c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, flag), -1);
    snprintf(want, sizeof want, "%s:3: unknown setting 'bogus_setting'", path);
    assert_non_null(strstr(err, want));
    config_free(c);
    unlink(path);

    write_temp(path, sizeof path, "payments_port = 1\njust some words\n");
    snprintf(flag, sizeof flag, "--config=%s", path);
    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, flag), -1);
    snprintf(want, sizeof want, "%s:2: expected 'name = value'", path);
    assert_non_null(strstr(err, want));
    config_free(c);
    unlink(path);

    /* A file cannot point at another file. */
    write_temp(path, sizeof path, "config = /etc/other.conf\n");
    snprintf(flag, sizeof flag, "--config=%s", path);
    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, flag), -1);
    assert_non_null(strstr(err, ":1: unknown setting 'config'"));
    config_free(c);
    unlink(path);
}

static void config_file_location(void **state)
{
    (void)state;
    char err[512], path[PATH_MAX];
    config *c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, "--config=/nonexistent/recoup.conf"), -1);
    assert_non_null(strstr(err, "cannot read configuration file /nonexistent/recoup.conf"));
    config_free(c);

    /* ./recoup.conf is read when present and nothing else was named. */
    FILE *f = fopen("recoup.conf", "w");
    assert_non_null(f);
    fputs("api_port = 8181\n", f);
    fclose(f);
    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 1), 0);
    assert_string_equal(config_get(c, "api_port"), "8181");
    assert_string_equal(config_get(c, "config"), "");
    config_free(c);

    /* RECOUP_CONFIG names a file instead of ./recoup.conf. */
    write_temp(path, sizeof path, "api_port = 8282\n");
    setenv("RECOUP_CONFIG", path, 1);
    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 1), 0);
    assert_string_equal(config_get(c, "api_port"), "8282");
    config_free(c);

    /* --config with a separate value, which the flag pass must not read as a setting. */
    unsetenv("RECOUP_CONFIG");
    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 5, "--config", path, "--role", "api"), 0);
    assert_string_equal(config_get(c, "api_port"), "8282");
    assert_string_equal(config_get(c, "role"), "api");
    assert_string_equal(config_get(c, "config"), path);
    config_free(c);
    unlink(path);
    unlink("recoup.conf");
}

static void precedence(void **state)
{
    (void)state;
    char path[PATH_MAX], flag[PATH_MAX + 16], err[512];
    write_temp(path, sizeof path, "payments_port = 3000\nrefunds_port = 3001\napi_port = 3002\n");
    snprintf(flag, sizeof flag, "--config=%s", path);
    setenv("RECOUP_REFUNDS_PORT", "4001", 1);
    setenv("RECOUP_API_PORT", "4002", 1);
    setenv("RECOUP_ROLE", "worker", 1);

    config *c = config_new();
    assert_int_equal(load(c, err, sizeof err, 3, flag, "--api-port=5002"), 0);
    assert_string_equal(config_get(c, "payments_port"), "3000");
    assert_string_equal(config_source(c, "payments_port"), "file");
    assert_string_equal(config_get(c, "refunds_port"), "4001");
    assert_string_equal(config_source(c, "refunds_port"), "env");
    assert_string_equal(config_get(c, "api_port"), "5002");
    assert_string_equal(config_source(c, "api_port"), "flag");
    assert_string_equal(config_get(c, "role"), "worker");
    assert_string_equal(config_source(c, "role"), "env");
    config_free(c);
    unlink(path);
}

static void flag_forms(void **state)
{
    (void)state;
    char err[512];
    config *c = config_new();
    assert_int_equal(load(c, err, sizeof err, 7, "--data-dir=/a/b", "--payments_port", "1234",
                          "--database-url=host=db port=5432", "--log-level", "--debug"),
                     0);
    assert_string_equal(config_get(c, "data_dir"), "/a/b");
    assert_string_equal(config_get(c, "payments_port"), "1234");
    assert_string_equal(config_get(c, "database_url"), "host=db port=5432");
    /* A separate value is taken as is, even when it looks like a flag. */
    assert_string_equal(config_get(c, "log_level"), "--debug");
    assert_string_equal(config_get(c, "refunds_port"), "2222");
    config_free(c);

    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, "--max-body-bytes="), 0);
    assert_string_equal(config_get(c, "max_body_bytes"), "");
    config_free(c);
}

static void flag_errors(void **state)
{
    (void)state;
    char err[512];
    config *c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, "--no-such-thing=1"), -1);
    assert_non_null(strstr(err, "unknown setting --no_such_thing"));
    config_free(c);

    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, "payments_port=1"), -1);
    assert_non_null(strstr(err, "unexpected argument 'payments_port=1'"));
    config_free(c);

    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, "--data-dir"), -1);
    assert_non_null(strstr(err, "needs a value"));
    config_free(c);

    c = config_new();
    assert_int_equal(load(c, err, sizeof err, 2, "-x"), -1);
    config_free(c);
}

static void help_is_printed_on_request(void **state)
{
    (void)state;
    char err[512];
    config *c = config_new();
    /* Help goes to stdout, which carries the TAP stream: send it elsewhere. */
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && devnull >= 0);
    dup2(devnull, STDOUT_FILENO);
    int rc1 = load(c, err, sizeof err, 3, "--payments-port=1", "--help");
    int rc2 = load(c, err, sizeof err, 2, "-h");
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(devnull);
    assert_int_equal(rc1, 1);
    assert_int_equal(rc2, 1);
    config_free(c);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_print_help(f, "recoupd");
    fclose(f);
    assert_non_null(strstr(text, "usage: recoupd"));
    for (size_t i = 0; i < config_settings_count; i++) {
        char want[160];
        snprintf(want, sizeof want, "--%s ", config_settings[i].name);
        if (!strstr(text, want))
            fail_msg("help does not list %s", config_settings[i].name);
    }
    assert_non_null(strstr(text, "env RECOUP_PAYMENTS_PORT"));
    assert_non_null(strstr(text, "env RECOUP_DATA_DIR"));
    free(text);
}

static void get_int(void **state)
{
    (void)state;
    config *c = config_new();
    char err[256];
    int64_t v = -1;
    assert_int_equal(config_get_int(c, "payments_port", 0, 65535, &v, err, sizeof err), 0);
    assert_int_equal(v, 1111);

    config_set(c, "payments_port", "65535");
    assert_int_equal(config_get_int(c, "payments_port", 0, 65535, &v, err, sizeof err), 0);
    assert_int_equal(v, 65535);
    config_set(c, "payments_port", "0");
    assert_int_equal(config_get_int(c, "payments_port", 0, 65535, &v, err, sizeof err), 0);
    assert_int_equal(v, 0);

    static const char *const bad[] = {"65536", "-1", "abc", "12abc", "", "1.5", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_set(c, "payments_port", bad[i]);
        v = 4242;
        err[0] = '\0';
        if (config_get_int(c, "payments_port", 0, 65535, &v, err, sizeof err) != -1)
            fail_msg("payments_port '%s' was accepted", bad[i]);
        assert_int_equal(v, 4242);
        assert_non_null(strstr(err, "setting payments_port must be an integer from 0 to 65535"));
        char got[64];
        snprintf(got, sizeof got, "(got '%s')", bad[i]);
        assert_non_null(strstr(err, got));
    }
    assert_int_equal(config_get_int(c, "no_such_setting", 0, 1, &v, err, sizeof err), -1);
    config_free(c);
}

static void get_bool(void **state)
{
    (void)state;
    config *c = config_new();
    char err[256];
    int b = -1;
    assert_int_equal(config_get_bool(c, "sandbox", &b, err, sizeof err), 0);
    assert_int_equal(b, 1);
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        config_set(c, "sandbox", yes[i]);
        b = -1;
        assert_int_equal(config_get_bool(c, "sandbox", &b, err, sizeof err), 0);
        assert_int_equal(b, 1);
        config_set(c, "sandbox", no[i]);
        b = -1;
        assert_int_equal(config_get_bool(c, "sandbox", &b, err, sizeof err), 0);
        assert_int_equal(b, 0);
    }
    static const char *const bad[] = {"maybe", "TRUE", "", "2", " true"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_set(c, "sandbox", bad[i]);
        b = 4242;
        assert_int_equal(config_get_bool(c, "sandbox", &b, err, sizeof err), -1);
        assert_int_equal(b, 4242);
        assert_non_null(strstr(err, "setting sandbox must be true or false"));
    }
    assert_int_equal(config_get_bool(c, "no_such_setting", &b, err, sizeof err), -1);
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults, test_setup),
        cmocka_unit_test_setup(file_parsing, test_setup),
        cmocka_unit_test_setup(file_errors_name_the_line, test_setup),
        cmocka_unit_test_setup(config_file_location, test_setup),
        cmocka_unit_test_setup(precedence, test_setup),
        cmocka_unit_test_setup(flag_forms, test_setup),
        cmocka_unit_test_setup(flag_errors, test_setup),
        cmocka_unit_test_setup(help_is_printed_on_request, test_setup),
        cmocka_unit_test_setup(get_int, test_setup),
        cmocka_unit_test_setup(get_bool, test_setup),
    };
    return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
