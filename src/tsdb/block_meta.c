/* A block's small files: meta.json (read with jansson, written by hand in Prometheus' layout: tab
 * indentation, the fields in Prometheus' order, zero stats omitted as Prometheus' omitempty does),
 * ULIDs, and the tombstones file (format v1). Layouts: docs/format/blocks.md. */
#include "tsdb/block_int.h"

#include "util/buf.h"
#include "util/crc32c.h"
#include "util/fs.h"
#include "util/varint.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void tsdb__ulid_new(int64_t now_ms, char out[TSDB_ULID_LEN + 1]) {
    uint8_t b[16];
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)((uint64_t)now_ms >> (40 - 8 * i));
    if (getrandom(b + 6, 10, 0) != 10) { /* no entropy source: time and address bits still differ */
        uint64_t x = (uint64_t)clock() ^ (uint64_t)(uintptr_t)out ^ ((uint64_t)getpid() << 32);
        for (int i = 6; i < 16; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[i] = (uint8_t)x;
        }
    }
    /* 130 bits (two leading zeros, then the 128 bits) in 26 groups of 5 */
    for (int i = 0; i < TSDB_ULID_LEN; i++) {
        unsigned v = 0;
        for (int j = 0; j < 5; j++) {
            int bit = i * 5 + j - 2;
            v = v << 1 | (bit >= 0 ? (unsigned)(b[bit / 8] >> (7 - bit % 8)) & 1 : 0);
        }
        out[i] = crockford[v];
    }
    out[TSDB_ULID_LEN] = '\0';
}

bool tsdb__ulid_valid(const char *s, size_t len) {
    if (len != TSDB_ULID_LEN || s[0] > '7' || s[0] < '0') return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (!strchr(crockford, c) || !c) return false;
    }
    return true;
}

void tsdb__block_meta_free(tsdb__block_meta_t *m) {
    if (!m) return;
    free(m->sources);
    free(m->parents);
    m->sources = m->parents = NULL;
    m->n_sources = m->n_parents = 0;
}

static bool get_i64(json_t *o, const char *key, int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool get_u64(json_t *o, const char *key, uint64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!v) return *out = 0, true; /* omitempty */
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Copies the ULIDs of an array of strings (sources) or of objects with "ulid" (parents). */
static int ulid_list(json_t *arr, bool objects, char (**out)[TSDB_ULID_LEN + 1], size_t *n) {
    *out = NULL;
    *n = 0;
    if (!arr) return 0;
    if (!json_is_array(arr)) return VG_ECORRUPT;
    size_t k = json_array_size(arr);
    if (!k) return 0;
    char(*v)[TSDB_ULID_LEN + 1] = calloc(k, sizeof *v);
    if (!v) return VG_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        json_t *e = json_array_get(arr, i);
        if (objects) e = json_object_get(e, "ulid");
        if (!json_is_string(e) || !tsdb__ulid_valid(json_string_value(e), json_string_length(e))) {
            free(v);
            return VG_ECORRUPT;
        }
        memcpy(v[i], json_string_value(e), TSDB_ULID_LEN + 1);
    }
    *out = v;
    *n = k;
    return 0;
}

