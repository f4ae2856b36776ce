#include "core/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int crypto_init(void) { return sodium_init() < 0 ? -1 : 0; }

static int write_new_key(const char *path, uint8_t key[CRYPTO_KEY_BYTES], char *err, size_t errsz)
{
    randombytes_buf(key, CRYPTO_KEY_BYTES);
    char hex[CRYPTO_KEY_BYTES * 2 + 2];
    sodium_bin2hex(hex, sizeof hex - 1, key, CRYPTO_KEY_BYTES);
    size_t n = strlen(hex);
    hex[n] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "cannot create key file %s: %s", path, strerror(errno));
        return -1;
    }
    int ok = write(fd, hex, n + 1) == (ssize_t)(n + 1) && fsync(fd) == 0;
    close(fd);
    sodium_memzero(hex, sizeof hex);
    if (!ok) {
        snprintf(err, errsz, "cannot write key file %s", path);
        unlink(path);
        return -1;
    }
    return 0;
}

int crypto_load_or_create_key(const char *path, int create, uint8_t key[CRYPTO_KEY_BYTES],
                              char *err, size_t errsz)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT && create)
            return write_new_key(path, key, err, errsz);
        snprintf(err, errsz, "cannot open key file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        snprintf(err, errsz, "key file %s must not be readable by group or others (chmod 600)", path);
        return -1;
    }
    char hex[CRYPTO_KEY_BYTES * 2 + 8];
    ssize_t n = read(fd, hex, sizeof hex - 1);
    close(fd);
    if (n < CRYPTO_KEY_BYTES * 2) {
        snprintf(err, errsz, "key file %s is too short: it must hold 64 hex characters", path);
        return -1;
    }
    hex[n] = '\0';
    size_t binlen = 0;
    if (sodium_hex2bin(key, CRYPTO_KEY_BYTES, hex, (size_t)n, " \r\n", &binlen, NULL) != 0 ||
        binlen != CRYPTO_KEY_BYTES) {
        sodium_memzero(hex, sizeof hex);
        snprintf(err, errsz, "key file %s does not hold 64 hex characters", path);
        return -1;
    }
    sodium_memzero(hex, sizeof hex);
    return 0;
}

char *crypto_seal_text(const uint8_t key[CRYPTO_KEY_BYTES], const char *plain)
{
    size_t plen = strlen(plain);
    size_t boxlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
    unsigned char *box = malloc(boxlen);
    if (!box)
        return NULL;
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, plen, box, key);
    size_t b64len = sodium_base64_ENCODED_LEN(boxlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(b64len + 3);
    if (out) {
        memcpy(out, "v1:", 3);
        sodium_bin2base64(out + 3, b64len, box, boxlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    free(box);
    return out;
}

char *crypto_open_text(const uint8_t key[CRYPTO_KEY_BYTES], const char *sealed)
{
    if (!sealed || strncmp(sealed, "v1:", 3) != 0)
        return NULL;
    const char *b64 = sealed + 3;
    size_t b64len = strlen(b64);
    size_t maxbin = b64len * 3 / 4 + 3;
    unsigned char *box = malloc(maxbin);
    if (!box)
        return NULL;
    size_t boxlen = 0;
    char *plain = NULL;
    if (sodium_base642bin(box, maxbin, b64, b64len, NULL, &boxlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        boxlen >= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        size_t plen = boxlen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
        plain = malloc(plen + 1);
        if (plain && crypto_secretbox_open_easy((unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
                                                boxlen - crypto_secretbox_NONCEBYTES, box, key) == 0) {
            plain[plen] = '\0';
        } else {
            free(plain);
            plain = NULL;
        }
    }
    free(box);
    return plain;
}

void crypto_hash_secret(const char *secret, char out_hex[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)secret, strlen(secret), NULL, 0);
    sodium_bin2hex(out_hex, 65, h, sizeof h);
}

int crypto_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return sodium_memcmp(a, b, la) == 0;
}

void crypto_hmac_sha256_hex(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                            char out_hex[65])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, msglen);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out_hex, 65, mac, sizeof mac);
}

void crypto_sha256_hex(const void *data, size_t len, char out_hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out_hex, 65, h, sizeof h);
}
