/* Thin, purpose-named wrappers over libsodium. */
#ifndef RECOUP_CORE_CRYPTO_H
#define RECOUP_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_BYTES 32

int crypto_init(void);

/* Loads a 32-byte key stored as 64 hex characters in path; when the file does
 * not exist and create is set, generates one and writes it with mode 0600.
 * Refuses a key file readable by group or others. Returns 0 or -1 (with a
 * message in err). */
int crypto_load_or_create_key(const char *path, int create, uint8_t key[CRYPTO_KEY_BYTES],
                              char *err, size_t errsz);

/* Authenticated encryption (XSalsa20-Poly1305) of a short secret such as a
 * card number. The result is printable: "v1:" + base64(nonce || ciphertext).
 * Returns a malloc'd string or NULL. */
char *crypto_seal_text(const uint8_t key[CRYPTO_KEY_BYTES], const char *plain);
/* Reverses crypto_seal_text; returns a malloc'd plaintext or NULL when the
 * box was tampered with or sealed with another key. */
char *crypto_open_text(const uint8_t key[CRYPTO_KEY_BYTES], const char *sealed);

/* Hash of an API key secret for storage: BLAKE2b-256, hex. API keys are 190+
 * bits of randomness, so a slow password hash would add latency to every
 * request without making a stolen hash any easier to reverse. */
void crypto_hash_secret(const char *secret, char out_hex[65]);

/* Constant-time equality of two NUL-terminated strings of equal length. */
int crypto_equal(const char *a, const char *b);

/* Lower-case hex HMAC-SHA256 of msg under key. */
void crypto_hmac_sha256_hex(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                            char out_hex[65]);

/* SHA-256 of data as hex (fingerprints of request bodies). */
void crypto_sha256_hex(const void *data, size_t len, char out_hex[65]);

#endif
