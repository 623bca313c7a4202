/* Test helpers: keys generated with OpenSSL at run time and tokens signed in the test, so the JWT
 * tests need no fixtures. Header-only (static functions) so each test binary gets its own copy. */
#ifndef VG_TESTS_TENANCY_TOKENS_H
#define VG_TESTS_TENANCY_TOKENS_H

#include "tenancy/tenancy_int.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* base64url of n bytes, malloc'd. */
static char *tk_b64(const void *p, size_t n) {
    char *s = malloc(tenancy__b64url_encoded_len(n) + 1);
    if (s) tenancy__b64url_encode(p, n, s);
    return s;
}

/* "b64(hdr).b64(payload)", malloc'd. */
static char *tk_signing_input(const char *hdr, const char *payload) {
    char *h = tk_b64(hdr, strlen(hdr)), *p = tk_b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *s = malloc(n);
    snprintf(s, n, "%s.%s", h, p);
    free(h);
    free(p);
    return s;
}

/* signing input + "." + b64(sig), malloc'd. */
static char *tk_with_sig(const char *hdr, const char *payload, const unsigned char *sig, size_t sl) {
    char *in = tk_signing_input(hdr, payload), *s = tk_b64(sig, sl);
    size_t n = strlen(in) + strlen(s) + 2;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s", in, s);
    free(in);
    free(s);
    return t;
}

static char *tk_hs256(const char *hdr, const char *payload, const void *secret, size_t slen) {
    char *in = tk_signing_input(hdr, payload);
    unsigned char mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)in, strlen(in), mac, &ml);
    free(in);
    return tk_with_sig(hdr, payload, mac, ml);
}

/* DER signature over the signing input with SHA-256 (RSA PKCS#1 v1.5 or ECDSA). */
static unsigned char *tk_der_sign(const char *hdr, const char *payload, EVP_PKEY *pk, size_t *sl) {
    char *in = tk_signing_input(hdr, payload);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    *sl = 0;
    EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pk);
    EVP_DigestSign(m, NULL, sl, (const unsigned char *)in, strlen(in));
    unsigned char *sig = malloc(*sl);
    EVP_DigestSign(m, sig, sl, (const unsigned char *)in, strlen(in));
    EVP_MD_CTX_free(m);
    free(in);
    return sig;
}

/* RS256 for an RSA key, ES256 (JOSE r||s) for an EC key. */
static char *tk_sign(const char *hdr, const char *payload, EVP_PKEY *pk) {
    size_t sl;
    unsigned char *der = tk_der_sign(hdr, payload, pk, &sl);
    char *t;
    if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        unsigned char raw[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        t = tk_with_sig(hdr, payload, raw, 64);
    } else {
        t = tk_with_sig(hdr, payload, der, sl);
    }
    free(der);
    return t;
}

static char *tk_pub_pem(EVP_PKEY *pk) {
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, pk);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

/* The base64url of a BIGNUM parameter, padded to `pad` bytes (0: minimal). */
static char *tk_bn_param(EVP_PKEY *pk, const char *name, int pad) {
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(pk, name, &bn);
    int n = pad ? pad : BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)n);
    BN_bn2binpad(bn, buf, n);
    char *s = tk_b64(buf, (size_t)n);
    free(buf);
    BN_free(bn);
    return s;
}

/* One JWK (public) of an RSA or EC key, malloc'd JSON text. */
static char *tk_jwk(EVP_PKEY *pk, const char *kid, const char *extra) {
    char *out = malloc(4096);
    if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
        char *x = tk_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = tk_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        snprintf(out, 4096, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}", kid, x, y,
                 extra ? extra : "");
        free(x);
        free(y);
    } else {
        char *n = tk_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, 0), *e = tk_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, 0);
        snprintf(out, 4096, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n, e,
                 extra ? extra : "");
        free(n);
        free(e);
    }
    return out;
}

#endif
