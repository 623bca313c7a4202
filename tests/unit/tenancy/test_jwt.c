/* JWT verification: strict base64url, HS256/RS256/ES256 with keys generated and tokens signed here,
 * the attack set (alg none, algorithm confusion, kid tricks, tampering, truncation, non-canonical
 * encodings, oversize and deep JSON, DER ES256 signatures), claims with leeway, JWKS rotation, and key
 * configuration errors. */
#include "tenancy/tenancy.h"
#include "tenancy/tenancy_int.h"
#include "tokens.h"
#include "util/log.h"

#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW 1700000000000LL /* ms */
#define NOW_S 1700000000LL
#define HDR_HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HDR_RS "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define HDR_ES "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-vigil-test"; /* 43 bytes */
static const char SECRET2[] = "fedcba9876543210fedcba9876543210-other-key";

static EVP_PKEY *rsa1, *rsa2, *ec1, *ec2;
static char *rsa1_pem, *rsa2_pem, *ec1_pem, *ec2_pem;

static int setup(void **state) {
    (void)state;
    vg_log_set_level(VG_LOG_ERROR); /* skipped JWKS keys are warnings; the tests check the errors */
    rsa1 = EVP_RSA_gen(2048);
    rsa2 = EVP_RSA_gen(2048);
    ec1 = EVP_EC_gen("P-256");
    ec2 = EVP_EC_gen("P-256");
    if (!rsa1 || !rsa2 || !ec1 || !ec2) return -1;
    rsa1_pem = tk_pub_pem(rsa1);
    rsa2_pem = tk_pub_pem(rsa2);
    ec1_pem = tk_pub_pem(ec1);
    ec2_pem = tk_pub_pem(ec2);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    EVP_PKEY_free(rsa1);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(ec1);
    EVP_PKEY_free(ec2);
    free(rsa1_pem);
    free(rsa2_pem);
    free(ec1_pem);
    free(ec2_pem);
    return 0;
}

/* A payload with a tenant and exp = now + 1h, plus `extra` members. */
static char payload_buf[8192];
static const char *claims(const char *extra) {
    snprintf(payload_buf, sizeof payload_buf, "{\"sub\":\"u1\",\"org_id\":\"acme\",\"exp\":%lld%s%s}", NOW_S + 3600,
             extra ? "," : "", extra ? extra : "");
    return payload_buf;
}

static tenancy_key_config_t hs_key(const char *kid) {
    return (tenancy_key_config_t){.kid = kid, .algorithms = TENANCY_ALG_HS256, .secret = SECRET, .secret_len = strlen(SECRET)};
}
static tenancy_key_config_t pem_key(const char *kid, const char *pem, unsigned alg) {
    return (tenancy_key_config_t){.kid = kid, .algorithms = alg, .public_key_pem = pem};
}

static tenancy_verifier_t *new_v(const tenancy_key_config_t *keys, size_t n, tenancy_auth_config_t *base) {
    tenancy_auth_config_t cfg;
    if (base) cfg = *base;
    else tenancy_auth_config_init(&cfg);
    cfg.keys = keys;
    cfg.n_keys = n;
    tenancy_verifier_t *v = NULL;
    vg_error_t err;
    vg_error_clear(&err);
    int rc = tenancy_verifier_new(&cfg, &v, &err);
    if (rc) print_error("verifier_new: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return v;
}

/* The config error of a single key. */
static int key_error(tenancy_key_config_t k, vg_error_t *err) {
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.keys = &k;
    cfg.n_keys = 1;
    tenancy_verifier_t *v = (tenancy_verifier_t *)1;
    vg_error_clear(err);
    int rc = tenancy_verifier_new(&cfg, &v, err);
    if (rc == 0) tenancy_verifier_free(v);
    else assert_null(v);
    return rc;
}

/* Verifies and returns rc; the message goes to err. */
static int check(tenancy_verifier_t *v, const char *tok, int64_t now, tenancy_identity_t *id, vg_error_t *err) {
    vg_error_clear(err);
    int rc = tenancy_verify(v, tok, strlen(tok), now, id, err);
    if (rc) {
        assert_int_equal(rc, VG_EAUTH);
        assert_int_equal(err->code, VG_EAUTH);
        assert_true(err->msg[0] != '\0');
        assert_string_equal(id->tenant, ""); /* nothing leaks into out on failure */
        assert_false(id->admin);
    }
    return rc;
}

#define EXPECT_OK(v, tok)                                                                                  \
    do {                                                                                                   \
        tenancy_identity_t id_;                                                                            \
        vg_error_t e_;                                                                                     \
        int rc_ = check((v), (tok), NOW, &id_, &e_);                                                       \
        if (rc_) print_error("unexpected rejection: %s\n", e_.msg);                                        \
        assert_int_equal(rc_, 0);                                                                          \
    } while (0)

#define EXPECT_FAIL(v, tok, reason)                                                                        \
    do {                                                                                                   \
        tenancy_identity_t id_;                                                                            \
        vg_error_t e_;                                                                                     \
        assert_int_equal(check((v), (tok), NOW, &id_, &e_), VG_EAUTH);                                     \
        if (!strstr(e_.msg, (reason))) print_error("message: %s\n", e_.msg);                              \
        assert_non_null(strstr(e_.msg, (reason)));                                                         \
    } while (0)

/* ---- base64url and the JSON scan ---- */

static void b64url_roundtrip(void **state) {
    (void)state;
    unsigned char in[70], out[100];
    char enc[120];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t el = tenancy__b64url_encode(in, n, enc), ol = 0, bad = 0;
        assert_int_equal(el, tenancy__b64url_encoded_len(n));
        assert_null(strchr(enc, '='));
        assert_int_equal(tenancy__b64url_decode(enc, el, out, &ol, &bad), 0);
        assert_int_equal(ol, n);
        assert_memory_equal(out, in, n);
    }
    const unsigned char ff[] = {0xfb, 0xff, 0xbf};
    tenancy__b64url_encode(ff, 3, enc);
    assert_string_equal(enc, "-_-_"); /* the url alphabet, not + and / */
}

static void b64url_strict(void **state) {
    (void)state;
    unsigned char out[64];
    size_t ol, bad;
    static const struct { const char *s; size_t bad; } cases[] = {
        {"QQ==", 2},   /* padding */
        {"QQ=", 2},
        {"QR", 1},     /* 'A' is QQ; QR has non-zero trailing bits */
        {"QUI", 3},    /* length ok... */
        {"QUJ", 2},    /* "AB" is QUI; QUJ sets the trailing bits */
        {"Q", 1},      /* length mod 4 == 1 */
        {"QUJDR", 5},
        {"a+b/", 1},   /* standard alphabet */
        {"ab c", 2},   /* whitespace */
        {"ab\ncd", 2},
        {"ab\xc3\xa9", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tenancy__b64url_decode(cases[i].s, strlen(cases[i].s), out, &ol, &bad);
        if (!strcmp(cases[i].s, "QUI")) {
            assert_int_equal(rc, 0);
            assert_int_equal(ol, 2);
            continue;
        }
        assert_int_equal(rc, VG_EINVAL);
        assert_int_equal(bad, cases[i].bad);
    }
    assert_int_equal(tenancy__b64url_decode("ab\0d", 4, out, &ol, &bad), VG_EINVAL);
    assert_int_equal(bad, 2);
    assert_int_equal(tenancy__b64url_decode("", 0, out, &ol, &bad), 0);
    assert_int_equal(ol, 0);
}

static void json_depth_scan(void **state) {
    (void)state;
    assert_true(tenancy__json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 3));
    assert_false(tenancy__json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 2));
    assert_true(tenancy__json_depth_ok("{\"a\":\"[[[[[[\"}", 14, 1)); /* brackets in strings don't count */
    assert_true(tenancy__json_depth_ok("{\"a\\\"[[[\":1}", 13, 1));   /* nor after an escaped quote */
}

