/* Verification keys: PEM public keys and certificates, HMAC secrets (file or inline) and JWKS
 * documents, turned into typed keys with an algorithm allow-list.
 *
 * Invariants of every loaded key: its algorithms are non-empty and ⊆ the one algorithm its type can
 * serve (HMAC ⇒ HS256, RSA ⇒ RS256, EC ⇒ ES256), so no token can make a key act as another type;
 * HMAC secrets are ≥ 32 bytes and never PEM text; RSA moduli are 2048..16384 bits; EC keys are P-256
 * with the point on the curve; private key material is refused; every copy of a secret is cleansed
 * before it is freed. */
#include "tenancy/tenancy_int.h"
#include "util/log.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Algorithm names: keys are typed by them (a key serves the algorithms of its type). */
unsigned tenancy_alg_parse(const char *s, size_t len) {
    if (len != 5) return 0;
    if (!memcmp(s, "HS256", 5)) return TENANCY_ALG_HS256;
    if (!memcmp(s, "RS256", 5)) return TENANCY_ALG_RS256;
    if (!memcmp(s, "ES256", 5)) return TENANCY_ALG_ES256;
    return 0;
}

const char *tenancy_alg_name(unsigned alg) {
    switch (alg) {
    case TENANCY_ALG_HS256: return "HS256";
    case TENANCY_ALG_RS256: return "RS256";
    case TENANCY_ALG_ES256: return "ES256";
    }
    return "?";
}

#define SECRET_FILE_MAX 65536
#define PEM_FILE_MAX (1u << 20)
#define JWKS_FILE_MAX (1u << 20)
#define JWKS_KEYS_MAX 64
#define RSA_BITS_MAX 16384

unsigned tenancy__key_type_alg(tenancy__key_type_t t) {
    switch (t) {
    case TENANCY__KEY_HMAC: return TENANCY_ALG_HS256;
    case TENANCY__KEY_RSA: return TENANCY_ALG_RS256;
    case TENANCY__KEY_EC: return TENANCY_ALG_ES256;
    }
    return 0;
}

static const char *type_name(tenancy__key_type_t t) {
    switch (t) {
    case TENANCY__KEY_HMAC: return "HMAC secret";
    case TENANCY__KEY_RSA: return "RSA key";
    case TENANCY__KEY_EC: return "EC P-256 key";
    }
    return "?";
}

static void key_clear(tenancy__key_t *k) {
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof *k);
}

void tenancy__keys_free(tenancy__key_t *keys, size_t n) {
    for (size_t i = 0; i < n; i++) key_clear(&keys[i]);
    free(keys);
}

static int append(tenancy__key_t **keys, size_t *n, tenancy__key_t *k, const char *what, vg_error_t *err) {
    if (*n >= TENANCY_KEYS_MAX) {
        key_clear(k);
        return vg_error_set(err, VG_ECONFIG, "%s: more than %d keys", what, TENANCY_KEYS_MAX);
    }
    tenancy__key_t *nk = realloc(*keys, (*n + 1) * sizeof *nk);
    if (!nk) {
        key_clear(k);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    nk[(*n)++] = *k;
    *keys = nk;
    memset(k, 0, sizeof *k);
    return 0;
}

static int set_kid(tenancy__key_t *k, const char *kid, size_t len, const char *what, vg_error_t *err) {
    if (len == 0 || len > TENANCY_KID_MAX)
        return vg_error_set(err, VG_ECONFIG, "%s: kid must have 1..%d bytes", what, TENANCY_KID_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)kid[i] < 0x20 || kid[i] == 0x7f)
            return vg_error_set(err, VG_ECONFIG, "%s: kid contains a control character", what);
    memcpy(k->kid, kid, len);
    k->kid[len] = '\0';
    k->has_kid = true;
    return 0;
}

