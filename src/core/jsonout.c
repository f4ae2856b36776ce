#include "core/jsonout.h"

#include "core/money.h"
#include "core/timefmt.h"

cJSON *json_money(int64_t minor, const char *currency)
{
    char text[40];
    int e = currency_exponent(currency);
    money_format(minor, e < 0 ? 2 : e, text, sizeof text);
    return cJSON_CreateRaw(text);
}

cJSON *json_time(int has, int64_t ms)
{
    if (!has)
        return cJSON_CreateNull();
    char t[40];
    time_format_ms(ms, t, sizeof t);
    return cJSON_CreateString(t);
}

cJSON *json_str_or_null(const char *s) { return s && *s ? cJSON_CreateString(s) : cJSON_CreateNull(); }
