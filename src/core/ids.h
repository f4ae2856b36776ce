/* Random identifiers from libsodium's CSPRNG. */
#ifndef RECOUP_CORE_IDS_H
#define RECOUP_CORE_IDS_H

#include <stddef.h>

#define ID_UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define ID_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define ID_LOWER_ALNUM "abcdefghijklmnopqrstuvwxyz0123456789"
#define ID_HEX "0123456789abcdef"

/* Writes len characters drawn uniformly from alphabet, then a NUL; out must
 * hold len + 1 bytes. */
void id_random(char *out, size_t len, const char *alphabet);

/* prefix followed by len characters of alphabet; out holds strlen(prefix)+len+1. */
void id_random_prefixed(char *out, size_t outsz, const char *prefix, size_t len, const char *alphabet);

/* Whether s is exactly len characters of alphabet (for cheap rejection of
 * malformed ids before any lookup). */
int id_matches(const char *s, size_t len, const char *alphabet);

#endif