int tsdb__meta_parse(const uint8_t *p, size_t len, const char *file, tsdb__block_meta_t *m, vg_error_t *err) {
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *root = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return VG_CORRUPT(err, "%s: offset %d: invalid JSON: %s", file, je.position, je.text);
    const char *what = NULL;
    json_t *ulid = json_object_get(root, "ulid"), *stats = json_object_get(root, "stats"),
           *comp = json_object_get(root, "compaction"), *ver = json_object_get(root, "version");
    int rc = 0;
    if (!json_is_object(root)) what = "not a JSON object";
    else if (!json_is_integer(ver) || json_integer_value(ver) != 1) what = "version is not 1";
    else if (!json_is_string(ulid) || !tsdb__ulid_valid(json_string_value(ulid), json_string_length(ulid)))
        what = "ulid is missing or not a ULID";
    else if (!get_i64(root, "minTime", &m->mint) || !get_i64(root, "maxTime", &m->maxt))
        what = "minTime/maxTime missing or not integers";
    else if (m->mint > m->maxt) what = "minTime is after maxTime";
    else if (stats && (!json_is_object(stats) || !get_u64(stats, "numSamples", &m->n_samples) ||
                       !get_u64(stats, "numSeries", &m->n_series) || !get_u64(stats, "numChunks", &m->n_chunks) ||
                       !get_u64(stats, "numTombstones", &m->n_tombstones)))
        what = "stats are not non-negative integers";
    else if (!json_is_object(comp) || !json_is_integer(json_object_get(comp, "level")) ||
             json_integer_value(json_object_get(comp, "level")) < 1 ||
             json_integer_value(json_object_get(comp, "level")) > 1000)
        what = "compaction.level is missing or out of range";
    if (!what) {
        m->level = (int)json_integer_value(json_object_get(comp, "level"));
        memcpy(m->ulid, json_string_value(ulid), TSDB_ULID_LEN + 1);
        if ((rc = ulid_list(json_object_get(comp, "sources"), false, &m->sources, &m->n_sources)) ||
            (rc = ulid_list(json_object_get(comp, "parents"), true, &m->parents, &m->n_parents)))
            what = rc == VG_ENOMEM ? NULL : "compaction.sources/parents hold something that is not a ULID";
        json_t *vg = json_object_get(root, "vigil");
        m->dense = json_is_object(vg) && json_is_true(json_object_get(vg, "dense"));
    }
    json_decref(root);
    if (rc == VG_ENOMEM) {
        tsdb__block_meta_free(m);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", file);
    }
    if (what) {
        tsdb__block_meta_free(m);
        return VG_CORRUPT(err, "%s: %s", file, what);
    }
    return 0;
}

/* Writes p[0..n) to path (created or truncated) and fsyncs it. */
static int write_file_sync(const char *path, const void *p, size_t n, vg_error_t *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return vg_error_set(err, VG_EIO, "create %s: %s", path, strerror(errno));
    int rc = vg_fs_write_all(fd, p, n, err);
    if (!rc && fsync(fd) != 0) rc = vg_error_set(err, VG_EIO, "fsync %s: %s", path, strerror(errno));
    if (close(fd) != 0 && !rc) rc = vg_error_set(err, VG_EIO, "close %s: %s", path, strerror(errno));
    return rc;
}

int tsdb__meta_write(const char *dir, const tsdb__block_meta_t *m, const tsdb__block_meta_t *const *parents,
                     vg_error_t *err) {
    vg_buf_t b = VG_BUF_INIT;
    vg_buf_printf(&b, "{\n\t\"ulid\": \"%s\",\n\t\"minTime\": %lld,\n\t\"maxTime\": %lld,\n\t\"stats\": {\n", m->ulid,
                  (long long)m->mint, (long long)m->maxt);
    const char *sep = "";
    const struct {
        const char *k;
        uint64_t v;
    } st[] = {{"numSamples", m->n_samples}, {"numSeries", m->n_series}, {"numChunks", m->n_chunks},
              {"numTombstones", m->n_tombstones}};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        if (!st[i].v) continue;
        vg_buf_printf(&b, "%s\t\t\"%s\": %llu", sep, st[i].k, (unsigned long long)st[i].v);
        sep = ",\n";
    }
    vg_buf_printf(&b, "%s\t},\n\t\"compaction\": {\n\t\t\"level\": %d", *sep ? "\n" : "", m->level);
    if (m->n_sources) {
        vg_buf_puts(&b, ",\n\t\t\"sources\": [\n");
        for (size_t i = 0; i < m->n_sources; i++)
            vg_buf_printf(&b, "\t\t\t\"%s\"%s\n", m->sources[i], i + 1 < m->n_sources ? "," : "");
        vg_buf_puts(&b, "\t\t]");
    }
    if (m->n_parents) {
        vg_buf_puts(&b, ",\n\t\t\"parents\": [\n");
        for (size_t i = 0; i < m->n_parents; i++) {
            vg_buf_printf(&b, "\t\t\t{\n\t\t\t\t\"ulid\": \"%s\",\n\t\t\t\t\"minTime\": %lld,\n\t\t\t\t\"maxTime\": %lld\n\t\t\t}%s\n",
                          m->parents[i], parents ? (long long)parents[i]->mint : 0LL,
                          parents ? (long long)parents[i]->maxt : 0LL, i + 1 < m->n_parents ? "," : "");
        }
        vg_buf_puts(&b, "\t\t]");
    }
    vg_buf_puts(&b, "\n\t},\n");
    if (m->dense) vg_buf_puts(&b, "\t\"vigil\": {\n\t\t\"dense\": true\n\t},\n");
    vg_buf_puts(&b, "\t\"version\": 1\n}");
    if (b.failed) {
        vg_buf_deinit(&b);
        return vg_error_set(err, VG_ENOMEM, "meta.json: out of memory");
    }
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/meta.json.tmp", dir);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    int rc = write_file_sync(tmp, b.data, b.len, err);
    vg_buf_deinit(&b);
    if (!rc && rename(tmp, path) != 0) rc = vg_error_set(err, VG_EIO, "rename %s: %s", tmp, strerror(errno));
    return rc;
}

