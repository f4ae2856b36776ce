/* Payment instrument checks: card numbers (Luhn, brand, masking), expiry,
 * CVV, and Portuguese mobile numbers for MB WAY. Pure functions. */
#ifndef RECOUP_GATEWAY_CARD_H
#define RECOUP_GATEWAY_CARD_H

#include <stddef.h>
#include <stdint.h>

#define CARD_MAX_DIGITS 19
#define CARD_MIN_DIGITS 12

/* Copies the digits of s into out (size >= 20), dropping spaces and dashes
 * between groups. Returns the digit count, or -1 when s holds anything else
 * or a count outside 12..19. */
int card_normalize(const char *s, char *out, size_t outsz);
int card_luhn_ok(const char *digits);
/* visa, mastercard, amex, discover, jcb, diners, unionpay, maestro, unknown */
const char *card_brand(const char *digits);
/* First six and last four digits, the rest as '*'. */
void card_mask(const char *digits, char *out, size_t outsz);

/* Month 1..12 and a four-digit year from a JSON string or integer text. */
int card_parse_month(const char *s, int *month);
int card_parse_year(const char *s, int *year);
/* Whether month/year is the current month or later, at now_ms. */
int card_expiry_valid(int month, int year, int64_t now_ms);
/* 3 digits, or 4 for American Express. */
int card_cvv_ok(const char *cvv, const char *brand);

/* Normalises a Portuguese mobile number (+351, 00351 or none; spaces
 * allowed) into its nine national digits. Returns 0, or -1 when it is not a
 * Portuguese mobile number (91, 92, 93 or 96 followed by seven digits). */
int mbway_normalize_phone(const char *s, char out[10]);

#endif
