/* Internals shared by the tenancy files (and their tests): strict base64url, the JSON pre-scan, the
 * key store. Not part of the public API.
 *
 * Invariants: every decoder here is total (any bytes → a value or an error, never a crash) and writes
 * at most tenancy__b64url_decoded_len(n) bytes. */
#ifndef VG_TENANCY_TENANCY_INT_H
#define VG_TENANCY_TENANCY_INT_H

#include "tenancy/tenancy.h"

#include <openssl/evp.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bound of the bytes n base64url characters decode to. */
#define tenancy__b64url_decoded_len(n) (((n) / 4) * 3 + 2)
/* Characters base64url (unpadded) needs for n bytes. */
#define tenancy__b64url_encoded_len(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Strict RFC 7515 §2 base64url: alphabet [A-Za-z0-9_-], no padding, no whitespace, length mod 4 ≠ 1,
 * unused trailing bits zero (so every byte string has exactly one encoding). Decodes s[0..n) into out
 * (room for tenancy__b64url_decoded_len(n)); returns 0 and *out_len, or VG_EINVAL with *bad_pos the
 * offset of the first offending character (n for a bad length). */
int tenancy__b64url_decode(const char *s, size_t n, unsigned char *out, size_t *out_len, size_t *bad_pos);
/* Encodes without padding into out (room for tenancy__b64url_encoded_len(n) + 1, NUL-terminated);
 * returns the length. */
size_t tenancy__b64url_encode(const unsigned char *p, size_t n, char *out);

/* True if the JSON text s[0..n) nests objects/arrays at most max_depth deep. A cheap scan run before
 * jansson so that hostile nesting costs nothing; it tracks strings and escapes only, the parser does
 * the rest. */
bool tenancy__json_depth_ok(const char *s, size_t n, int max_depth);

/* Reads a whole file of at most max bytes into a malloc'd buffer (NUL-terminated; caller cleanses
 * and frees). Returns 0, VG_EIO (message names the path) or VG_ETOOLARGE. */
int tenancy__read_file(const char *path, size_t max, char **out, size_t *out_len, vg_error_t *err);

typedef enum { TENANCY__KEY_HMAC = 1, TENANCY__KEY_RSA, TENANCY__KEY_EC } tenancy__key_type_t;

typedef struct tenancy__key {
    char kid[TENANCY_KID_MAX + 1];
    bool has_kid;
    tenancy__key_type_t type;
    unsigned algorithms;     /* ⊆ the one algorithm of type */
    unsigned char *secret;   /* HMAC: owned, cleansed on free */
    size_t secret_len;
    EVP_PKEY *pkey;          /* RSA/EC: owned */
} tenancy__key_t;

/* The algorithm a key type can serve. */
unsigned tenancy__key_type_alg(tenancy__key_type_t t);
/* Appends the keys of cfg->keys[i] (one, or a JWKS's worth) to *keys and *n (realloc'd). On error the
 * arrays stay consistent (the caller frees them with tenancy__keys_free). */
int tenancy__keys_load(const tenancy_key_config_t *kc, size_t index, tenancy__key_t **keys, size_t *n,
                       vg_error_t *err);
void tenancy__keys_free(tenancy__key_t *keys, size_t n);

#endif