/* ---- valid tokens ---- */

static void hs256_valid(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *t = tk_hs256(HDR_HS, claims(NULL), SECRET, strlen(SECRET));
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t, NOW, &id, &err), 0);
    assert_string_equal(id.tenant, "acme");
    assert_string_equal(id.subject, "u1");
    assert_false(id.admin);
    assert_int_equal(id.expires_ms, (NOW_S + 3600) * 1000);
    assert_string_equal(id.kid, "");
    free(t);
    tenancy_verifier_free(v);
}

static void rs256_valid(void **state) {
    (void)state;
    tenancy_key_config_t k = pem_key("r1", rsa1_pem, TENANCY_ALG_RS256);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *t = tk_sign("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims(NULL), rsa1);
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t, NOW, &id, &err), 0);
    assert_string_equal(id.tenant, "acme");
    assert_string_equal(id.kid, "r1");
    free(t);
    t = tk_sign(HDR_RS, claims(NULL), rsa1); /* no kid: tried against keys allowing RS256 */
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
}

static void es256_valid(void **state) {
    (void)state;
    tenancy_key_config_t k = pem_key(NULL, ec1_pem, TENANCY_ALG_ES256);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    for (int i = 0; i < 20; i++) { /* r or s with leading zero bytes come up now and then */
        char *t = tk_sign(HDR_ES, claims(NULL), ec1);
        EXPECT_OK(v, t);
        free(t);
    }
    tenancy_verifier_free(v);
}

/* ---- the attack set ---- */

static void alg_none_any_case(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    static const char *const algs[] = {"none", "None", "NONE", "nOnE"};
    for (size_t i = 0; i < 4; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\"}", algs[i]);
        char *in = tk_signing_input(hdr, claims(NULL));
        char tok[1024];
        snprintf(tok, sizeof tok, "%s.", in);
        EXPECT_FAIL(v, tok, "missing signature");
        snprintf(tok, sizeof tok, "%s.AAAA", in);
        EXPECT_FAIL(v, tok, "algorithm none is not allowed");
        free(in);
        char *t = tk_hs256(hdr, claims(NULL), SECRET, strlen(SECRET)); /* signed, still refused */
        EXPECT_FAIL(v, t, "algorithm none");
        free(t);
    }
    tenancy_verifier_free(v);
}

static void alg_confusion_rsa_pem_as_hmac_secret(void **state) {
    (void)state;
    /* The classic: the attacker HMACs with the server's public key bytes and says alg HS256. */
    tenancy_key_config_t k = pem_key("r1", rsa1_pem, TENANCY_ALG_RS256);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *t = tk_hs256("{\"alg\":\"HS256\",\"kid\":\"r1\"}", claims(NULL), rsa1_pem, strlen(rsa1_pem));
    EXPECT_FAIL(v, t, "algorithm not allowed for key");
    free(t);
    t = tk_hs256(HDR_HS, claims(NULL), rsa1_pem, strlen(rsa1_pem));
    EXPECT_FAIL(v, t, "algorithm not allowed");
    free(t);
    tenancy_verifier_free(v);
    /* Allowing HS256 on an RSA key is a config error, not a way in. */
    vg_error_t err;
    assert_int_equal(key_error(pem_key("r1", rsa1_pem, TENANCY_ALG_RS256 | TENANCY_ALG_HS256), &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "HS256 cannot be used with an RSA key"));
    assert_int_equal(key_error(pem_key(NULL, ec1_pem, TENANCY_ALG_RS256), &err), VG_ECONFIG);
    /* And the public key PEM can't be configured as an HMAC secret either. */
    tenancy_key_config_t s = {.algorithms = TENANCY_ALG_HS256, .secret = rsa1_pem, .secret_len = strlen(rsa1_pem)};
    assert_int_equal(key_error(s, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "PEM"));
}

static void alg_confusion_mixed_keys(void **state) {
    (void)state;
    /* An HMAC key and an RSA key side by side: a token signed with the RSA PEM as HMAC secret must not
     * pass the HMAC key, and an RS256 token must not be checked against the HMAC key. */
    tenancy_key_config_t keys[2] = {hs_key(NULL), pem_key(NULL, rsa1_pem, TENANCY_ALG_RS256)};
    tenancy_verifier_t *v = new_v(keys, 2, NULL);
    char *t = tk_hs256(HDR_HS, claims(NULL), rsa1_pem, strlen(rsa1_pem));
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    t = tk_sign("{\"alg\":\"ES256\"}", claims(NULL), ec1);
    EXPECT_FAIL(v, t, "algorithm not allowed");
    free(t);
    t = tk_sign(HDR_RS, claims(NULL), rsa1);
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
}

