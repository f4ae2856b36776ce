/* Declarative validation of JSON request bodies: a table of field specs per
 * object, checked in one pass that collects every problem with its path
 * ("transactions[0].currency"), instead of hand-written lookup chains. */
#ifndef RECOUP_CORE_JSONV_H
#define RECOUP_CORE_JSONV_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* A list of {field, message} problems, in the order found. */
typedef struct verrs {
    cJSON *list; /* JSON array of {"field","message"} */
    int count;
} verrs;

void verrs_init(verrs *e);
void verrs_free(verrs *e);
void verrs_add(verrs *e, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Moves the list out (the caller owns it). */
cJSON *verrs_take(verrs *e);

enum jv_type {
    JV_ANY = 0,
    JV_STRING,        /* non-empty unless JV_ALLOW_EMPTY */
    JV_INT,           /* a JSON number without fraction */
    JV_NUMBER,
    JV_BOOL,
    JV_OBJECT,
    JV_ARRAY,
    JV_STRING_OR_INT, /* "05" or 5 */
    JV_NUMBER_OR_STRING,
};

enum jv_flags {
    JV_REQUIRED = 1,
    JV_ALLOW_EMPTY = 2, /* strings: "" accepted */
    JV_NULLABLE = 4,    /* null treated as absent */
    JV_MAX_CHARS = 8,   /* max_len counts UTF-8 characters, not bytes (the
                         * caller's buffer must hold 4 bytes a character) */
};

/* Extra check run on a present value of the right type; returns NULL when
 * fine, or a message ("must be an ISO 4217 currency code"). */
typedef const char *(*jv_check_fn)(const cJSON *v);

struct jv_field {
    const char *name;
    enum jv_type type;
    unsigned flags;
    size_t max_len;     /* strings: maximum length in bytes (see JV_MAX_CHARS), 0 for 255 */
    jv_check_fn check;
};

/* Checks obj (which must be an object) against fields; problems go to e with
 * names prefixed by path ("" at the top). When unknown_is_error is set, keys
 * not in the table are reported too. Returns the number of problems added. */
int jv_check(const cJSON *obj, const char *path, const struct jv_field *fields, size_t nfields,
             int unknown_is_error, verrs *e);

/* Joins a path and a member name ("a" + "b" -> "a.b", "" + "b" -> "b"), or
 * an array index ("a" + 3 -> "a[3]"), into out. */
void jv_path(char *out, size_t outsz, const char *path, const char *name);
void jv_path_index(char *out, size_t outsz, const char *path, int index);

/* Member lookup that treats JSON null as absent. */
const cJSON *jv_get(const cJSON *obj, const char *name);
const char *jv_get_string(const cJSON *obj, const char *name);

const char *jv_type_name(enum jv_type t);

#endif
