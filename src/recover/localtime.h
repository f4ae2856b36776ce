/* The cardholder's local time without the process's TZ (which is global and
 * not thread-safe): a table of time zones by country, refined by postal
 * code for countries that span several zones, with their UTC offsets and
 * daylight-saving rules. */
#ifndef RECOUP_RECOVER_LOCALTIME_H
#define RECOUP_RECOVER_LOCALTIME_H

#include <stddef.h>
#include <stdint.h>

struct rc_local {
    int hour;  /* 0-23 */
    int wday;  /* 0 = Sunday */
    int mday;  /* 1-31 */
    int month; /* 1-12 */
    int year;
    int offset_min; /* the UTC offset applied */
};

/* The zone of a country (ISO alpha-2) and postal code (may be NULL or ""):
 * an IANA name, or NULL when the country is unknown. */
const char *rc_zone_for(const char *country, const char *postal_code);
/* Whether an IANA zone name is one rc_local_time knows. */
int rc_zone_known(const char *zone);
/* Local time of utc_ms in zone (an IANA name; unknown names read as UTC). */
void rc_local_time(int64_t utc_ms, const char *zone, struct rc_local *out);

/* For many times in one zone: the zone's index once (-1 when unknown,
 * which reads as UTC), then the local time of each instant without a
 * lookup by name. */
int rc_zone_index(const char *zone);
void rc_local_time_idx(int64_t utc_ms, int zone_idx, struct rc_local *out);
/* The same for n instants in ascending order, reading the zone's rules
 * once when its offset does not change between the first and the last. */
void rc_local_times_idx(const int64_t *utc_ms, size_t n, int zone_idx, struct rc_local *out);

#endif