static int take_secret(tenancy__key_t *k, const unsigned char *s, size_t len, const char *what, vg_error_t *err) {
    static const char pem[] = "-----BEGIN";
    if (len >= sizeof pem - 1)
        for (size_t i = 0; i + sizeof pem - 1 <= len && i < 64; i++)
            if (!memcmp(s + i, pem, sizeof pem - 1))
                return vg_error_set(err, VG_ECONFIG,
                                    "%s: the HMAC secret is PEM text; a public key used as an HMAC secret is the "
                                    "algorithm-confusion mistake — use at least %d random bytes",
                                    what, TENANCY_HMAC_SECRET_MIN);
    if (len < TENANCY_HMAC_SECRET_MIN)
        return vg_error_set(err, VG_ECONFIG, "%s: HMAC secret has %zu bytes, at least %d are needed", what, len,
                            TENANCY_HMAC_SECRET_MIN);
    k->secret = malloc(len);
    if (!k->secret) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(k->secret, s, len);
    k->secret_len = len;
    k->type = TENANCY__KEY_HMAC;
    return 0;
}

/* Sets k->type from a public key after checking it is one vigil accepts. Takes ownership of pk. */
static int take_pkey(tenancy__key_t *k, EVP_PKEY *pk, const char *what, vg_error_t *err) {
    int rc = 0;
    int base = EVP_PKEY_get_base_id(pk);
    if (base == EVP_PKEY_RSA) {
        int bits = EVP_PKEY_get_bits(pk);
        if (bits < TENANCY_RSA_BITS_MIN || bits > RSA_BITS_MAX)
            rc = vg_error_set(err, VG_ECONFIG, "%s: RSA key has %d bits, %d..%d are accepted", what, bits,
                              TENANCY_RSA_BITS_MIN, RSA_BITS_MAX);
        else
            k->type = TENANCY__KEY_RSA;
    } else if (base == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        EVP_PKEY_CTX *ctx = NULL;
        if (EVP_PKEY_get_group_name(pk, group, sizeof group, &glen) != 1 || strcmp(group, "prime256v1") != 0)
            rc = vg_error_set(err, VG_ECONFIG, "%s: EC key is not on P-256 (%s)", what, group[0] ? group : "unknown");
        else if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) || EVP_PKEY_public_check(ctx) != 1)
            rc = vg_error_set(err, VG_ECONFIG, "%s: EC public key is not a valid P-256 point", what);
        else
            k->type = TENANCY__KEY_EC;
        EVP_PKEY_CTX_free(ctx);
    } else {
        rc = vg_error_set(err, VG_ECONFIG, "%s: unsupported key type %s (RSA or EC P-256 expected)", what,
                          EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "unknown");
    }
    ERR_clear_error();
    if (rc) EVP_PKEY_free(pk);
    else k->pkey = pk;
    return rc;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static bool contains(const char *s, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(s + i, needle, m)) return true;
    return false;
}

static int load_pem(tenancy__key_t *k, const char *pem, size_t len, const char *what, vg_error_t *err) {
    if (contains(pem, len, "PRIVATE KEY-----"))
        return vg_error_set(err, VG_ECONFIG, "%s: PEM contains a private key; give vigil the public key only", what);
    if (len > PEM_FILE_MAX) return vg_error_set(err, VG_ECONFIG, "%s: PEM too large", what);
    EVP_PKEY *pk = NULL;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (b) pk = PEM_read_bio_PUBKEY(b, NULL, no_passphrase, NULL);
    BIO_free(b);
    if (!pk) {
        ERR_clear_error();
        b = BIO_new_mem_buf(pem, (int)len);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
        if (x) pk = X509_get_pubkey(x);
        X509_free(x);
        BIO_free(b);
    }
    ERR_clear_error();
    if (!pk) return vg_error_set(err, VG_ECONFIG, "%s: no PUBLIC KEY or CERTIFICATE PEM block found", what);
    return take_pkey(k, pk, what, err);
}

/* ---- JWKS ---- */

