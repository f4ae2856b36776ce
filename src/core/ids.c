#include "core/ids.h"

#include <sodium.h>
#include <string.h>

/* Bytes are drawn in blocks, since each libsodium call is a getrandom(2)
 * system call, and mapped to the alphabet by rejection: a byte at or above
 * the largest multiple of the alphabet size is dropped, so every symbol
 * stays equally likely (no modulo bias). */
void id_random(char *out, size_t len, const char *alphabet)
{
    uint32_t n = (uint32_t)strlen(alphabet);
    uint32_t limit = n > 0 && n <= 256 ? 256 - 256 % n : 0;
    unsigned char block[256];
    size_t used = sizeof block;
    for (size_t i = 0; i < len;) {
        if (limit == 0) {
            out[i++] = alphabet[randombytes_uniform(n)];
            continue;
        }
        if (used == sizeof block) {
            randombytes_buf(block, sizeof block);
            used = 0;
        }
        unsigned char b = block[used++];
        if (b < limit)
            out[i++] = alphabet[b % n];
    }
    sodium_memzero(block, sizeof block);
    out[len] = '\0';
}

void id_random_prefixed(char *out, size_t outsz, const char *prefix, size_t len, const char *alphabet)
{
    size_t pl = strlen(prefix);
    if (outsz < pl + len + 1) {
        if (outsz)
            out[0] = '\0';
        return;
    }
    memcpy(out, prefix, pl);
    id_random(out + pl, len, alphabet);
}

int id_matches(const char *s, size_t len, const char *alphabet)
{
    if (!s || strlen(s) != len)
        return 0;
    return strspn(s, alphabet) == len;
}
