/* JWT verification: compact JWS (header.payload.signature) checked against configured keys with
 * HS256 / RS256 / ES256 on OpenSSL 3, then the registered claims and vigil's tenant/admin claims.
 *
 * Order of work, so that untrusted bytes reach as little code as possible: size limit → three
 * segments → strict base64url of all three → header JSON (depth-checked, duplicates rejected) → header
 * policy (alg allow-list, no "none", no crit/b64/zip/cty) → key selection and signature over the
 * exact signing input → only then the payload JSON → time claims with leeway → iss/aud → tenant and
 * admin. Everything after a failed check is skipped; nothing is cached between calls.
 *
 * Invariants: the token's alg is compared against the chosen key's allow-list, which tenancy__keys_load
 * has already restricted to the key's type, and sig_verify() re-checks the (type, alg) pair, so an RSA
 * public key can never be used as an HMAC secret; HMAC tags are compared with CRYPTO_memcmp; ES256
 * signatures are exactly 64 bytes r||s (DER is refused); the verifier is read-only after construction. */
#include "tenancy/tenancy_int.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/hmac.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LEEWAY_MAX_MS 3600000
#define TOKEN_MIN_LIMIT 256
#define CLAIM_NAME_MAX 256

struct tenancy_verifier {
    tenancy__key_t *keys; /* owned */
    size_t n_keys;
    int64_t leeway_ms;
    size_t max_token_len;
    char *issuer, *audience;     /* owned, NULL = unchecked */
    char *tenant_claim;          /* owned */
    char *admin_claim;           /* owned, NULL = no admins */
    char *admin_value;           /* owned, NULL = claim must be true */
};

void tenancy_auth_config_init(tenancy_auth_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->leeway_ms = TENANCY_LEEWAY_DEFAULT_MS;
    cfg->max_token_len = TENANCY_TOKEN_MAX_DEFAULT;
    cfg->tenant_claim = "org_id";
}

/* ---- construction ---- */

static int dup_opt(const char *s, char **out, const char *what, vg_error_t *err) {
    *out = NULL;
    if (!s || !*s) return 0;
    if (strlen(s) > CLAIM_NAME_MAX * 4) return vg_error_set(err, VG_ECONFIG, "auth.jwt.%s is too long", what);
    *out = strdup(s);
    return *out ? 0 : vg_error_set(err, VG_ENOMEM, "out of memory");
}

void tenancy_verifier_free(tenancy_verifier_t *v) {
    if (!v) return;
    tenancy__keys_free(v->keys, v->n_keys);
    free(v->issuer);
    free(v->audience);
    free(v->tenant_claim);
    free(v->admin_claim);
    free(v->admin_value);
    free(v);
}

size_t tenancy_verifier_key_count(const tenancy_verifier_t *v) { return v ? v->n_keys : 0; }

