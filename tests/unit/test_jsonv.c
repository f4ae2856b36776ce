/* Declarative JSON validation: types, presence, null, lengths, unknown
 * fields, paths, and collection of every problem in one pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonv.h"

static cJSON *parse(const char *json)
{
    cJSON *v = cJSON_Parse(json);
    if (!v)
        fail_msg("test JSON does not parse: %s", json);
    return v;
}

static const char *err_field(const verrs *e, int i)
{
    const cJSON *item = cJSON_GetArrayItem(e->list, i);
    assert_non_null(item);
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "field"));
    assert_non_null(s);
    return s;
}

static const char *err_message(const verrs *e, int i)
{
    const cJSON *item = cJSON_GetArrayItem(e->list, i);
    assert_non_null(item);
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "message"));
    assert_non_null(s);
    return s;
}

/* Validates {"f": value_json} against one field spec; returns the message of
 * the single problem found, or NULL when there was none. The message is
 * copied to a static buffer so the caller need not manage the list. */
static const char *check_value(const char *value_json, enum jv_type type, unsigned flags, size_t max_len,
                               jv_check_fn check)
{
    static char message[256];
    char doc[1024];
    if (value_json)
        snprintf(doc, sizeof doc, "{\"f\": %s}", value_json);
    else
        snprintf(doc, sizeof doc, "{}");
    cJSON *obj = parse(doc);
    const struct jv_field fields[] = {{"f", type, flags, max_len, check}};
    verrs e;
    verrs_init(&e);
    int n = jv_check(obj, "", fields, 1, 1, &e);
    cJSON_Delete(obj);
    assert_int_equal(n, e.count);
    assert_int_equal(cJSON_GetArraySize(e.list), e.count);
    if (n == 0) {
        verrs_free(&e);
        return NULL;
    }
    assert_int_equal(n, 1);
    assert_string_equal(err_field(&e, 0), "f");
    snprintf(message, sizeof message, "%s", err_message(&e, 0));
    verrs_free(&e);
    return message;
}

static void accepts(const char *value_json, enum jv_type type)
{
    const char *m = check_value(value_json, type, JV_REQUIRED, 0, NULL);
    if (m)
        fail_msg("%s as %s: unexpected \"%s\"", value_json, jv_type_name(type), m);
}

static void rejects(const char *value_json, enum jv_type type)
{
    const char *m = check_value(value_json, type, JV_REQUIRED, 0, NULL);
    if (!m)
        fail_msg("%s was accepted as %s", value_json, jv_type_name(type));
    char want[128];
    snprintf(want, sizeof want, "must be %s", jv_type_name(type));
    assert_string_equal(m, want);
}

static void required_and_missing(void **state)
{
    (void)state;
    assert_string_equal(check_value(NULL, JV_STRING, JV_REQUIRED, 0, NULL), "is required");
    assert_string_equal(check_value(NULL, JV_ANY, JV_REQUIRED, 0, NULL), "is required");
    assert_null(check_value(NULL, JV_STRING, 0, 0, NULL));
    assert_null(check_value(NULL, JV_INT, 0, 0, NULL));
    assert_null(check_value("\"x\"", JV_STRING, JV_REQUIRED, 0, NULL));
}

