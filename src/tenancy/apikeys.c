/* vigil API keys: long-lived, revocable bearer credentials bound to one tenant, minted by vigil itself
 * (the datasource credential it gives a tenant's Grafana organisation, and the keys a tenant creates
 * through /api/v1/tenants/self/api-keys).
 *
 * A key is "vgk_" + 43 base64url characters (32 random bytes from the OS). Only its SHA-256 is kept, in
 * memory and in a JSON file (atomically replaced: write a temporary file, fsync, rename, fsync the
 * directory), so a leaked key file yields no usable key. Lookups compare digests with CRYPTO_memcmp.
 * Invariant: the file on disk always holds a complete, valid key list (the last one written). */
#include "tenancy/tenancy.h"
#include "tenancy/tenancy_int.h"

#include "util/fs.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_PREFIX "vgk_"
#define KEY_RANDOM 32

typedef struct {
    uint64_t id;
    char tenant[TENANCY_TENANT_MAX + 1];
    char name[TENANCY_APIKEY_NAME_MAX + 1];
    unsigned char digest[32];
    int64_t created_ms;
} entry_t;

struct tenancy_keystore {
    pthread_mutex_t mu;
    char *path;
    entry_t *v;
    size_t n, cap;
    uint64_t next_id;
};

static int sha256(const char *s, size_t n, unsigned char out[32]) {
    unsigned int len = 0;
    return EVP_Digest(s, n, out, &len, EVP_sha256(), NULL) && len == 32 ? 0 : VG_EINTERNAL;
}

static void hex(const unsigned char *p, size_t n, char *out) {
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) out[2 * i] = h[p[i] >> 4], out[2 * i + 1] = h[p[i] & 15];
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n) {
    if (!s || strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            v = v * 16 + (unsigned)(c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99);
        }
        if (v > 255) return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* Writes the whole list to path (atomically). Called with mu held. */
static int save(tenancy_keystore_t *ks, vg_error_t *err) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < ks->n; i++) {
        char d[65];
        hex(ks->v[i].digest, 32, d);
        json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)ks->v[i].id, "tenant", ks->v[i].tenant,
                                             "name", ks->v[i].name, "sha256", d, "created_ms", (json_int_t)ks->v[i].created_ms));
    }
    char *text = arr ? json_dumps(arr, JSON_INDENT(1)) : NULL;
    json_decref(arr);
    if (!text) return vg_error_set(err, VG_ENOMEM, "out of memory");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", ks->path);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) rc = vg_error_set(err, VG_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc) rc = vg_fs_write_all(fd, text, strlen(text), err);
    if (!rc && fsync(fd)) rc = vg_error_set(err, VG_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    if (!rc && rename(tmp, ks->path)) rc = vg_error_set(err, VG_EIO, "rename %s: %s", tmp, strerror(errno));
    if (!rc) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", ks->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        rc = vg_fs_fsync_dir(slash ? dir : ".", err);
    }
    free(text);
    return rc;
}

static int push(tenancy_keystore_t *ks, const entry_t *e) {
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 16;
        entry_t *nv = realloc(ks->v, cap * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        ks->v = nv;
        ks->cap = cap;
    }
    ks->v[ks->n++] = *e;
    if (e->id >= ks->next_id) ks->next_id = e->id + 1;
    return 0;
}

