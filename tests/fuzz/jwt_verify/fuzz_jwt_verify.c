/* Fuzz target for tenancy_verify. The invariant: nothing verifies unless it was signed with a
 * configured key. The verifier holds two HMAC keys (fixed secrets, one with kid "h", one without) and
 * an RSA and an EC key whose private halves are thrown away at start-up; so an accepted token must
 * have been verified by an HMAC key, and its signature segment must be exactly what re-signing its
 * signing input with that key's secret gives. Accepted identities must also be well-formed.
 *
 * Two input shapes: bytes starting with '{' are "header-json\npayload-json", which the harness signs
 * with the kid-less key before verifying (so mutations reach the claim checks behind the signature);
 * anything else is verified as a token as-is (parser, base64url, header policy, signature shapes). */
#include "tenancy/tenancy.h"
#include "tenancy/tenancy_int.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1700000000000LL
static const char SECRET0[] = "vigil-fuzz-secret-without-kid-0123456789"; /* kid-less key */
static const char SECRET_H[] = "vigil-fuzz-secret-for-kid-h-9876543210ab"; /* kid "h" */

static tenancy_verifier_t *verifier;

static char *pub_pem(EVP_PKEY *pk) {
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, pk);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static void init(void) {
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
    if (!rsa || !ec) abort();
    char *rsa_pem = pub_pem(rsa), *ec_pem = pub_pem(ec);
    EVP_PKEY_free(rsa); /* the private halves are gone: no RS256/ES256 token can ever verify */
    EVP_PKEY_free(ec);
    tenancy_key_config_t keys[4] = {
        {.algorithms = TENANCY_ALG_HS256, .secret = SECRET0, .secret_len = sizeof SECRET0 - 1},
        {.kid = "h", .algorithms = TENANCY_ALG_HS256, .secret = SECRET_H, .secret_len = sizeof SECRET_H - 1},
        {.kid = "r", .algorithms = TENANCY_ALG_RS256, .public_key_pem = rsa_pem},
        {.kid = "e", .algorithms = TENANCY_ALG_ES256, .public_key_pem = ec_pem},
    };
    tenancy_auth_config_t cfg;
    tenancy_auth_config_init(&cfg);
    cfg.keys = keys;
    cfg.n_keys = 4;
    cfg.issuer = "https://issuer.example";
    cfg.audience = "vigil";
    cfg.admin_claim = "role";
    cfg.admin_value = "admin";
    vg_error_t err;
    if (tenancy_verifier_new(&cfg, &verifier, &err) != 0) abort();
    free(rsa_pem);
    free(ec_pem);
}

/* b64url(HMAC-SHA256(secret, input)) into out (≥ 44 bytes). */
static void hs256(const char *secret, const char *input, size_t n, char *out) {
    unsigned char mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input, n, mac, &ml);
    tenancy__b64url_encode(mac, 32, out);
}

static void check_accepted(const char *tok, size_t len, const tenancy_identity_t *id) {
    const char *secret;
    if (!strcmp(id->kid, "")) secret = SECRET0;
    else if (!strcmp(id->kid, "h")) secret = SECRET_H;
    else abort(); /* an RS256/ES256 token verified without a private key: a forgery */
    const char *dot = NULL;
    for (size_t i = 0; i < len; i++)
        if (tok[i] == '.') dot = tok + i;
    if (!dot) abort();
    char sig[64];
    hs256(secret, tok, (size_t)(dot - tok), sig);
    size_t sl = len - (size_t)(dot - tok) - 1;
    if (sl != strlen(sig) || memcmp(dot + 1, sig, sl) != 0) abort();
    if (!(id->admin && id->tenant[0] == '\0') && !tenancy_tenant_id_valid(id->tenant, strlen(id->tenant))) abort();
    if (id->expires_ms <= NOW_MS - TENANCY_LEEWAY_DEFAULT_MS) abort();
    for (const char *p = id->subject; *p; p++)
        if ((unsigned char)*p < 0x20) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!verifier) init();
    tenancy_identity_t id;
    vg_error_t err;
    if (size > 0 && data[0] == '{') {
        const uint8_t *nl = memchr(data, '\n', size);
        if (!nl || size > 16384) return 0;
        size_t hl = (size_t)(nl - data), pl = size - hl - 1;
        size_t cap = tenancy__b64url_encoded_len(hl) + tenancy__b64url_encoded_len(pl) + 64;
        char *tok = malloc(cap);
        if (!tok) return 0;
        size_t n = tenancy__b64url_encode(data, hl, tok);
        tok[n++] = '.';
        n += tenancy__b64url_encode(nl + 1, pl, tok + n);
        char sig[64];
        hs256(SECRET0, tok, n, sig);
        tok[n++] = '.';
        memcpy(tok + n, sig, strlen(sig) + 1);
        n += strlen(sig);
        int rc = tenancy_verify(verifier, tok, n, NOW_MS, &id, &err);
        if (rc == 0) check_accepted(tok, n, &id);
        else if (rc != VG_EAUTH || err.msg[0] == '\0' || id.tenant[0] || id.admin) abort();
        free(tok);
        return 0;
    }
    int rc = tenancy_verify(verifier, (const char *)data, size, NOW_MS, &id, &err);
    if (rc == 0) check_accepted((const char *)data, size, &id);
    else if (rc != VG_EAUTH || err.msg[0] == '\0' || id.tenant[0] || id.admin) abort();
    return 0;
}