static void every_type(void **state)
{
    (void)state;
    const char *const all[] = {"\"s\"", "5", "5.5", "true", "false", "{}", "[]", "{\"a\":1}", "[1]"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        accepts(all[i], JV_ANY);

    accepts("\"s\"", JV_STRING);
    rejects("5", JV_STRING);
    rejects("true", JV_STRING);
    rejects("{}", JV_STRING);
    rejects("[\"s\"]", JV_STRING);

    accepts("5", JV_INT);
    accepts("-3", JV_INT);
    accepts("0", JV_INT);
    accepts("1e3", JV_INT);
    accepts("9007199254740991", JV_INT);
    rejects("9007199254740992", JV_INT);
    rejects("5.5", JV_INT);
    rejects("\"5\"", JV_INT);
    rejects("true", JV_INT);
    rejects("[5]", JV_INT);

    accepts("5", JV_NUMBER);
    accepts("5.5", JV_NUMBER);
    accepts("-1e-3", JV_NUMBER);
    rejects("\"5\"", JV_NUMBER);
    rejects("false", JV_NUMBER);
    rejects("{}", JV_NUMBER);

    accepts("true", JV_BOOL);
    accepts("false", JV_BOOL);
    rejects("0", JV_BOOL);
    rejects("1", JV_BOOL);
    rejects("\"true\"", JV_BOOL);

    accepts("{}", JV_OBJECT);
    accepts("{\"a\":[1]}", JV_OBJECT);
    rejects("[]", JV_OBJECT);
    rejects("\"{}\"", JV_OBJECT);
    rejects("1", JV_OBJECT);

    accepts("[]", JV_ARRAY);
    accepts("[1,\"a\"]", JV_ARRAY);
    rejects("{}", JV_ARRAY);
    rejects("\"[]\"", JV_ARRAY);

    accepts("\"05\"", JV_STRING_OR_INT);
    accepts("5", JV_STRING_OR_INT);
    rejects("5.5", JV_STRING_OR_INT);
    rejects("true", JV_STRING_OR_INT);
    rejects("[5]", JV_STRING_OR_INT);

    accepts("5.5", JV_NUMBER_OR_STRING);
    accepts("\"5.5\"", JV_NUMBER_OR_STRING);
    rejects("true", JV_NUMBER_OR_STRING);
    rejects("[]", JV_NUMBER_OR_STRING);
    rejects("{}", JV_NUMBER_OR_STRING);
}

static void type_names(void **state)
{
    (void)state;
    assert_string_equal(jv_type_name(JV_STRING), "a string");
    assert_string_equal(jv_type_name(JV_INT), "an integer");
    assert_string_equal(jv_type_name(JV_NUMBER), "a number");
    assert_string_equal(jv_type_name(JV_BOOL), "a boolean");
    assert_string_equal(jv_type_name(JV_OBJECT), "an object");
    assert_string_equal(jv_type_name(JV_ARRAY), "an array");
    assert_string_equal(jv_type_name(JV_STRING_OR_INT), "a string or an integer");
    assert_string_equal(jv_type_name(JV_ANY), "a value");
    assert_string_equal(jv_type_name(JV_NUMBER_OR_STRING), "a number");
}

static void empty_strings(void **state)
{
    (void)state;
    assert_string_equal(check_value("\"\"", JV_STRING, JV_REQUIRED, 0, NULL), "must not be empty");
    assert_string_equal(check_value("\"\"", JV_STRING, 0, 0, NULL), "must not be empty");
    assert_string_equal(check_value("\"\"", JV_STRING_OR_INT, 0, 0, NULL), "must not be empty");
    assert_string_equal(check_value("\"\"", JV_NUMBER_OR_STRING, 0, 0, NULL), "must not be empty");
    assert_null(check_value("\"\"", JV_STRING, JV_REQUIRED | JV_ALLOW_EMPTY, 0, NULL));
    assert_null(check_value("\" \"", JV_STRING, JV_REQUIRED, 0, NULL));
}

static void string_lengths(void **state)
{
    (void)state;
    char s255[260], s256[260], doc[300];
    memset(s255, 'a', 255);
    s255[255] = '\0';
    memset(s256, 'a', 256);
    s256[256] = '\0';
    snprintf(doc, sizeof doc, "\"%s\"", s255);
    assert_null(check_value(doc, JV_STRING, 0, 0, NULL));
    snprintf(doc, sizeof doc, "\"%s\"", s256);
    assert_string_equal(check_value(doc, JV_STRING, 0, 0, NULL), "must be at most 255 characters");

    assert_null(check_value("\"abcde\"", JV_STRING, 0, 5, NULL));
    assert_string_equal(check_value("\"abcdef\"", JV_STRING, 0, 5, NULL), "must be at most 5 characters");
    /* The limit is in bytes, which is what storage columns and buffers care about. */
    assert_string_equal(check_value("\"\\u00e9\\u00e9\\u00e9\"", JV_STRING, 0, 5, NULL),
                        "must be at most 5 characters");
    snprintf(doc, sizeof doc, "\"%s\"", s256);
    assert_null(check_value(doc, JV_STRING, 0, 1000, NULL));
    assert_string_equal(check_value("\"123\"", JV_STRING_OR_INT, 0, 2, NULL), "must be at most 2 characters");
    /* Integers are not strings: max_len does not apply to them. */
    assert_null(check_value("123", JV_STRING_OR_INT, 0, 2, NULL));
    /* Opted in, the limit counts characters: three two-byte letters fit five. */
    assert_null(check_value("\"\\u00e9\\u00e9\\u00e9\"", JV_STRING, JV_MAX_CHARS, 5, NULL));
    assert_string_equal(check_value("\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"", JV_STRING, JV_MAX_CHARS, 5, NULL),
                        "must be at most 5 characters");
}

static void nulls(void **state)
{
    (void)state;
    assert_null(check_value("null", JV_STRING, JV_NULLABLE, 0, NULL));
    assert_string_equal(check_value("null", JV_STRING, JV_NULLABLE | JV_REQUIRED, 0, NULL), "is required");
    assert_string_equal(check_value("null", JV_STRING, JV_REQUIRED, 0, NULL), "is required and may not be null");
    assert_string_equal(check_value("null", JV_STRING, 0, 0, NULL), "must be a string, not null");
    assert_string_equal(check_value("null", JV_INT, 0, 0, NULL), "must be an integer, not null");
    assert_string_equal(check_value("null", JV_ANY, 0, 0, NULL), "must be a value, not null");
}

static int check_calls;

static const char *must_be_eur(const cJSON *v)
{
    check_calls++;
    return strcmp(v->valuestring, "EUR") == 0 ? NULL : "must be EUR";
}

static void check_callbacks(void **state)
{
    (void)state;
    check_calls = 0;
    assert_null(check_value("\"EUR\"", JV_STRING, 0, 0, must_be_eur));
    assert_int_equal(check_calls, 1);
    assert_string_equal(check_value("\"USD\"", JV_STRING, 0, 0, must_be_eur), "must be EUR");
    assert_int_equal(check_calls, 2);
    /* The check only ever sees a present value of the right type that passed the generic rules. */
    assert_string_equal(check_value("5", JV_STRING, 0, 0, must_be_eur), "must be a string");
    assert_string_equal(check_value("\"\"", JV_STRING, 0, 0, must_be_eur), "must not be empty");
    assert_string_equal(check_value("\"EURO\"", JV_STRING, 0, 3, must_be_eur), "must be at most 3 characters");
    assert_null(check_value(NULL, JV_STRING, 0, 0, must_be_eur));
    assert_null(check_value("null", JV_STRING, JV_NULLABLE, 0, must_be_eur));
    assert_string_equal(check_value("null", JV_STRING, 0, 0, must_be_eur), "must be a string, not null");
    assert_int_equal(check_calls, 2);
}

static void unknown_fields(void **state)
{
    (void)state;
    const struct jv_field fields[] = {
        {"number", JV_STRING, JV_REQUIRED, 19, NULL},
        {"cvv", JV_STRING, 0, 4, NULL},
    };
    cJSON *obj = parse("{\"number\":\"4242424242424242\",\"extra\":1,\"CVV\":\"123\"}");
    verrs e;
    verrs_init(&e);
    assert_int_equal(jv_check(obj, "additional_params", fields, 2, 1, &e), 2);
    assert_string_equal(err_field(&e, 0), "additional_params.extra");
    assert_string_equal(err_message(&e, 0), "is not a known field");
    /* Names are case-sensitive: "CVV" is not "cvv". */
    assert_string_equal(err_field(&e, 1), "additional_params.CVV");
    verrs_free(&e);

    verrs_init(&e);
    assert_int_equal(jv_check(obj, "", fields, 2, 1, &e), 2);
    assert_string_equal(err_field(&e, 0), "extra");
    verrs_free(&e);

    verrs_init(&e);
    assert_int_equal(jv_check(obj, "", fields, 2, 0, &e), 0);
    assert_int_equal(e.count, 0);
    verrs_free(&e);
    cJSON_Delete(obj);
}

static void paths(void **state)
{
    (void)state;
    char out[64];
    jv_path(out, sizeof out, "", "amount");
    assert_string_equal(out, "amount");
    jv_path(out, sizeof out, NULL, "amount");
    assert_string_equal(out, "amount");
    jv_path(out, sizeof out, "additional_params", "cvv");
    assert_string_equal(out, "additional_params.cvv");
    jv_path_index(out, sizeof out, "transactions", 3);
    assert_string_equal(out, "transactions[3]");
    jv_path_index(out, sizeof out, "", 0);
    assert_string_equal(out, "[0]");
    jv_path_index(out, sizeof out, NULL, 12);
    assert_string_equal(out, "[12]");

    char item[64], field[64];
    jv_path_index(item, sizeof item, "transactions", 0);
    jv_path(field, sizeof field, item, "currency");
    assert_string_equal(field, "transactions[0].currency");
    jv_path(item, sizeof item, "a", "b");
    jv_path_index(field, sizeof field, item, 2);
    assert_string_equal(field, "a.b[2]");

    char small[8];
    jv_path(small, sizeof small, "additional_params", "cvv");
    assert_string_equal(small, "additio");
    jv_path_index(small, sizeof small, "transactions", 1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

static void nested_paths_in_problems(void **state)
{
    (void)state;
    const struct jv_field top[] = {{"transactions", JV_ARRAY, JV_REQUIRED, 0, NULL}};
    const struct jv_field txn[] = {
        {"amount", JV_NUMBER, JV_REQUIRED, 0, NULL},
        {"currency", JV_STRING, JV_REQUIRED, 3, NULL},
    };
    cJSON *obj = parse("{\"transactions\":[{\"amount\":1,\"currency\":\"EUR\"},"
                       "{\"amount\":\"x\",\"currency\":\"EURO\"},{\"currency\":\"USD\",\"zz\":0}]}");
    verrs e;
    verrs_init(&e);
    assert_int_equal(jv_check(obj, "", top, 1, 1, &e), 0);
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(obj, "transactions"))
    {
        char p[64];
        jv_path_index(p, sizeof p, "transactions", i++);
        jv_check(it, p, txn, 2, 1, &e);
    }
    assert_int_equal(e.count, 4);
    assert_string_equal(err_field(&e, 0), "transactions[1].amount");
    assert_string_equal(err_message(&e, 0), "must be a number");
    assert_string_equal(err_field(&e, 1), "transactions[1].currency");
    assert_string_equal(err_message(&e, 1), "must be at most 3 characters");
    assert_string_equal(err_field(&e, 2), "transactions[2].amount");
    assert_string_equal(err_message(&e, 2), "is required");
    assert_string_equal(err_field(&e, 3), "transactions[2].zz");
    assert_string_equal(err_message(&e, 3), "is not a known field");
    verrs_free(&e);
    cJSON_Delete(obj);
}

static void every_problem_is_collected(void **state)
{
    (void)state;
    const struct jv_field fields[] = {
        {"amount", JV_NUMBER, JV_REQUIRED, 0, NULL},
        {"currency", JV_STRING, 0, 3, NULL},
        {"payment_method", JV_STRING, JV_REQUIRED, 0, NULL},
        {"additional_params", JV_OBJECT, 0, 0, NULL},
        {"capture", JV_BOOL, 0, 0, NULL},
    };
    cJSON *obj = parse("{\"amount\":\"50\",\"currency\":\"\",\"additional_params\":[],"
                       "\"capture\":null,\"x\":1,\"y\":2}");
    verrs e;
    verrs_init(&e);
    verrs_add(&e, "earlier", "was already wrong");
    assert_int_equal(jv_check(obj, "", fields, 5, 1, &e), 7);
    assert_int_equal(e.count, 8);
    assert_int_equal(cJSON_GetArraySize(e.list), 8);
    static const char *const want_fields[] = {
        "earlier", "amount", "currency", "payment_method", "additional_params", "capture", "x", "y",
    };
    static const char *const want_messages[] = {
        "was already wrong", "must be a number", "must not be empty", "is required",
        "must be an object", "must be a boolean, not null", "is not a known field", "is not a known field",
    };
    for (int i = 0; i < 8; i++) {
        assert_string_equal(err_field(&e, i), want_fields[i]);
        assert_string_equal(err_message(&e, i), want_messages[i]);
    }
    verrs_free(&e);
    cJSON_Delete(obj);
}

static void error_list_ownership(void **state)
{
    (void)state;
    verrs e;
    verrs_init(&e);
    assert_non_null(e.list);
    assert_int_equal(e.count, 0);
    verrs_add(&e, "a.b", "must be at most %d characters (got %s)", 3, "four");
    assert_int_equal(e.count, 1);
    assert_string_equal(err_message(&e, 0), "must be at most 3 characters (got four)");
    cJSON *list = verrs_take(&e);
    assert_null(e.list);
    assert_int_equal(e.count, 0);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    char *text = cJSON_PrintUnformatted(list);
    assert_string_equal(text, "[{\"field\":\"a.b\",\"message\":\"must be at most 3 characters (got four)\"}]");
    cJSON_free(text);
    cJSON_Delete(list);
    verrs_free(&e);
}

static void lookups_treat_null_as_absent(void **state)
{
    (void)state;
    cJSON *obj = parse("{\"s\":\"x\",\"n\":null,\"i\":5}");
    assert_non_null(jv_get(obj, "s"));
    assert_null(jv_get(obj, "n"));
    assert_null(jv_get(obj, "missing"));
    assert_non_null(jv_get(obj, "i"));
    assert_null(jv_get(obj, "S"));
    assert_string_equal(jv_get_string(obj, "s"), "x");
    assert_null(jv_get_string(obj, "n"));
    assert_null(jv_get_string(obj, "i"));
    assert_null(jv_get_string(obj, "missing"));
    cJSON_Delete(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(required_and_missing),
        cmocka_unit_test(every_type),
        cmocka_unit_test(type_names),
        cmocka_unit_test(empty_strings),
        cmocka_unit_test(string_lengths),
        cmocka_unit_test(nulls),
        cmocka_unit_test(check_callbacks),
        cmocka_unit_test(unknown_fields),
        cmocka_unit_test(paths),
        cmocka_unit_test(nested_paths_in_problems),
        cmocka_unit_test(every_problem_is_collected),
        cmocka_unit_test(error_list_ownership),
        cmocka_unit_test(lookups_treat_null_as_absent),
    };
    return cmocka_run_group_tests_name("jsonv", tests, NULL, NULL);
}