/* ---- tombstones: magic, version 1, then (uvarint ref, varint mint, varint maxt)*, CRC32C of the
 * stones (the bytes after the version byte) ---- */

static int cmp_stone(const void *a, const void *b) {
    const tsdb__stone_t *x = a, *y = b;
    if (x->ref != y->ref) return x->ref < y->ref ? -1 : 1;
    return x->mint < y->mint ? -1 : x->mint > y->mint;
}

int tsdb__tombstones_read(const char *dir, tsdb__stone_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/tombstones", dir);
    uint8_t *p;
    size_t len;
    int rc = vg_fs_read_file(path, &p, &len, err);
    if (rc == VG_ENOTFOUND) return 0;
    if (rc) return rc;
    if (len < 9) rc = VG_CORRUPT(err, "%s: %zu bytes, shorter than header and checksum (9)", path, len);
    else if (tsdb__be32(p) != TSDB__TOMB_MAGIC)
        rc = VG_CORRUPT(err, "%s: offset 0: magic 0x%08x, want 0x%08x", path, tsdb__be32(p), TSDB__TOMB_MAGIC);
    else if (p[4] != 1) rc = VG_CORRUPT(err, "%s: offset 4: version %u, want 1", path, p[4]);
    else if (vg_crc32c(p + 5, len - 9) != tsdb__be32(p + len - 4))
        rc = VG_CORRUPT(err, "%s: offset %zu: checksum mismatch", path, len - 4);
    tsdb__stone_t *v = NULL;
    size_t n = 0, cap = 0;
    const uint8_t *q = p + 5, *end = p + (len >= 9 ? len - 4 : 5);
    while (!rc && q < end) {
        uint64_t ref, a, b;
        size_t k1 = vg_uvarint_get(q, end, &ref), k2 = k1 ? vg_uvarint_get(q + k1, end, &a) : 0,
               k3 = k2 ? vg_uvarint_get(q + k1 + k2, end, &b) : 0;
        if (!k3) {
            rc = VG_CORRUPT(err, "%s: offset %zu: truncated tombstone", path, (size_t)(q - p));
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            tsdb__stone_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = vg_error_set(err, VG_ENOMEM, "%s: out of memory", path);
                break;
            }
            v = nv;
        }
        v[n++] = (tsdb__stone_t){ref, vg_unzigzag(a), vg_unzigzag(b)};
        q += k1 + k2 + k3;
    }
    free(p);
    if (rc) {
        free(v);
        return rc;
    }
    if (n > 1) qsort(v, n, sizeof *v, cmp_stone);
    *out = v;
    *n_out = n;
    return 0;
}

int tsdb__tombstones_write(const char *dir, const tsdb__stone_t *s, size_t n, vg_error_t *err) {
    uint8_t *p = malloc(9 + n * 3 * VG_VARINT_MAX);
    if (!p) return vg_error_set(err, VG_ENOMEM, "tombstones: out of memory");
    tsdb__put_be32(p, TSDB__TOMB_MAGIC);
    p[4] = 1;
    size_t k = 5;
    for (size_t i = 0; i < n; i++) {
        k += vg_uvarint_put(p + k, s[i].ref);
        k += vg_varint_put(p + k, s[i].mint);
        k += vg_varint_put(p + k, s[i].maxt);
    }
    tsdb__put_be32(p + k, vg_crc32c(p + 5, k - 5));
    k += 4;
    char path[4200];
    snprintf(path, sizeof path, "%s/tombstones", dir);
    int rc = write_file_sync(path, p, k, err);
    free(p);
    return rc;
}