/* A base64url member of a JWK, decoded into a malloc'd buffer of ≤ max bytes. */
static int jwk_bytes(json_t *jwk, const char *name, size_t max, unsigned char **out, size_t *out_len,
                     const char *what, vg_error_t *err) {
    *out = NULL;
    json_t *m = json_object_get(jwk, name);
    if (!json_is_string(m)) return vg_error_set(err, VG_ECONFIG, "%s: member %s missing or not a string", what, name);
    const char *s = json_string_value(m);
    size_t n = json_string_length(m), bad = 0;
    if (n == 0 || n > tenancy__b64url_encoded_len(max))
        return vg_error_set(err, VG_ECONFIG, "%s: member %s has a bad length", what, name);
    unsigned char *buf = malloc(tenancy__b64url_decoded_len(n));
    if (!buf) return vg_error_set(err, VG_ENOMEM, "out of memory");
    if (tenancy__b64url_decode(s, n, buf, out_len, &bad) != 0) {
        free(buf);
        return vg_error_set(err, VG_ECONFIG, "%s: member %s is not canonical base64url (at character %zu)", what,
                            name, bad);
    }
    *out = buf;
    return 0;
}

static int from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out) {
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    int ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    ERR_clear_error();
    return ok ? 0 : -1;
}

static int jwk_rsa(tenancy__key_t *k, json_t *jwk, const char *what, vg_error_t *err) {
    unsigned char *n = NULL, *e = NULL;
    size_t nl = 0, el = 0;
    int rc = jwk_bytes(jwk, "n", RSA_BITS_MAX / 8, &n, &nl, what, err);
    if (!rc) rc = jwk_bytes(jwk, "e", 8, &e, &el, what, err);
    if (rc) {
        free(n);
        free(e);
        return rc;
    }
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;
    if (!bn || !be || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) || from_params("RSA", bld, &pk) != 0 ||
        BN_is_odd(be) == 0 || BN_is_one(be))
        rc = vg_error_set(err, VG_ECONFIG, "%s: invalid RSA public key", what);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    if (rc) {
        EVP_PKEY_free(pk);
        return rc;
    }
    return take_pkey(k, pk, what, err);
}

static int jwk_ec(tenancy__key_t *k, json_t *jwk, const char *what, vg_error_t *err) {
    unsigned char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    int rc = jwk_bytes(jwk, "x", 32, &x, &xl, what, err);
    if (!rc) rc = jwk_bytes(jwk, "y", 32, &y, &yl, what, err);
    if (!rc && (xl != 32 || yl != 32)) rc = vg_error_set(err, VG_ECONFIG, "%s: P-256 x and y must be 32 bytes", what);
    unsigned char pub[65];
    EVP_PKEY *pk = NULL;
    if (!rc) {
        pub[0] = 0x04; /* uncompressed point */
        memcpy(pub + 1, x, 32);
        memcpy(pub + 33, y, 32);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) ||
            from_params("EC", bld, &pk) != 0)
            rc = vg_error_set(err, VG_ECONFIG, "%s: invalid P-256 public key", what);
        OSSL_PARAM_BLD_free(bld);
    }
    free(x);
    free(y);
    if (rc) {
        EVP_PKEY_free(pk);
        return rc;
    }
    return take_pkey(k, pk, what, err);
}

static int jwk_oct(tenancy__key_t *k, json_t *jwk, const char *what, vg_error_t *err) {
    unsigned char *s = NULL;
    size_t sl = 0;
    int rc = jwk_bytes(jwk, "k", SECRET_FILE_MAX, &s, &sl, what, err);
    if (rc) return rc;
    rc = take_secret(k, s, sl, what, err);
    OPENSSL_cleanse(s, sl);
    free(s);
    return rc;
}

static void skip(const char *what, const char *kid, const char *reason) {
    vg_log_warn("tenancy", "JWKS key skipped", VG_LS("source", what), VG_LS("kid", kid ? kid : ""),
                VG_LS("reason", reason));
}

