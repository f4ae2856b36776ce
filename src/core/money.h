/* Money as int64 minor units plus an ISO 4217 code. Conversion to and from
 * decimal text happens only here, at the API edge, and is exact. */
#ifndef RECOUP_CORE_MONEY_H
#define RECOUP_CORE_MONEY_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum money_err {
    MONEY_OK = 0,
    MONEY_NOT_A_NUMBER,   /* not a JSON number or decimal string */
    MONEY_TOO_PRECISE,    /* more decimals than the currency allows */
    MONEY_OUT_OF_RANGE,   /* does not fit int64 minor units (or 1e15 major) */
};

/* Minor-unit exponent of an ISO 4217 alpha-3 code (upper case), or -1 when
 * the code is not a current ISO 4217 currency. */
int currency_exponent(const char *code);

/* Parses decimal text ("12", "12.5", "-0.01"; no exponent, no spaces, no
 * leading '+') into minor units of a currency with the given exponent. */
enum money_err money_parse_decimal(const char *s, int exponent, int64_t *minor);

/* Parses a JSON number, or a string holding decimal text, into minor units.
 * JSON numbers arrive as doubles; the decimals are counted on the shortest
 * text that reads back as the same double, which is what the sender wrote
 * unless it wrote more than 17 significant digits. */
enum money_err money_parse_json(const struct cJSON *v, int exponent, int64_t *minor);

/* Minor units as a number of major units (12.5 for 1250 USD cents), for
 * JSON numbers that a reader parses as a binary float anyway (webhook
 * bodies re-serialised by merchants' verifiers); an unknown currency
 * counts two decimals. */
double money_major(int64_t minor, const char *currency);

/* Writes minor units as decimal text with exactly `exponent` decimals
 * ("50.00", "5000", "1.234"). out needs 32 bytes. */
void money_format(int64_t minor, int exponent, char *out, size_t outsz);

/* An amount as whole major units and ten-thousandths of one: the common
 * scale of every ISO 4217 exponent (0 to 4). Comparing (major, frac4)
 * pairs orders amounts of different currencies exactly, at any size. */
struct money_scaled {
    int64_t major;
    int32_t frac4;
};
enum money_err money_parse_scaled(const char *s, struct money_scaled *out);
struct money_scaled money_to_scaled(int64_t minor, int exponent);

const char *money_err_message(enum money_err e);

/* Shortest decimal text that round-trips to d (out needs 32 bytes). */
void double_shortest(double d, char *out, size_t outsz);

#endif