int tenancy_verifier_new(const tenancy_auth_config_t *cfg, tenancy_verifier_t **out, vg_error_t *err) {
    if (!out) return vg_error_set(err, VG_EINVAL, "tenancy_verifier_new: no out");
    *out = NULL;
    if (!cfg || (cfg->n_keys && !cfg->keys)) return vg_error_set(err, VG_EINVAL, "tenancy_verifier_new: no config");
    if (cfg->n_keys == 0) return vg_error_set(err, VG_ECONFIG, "auth.jwt.keys: at least one key is needed");
    if (cfg->leeway_ms < 0 || cfg->leeway_ms > LEEWAY_MAX_MS)
        return vg_error_set(err, VG_ECONFIG, "auth.jwt.leeway must be between 0s and 1h");
    size_t max_len = cfg->max_token_len ? cfg->max_token_len : TENANCY_TOKEN_MAX_DEFAULT;
    if (max_len < TOKEN_MIN_LIMIT || max_len > TENANCY_TOKEN_MAX_LIMIT)
        return vg_error_set(err, VG_ECONFIG, "auth.jwt.max_token_size must be between %d and %d bytes",
                            TOKEN_MIN_LIMIT, TENANCY_TOKEN_MAX_LIMIT);
    const char *tc = cfg->tenant_claim && *cfg->tenant_claim ? cfg->tenant_claim : "org_id";
    if (strlen(tc) > CLAIM_NAME_MAX) return vg_error_set(err, VG_ECONFIG, "auth.jwt.tenant_claim is too long");
    if (cfg->admin_claim && strlen(cfg->admin_claim) > CLAIM_NAME_MAX)
        return vg_error_set(err, VG_ECONFIG, "auth.jwt.admin_claim.name is too long");
    if (cfg->admin_value && *cfg->admin_value && !(cfg->admin_claim && *cfg->admin_claim))
        return vg_error_set(err, VG_ECONFIG, "auth.jwt.admin_claim.value needs admin_claim.name");

    tenancy_verifier_t *v = calloc(1, sizeof *v);
    if (!v) return vg_error_set(err, VG_ENOMEM, "out of memory");
    v->leeway_ms = cfg->leeway_ms;
    v->max_token_len = max_len;
    int rc = dup_opt(cfg->issuer, &v->issuer, "issuer", err);
    if (!rc) rc = dup_opt(cfg->audience, &v->audience, "audience", err);
    if (!rc) rc = dup_opt(tc, &v->tenant_claim, "tenant_claim", err);
    if (!rc) rc = dup_opt(cfg->admin_claim, &v->admin_claim, "admin_claim.name", err);
    if (!rc && v->admin_claim) rc = dup_opt(cfg->admin_value, &v->admin_value, "admin_claim.value", err);
    for (size_t i = 0; i < cfg->n_keys && !rc; i++) rc = tenancy__keys_load(&cfg->keys[i], i, &v->keys, &v->n_keys, err);
    for (size_t i = 0; i < v->n_keys && !rc; i++)
        for (size_t j = i + 1; j < v->n_keys && !rc; j++)
            if (v->keys[i].has_kid && v->keys[j].has_kid && !strcmp(v->keys[i].kid, v->keys[j].kid))
                rc = vg_error_set(err, VG_ECONFIG, "auth.jwt.keys: kid %s appears twice", v->keys[i].kid);
    if (rc) {
        tenancy_verifier_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

/* ---- verification ---- */

static int fail(vg_error_t *err, const char *msg) { return vg_error_set(err, VG_EAUTH, "%s", msg); }

static int malformed(vg_error_t *err, size_t pos, const char *what) {
    return vg_error_set_pos(err, VG_EAUTH, (long)pos, (long)pos + 1, "malformed token at byte %zu: %s", pos, what);
}

static int evp_verify(EVP_PKEY *pk, const unsigned char *sig, size_t sl, const unsigned char *data, size_t n) {
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m) return VG_ENOMEM;
    int ok = EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pk) == 1 && EVP_DigestVerify(m, sig, sl, data, n) == 1;
    EVP_MD_CTX_free(m);
    return ok;
}

/* JOSE's ES256 signature is r||s, 32 bytes each; EVP wants DER. */
static int es256_verify(EVP_PKEY *pk, const unsigned char *sig, size_t sl, const unsigned char *data, size_t n) {
    if (sl != 64) return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int dl = -1, ok;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        dl = i2d_ECDSA_SIG(es, &der);
    }
    if (dl <= 0) ok = VG_ENOMEM;
    else ok = evp_verify(pk, der, (size_t)dl, data, n);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);
    return ok;
}

/* 1 valid, 0 invalid, VG_ENOMEM. The (type, alg) pair is checked again here on purpose. */
static int sig_verify(const tenancy__key_t *k, unsigned alg, const unsigned char *data, size_t n,
                      const unsigned char *sig, size_t sl) {
    int ok = 0;
    if (!(k->algorithms & alg) || tenancy__key_type_alg(k->type) != alg) return 0;
    switch (k->type) {
    case TENANCY__KEY_HMAC: {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int ml = 0;
        if (sl != 32) break;
        if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, data, n, mac, &ml)) ok = VG_ENOMEM;
        else ok = ml == 32 && CRYPTO_memcmp(mac, sig, 32) == 0;
        OPENSSL_cleanse(mac, sizeof mac);
        break;
    }
    case TENANCY__KEY_RSA:
        if (sl != (size_t)EVP_PKEY_get_size(k->pkey)) break;
        ok = evp_verify(k->pkey, sig, sl, data, n);
        break;
    case TENANCY__KEY_EC:
        ok = es256_verify(k->pkey, sig, sl, data, n);
        break;
    }
    ERR_clear_error();
    return ok;
}

static bool str_eq(json_t *j, const char *s) {
    size_t n = strlen(s);
    return json_is_string(j) && json_string_length(j) == n && !memcmp(json_string_value(j), s, n);
}

/* The claim is s, or an array with s among its (string) members. -1: an array member isn't a string. */
static int has_value(json_t *j, const char *s) {
    if (json_is_string(j)) return str_eq(j, s);
    if (!json_is_array(j)) return 0;
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
        if (!json_is_string(e)) return -1;
        if (str_eq(e, s)) found = 1;
    }
    return found;
}

static int64_t sat_add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* A NumericDate (seconds, integer or fraction) in ms, saturated. */
static int64_t numeric_date_ms(json_t *j) {
    if (json_is_integer(j)) {
        json_int_t s = json_integer_value(j);
        if (s > INT64_MAX / 1000) return INT64_MAX;
        if (s < INT64_MIN / 1000) return INT64_MIN;
        return (int64_t)s * 1000;
    }
    double r = json_real_value(j) * 1000.0;
    if (!(r < 9.2e18)) return INT64_MAX;
    if (r < -9.2e18) return INT64_MIN;
    return (int64_t)r;
}

