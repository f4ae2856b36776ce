/* ISO-8601 instants as int64 milliseconds since the Unix epoch (UTC). */
#ifndef RECOUP_CORE_TIMEFMT_H
#define RECOUP_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Accepts YYYY-MM-DD, YYYY-MM-DDTHH:MM, YYYY-MM-DDTHH:MM:SS with an optional
 * fraction (any number of digits, kept to milliseconds), and an optional zone:
 * Z, +HH:MM, +HHMM or +HH. A value without a zone is taken as UTC. A space may
 * stand for the T. Calendar fields are range-checked (no 30 February).
 * Returns 0 on success, -1 on malformed input. */
int time_parse_iso8601(const char *s, int64_t *ms_out);

/* Like time_parse_iso8601, but the value must carry a time and a zone
 * (Z or an offset), as for instants received from other systems. */
int time_parse_iso8601_strict(const char *s, int64_t *ms_out);

/* Writes YYYY-MM-DDTHH:MM:SS.mmmZ; out needs 25 bytes. */
void time_format_ms(int64_t ms, char *out, size_t outsz);

/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
