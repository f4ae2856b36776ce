/* Settings: one table of names, defaults and help texts. Each can be set in
 * the configuration file (name = value), by environment (RECOUP_NAME) or by
 * flag (--name=value); a flag beats the environment, which beats the file. */
#ifndef RECOUP_CORE_CONFIG_H
#define RECOUP_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct config config;

struct setting_def {
    const char *name;
    const char *def;
    const char *help;
};

extern const struct setting_def config_settings[];
extern const size_t config_settings_count;

config *config_new(void);
void config_free(config *c);

/* Loads defaults, then the file named by --config / RECOUP_CONFIG (when
 * given, or recoup.conf in the working directory when present), then the
 * environment, then argv flags. Returns 0, 1 when --help was asked (the help
 * is printed), or -1 with a message in err. */
int config_load(config *c, int argc, char **argv, char *err, size_t errsz);

const char *config_get(const config *c, const char *name);
/* Sets a value (tests, derived defaults). Returns -1 for an unknown name. */
int config_set(config *c, const char *name, const char *value);
int config_get_int(const config *c, const char *name, int64_t min, int64_t max, int64_t *out,
                   char *err, size_t errsz);
int config_get_bool(const config *c, const char *name, int *out, char *err, size_t errsz);

void config_print_help(FILE *out, const char *prog);
/* Where the value came from: "default", "file", "env" or "flag". */
const char *config_source(const config *c, const char *name);

#endif