static int load_jwks(const char *json, size_t len, unsigned allowed, const char *src, tenancy__key_t **keys,
                     size_t *n, vg_error_t *err) {
    if (!tenancy__json_depth_ok(json, len, 8))
        return vg_error_set(err, VG_ECONFIG, "%s: JWKS nests too deeply", src);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return vg_error_set(err, VG_ECONFIG, "%s: JWKS is not valid JSON (line %d: %s)", src, je.line, je.text);
    int rc = 0;
    size_t usable = 0;
    json_t *arr = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > JWKS_KEYS_MAX) {
        rc = vg_error_set(err, VG_ECONFIG, "%s: a JWKS is {\"keys\": [1..%d JWKs]}", src, JWKS_KEYS_MAX);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(arr) && !rc; i++) {
        json_t *jwk = json_array_get(arr, i);
        char what[256];
        tenancy__key_t k;
        memset(&k, 0, sizeof k);
        snprintf(what, sizeof what, "%s keys[%zu]", src, i);
        if (!json_is_object(jwk)) {
            rc = vg_error_set(err, VG_ECONFIG, "%s: not an object", what);
            break;
        }
        json_t *kid = json_object_get(jwk, "kid"), *kty = json_object_get(jwk, "kty");
        json_t *use = json_object_get(jwk, "use"), *alg = json_object_get(jwk, "alg");
        json_t *ops = json_object_get(jwk, "key_ops");
        const char *kids = json_string_value(kid);
        if (kid && (!json_is_string(kid) || (rc = set_kid(&k, kids, json_string_length(kid), what, err)) != 0)) {
            if (!rc) rc = vg_error_set(err, VG_ECONFIG, "%s: kid is not a string", what);
            break;
        }
        if (json_object_get(jwk, "d") || json_object_get(jwk, "p")) {
            rc = vg_error_set(err, VG_ECONFIG, "%s: JWK holds private key material; publish public keys only", what);
            break;
        }
        if (!json_is_string(kty)) {
            rc = vg_error_set(err, VG_ECONFIG, "%s: kty missing", what);
            break;
        }
        if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
            skip(what, kids, "use is not sig");
            continue;
        }
        if (ops) {
            bool verify = false;
            size_t j;
            json_t *op;
            json_array_foreach(ops, j, op) if (json_is_string(op) && !strcmp(json_string_value(op), "verify")) verify = true;
            if (!verify) {
                skip(what, kids, "key_ops lacks verify");
                continue;
            }
        }
        unsigned want = allowed;
        if (alg) {
            unsigned a = json_is_string(alg) ? tenancy_alg_parse(json_string_value(alg), json_string_length(alg)) : 0;
            if (!a) {
                skip(what, kids, "alg not supported");
                continue;
            }
            want &= a;
        }
        const char *t = json_string_value(kty);
        if (!strcmp(t, "RSA")) {
            if (!(want & TENANCY_ALG_RS256)) { skip(what, kids, "RS256 not in the allow-list"); continue; }
            rc = jwk_rsa(&k, jwk, what, err);
        } else if (!strcmp(t, "EC")) {
            json_t *crv = json_object_get(jwk, "crv");
            if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256") != 0) { skip(what, kids, "crv is not P-256"); continue; }
            if (!(want & TENANCY_ALG_ES256)) { skip(what, kids, "ES256 not in the allow-list"); continue; }
            rc = jwk_ec(&k, jwk, what, err);
        } else if (!strcmp(t, "oct")) {
            if (!(want & TENANCY_ALG_HS256)) { skip(what, kids, "HS256 not in the allow-list"); continue; }
            rc = jwk_oct(&k, jwk, what, err);
        } else {
            skip(what, kids, "kty not supported");
            continue;
        }
        if (rc) {
            key_clear(&k);
            break;
        }
        k.algorithms = want & tenancy__key_type_alg(k.type);
        rc = append(keys, n, &k, what, err);
        usable++;
    }
    if (!rc && usable == 0) rc = vg_error_set(err, VG_ECONFIG, "%s: no usable key in the JWKS", src);
out:
    json_decref(root);
    return rc;
}

/* Re-labels a file error as a config error of the key entry. */
static int wrap(vg_error_t *err, const char *what) {
    char msg[VG_ERROR_MSG_MAX] = "";
    if (err) snprintf(msg, sizeof msg, "%s", err->msg);
    return vg_error_set(err, VG_ECONFIG, "%s: %s", what, msg);
}