static bool printable(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static int parse_object(const unsigned char *p, size_t n, json_t **out) {
    *out = NULL;
    if (!tenancy__json_depth_ok((const char *)p, n, TENANCY_JSON_DEPTH_MAX)) return -1;
    json_error_t je;
    json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return -2;
    }
    *out = j;
    return 0;
}

static int check_header(json_t *h, unsigned *alg, const char **kid, size_t *kid_len, vg_error_t *err) {
    json_t *a = json_object_get(h, "alg");
    if (!json_is_string(a)) return malformed(err, 0, "header has no alg");
    if (json_string_length(a) == 4 && !strncasecmp(json_string_value(a), "none", 4))
        return fail(err, "algorithm none is not allowed");
    *alg = tenancy_alg_parse(json_string_value(a), json_string_length(a));
    if (!*alg) return fail(err, "algorithm not supported (HS256, RS256, ES256)");
    if (json_object_get(h, "crit")) return fail(err, "crit header is not supported");
    if (json_object_get(h, "b64")) return fail(err, "b64 header (unencoded payload) is not supported");
    if (json_object_get(h, "zip") || json_object_get(h, "enc")) return fail(err, "encrypted or compressed tokens are not supported");
    if (json_object_get(h, "cty")) return fail(err, "nested tokens (cty header) are not supported");
    json_t *typ = json_object_get(h, "typ");
    if (typ) {
        const char *t = json_string_value(typ);
        if (t && !strncasecmp(t, "application/", 12)) t += 12;
        if (!t || (strcasecmp(t, "JWT") != 0 && strcasecmp(t, "at+jwt") != 0))
            return fail(err, "typ header is not JWT");
    }
    json_t *k = json_object_get(h, "kid");
    if (k) {
        if (!json_is_string(k) || json_string_length(k) == 0 || json_string_length(k) > TENANCY_KID_MAX)
            return malformed(err, 0, "kid is not a string of 1..128 bytes");
        *kid = json_string_value(k);
        *kid_len = json_string_length(k);
    }
    return 0;
}

static int check_claims(const tenancy_verifier_t *v, json_t *c, int64_t now_ms, tenancy_identity_t *out,
                        vg_error_t *err) {
    int64_t lee = v->leeway_ms;
    json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"), *iat = json_object_get(c, "iat");
    if (!exp) return fail(err, "missing exp");
    if (!json_is_number(exp)) return fail(err, "exp is not a number");
    out->expires_ms = numeric_date_ms(exp);
    if (sat_add(now_ms, -lee) >= out->expires_ms) return fail(err, "token expired");
    if (nbf && !json_is_number(nbf)) return fail(err, "nbf is not a number");
    if (nbf && numeric_date_ms(nbf) > sat_add(now_ms, lee)) return fail(err, "token not yet valid");
    if (iat && !json_is_number(iat)) return fail(err, "iat is not a number");
    if (iat && numeric_date_ms(iat) > sat_add(now_ms, lee)) return fail(err, "token issued in the future");
    if (v->issuer) {
        json_t *iss = json_object_get(c, "iss");
        if (!iss) return fail(err, "missing iss");
        if (!str_eq(iss, v->issuer)) return fail(err, "issuer mismatch");
    }
    if (v->audience) {
        json_t *aud = json_object_get(c, "aud");
        if (!aud) return fail(err, "missing aud");
        int r = has_value(aud, v->audience);
        if (r < 0) return fail(err, "aud array holds a non-string");
        if (r == 0) return fail(err, "audience mismatch");
    }
    json_t *sub = json_object_get(c, "sub");
    if (sub) {
        if (!json_is_string(sub) || json_string_length(sub) > TENANCY_SUBJECT_MAX ||
            !printable(json_string_value(sub), json_string_length(sub)))
            return fail(err, "sub is not a string of printable characters up to 256 bytes");
        memcpy(out->subject, json_string_value(sub), json_string_length(sub) + 1);
    }
    if (v->admin_claim) {
        json_t *adm = json_object_get(c, v->admin_claim);
        if (v->admin_value) out->admin = has_value(adm, v->admin_value) == 1;
        else out->admin = json_is_true(adm);
    }
    json_t *t = json_object_get(c, v->tenant_claim);
    if (!t) {
        if (out->admin) return 0;
        return vg_error_set(err, VG_EAUTH, "tenant claim %s missing", v->tenant_claim);
    }
    if (!json_is_string(t)) return vg_error_set(err, VG_EAUTH, "tenant claim %s is not a string", v->tenant_claim);
    if (json_string_length(t) == 0) return vg_error_set(err, VG_EAUTH, "tenant claim %s is empty", v->tenant_claim);
    if (!tenancy_tenant_id_valid(json_string_value(t), json_string_length(t)))
        return vg_error_set(err, VG_EAUTH,
                            "tenant claim %s must be up to %d characters of [A-Za-z0-9._@:-] starting with a letter or digit",
                            v->tenant_claim, TENANCY_TENANT_MAX);
    memcpy(out->tenant, json_string_value(t), json_string_length(t) + 1);
    return 0;
}