static void alg_unsupported(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    static const char *const algs[] = {"HS512", "HS384", "RS512", "PS256", "EdDSA", "hs256", "HS256 ", "", "ES256K"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\"}", algs[i]);
        char *t = tk_hs256(hdr, claims(NULL), SECRET, strlen(SECRET));
        EXPECT_FAIL(v, t, "algorithm not supported");
        free(t);
    }
    char *t = tk_hs256("{\"typ\":\"JWT\"}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "no alg");
    free(t);
    t = tk_hs256("{\"alg\":256}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "no alg");
    free(t);
    tenancy_verifier_free(v);
}

static void wrong_key(void **state) {
    (void)state;
    tenancy_key_config_t keys[3] = {hs_key(NULL), pem_key(NULL, rsa1_pem, TENANCY_ALG_RS256),
                                    pem_key(NULL, ec1_pem, TENANCY_ALG_ES256)};
    tenancy_verifier_t *v = new_v(keys, 3, NULL);
    char *t = tk_hs256(HDR_HS, claims(NULL), SECRET2, strlen(SECRET2));
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    t = tk_sign(HDR_RS, claims(NULL), rsa2);
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    t = tk_sign(HDR_ES, claims(NULL), ec2);
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    tenancy_verifier_free(v);
}

static void unknown_kid_and_kid_tricks(void **state) {
    (void)state;
    tenancy_key_config_t keys[2] = {hs_key("k1"), pem_key("k2", rsa1_pem, TENANCY_ALG_RS256)};
    tenancy_verifier_t *v = new_v(keys, 2, NULL);
    static const char *const kids[] = {"k3", "K1", "k1 ", " k1", "../../etc/passwd", "/dev/null", "k1\\u0000",
                                       "k", "k1k1", "' OR 1=1 --", "http://evil/jwks.json"};
    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        char hdr[128];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", kids[i]);
        char *t = tk_hs256(hdr, claims(NULL), SECRET, strlen(SECRET));
        tenancy_identity_t id;
        vg_error_t err;
        assert_int_equal(check(v, t, NOW, &id, &err), VG_EAUTH);
        assert_true(strstr(err.msg, "unknown kid") || strstr(err.msg, "malformed"));
        free(t);
    }
    char *t = tk_hs256("{\"alg\":\"HS256\",\"kid\":7}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "kid is not a string");
    free(t);
    t = tk_hs256("{\"alg\":\"HS256\",\"kid\":\"\"}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "kid is not a string");
    free(t);
    /* The right kid, the right key. */
    t = tk_hs256("{\"alg\":\"HS256\",\"kid\":\"k1\"}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_OK(v, t);
    free(t);
    /* A kid names one key: an RS256 token for k1 (an HMAC key) is refused without trying k2. */
    t = tk_sign("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(NULL), rsa1);
    EXPECT_FAIL(v, t, "algorithm not allowed for key");
    free(t);
    tenancy_verifier_free(v);
}

static void kidless_key_serves_only_kidless_tokens(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *t = tk_hs256("{\"alg\":\"HS256\",\"kid\":\"any\"}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "unknown kid");
    free(t);
    tenancy_verifier_free(v);
}

static void no_kid_tries_keys_with_matching_alg(void **state) {
    (void)state;
    tenancy_key_config_t keys[3] = {pem_key(NULL, rsa2_pem, TENANCY_ALG_RS256), hs_key("h"),
                                    pem_key("r1", rsa1_pem, TENANCY_ALG_RS256)};
    tenancy_verifier_t *v = new_v(keys, 3, NULL);
    char *t = tk_sign(HDR_RS, claims(NULL), rsa1);
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t, NOW, &id, &err), 0);
    assert_string_equal(id.kid, "r1");
    free(t);
    t = tk_sign(HDR_RS, claims(NULL), rsa2);
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
}

static char *sign_alg(unsigned alg, const char *hdr, const char *payload) {
    if (alg == TENANCY_ALG_HS256) return tk_hs256(hdr, payload, SECRET, strlen(SECRET));
    return tk_sign(hdr, payload, alg == TENANCY_ALG_RS256 ? rsa1 : ec1);
}

static tenancy_verifier_t *all_algs_verifier(void) {
    tenancy_key_config_t keys[3] = {hs_key(NULL), pem_key(NULL, rsa1_pem, TENANCY_ALG_RS256),
                                    pem_key(NULL, ec1_pem, TENANCY_ALG_ES256)};
    return new_v(keys, 3, NULL);
}

static const unsigned ALGS[3] = {TENANCY_ALG_HS256, TENANCY_ALG_RS256, TENANCY_ALG_ES256};
static const char *const HDRS[3] = {HDR_HS, HDR_RS, HDR_ES};

static void tampered_payload(void **state) {
    (void)state;
    tenancy_verifier_t *v = all_algs_verifier();
    for (int a = 0; a < 3; a++) {
        char *good = sign_alg(ALGS[a], HDRS[a], claims(NULL));
        char *evil = tk_signing_input(HDRS[a], "{\"sub\":\"u1\",\"org_id\":\"evil\",\"exp\":9999999999}");
        const char *sig = strrchr(good, '.');
        char tok[2048];
        snprintf(tok, sizeof tok, "%s%s", evil, sig);
        EXPECT_FAIL(v, tok, "signature invalid");
        /* One flipped character anywhere in the payload segment. */
        char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
        for (char *p = dot1 + 1; p < dot2; p++) {
            char c = *p;
            *p = c == 'A' ? 'B' : 'A';
            tenancy_identity_t id;
            vg_error_t err;
            assert_int_equal(check(v, good, NOW, &id, &err), VG_EAUTH);
            *p = c;
        }
        EXPECT_OK(v, good);
        free(evil);
        free(good);
    }
    tenancy_verifier_free(v);
}

static void tampered_signature(void **state) {
    (void)state;
    tenancy_verifier_t *v = all_algs_verifier();
    for (int a = 0; a < 3; a++) {
        char *good = sign_alg(ALGS[a], HDRS[a], claims(NULL));
        char *dot2 = strrchr(good, '.');
        for (char *p = dot2 + 1; *p; p++) {
            char c = *p;
            *p = c == 'A' ? 'Q' : 'A'; /* a change in the top bits stays canonical */
            tenancy_identity_t id;
            vg_error_t err;
            assert_int_equal(check(v, good, NOW, &id, &err), VG_EAUTH);
            *p = c;
        }
        EXPECT_OK(v, good);
        free(good);
    }
    tenancy_verifier_free(v);
}

static void truncated_at_every_offset(void **state) {
    (void)state;
    tenancy_verifier_t *v = all_algs_verifier();
    for (int a = 0; a < 3; a++) {
        char *good = sign_alg(ALGS[a], HDRS[a], claims(NULL));
        size_t n = strlen(good);
        for (size_t i = 0; i < n; i++) {
            tenancy_identity_t id;
            vg_error_t err;
            vg_error_clear(&err);
            assert_int_equal(tenancy_verify(v, good, i, NOW, &id, &err), VG_EAUTH);
            assert_string_equal(id.tenant, "");
        }
        EXPECT_OK(v, good);
        free(good);
    }
    tenancy_verifier_free(v);
}

static void noncanonical_and_padded_segments(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *good = tk_hs256(HDR_HS, claims(NULL), SECRET, strlen(SECRET));
    size_t n = strlen(good);
    /* The 32-byte HMAC encodes to 43 characters: the last one carries 2 unused bits. Setting them gives
     * a string lenient decoders map to the same bytes. */
    const char *last = good + n - 1;
    char alt = *last == 'A' ? 'B' : (char)(*last + 1);
    char *t = strdup(good);
    t[n - 1] = alt;
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t, NOW, &id, &err), VG_EAUTH);
    assert_non_null(strstr(err.msg, "base64url"));
    assert_int_equal(err.pos, (long)n - 1);
    free(t);
    /* Padding after any segment. */
    char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    char tok[2048];
    snprintf(tok, sizeof tok, "%s=", good);
    EXPECT_FAIL(v, tok, "malformed token at byte");
    snprintf(tok, sizeof tok, "%.*s=%s", (int)(dot1 - good), good, dot1);
    EXPECT_FAIL(v, tok, "malformed token at byte");
    snprintf(tok, sizeof tok, "%.*s==%s", (int)(dot2 - good), good, dot2);
    EXPECT_FAIL(v, tok, "malformed token at byte");
    /* Standard-alphabet characters, whitespace, a Bearer prefix left on. */
    snprintf(tok, sizeof tok, "%s", good);
    tok[3] = '+';
    EXPECT_FAIL(v, tok, "malformed token at byte 3");
    snprintf(tok, sizeof tok, " %s", good);
    EXPECT_FAIL(v, tok, "malformed token at byte 0");
    snprintf(tok, sizeof tok, "%s\n", good);
    EXPECT_FAIL(v, tok, "malformed token");
    snprintf(tok, sizeof tok, "Bearer %s", good);
    EXPECT_FAIL(v, tok, "malformed token");
    free(good);
    tenancy_verifier_free(v);
}

static void segment_counts(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    EXPECT_FAIL(v, "", "empty token");
    EXPECT_FAIL(v, "abc", "segments");
    EXPECT_FAIL(v, "a.b", "segments");
    EXPECT_FAIL(v, "..", "empty header");
    EXPECT_FAIL(v, "eyJhbGciOiJIUzI1NiJ9..AAAA", "empty payload");
    EXPECT_FAIL(v, "a.b.c.d", "segments");
    EXPECT_FAIL(v, "a.b.c.d.e", "JWE");
    char *good = tk_hs256(HDR_HS, claims(NULL), SECRET, strlen(SECRET));
    char tok[2048];
    snprintf(tok, sizeof tok, "%s.", good);
    EXPECT_FAIL(v, tok, "segments");
    free(good);
    tenancy_verifier_free(v);
}

static void huge_token(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char big[7000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char extra[7100];
    snprintf(extra, sizeof extra, "\"pad\":\"%s\"", big);
    char *t = tk_hs256(HDR_HS, claims(extra), SECRET, strlen(SECRET));
    assert_true(strlen(t) > 8192);
    EXPECT_FAIL(v, t, "token too large");
    tenancy_verifier_free(v);
    /* A larger limit lets it through. */
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.max_token_len = 16384;
    v = new_v(&k, 1, &cfg);
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
    /* Limits are bounded. */
    cfg.max_token_len = 1 << 20;
    cfg.keys = &k;
    cfg.n_keys = 1;
    vg_error_t err;
    assert_int_equal(tenancy_verifier_new(&cfg, &v, &err), VG_ECONFIG);
}

static void deeply_nested_json(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char nest[2100];
    size_t o = 0;
    o += (size_t)snprintf(nest, sizeof nest, "\"deep\":");
    for (int i = 0; i < 1000; i++) nest[o++] = '[';
    for (int i = 0; i < 1000; i++) nest[o++] = ']';
    nest[o] = '\0';
    char *t = tk_hs256(HDR_HS, claims(nest), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "payload is not a JSON object");
    free(t);
    t = tk_hs256("{\"alg\":\"HS256\",\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "header is not a JSON object");
    free(t);
    /* Moderate nesting (a Keycloak-style realm_access.roles) is fine. */
    t = tk_hs256(HDR_HS, claims("\"realm_access\":{\"roles\":[\"a\",{\"b\":[1]}]}"), SECRET, strlen(SECRET));
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
}

static void json_not_object_or_duplicate(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    static const char *const bad_payloads[] = {
        "[1,2]", "\"str\"", "42", "null", "{", "{\"exp\":1}x", "{\"exp\":1,\"exp\":99999999999}",
        "{\"org_id\":\"a\\u0000b\",\"exp\":99999999999}", "\xff\xfe", "{\"exp\":1e400}",
        "{\"exp\":123456789012345678901234567890}",
    };
    for (size_t i = 0; i < sizeof bad_payloads / sizeof bad_payloads[0]; i++) {
        char *t = tk_hs256(HDR_HS, bad_payloads[i], SECRET, strlen(SECRET));
        EXPECT_FAIL(v, t, "payload is not a JSON object");
        free(t);
    }
    char *t = tk_hs256("{\"alg\":\"none\",\"alg\":\"HS256\"}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "header is not a JSON object");
    free(t);
    tenancy_verifier_free(v);
}

static void es256_signature_shapes(void **state) {
    (void)state;
    tenancy_key_config_t k = pem_key(NULL, ec1_pem, TENANCY_ALG_ES256);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    /* DER, as OpenSSL produces it: valid ECDSA, but not JOSE. */
    size_t sl;
    unsigned char *der = tk_der_sign(HDR_ES, claims(NULL), ec1, &sl);
    char *t = tk_with_sig(HDR_ES, claims(NULL), der, sl);
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    free(der);
    /* Raw r||s of the wrong length: trimmed, padded, doubled. */
    char *good = tk_sign(HDR_ES, claims(NULL), ec1);
    unsigned char raw[130];
    size_t rl = 0, bad;
    const char *s = strrchr(good, '.') + 1;
    assert_int_equal(tenancy__b64url_decode(s, strlen(s), raw, &rl, &bad), 0);
    assert_int_equal(rl, 64);
    static const size_t lens[] = {0, 1, 32, 63, 65, 66, 128};
    memcpy(raw + 64, raw, 64);
    raw[64] = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        if (lens[i] == 0) continue;
        unsigned char buf[130];
        if (lens[i] == 65) { /* a leading zero in front of r */
            buf[0] = 0;
            memcpy(buf + 1, raw, 64);
        } else {
            memcpy(buf, raw, lens[i]);
        }
        t = tk_with_sig(HDR_ES, claims(NULL), buf, lens[i]);
        EXPECT_FAIL(v, t, "signature invalid");
        free(t);
    }
    /* r = 0 or s = 0, and all-ones. */
    unsigned char z[64];
    memset(z, 0, 64);
    t = tk_with_sig(HDR_ES, claims(NULL), z, 64);
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    memset(z, 0xff, 64);
    t = tk_with_sig(HDR_ES, claims(NULL), z, 64);
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    EXPECT_OK(v, good);
    free(good);
    tenancy_verifier_free(v);
}

static void rs256_signature_shapes(void **state) {
    (void)state;
    tenancy_key_config_t k = pem_key(NULL, rsa1_pem, TENANCY_ALG_RS256);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *good = tk_sign(HDR_RS, claims(NULL), rsa1);
    unsigned char raw[600];
    size_t rl = 0, bad;
    const char *s = strrchr(good, '.') + 1;
    assert_int_equal(tenancy__b64url_decode(s, strlen(s), raw, &rl, &bad), 0);
    assert_int_equal(rl, 256);
    unsigned char buf[300];
    buf[0] = 0;
    memcpy(buf + 1, raw, 256);
    char *t = tk_with_sig(HDR_RS, claims(NULL), buf, 257); /* leading zero */
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    t = tk_with_sig(HDR_RS, claims(NULL), raw, 255);
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    free(good);
    tenancy_verifier_free(v);
}

static void forbidden_headers(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    static const struct { const char *hdr, *reason; } cases[] = {
        {"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "crit"},
        {"{\"alg\":\"HS256\",\"crit\":[]}", "crit"},
        {"{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}", "crit"},
        {"{\"alg\":\"HS256\",\"b64\":false}", "b64"},
        {"{\"alg\":\"HS256\",\"b64\":true}", "b64"},
        {"{\"alg\":\"HS256\",\"zip\":\"DEF\"}", "compressed"},
        {"{\"alg\":\"HS256\",\"enc\":\"A128GCM\"}", "encrypted"},
        {"{\"alg\":\"HS256\",\"cty\":\"JWT\"}", "nested"},
        {"{\"alg\":\"HS256\",\"typ\":\"JWE\"}", "typ"},
        {"{\"alg\":\"HS256\",\"typ\":1}", "typ"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = tk_hs256(cases[i].hdr, claims(NULL), SECRET, strlen(SECRET));
        EXPECT_FAIL(v, t, cases[i].reason);
        free(t);
    }
    static const char *const ok[] = {"{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
                                     "{\"alg\":\"HS256\",\"typ\":\"application/at+jwt\"}",
                                     "{\"alg\":\"HS256\",\"jku\":\"http://evil/\",\"x5u\":\"http://evil/\"}"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *t = tk_hs256(ok[i], claims(NULL), SECRET, strlen(SECRET));
        EXPECT_OK(v, t);
        free(t);
    }
    tenancy_verifier_free(v);
}

static void embedded_jwk_is_not_trusted(void **state) {
    (void)state;
    /* A header carrying its own key (jwk) must not make the attacker's key count. */
    tenancy_key_config_t k = pem_key(NULL, rsa1_pem, TENANCY_ALG_RS256);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *jwk = tk_jwk(rsa2, "evil", NULL);
    char hdr[4200];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"jwk\":%s}", jwk);
    char *t = tk_sign(hdr, claims(NULL), rsa2);
    EXPECT_FAIL(v, t, "signature invalid");
    free(t);
    free(jwk);
    tenancy_verifier_free(v);
}

/* ---- claims ---- */

static char *hs_claims(const char *payload) { return tk_hs256(HDR_HS, payload, SECRET, strlen(SECRET)); }

static void time_claims(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL); /* leeway 60 s */
    static const struct { const char *fmt; long long arg; const char *reason; } cases[] = {
        {"{\"org_id\":\"a\",\"exp\":%lld}", NOW_S - 61, "token expired"},
        {"{\"org_id\":\"a\",\"exp\":%lld}", NOW_S - 60, "token expired"},   /* exp + leeway == now */
        {"{\"org_id\":\"a\",\"exp\":%lld}", NOW_S - 59, NULL},              /* within leeway */
        {"{\"org_id\":\"a\",\"exp\":%lld}", -1, "token expired"},
        {"{\"org_id\":\"a\",\"exp\":%lld,\"nbf\":1}", NOW_S + 10, NULL},
        {"{\"org_id\":\"a\",\"exp\":9999999999,\"nbf\":%lld}", NOW_S + 61, "not yet valid"},
        {"{\"org_id\":\"a\",\"exp\":9999999999,\"nbf\":%lld}", NOW_S + 60, NULL},
        {"{\"org_id\":\"a\",\"exp\":9999999999,\"iat\":%lld}", NOW_S + 61, "issued in the future"},
        {"{\"org_id\":\"a\",\"exp\":9999999999,\"iat\":%lld}", NOW_S + 30, NULL},
        {"{\"org_id\":\"a\",\"exp\":9999999999,\"iat\":%lld}", NOW_S - 86400, NULL},
        {"{\"org_id\":\"a\",\"nbf\":%lld}", NOW_S, "missing exp"},
        {"{\"org_id\":\"a\",\"exp\":\"%lld\"}", NOW_S + 100, "exp is not a number"},
        {"{\"org_id\":\"a\",\"exp\":%lld,\"nbf\":\"0\"}", NOW_S + 100, "nbf is not a number"},
        {"{\"org_id\":\"a\",\"exp\":%lld,\"iat\":true}", NOW_S + 100, "iat is not a number"},
        {"{\"org_id\":\"a\",\"exp\":%lld.5}", NOW_S + 1, NULL},             /* fractional NumericDate */
        {"{\"org_id\":\"a\",\"exp\":%lld}", 9223372036854775807LL, NULL},   /* saturates, no overflow */
        {"{\"org_id\":\"a\",\"exp\":%lld}", -9223372036854775807LL, "token expired"},
        {"{\"org_id\":\"a\",\"exp\":null,\"x\":%lld}", 0, "exp is not a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char p[256];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(p, sizeof p, cases[i].fmt, cases[i].arg);
#pragma GCC diagnostic pop
        char *t = hs_claims(p);
        if (cases[i].reason) EXPECT_FAIL(v, t, cases[i].reason);
        else EXPECT_OK(v, t);
        free(t);
    }
    tenancy_verifier_free(v);
    /* Zero leeway: one second past exp is expired. */
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.leeway_ms = 0;
    v = new_v(&k, 1, &cfg);
    char p[128];
    snprintf(p, sizeof p, "{\"org_id\":\"a\",\"exp\":%lld}", NOW_S);
    char *t = hs_claims(p);
    EXPECT_FAIL(v, t, "token expired");
    free(t);
    snprintf(p, sizeof p, "{\"org_id\":\"a\",\"exp\":%lld}", NOW_S + 1);
    t = hs_claims(p);
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
}

static void issuer_and_audience(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.issuer = "https://issuer.example";
    cfg.audience = "vigil";
    tenancy_verifier_t *v = new_v(&k, 1, &cfg);
    static const struct { const char *extra, *reason; } cases[] = {
        {"\"iss\":\"https://issuer.example\",\"aud\":\"vigil\"", NULL},
        {"\"iss\":\"https://issuer.example\",\"aud\":[\"grafana\",\"vigil\"]", NULL},
        {"\"iss\":\"https://issuer.example\",\"aud\":[\"grafana\"]", "audience mismatch"},
        {"\"iss\":\"https://issuer.example\",\"aud\":\"vigil2\"", "audience mismatch"},
        {"\"iss\":\"https://issuer.example\",\"aud\":\"VIGIL\"", "audience mismatch"},
        {"\"iss\":\"https://issuer.example\",\"aud\":[]", "audience mismatch"},
        {"\"iss\":\"https://issuer.example\",\"aud\":[\"vigil\",7]", "non-string"},
        {"\"iss\":\"https://issuer.example\",\"aud\":7", "audience mismatch"},
        {"\"iss\":\"https://issuer.example\"", "missing aud"},
        {"\"iss\":\"https://evil.example\",\"aud\":\"vigil\"", "issuer mismatch"},
        {"\"iss\":\"https://issuer.example/\",\"aud\":\"vigil\"", "issuer mismatch"},
        {"\"iss\":[\"https://issuer.example\"],\"aud\":\"vigil\"", "issuer mismatch"},
        {"\"aud\":\"vigil\"", "missing iss"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = hs_claims(claims(cases[i].extra));
        if (cases[i].reason) EXPECT_FAIL(v, t, cases[i].reason);
        else EXPECT_OK(v, t);
        free(t);
    }
    tenancy_verifier_free(v);
    /* Not configured: not checked. */
    v = new_v(&k, 1, NULL);
    char *t = hs_claims(claims("\"iss\":\"whoever\",\"aud\":[\"x\"]"));
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
}

static void tenant_claim(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char toolong[200];
    memset(toolong, 'a', 129);
    toolong[129] = '\0';
    char toolong_claim[256];
    snprintf(toolong_claim, sizeof toolong_claim, "{\"org_id\":\"%s\",\"exp\":9999999999}", toolong);
    const struct { const char *payload, *reason; } cases[] = {
        {"{\"exp\":9999999999}", "tenant claim org_id missing"},
        {"{\"org_id\":\"\",\"exp\":9999999999}", "tenant claim org_id is empty"},
        {"{\"org_id\":42,\"exp\":9999999999}", "not a string"},
        {"{\"org_id\":null,\"exp\":9999999999}", "not a string"},
        {"{\"org_id\":[\"acme\"],\"exp\":9999999999}", "not a string"},
        {"{\"org_id\":{\"id\":\"acme\"},\"exp\":9999999999}", "not a string"},
        {"{\"org_id\":true,\"exp\":9999999999}", "not a string"},
        {"{\"org_id\":\"acme\\n\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\"ac\\\"me\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\"acme\\\"} or vector(1)\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\"ac me\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\"-acme\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\".\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\"a/b\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\"ac\\u00e9me\",\"exp\":9999999999}", "must be up to"},
        {"{\"org_id\":\"a{b}\",\"exp\":9999999999}", "must be up to"},
        {toolong_claim, "must be up to"},
        {"{\"org_id\":\"Acme-1.prod_eu:x@y\",\"exp\":9999999999}", NULL},
        {"{\"org_id\":\"7\",\"exp\":9999999999}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = hs_claims(cases[i].payload);
        if (cases[i].reason) EXPECT_FAIL(v, t, cases[i].reason);
        else EXPECT_OK(v, t);
        free(t);
    }
    tenancy_verifier_free(v);
    /* A custom claim name. */
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.tenant_claim = "https://vigil.example/tenant";
    v = new_v(&k, 1, &cfg);
    char *t = hs_claims("{\"https://vigil.example/tenant\":\"t1\",\"org_id\":\"x\",\"exp\":9999999999}");
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t, NOW, &id, &err), 0);
    assert_string_equal(id.tenant, "t1");
    free(t);
    t = hs_claims("{\"org_id\":\"x\",\"exp\":9999999999}");
    EXPECT_FAIL(v, t, "tenant claim https://vigil.example/tenant missing");
    free(t);
    tenancy_verifier_free(v);
}

static void admin_claim(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.admin_claim = "role";
    cfg.admin_value = "admin";
    tenancy_verifier_t *v = new_v(&k, 1, &cfg);
    static const struct { const char *payload; int rc; bool admin; const char *tenant; } cases[] = {
        {"{\"role\":\"admin\",\"exp\":9999999999}", 0, true, ""},
        {"{\"role\":\"admin\",\"org_id\":\"a\",\"exp\":9999999999}", 0, true, "a"},
        {"{\"role\":[\"viewer\",\"admin\"],\"org_id\":\"a\",\"exp\":9999999999}", 0, true, "a"},
        {"{\"role\":\"Admin\",\"org_id\":\"a\",\"exp\":9999999999}", 0, false, "a"},
        {"{\"role\":true,\"org_id\":\"a\",\"exp\":9999999999}", 0, false, "a"},
        {"{\"role\":[\"admin\",1],\"org_id\":\"a\",\"exp\":9999999999}", 0, false, "a"},
        {"{\"role\":\"viewer\",\"exp\":9999999999}", VG_EAUTH, false, ""},
        {"{\"role\":\"admin\",\"org_id\":\"a b\",\"exp\":9999999999}", VG_EAUTH, false, ""},
        {"{\"role\":\"admin\"}", VG_EAUTH, false, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = hs_claims(cases[i].payload);
        tenancy_identity_t id;
        vg_error_t err;
        assert_int_equal(check(v, t, NOW, &id, &err), cases[i].rc);
        assert_int_equal(id.admin, cases[i].admin);
        assert_string_equal(id.tenant, cases[i].tenant);
        free(t);
    }
    tenancy_verifier_free(v);
    /* A boolean flag: only JSON true counts. */
    cfg.admin_claim = "vigil_admin";
    cfg.admin_value = NULL;
    v = new_v(&k, 1, &cfg);
    static const struct { const char *payload; bool admin; } flags[] = {
        {"{\"vigil_admin\":true,\"org_id\":\"a\",\"exp\":9999999999}", true},
        {"{\"vigil_admin\":false,\"org_id\":\"a\",\"exp\":9999999999}", false},
        {"{\"vigil_admin\":\"true\",\"org_id\":\"a\",\"exp\":9999999999}", false},
        {"{\"vigil_admin\":1,\"org_id\":\"a\",\"exp\":9999999999}", false},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char *t = hs_claims(flags[i].payload);
        tenancy_identity_t id;
        vg_error_t err;
        assert_int_equal(check(v, t, NOW, &id, &err), 0);
        assert_int_equal(id.admin, flags[i].admin);
        free(t);
    }
    tenancy_verifier_free(v);
    /* No admin claim configured: nobody is admin, whatever the token says. */
    v = new_v(&k, 1, NULL);
    char *t = hs_claims("{\"role\":\"admin\",\"vigil_admin\":true,\"admin\":true,\"org_id\":\"a\",\"exp\":9999999999}");
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t, NOW, &id, &err), 0);
    assert_false(id.admin);
    free(t);
    tenancy_verifier_free(v);
}

static void subject_claim(void **state) {
    (void)state;
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *t = hs_claims("{\"org_id\":\"a\",\"sub\":\"line\\nbreak\",\"exp\":9999999999}");
    EXPECT_FAIL(v, t, "sub is not");
    free(t);
    t = hs_claims("{\"org_id\":\"a\",\"sub\":5,\"exp\":9999999999}");
    EXPECT_FAIL(v, t, "sub is not");
    free(t);
    t = hs_claims("{\"org_id\":\"a\",\"exp\":9999999999}");
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t, NOW, &id, &err), 0);
    assert_string_equal(id.subject, "");
    free(t);
    t = hs_claims("{\"org_id\":\"a\",\"sub\":\"j\\u00f6rg@example.com\",\"exp\":9999999999}");
    assert_int_equal(check(v, t, NOW, &id, &err), 0);
    assert_string_equal(id.subject, "j\xc3\xb6rg@example.com");
    free(t);
    tenancy_verifier_free(v);
}

static void errors_never_echo_the_token(void **state) {
    (void)state;
    tenancy_key_config_t keys[2] = {hs_key("k1"), pem_key("k2", rsa1_pem, TENANCY_ALG_RS256)};
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.issuer = "iss";
    cfg.audience = "aud";
    tenancy_verifier_t *v = new_v(keys, 2, &cfg);
    static const char *const hdrs[] = {"{\"alg\":\"HS256\",\"kid\":\"MARKERkid\"}", "{\"alg\":\"MARKERalg\"}",
                                       "{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"MARKERtyp\"}",
                                       "{\"alg\":\"HS256\",\"kid\":\"k1\"}"};
    static const char *const payloads[] = {"{\"org_id\":\"MARKER\\n\",\"exp\":9999999999,\"iss\":\"iss\",\"aud\":\"aud\"}",
                                           "{\"org_id\":\"a\",\"exp\":9999999999,\"iss\":\"MARKERiss\"}",
                                           "{\"org_id\":\"a\",\"exp\":9999999999,\"iss\":\"iss\",\"aud\":\"MARKERaud\"}",
                                           "{\"org_id\":\"a\",\"exp\":1,\"sub\":\"MARKERsub\"}"};
    for (size_t h = 0; h < 4; h++)
        for (size_t p = 0; p < 4; p++) {
            char *t = tk_hs256(hdrs[h], payloads[p], SECRET, strlen(SECRET));
            tenancy_identity_t id;
            vg_error_t err;
            assert_int_equal(check(v, t, NOW, &id, &err), VG_EAUTH);
            assert_null(strstr(err.msg, "MARKER"));
            assert_null(strstr(err.msg, t));
            free(t);
        }
    tenancy_verifier_free(v);
}

/* ---- JWKS and rotation ---- */

static char *jwks_of(const char *a, const char *b, const char *c) {
    char *s = malloc(16384);
    snprintf(s, 16384, "{\"keys\":[%s%s%s%s%s]}", a, b ? "," : "", b ? b : "", c ? "," : "", c ? c : "");
    return s;
}

static void jwks_rotation(void **state) {
    (void)state;
    char *old = tk_jwk(rsa1, "2024-old", ",\"use\":\"sig\",\"alg\":\"RS256\"");
    char *cur = tk_jwk(rsa2, "2025-new", ",\"use\":\"sig\",\"alg\":\"RS256\"");
    char *ec = tk_jwk(ec1, "ec-1", NULL);
    char *jwks = jwks_of(old, cur, ec);
    tenancy_key_config_t k = {.algorithms = TENANCY_ALG_RS256 | TENANCY_ALG_ES256, .jwks_json = jwks, .jwks_len = strlen(jwks)};
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    assert_int_equal(tenancy_verifier_key_count(v), 3);
    char *t1 = tk_sign("{\"alg\":\"RS256\",\"kid\":\"2024-old\"}", claims(NULL), rsa1);
    char *t2 = tk_sign("{\"alg\":\"RS256\",\"kid\":\"2025-new\"}", claims(NULL), rsa2);
    char *t3 = tk_sign("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", claims(NULL), ec1);
    tenancy_identity_t id;
    vg_error_t err;
    assert_int_equal(check(v, t1, NOW, &id, &err), 0);
    assert_string_equal(id.kid, "2024-old");
    assert_int_equal(check(v, t2, NOW, &id, &err), 0);
    assert_string_equal(id.kid, "2025-new");
    EXPECT_OK(v, t3);
    /* The old key signing under the new kid fails; kid-less tokens find their key. */
    char *t4 = tk_sign("{\"alg\":\"RS256\",\"kid\":\"2025-new\"}", claims(NULL), rsa1);
    EXPECT_FAIL(v, t4, "signature invalid");
    char *t5 = tk_sign(HDR_RS, claims(NULL), rsa2);
    EXPECT_OK(v, t5);
    tenancy_verifier_free(v);
    free(jwks);
    /* After rotation the old key is gone from the JWKS: its tokens are an unknown kid. */
    jwks = jwks_of(cur, NULL, NULL);
    k.jwks_json = jwks;
    k.jwks_len = strlen(jwks);
    v = new_v(&k, 1, NULL);
    EXPECT_FAIL(v, t1, "unknown kid");
    EXPECT_OK(v, t2);
    tenancy_verifier_free(v);
    free(t1);
    free(t2);
    free(t3);
    free(t4);
    free(t5);
    free(jwks);
    free(old);
    free(cur);
    free(ec);
}

static void jwks_file_with_oct_key(void **state) {
    (void)state;
    char path[] = "/tmp/vigil-jwks-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *k64 = tk_b64(SECRET, strlen(SECRET));
    char *ec = tk_jwk(ec1, "e", NULL);
    char doc[4096];
    int n = snprintf(doc, sizeof doc, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"%s\",\"alg\":\"HS256\"},%s]}", k64, ec);
    assert_int_equal(write(fd, doc, (size_t)n), n);
    close(fd);
    tenancy_key_config_t k = {.algorithms = TENANCY_ALG_HS256 | TENANCY_ALG_ES256, .jwks_file = path};
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *t = tk_hs256("{\"alg\":\"HS256\",\"kid\":\"h\"}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_OK(v, t);
    free(t);
    t = tk_hs256("{\"alg\":\"HS256\",\"kid\":\"e\"}", claims(NULL), SECRET, strlen(SECRET));
    EXPECT_FAIL(v, t, "algorithm not allowed for key");
    free(t);
    tenancy_verifier_free(v);
    /* The allow-list of the entry narrows the JWKS: HS256 only → the EC key is skipped. */
    k.algorithms = TENANCY_ALG_HS256;
    v = new_v(&k, 1, NULL);
    assert_int_equal(tenancy_verifier_key_count(v), 1);
    tenancy_verifier_free(v);
    unlink(path);
    free(k64);
    free(ec);
}

static void jwks_errors(void **state) {
    (void)state;
    vg_error_t err;
    char *rsa = tk_jwk(rsa1, "r", NULL);
    char *ec = tk_jwk(ec1, "e", NULL);
    char buf[16384];
    struct { const char *doc, *reason; } cases[] = {
        {"", "not valid JSON"},
        {"[]", "a JWKS is"},
        {"{\"keys\":[]}", "a JWKS is"},
        {"{\"keys\":{}}", "a JWKS is"},
        {"{\"keys\":[1]}", "not an object"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "RSA"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "32 bytes"},
        {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}", "at least 32"},
        {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ=\"}]}", "base64url"},
        {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}", "no usable key"},
        {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}", "no usable key"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "no usable key"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RS512\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "no usable key"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"d\":\"AQAB\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "private key"},
        {"{\"keys\":[{\"n\":\"AQAB\"}]}", "kty missing"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":5}]}", "kid is not a string"},
        {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}],\"keys\":[]}", "not valid JSON"},
        {NULL, "appears twice"},
        {NULL, "P-256"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *doc = cases[i].doc;
        if (!doc && !strcmp(cases[i].reason, "appears twice")) {
            snprintf(buf, sizeof buf, "{\"keys\":[%s,%s]}", rsa, rsa);
            doc = buf;
        } else if (!doc) { /* a point off the curve: y + 1 */
            char *bad = strdup(ec);
            char *y = strstr(bad, "\"y\":\"") + 5;
            y[0] = y[0] == 'A' ? 'B' : 'A';
            snprintf(buf, sizeof buf, "{\"keys\":[%s]}", bad);
            free(bad);
            doc = buf;
        }
        tenancy_key_config_t k = {.algorithms = TENANCY_ALG_RS256 | TENANCY_ALG_ES256 | TENANCY_ALG_HS256,
                                  .jwks_json = doc, .jwks_len = strlen(doc)};
        int rc = key_error(k, &err);
        if (rc != VG_ECONFIG || !strstr(err.msg, cases[i].reason)) print_error("case %zu: %s\n", i, err.msg);
        assert_int_equal(rc, VG_ECONFIG);
        assert_non_null(strstr(err.msg, cases[i].reason));
    }
    /* RS256 in the JWK but the entry allows ES256 only: skipped, and nothing is left. */
    snprintf(buf, sizeof buf, "{\"keys\":[%s]}", rsa);
    tenancy_key_config_t k = {.algorithms = TENANCY_ALG_ES256, .jwks_json = buf, .jwks_len = strlen(buf)};
    assert_int_equal(key_error(k, &err), VG_ECONFIG);
    /* A kid on a JWKS entry is refused (the JWKS carries them). */
    k.kid = "x";
    k.algorithms = TENANCY_ALG_RS256;
    assert_int_equal(key_error(k, &err), VG_ECONFIG);
    free(rsa);
    free(ec);
}

/* ---- key configuration ---- */

static void hmac_secret_length(void **state) {
    (void)state;
    vg_error_t err;
    tenancy_key_config_t k = {.algorithms = TENANCY_ALG_HS256, .secret = SECRET, .secret_len = 31};
    assert_int_equal(key_error(k, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "at least 32"));
    k.secret_len = 32;
    assert_int_equal(key_error(k, &err), 0);
    k.secret_len = 0;
    assert_int_equal(key_error(k, &err), VG_ECONFIG);
}

static char *write_temp(const char *content, size_t n) {
    char *path = strdup("/tmp/vigil-key-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static void key_files(void **state) {
    (void)state;
    char secret_nl[64];
    int sn = snprintf(secret_nl, sizeof secret_nl, "%s\n", SECRET);
    char *sp = write_temp(secret_nl, (size_t)sn);
    char *rp = write_temp(rsa1_pem, strlen(rsa1_pem));
    char *ep = write_temp(ec1_pem, strlen(ec1_pem));
    tenancy_key_config_t keys[3] = {{.kid = "s", .algorithms = TENANCY_ALG_HS256, .secret_file = sp},
                                    {.kid = "r", .algorithms = TENANCY_ALG_RS256, .public_key_file = rp},
                                    {.kid = "e", .algorithms = TENANCY_ALG_ES256, .public_key_file = ep}};
    tenancy_verifier_t *v = new_v(keys, 3, NULL);
    char *t = tk_hs256("{\"alg\":\"HS256\",\"kid\":\"s\"}", claims(NULL), SECRET, strlen(SECRET)); /* newline dropped */
    EXPECT_OK(v, t);
    free(t);
    t = tk_sign("{\"alg\":\"RS256\",\"kid\":\"r\"}", claims(NULL), rsa1);
    EXPECT_OK(v, t);
    free(t);
    t = tk_sign("{\"alg\":\"ES256\",\"kid\":\"e\"}", claims(NULL), ec1);
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
    vg_error_t err;
    tenancy_key_config_t missing = {.algorithms = TENANCY_ALG_RS256, .public_key_file = "/nonexistent/k.pem"};
    assert_int_equal(key_error(missing, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/k.pem"));
    /* A secret file holding a public key PEM: the confusion mistake, refused. */
    tenancy_key_config_t pem_as_secret = {.algorithms = TENANCY_ALG_HS256, .secret_file = rp};
    assert_int_equal(key_error(pem_as_secret, &err), VG_ECONFIG);
    unlink(sp);
    unlink(rp);
    unlink(ep);
    free(sp);
    free(rp);
    free(ep);
}

/* A NUL-terminated copy of a memory BIO's content. */
static char *bio_text(BIO *b) {
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

static char *pem_of(EVP_PKEY *pk, bool priv) {
    BIO *b = BIO_new(BIO_s_mem());
    if (priv) PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
    else PEM_write_bio_PUBKEY(b, pk);
    char *s = bio_text(b);
    BIO_free(b);
    return s;
}

static void key_types_refused(void **state) {
    (void)state;
    vg_error_t err;
    EVP_PKEY *small = EVP_RSA_gen(1024), *p384 = EVP_EC_gen("P-384"), *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *small_pem = pem_of(small, false), *p384_pem = pem_of(p384, false), *ed_pem = pem_of(ed, false);
    char *priv = pem_of(rsa1, true);
    assert_int_equal(key_error(pem_key(NULL, small_pem, TENANCY_ALG_RS256), &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "1024 bits"));
    assert_int_equal(key_error(pem_key(NULL, p384_pem, TENANCY_ALG_ES256), &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "P-256"));
    assert_int_equal(key_error(pem_key(NULL, ed_pem, TENANCY_ALG_ES256), &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "unsupported key type"));
    assert_int_equal(key_error(pem_key(NULL, priv, TENANCY_ALG_RS256), &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "private key"));
    assert_int_equal(key_error(pem_key(NULL, "not a pem", TENANCY_ALG_RS256), &err), VG_ECONFIG);
    EVP_PKEY_free(small);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
    free(small_pem);
    free(p384_pem);
    free(ed_pem);
    free(priv);
}

static void certificate_pem(void **state) {
    (void)state;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, rsa1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"idp", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, rsa1, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *pem = bio_text(b);
    BIO_free(b);
    X509_free(x);
    tenancy_key_config_t k = pem_key(NULL, pem, TENANCY_ALG_RS256);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    char *t = tk_sign(HDR_RS, claims(NULL), rsa1);
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
    free(pem);
}

static void config_errors(void **state) {
    (void)state;
    vg_error_t err;
    tenancy_verifier_t *v = NULL;
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    assert_int_equal(tenancy_verifier_new(&cfg, &v, &err), VG_ECONFIG); /* no keys */
    assert_null(v);
    tenancy_key_config_t k = hs_key(NULL);
    k.algorithms = 0;
    assert_int_equal(key_error(k, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "algorithms"));
    k.algorithms = 1u << 7;
    assert_int_equal(key_error(k, &err), VG_ECONFIG);
    k = hs_key(NULL);
    k.public_key_pem = rsa1_pem; /* two sources */
    assert_int_equal(key_error(k, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "exactly one"));
    tenancy_key_config_t none = {.algorithms = TENANCY_ALG_HS256};
    assert_int_equal(key_error(none, &err), VG_ECONFIG);
    tenancy_key_config_t dup[2] = {hs_key("same"), pem_key("same", rsa1_pem, TENANCY_ALG_RS256)};
    cfg.keys = dup;
    cfg.n_keys = 2;
    assert_int_equal(tenancy_verifier_new(&cfg, &v, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "appears twice"));
    cfg.n_keys = 1;
    cfg.leeway_ms = -1;
    assert_int_equal(tenancy_verifier_new(&cfg, &v, &err), VG_ECONFIG);
    cfg.leeway_ms = 2 * 3600000;
    assert_int_equal(tenancy_verifier_new(&cfg, &v, &err), VG_ECONFIG);
    cfg.leeway_ms = 0;
    cfg.admin_value = "admin"; /* value without a name */
    assert_int_equal(tenancy_verifier_new(&cfg, &v, &err), VG_ECONFIG);
    cfg.admin_value = NULL;
    char longkid[200];
    memset(longkid, 'k', 199);
    longkid[199] = '\0';
    assert_int_equal(key_error(hs_key(longkid), &err), VG_ECONFIG);
    assert_int_equal(key_error(hs_key("bad\nkid"), &err), VG_ECONFIG);
    /* "" is "not set" for names and paths, as NULL. */
    tenancy_key_config_t empty = hs_key("");
    empty.public_key_file = "";
    empty.jwks_file = "";
    assert_int_equal(key_error(empty, &err), 0);
    /* A zeroed config (but for keys) works: strictest defaults. */
    tenancy_auth_config_t zero;
    memset(&zero, 0, sizeof zero);
    k = hs_key(NULL);
    zero.keys = &k;
    zero.n_keys = 1;
    assert_int_equal(tenancy_verifier_new(&zero, &v, &err), 0);
    char *t = hs_claims(claims(NULL));
    EXPECT_OK(v, t);
    free(t);
    tenancy_verifier_free(v);
    tenancy_verifier_free(NULL);
    /* NULL arguments. */
    tenancy_identity_t id;
    assert_int_equal(tenancy_verify(NULL, "a.b.c", 5, NOW, &id, &err), VG_EINVAL);
    assert_int_equal(tenancy_verifier_new(NULL, &v, &err), VG_EINVAL);
}

static void alg_names(void **state) {
    (void)state;
    assert_int_equal(tenancy_alg_parse("HS256", 5), TENANCY_ALG_HS256);
    assert_int_equal(tenancy_alg_parse("RS256", 5), TENANCY_ALG_RS256);
    assert_int_equal(tenancy_alg_parse("ES256", 5), TENANCY_ALG_ES256);
    assert_int_equal(tenancy_alg_parse("none", 4), 0);
    assert_int_equal(tenancy_alg_parse("HS2566", 5), TENANCY_ALG_HS256); /* length-bounded */
    assert_int_equal(tenancy_alg_parse("es256", 5), 0);
    assert_string_equal(tenancy_alg_name(TENANCY_ALG_ES256), "ES256");
    assert_string_equal(tenancy_alg_name(0), "?");
}

/* ---- cross-check with the openssl command line ---- */

static bool have_openssl_cli(void) { return system("openssl version >/dev/null 2>&1") == 0; }

/* Runs the openssl CLI to sign in.txt and returns the signature bytes. */
static size_t cli_sign(const char *cmd, unsigned char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap, p);
    assert_int_equal(pclose(p), 0);
    return n;
}

static void openssl_cli_tokens(void **state) {
    (void)state;
    if (!have_openssl_cli()) skip();
    char dir[] = "/tmp/vigil-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], cmd[1024];
    char *in = tk_signing_input(HDR_HS, claims(NULL));
    snprintf(path, sizeof path, "%s/in.txt", dir);
    FILE *f = fopen(path, "w");
    fputs(in, f);
    fclose(f);
    unsigned char sig[512];
    /* HS256 */
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -mac HMAC -macopt key:%s -binary %s/in.txt", SECRET, dir);
    size_t sl = cli_sign(cmd, sig, sizeof sig);
    assert_int_equal(sl, 32);
    char *s64 = tk_b64(sig, sl);
    char tok[2048];
    snprintf(tok, sizeof tok, "%s.%s", in, s64);
    free(s64);
    tenancy_key_config_t k = hs_key(NULL);
    tenancy_verifier_t *v = new_v(&k, 1, NULL);
    EXPECT_OK(v, tok);
    tenancy_verifier_free(v);
    free(in);
    /* RS256 with a key made by the CLI; its public half goes through public_key_file. */
    in = tk_signing_input(HDR_RS, claims(NULL));
    f = fopen(path, "w");
    fputs(in, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/k.pem 2>/dev/null && "
             "openssl pkey -in %s/k.pem -pubout -out %s/pub.pem",
             dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -sign %s/k.pem -binary %s/in.txt", dir, dir);
    sl = cli_sign(cmd, sig, sizeof sig);
    assert_int_equal(sl, 256);
    s64 = tk_b64(sig, sl);
    snprintf(tok, sizeof tok, "%s.%s", in, s64);
    free(s64);
    snprintf(path, sizeof path, "%s/pub.pem", dir);
    tenancy_key_config_t rk = {.algorithms = TENANCY_ALG_RS256, .public_key_file = path};
    v = new_v(&rk, 1, NULL);
    EXPECT_OK(v, tok);
    tenancy_verifier_free(v);
    free(in);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64url_roundtrip),
        cmocka_unit_test(b64url_strict),
        cmocka_unit_test(json_depth_scan),
        cmocka_unit_test(alg_names),
        cmocka_unit_test(hs256_valid),
        cmocka_unit_test(rs256_valid),
        cmocka_unit_test(es256_valid),
        cmocka_unit_test(alg_none_any_case),
        cmocka_unit_test(alg_confusion_rsa_pem_as_hmac_secret),
        cmocka_unit_test(alg_confusion_mixed_keys),
        cmocka_unit_test(alg_unsupported),
        cmocka_unit_test(wrong_key),
        cmocka_unit_test(unknown_kid_and_kid_tricks),
        cmocka_unit_test(kidless_key_serves_only_kidless_tokens),
        cmocka_unit_test(no_kid_tries_keys_with_matching_alg),
        cmocka_unit_test(tampered_payload),
        cmocka_unit_test(tampered_signature),
        cmocka_unit_test(truncated_at_every_offset),
        cmocka_unit_test(noncanonical_and_padded_segments),
        cmocka_unit_test(segment_counts),
        cmocka_unit_test(huge_token),
        cmocka_unit_test(deeply_nested_json),
        cmocka_unit_test(json_not_object_or_duplicate),
        cmocka_unit_test(es256_signature_shapes),
        cmocka_unit_test(rs256_signature_shapes),
        cmocka_unit_test(forbidden_headers),
        cmocka_unit_test(embedded_jwk_is_not_trusted),
        cmocka_unit_test(time_claims),
        cmocka_unit_test(issuer_and_audience),
        cmocka_unit_test(tenant_claim),
        cmocka_unit_test(admin_claim),
        cmocka_unit_test(subject_claim),
        cmocka_unit_test(errors_never_echo_the_token),
        cmocka_unit_test(jwks_rotation),
        cmocka_unit_test(jwks_file_with_oct_key),
        cmocka_unit_test(jwks_errors),
        cmocka_unit_test(hmac_secret_length),
        cmocka_unit_test(key_files),
        cmocka_unit_test(key_types_refused),
        cmocka_unit_test(certificate_pem),
        cmocka_unit_test(config_errors),
        cmocka_unit_test(openssl_cli_tokens),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
