/* The fake merchant's signature checks, written independently of recoup's
 * own signing code so that the tests compare two implementations.
 *
 * Published merchant verifiers of the webhook signature come in two kinds:
 * one signs the raw body, an older one re-serialises the parsed body with
 * Python's json.dumps(json.loads(body), separators=(",", ":")). pyjson_compact
 * reproduces that re-serialisation: keys in their original order (a repeated
 * key keeps its first position and its last value, as a dict does), strings
 * with ensure_ascii escapes (lower-case \uXXXX, surrogate pairs above the
 * BMP), integer literals as integers of any size, and other numbers as
 * Python's float repr (12.0 stays 12.0, 1e16 becomes 1e+16). */
#ifndef RECOUP_FAKE_MERCHANT_PYJSON_H
#define RECOUP_FAKE_MERCHANT_PYJSON_H

#include <stddef.h>

/* The compact re-serialisation of a JSON text (malloc'd, NUL-terminated),
 * or NULL when Python's json.loads would reject the text. */
char *pyjson_compact(const char *text, size_t len);

/* Python's repr() of the float that the JSON number text denotes, into out
 * (at least 32 bytes). */
void pyjson_float_repr(const char *number_text, char *out, size_t outsz);

/* Lower-case hex HMAC-SHA256 (65 bytes with the NUL) of msg || "+" || suffix. */
void sig_hmac_hex(const char *secret, const char *msg, size_t msg_len, const char *suffix, char out[65]);

/* Whether sig_hex is the signature of the raw body with this expiration. */
int sig_raw_ok(const char *secret, const char *body, size_t len, const char *expiration, const char *sig_hex);
/* Whether sig_hex is the signature of the re-serialised body. */
int sig_compact_ok(const char *secret, const char *body, size_t len, const char *expiration, const char *sig_hex);

#endif