int tenancy_keystore_open(const char *path, tenancy_keystore_t **out, vg_error_t *err) {
    *out = NULL;
    tenancy_keystore_t *ks = calloc(1, sizeof *ks);
    if (!ks || !(ks->path = strdup(path))) {
        free(ks);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&ks->mu, NULL);
    ks->next_id = 1;
    uint8_t *data;
    size_t len;
    int rc = vg_fs_read_file(path, &data, &len, err);
    if (rc) { /* no file yet: an empty store */
        if (access(path, F_OK) == 0) {
            tenancy_keystore_free(ks);
            return rc;
        }
        vg_error_clear(err);
        *out = ks;
        return 0;
    }
    json_error_t je;
    json_t *arr = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    free(data);
    if (!json_is_array(arr)) {
        json_decref(arr);
        tenancy_keystore_free(ks);
        return vg_error_set(err, VG_ECORRUPT, "%s: not a key list (%s at line %d)", path, je.text, je.line);
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        json_int_t id = 0, created = 0;
        const char *tenant = NULL, *name = NULL, *digest = NULL;
        entry_t e = {0};
        if (json_unpack(o, "{s:I,s:s,s:s,s:s,s:I}", "id", &id, "tenant", &tenant, "name", &name, "sha256", &digest, "created_ms",
                        &created) ||
            id <= 0 || !tenancy_tenant_id_valid(tenant, strlen(tenant)) || strlen(name) > TENANCY_APIKEY_NAME_MAX ||
            unhex(digest, e.digest, 32)) {
            json_decref(arr);
            tenancy_keystore_free(ks);
            return vg_error_set(err, VG_ECORRUPT, "%s: entry %zu is malformed", path, i);
        }
        e.id = (uint64_t)id;
        e.created_ms = created;
        snprintf(e.tenant, sizeof e.tenant, "%s", tenant);
        snprintf(e.name, sizeof e.name, "%s", name);
        if (push(ks, &e)) {
            json_decref(arr);
            tenancy_keystore_free(ks);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
    }
    json_decref(arr);
    *out = ks;
    return 0;
}

void tenancy_keystore_free(tenancy_keystore_t *ks) {
    if (!ks) return;
    OPENSSL_cleanse(ks->v, ks->cap * sizeof *ks->v);
    free(ks->v);
    free(ks->path);
    pthread_mutex_destroy(&ks->mu);
    free(ks);
}

/* Counts tenant's keys not named `uncounted` (NULL: every key). Called with mu held. */
static size_t count_locked(const tenancy_keystore_t *ks, const char *tenant, const char *uncounted) {
    size_t n = 0;
    for (size_t i = 0; i < ks->n; i++)
        n += !strcmp(ks->v[i].tenant, tenant) && (!uncounted || strcmp(ks->v[i].name, uncounted));
    return n;
}

int tenancy_keystore_create_capped(tenancy_keystore_t *ks, const char *tenant, const char *name, size_t max,
                                   const char *uncounted, char *key_out, uint64_t *id_out, vg_error_t *err) {
    if (!tenancy_tenant_id_valid(tenant, strlen(tenant)))
        return vg_error_set(err, VG_EINVAL, "invalid tenant id");
    if (!name || !*name || strlen(name) > TENANCY_APIKEY_NAME_MAX)
        return vg_error_set(err, VG_EINVAL, "invalid key name");
    unsigned char rnd[KEY_RANDOM];
    if (RAND_bytes(rnd, sizeof rnd) != 1) return vg_error_set(err, VG_EINTERNAL, "no randomness for a key");
    memcpy(key_out, KEY_PREFIX, sizeof KEY_PREFIX - 1);
    tenancy__b64url_encode(rnd, sizeof rnd, key_out + sizeof KEY_PREFIX - 1);
    OPENSSL_cleanse(rnd, sizeof rnd);
    entry_t e = {0};
    snprintf(e.tenant, sizeof e.tenant, "%s", tenant);
    snprintf(e.name, sizeof e.name, "%s", name);
    e.created_ms = vg_now_ms();
    int rc = sha256(key_out, strlen(key_out), e.digest) ? vg_error_set(err, VG_EINTERNAL, "sha256 failed") : 0;
    pthread_mutex_lock(&ks->mu);
    /* counted under the lock that adds the key, so concurrent creates cannot pass max together */
    if (!rc && max && count_locked(ks, tenant, uncounted) >= max)
        rc = vg_error_set(err, VG_ELIMIT, "tenant %s has %zu API keys already", tenant, max);
    if (!rc) {
        e.id = ks->next_id;
        rc = push(ks, &e) ? vg_error_set(err, VG_ENOMEM, "out of memory") : save(ks, err);
        if (rc && ks->n && ks->v[ks->n - 1].id == e.id) ks->n--; /* not persisted: not valid */
    }
    pthread_mutex_unlock(&ks->mu);
    if (rc) OPENSSL_cleanse(key_out, TENANCY_APIKEY_LEN);
    else if (id_out) *id_out = e.id;
    return rc;
}

int tenancy_keystore_create(tenancy_keystore_t *ks, const char *tenant, const char *name, char *key_out, uint64_t *id_out,
                            vg_error_t *err) {
    return tenancy_keystore_create_capped(ks, tenant, name, 0, NULL, key_out, id_out, err);
}

bool tenancy_apikey_like(const char *token, size_t len) {
    return len == TENANCY_APIKEY_LEN && !memcmp(token, KEY_PREFIX, sizeof KEY_PREFIX - 1);
}

int tenancy_keystore_verify(tenancy_keystore_t *ks, const char *token, size_t len, char *tenant_out, vg_error_t *err) {
    unsigned char d[32];
    if (!tenancy_apikey_like(token, len) || sha256(token, len, d)) return vg_error_set(err, VG_EAUTH, "malformed API key");
    int found = 0;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < ks->n; i++)
        if (!CRYPTO_memcmp(ks->v[i].digest, d, 32)) {
            snprintf(tenant_out, TENANCY_TENANT_MAX + 1, "%s", ks->v[i].tenant);
            found = 1;
            break;
        }
    pthread_mutex_unlock(&ks->mu);
    return found ? 0 : vg_error_set(err, VG_EAUTH, "unknown or revoked API key");
}

