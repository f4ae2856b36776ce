#include "core/ids.h"

#include <sodium.h>
#include <string.h>

void id_random(char *out, size_t len, const char *alphabet)
{
    uint32_t n = (uint32_t)strlen(alphabet);
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[randombytes_uniform(n)];
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
