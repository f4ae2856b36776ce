/* JSON renderings shared by every API: money with its currency's decimals,
 * instants as ISO-8601 UTC text. */
#ifndef RECOUP_CORE_JSONOUT_H
#define RECOUP_CORE_JSONOUT_H

#include <cjson/cJSON.h>
#include <stdint.h>

/* A JSON number with the currency's decimals (50.00, 5000, 1.234). */
cJSON *json_money(int64_t minor, const char *currency);
/* ISO-8601 UTC text, or null when has is 0. */
cJSON *json_time(int has, int64_t ms);
/* A string, or null when s is NULL or empty. */
cJSON *json_str_or_null(const char *s);

#endif