int tenancy_keystore_revoke(tenancy_keystore_t *ks, const char *tenant, const char *name, uint64_t keep_id, size_t *n_revoked,
                            vg_error_t *err) {
    pthread_mutex_lock(&ks->mu);
    size_t k = 0, removed = 0;
    entry_t *old = malloc((ks->n ? ks->n : 1) * sizeof *old);
    if (!old) {
        pthread_mutex_unlock(&ks->mu);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    size_t n_old = ks->n;
    memcpy(old, ks->v, n_old * sizeof *old);
    for (size_t i = 0; i < ks->n; i++) {
        const entry_t *e = &ks->v[i];
        bool hit = !strcmp(e->tenant, tenant) && (!name || !strcmp(e->name, name)) && e->id != keep_id;
        if (hit) removed++;
        else ks->v[k++] = *e;
    }
    ks->n = k;
    int rc = removed ? save(ks, err) : 0;
    if (rc) { /* not persisted: keep the old list, so memory and disk agree */
        memcpy(ks->v, old, n_old * sizeof *old);
        ks->n = n_old;
        removed = 0;
    }
    OPENSSL_cleanse(old, n_old * sizeof *old);
    free(old);
    pthread_mutex_unlock(&ks->mu);
    if (n_revoked) *n_revoked = removed;
    return rc;
}

static void info_of(const entry_t *e, tenancy_apikey_info_t *out) {
    out->id = e->id;
    out->created_ms = e->created_ms;
    snprintf(out->name, sizeof out->name, "%s", e->name);
}

int tenancy_keystore_list(tenancy_keystore_t *ks, const char *tenant, tenancy_apikey_info_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&ks->mu);
    size_t n = count_locked(ks, tenant, NULL), k = 0;
    tenancy_apikey_info_t *v = n ? malloc(n * sizeof *v) : NULL;
    for (size_t i = 0; v && i < ks->n; i++)
        if (!strcmp(ks->v[i].tenant, tenant)) info_of(&ks->v[i], &v[k++]);
    pthread_mutex_unlock(&ks->mu);
    if (n && !v) return VG_ENOMEM;
    *out = v;
    *n_out = k;
    return 0;
}

int tenancy_keystore_get(tenancy_keystore_t *ks, const char *tenant, uint64_t id, tenancy_apikey_info_t *out) {
    int rc = VG_ENOTFOUND;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < ks->n; i++)
        if (ks->v[i].id == id && !strcmp(ks->v[i].tenant, tenant)) {
            info_of(&ks->v[i], out);
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&ks->mu);
    return rc;
}

size_t tenancy_keystore_count(tenancy_keystore_t *ks, const char *tenant, const char *name) {
    size_t n = 0;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < ks->n; i++)
        n += !strcmp(ks->v[i].tenant, tenant) && (!name || !strcmp(ks->v[i].name, name));
    pthread_mutex_unlock(&ks->mu);
    return n;
}

int tenancy_keystore_revoke_id(tenancy_keystore_t *ks, uint64_t id, vg_error_t *err) {
    pthread_mutex_lock(&ks->mu);
    size_t i = 0;
    while (i < ks->n && ks->v[i].id != id) i++;
    int rc = 0;
    if (i < ks->n) {
        entry_t gone = ks->v[i];
        memmove(&ks->v[i], &ks->v[i + 1], (ks->n - i - 1) * sizeof *ks->v);
        ks->n--;
        if ((rc = save(ks, err))) { /* not persisted: put it back */
            memmove(&ks->v[i + 1], &ks->v[i], (ks->n - i) * sizeof *ks->v);
            ks->v[i] = gone;
            ks->n++;
        }
        OPENSSL_cleanse(&gone, sizeof gone);
    }
    pthread_mutex_unlock(&ks->mu);
    return rc;
}