int tenancy_verify(const tenancy_verifier_t *v, const char *token, size_t len, int64_t now_ms,
                   tenancy_identity_t *out, vg_error_t *err) {
    if (!out) return vg_error_set(err, VG_EINVAL, "tenancy_verify: no out");
    memset(out, 0, sizeof *out);
    if (!v || (!token && len)) return vg_error_set(err, VG_EINVAL, "tenancy_verify: no verifier or token");
    if (len == 0) return fail(err, "empty token");
    if (len > v->max_token_len)
        return vg_error_set(err, VG_EAUTH, "token too large (%zu bytes, the limit is %zu)", len, v->max_token_len);

    size_t dot[2] = {0, 0}, ndots = 0;
    for (size_t i = 0; i < len; i++)
        if (token[i] == '.') {
            if (ndots < 2) dot[ndots] = i;
            ndots++;
        }
    if (ndots == 4) return fail(err, "encrypted tokens (JWE) are not supported");
    if (ndots != 2) return vg_error_set(err, VG_EAUTH, "malformed token: %zu segments, a compact JWS has 3", ndots + 1);
    const char *seg[3] = {token, token + dot[0] + 1, token + dot[1] + 1};
    size_t seg_len[3] = {dot[0], dot[1] - dot[0] - 1, len - dot[1] - 1};
    static const char *const seg_name[3] = {"empty header", "empty payload", "missing signature"};
    for (int i = 0; i < 3; i++)
        if (seg_len[i] == 0) return malformed(err, (size_t)(seg[i] - token), seg_name[i]);

    /* One buffer for the three decoded segments; each part is smaller than its encoding. */
    unsigned char *buf = malloc(len + 3);
    if (!buf) return vg_error_set(err, VG_ENOMEM, "out of memory");
    unsigned char *dec[3];
    size_t dec_len[3];
    unsigned char *w = buf;
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        size_t bad = 0;
        dec[i] = w;
        if (tenancy__b64url_decode(seg[i], seg_len[i], w, &dec_len[i], &bad) != 0) {
            size_t pos = (size_t)(seg[i] - token) + bad;
            rc = malformed(err, pos, "not canonical base64url");
        }
        w += rc ? 0 : dec_len[i];
    }
    json_t *hdr = NULL, *claims = NULL;
    if (rc) goto out;
    if (parse_object(dec[0], dec_len[0], &hdr) != 0) {
        rc = vg_error_set_pos(err, VG_EAUTH, 0, (long)dot[0], "malformed token: header is not a JSON object");
        goto out;
    }
    unsigned alg = 0;
    const char *kid = NULL;
    size_t kid_len = 0;
    if ((rc = check_header(hdr, &alg, &kid, &kid_len, err)) != 0) goto out;

    const tenancy__key_t *key = NULL;
    bool kid_found = false, alg_allowed = false;
    for (size_t i = 0; i < v->n_keys && !key; i++) {
        const tenancy__key_t *k = &v->keys[i];
        if (kid) {
            if (!k->has_kid || strlen(k->kid) != kid_len || memcmp(k->kid, kid, kid_len) != 0) continue;
            kid_found = true;
        }
        if (!(k->algorithms & alg)) continue;
        alg_allowed = true;
        int ok = sig_verify(k, alg, (const unsigned char *)token, dot[1], dec[2], dec_len[2]);
        if (ok < 0) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            goto out;
        }
        if (ok == 1) key = k;
    }
    if (!key) {
        if (kid && !kid_found) rc = fail(err, "unknown kid");
        else if (!alg_allowed) rc = fail(err, kid ? "algorithm not allowed for key" : "algorithm not allowed");
        else rc = fail(err, "signature invalid");
        goto out;
    }
    if (parse_object(dec[1], dec_len[1], &claims) != 0) {
        rc = vg_error_set_pos(err, VG_EAUTH, (long)dot[0] + 1, (long)dot[1], "malformed token: payload is not a JSON object");
        goto out;
    }
    rc = check_claims(v, claims, now_ms, out, err);
    if (!rc && key->has_kid) memcpy(out->kid, key->kid, strlen(key->kid) + 1);
out:
    json_decref(hdr);
    json_decref(claims);
    OPENSSL_cleanse(buf, len + 3);
    free(buf);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}
