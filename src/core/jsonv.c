#include "core/jsonv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

void verrs_init(verrs *e)
{
    e->list = cJSON_CreateArray();
    e->count = 0;
}

void verrs_free(verrs *e)
{
    cJSON_Delete(e->list);
    e->list = NULL;
    e->count = 0;
}

cJSON *verrs_take(verrs *e)
{
    cJSON *l = e->list;
    e->list = NULL;
    e->count = 0;
    return l;
}

void verrs_add(verrs *e, const char *field, const char *fmt, ...)
{
    buf b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "field", field);
    cJSON_AddStringToObject(item, "message", buf_cstr(&b));
    cJSON_AddItemToArray(e->list, item);
    e->count++;
    buf_free(&b);
}

void jv_path(char *out, size_t outsz, const char *path, const char *name)
{
    if (!path || !*path)
        snprintf(out, outsz, "%s", name);
    else
        snprintf(out, outsz, "%s.%s", path, name);
}

void jv_path_index(char *out, size_t outsz, const char *path, int index)
{
    snprintf(out, outsz, "%s[%d]", path ? path : "", index);
}

const cJSON *jv_get(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNull(v) ? NULL : v;
}

const char *jv_get_string(const cJSON *obj, const char *name)
{
    const cJSON *v = jv_get(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *jv_type_name(enum jv_type t)
{
    switch (t) {
    case JV_ANY: return "a value";
    case JV_STRING: return "a string";
    case JV_INT: return "an integer";
    case JV_NUMBER: return "a number";
    case JV_BOOL: return "a boolean";
    case JV_OBJECT: return "an object";
    case JV_ARRAY: return "an array";
    case JV_STRING_OR_INT: return "a string or an integer";
    case JV_NUMBER_OR_STRING: return "a number";
    }
    return "a value";
}

/* For limits a person reads ("a name of at most 100 characters") in any
 * script: continuation bytes are not counted. */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

static int is_integral(const cJSON *v)
{
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
}

static int type_ok(const cJSON *v, enum jv_type t)
{
    switch (t) {
    case JV_ANY: return 1;
    case JV_STRING: return cJSON_IsString(v);
    case JV_INT: return cJSON_IsNumber(v) && is_integral(v);
    case JV_NUMBER: return cJSON_IsNumber(v);
    case JV_BOOL: return cJSON_IsBool(v);
    case JV_OBJECT: return cJSON_IsObject(v);
    case JV_ARRAY: return cJSON_IsArray(v);
    case JV_STRING_OR_INT: return cJSON_IsString(v) || (cJSON_IsNumber(v) && is_integral(v));
    case JV_NUMBER_OR_STRING: return cJSON_IsNumber(v) || cJSON_IsString(v);
    }
    return 0;
}

int jv_check(const cJSON *obj, const char *path, const struct jv_field *fields, size_t nfields,
             int unknown_is_error, verrs *e)
{
    int before = e->count;
    /* The field's path is formatted only when there is a problem to
     * report: valid input, the common case, costs no string work. */
#define FP() (jv_path(fp, sizeof fp, path, f->name), fp)
    char fp[256];
    for (size_t i = 0; i < nfields; i++) {
        const struct jv_field *f = &fields[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        if (!v || (cJSON_IsNull(v) && (f->flags & JV_NULLABLE))) {
            if (f->flags & JV_REQUIRED)
                verrs_add(e, FP(), "is required");
            continue;
        }
        if (cJSON_IsNull(v)) {
            if (f->flags & JV_REQUIRED)
                verrs_add(e, FP(), "is required and may not be null");
            else
                verrs_add(e, FP(), "must be %s, not null", jv_type_name(f->type));
            continue;
        }
        if (!type_ok(v, f->type)) {
            verrs_add(e, FP(), "must be %s", jv_type_name(f->type));
            continue;
        }
        if (cJSON_IsString(v)) {
            size_t max = f->max_len ? f->max_len : 255;
            size_t len = (f->flags & JV_MAX_CHARS) ? utf8_length(v->valuestring) : strlen(v->valuestring);
            if (len == 0 && !(f->flags & JV_ALLOW_EMPTY)) {
                verrs_add(e, FP(), "must not be empty");
                continue;
            }
            if (len > max) {
                verrs_add(e, FP(), "must be at most %zu characters", max);
                continue;
            }
        }
        if (f->check) {
            const char *msg = f->check(v);
            if (msg)
                verrs_add(e, FP(), "%s", msg);
        }
    }
#undef FP
    if (unknown_is_error) {
        const cJSON *it;
        cJSON_ArrayForEach(it, obj)
        {
            int known = 0;
            for (size_t i = 0; i < nfields && !known; i++)
                known = it->string && strcmp(it->string, fields[i].name) == 0;
            if (!known) {
                jv_path(fp, sizeof fp, path, it->string ? it->string : "?");
                verrs_add(e, fp, "is not a known field");
            }
        }
    }
    return e->count - before;
}