int tenancy__keys_load(const tenancy_key_config_t *kc, size_t index, tenancy__key_t **keys, size_t *n,
                       vg_error_t *err) {
    char what[TENANCY_KID_MAX + 64];
    /* NULL and "" both mean "not set" for the names and paths (a config layer may hand either). */
    tenancy_key_config_t c = *kc;
    if (c.kid && !*c.kid) c.kid = NULL;
    if (c.public_key_file && !*c.public_key_file) c.public_key_file = NULL;
    if (c.public_key_pem && !*c.public_key_pem) c.public_key_pem = NULL;
    if (c.secret_file && !*c.secret_file) c.secret_file = NULL;
    if (c.jwks_file && !*c.jwks_file) c.jwks_file = NULL;
    kc = &c;
    if (kc->kid) snprintf(what, sizeof what, "auth.jwt.keys[%zu] (kid %s)", index, kc->kid);
    else snprintf(what, sizeof what, "auth.jwt.keys[%zu]", index);
    int sources = !!kc->public_key_file + !!kc->public_key_pem + !!kc->secret_file + !!kc->secret +
                  !!kc->jwks_file + !!kc->jwks_json;
    if (sources != 1)
        return vg_error_set(err, VG_ECONFIG,
                            "%s: exactly one of public_key_file, secret_file, secret, jwks_file is needed", what);
    const unsigned all = TENANCY_ALG_HS256 | TENANCY_ALG_RS256 | TENANCY_ALG_ES256;
    if (kc->algorithms == 0 || (kc->algorithms & ~all))
        return vg_error_set(err, VG_ECONFIG, "%s: algorithms must list some of HS256, RS256, ES256", what);

    if (kc->jwks_file || kc->jwks_json) {
        if (kc->kid) return vg_error_set(err, VG_ECONFIG, "%s: kid comes from the JWKS, not the key entry", what);
        if (kc->jwks_json) return load_jwks(kc->jwks_json, kc->jwks_len, kc->algorithms, what, keys, n, err);
        char *buf = NULL;
        size_t len = 0;
        int rc = tenancy__read_file(kc->jwks_file, JWKS_FILE_MAX, &buf, &len, err);
        if (rc) return rc == VG_ENOMEM ? rc : wrap(err, what);
        rc = load_jwks(buf, len, kc->algorithms, kc->jwks_file, keys, n, err);
        OPENSSL_cleanse(buf, len); /* a JWKS may hold oct secrets */
        free(buf);
        return rc;
    }

    tenancy__key_t k;
    memset(&k, 0, sizeof k);
    int rc = kc->kid ? set_kid(&k, kc->kid, strlen(kc->kid), what, err) : 0;
    if (!rc) {
        if (kc->secret) {
            rc = take_secret(&k, (const unsigned char *)kc->secret, kc->secret_len, what, err);
        } else if (kc->public_key_pem) {
            rc = load_pem(&k, kc->public_key_pem, strlen(kc->public_key_pem), what, err);
        } else {
            const char *path = kc->secret_file ? kc->secret_file : kc->public_key_file;
            char *buf = NULL;
            size_t len = 0;
            rc = tenancy__read_file(path, kc->secret_file ? SECRET_FILE_MAX : PEM_FILE_MAX, &buf, &len, err);
            if (rc && rc != VG_ENOMEM) {
                rc = wrap(err, what);
            } else if (!rc && kc->secret_file) {
                size_t sl = len;
                if (sl && buf[sl - 1] == '\n') sl--;
                if (sl && buf[sl - 1] == '\r') sl--;
                rc = take_secret(&k, (const unsigned char *)buf, sl, what, err);
            } else if (!rc) {
                rc = load_pem(&k, buf, len, what, err);
            }
            if (buf) OPENSSL_cleanse(buf, len);
            free(buf);
        }
    }
    if (!rc) {
        unsigned fit = tenancy__key_type_alg(k.type);
        if (kc->algorithms & ~fit) {
            unsigned bad = kc->algorithms & ~fit;
            rc = vg_error_set(err, VG_ECONFIG, "%s: algorithm %s cannot be used with an %s (only %s)", what,
                              tenancy_alg_name(bad & -bad), type_name(k.type), tenancy_alg_name(fit));
        }
        k.algorithms = kc->algorithms & fit;
    }
    if (rc) {
        key_clear(&k);
        return rc;
    }
    return append(keys, n, &k, what, err);
}
