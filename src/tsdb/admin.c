/* The database's administrative operations (Prometheus' /api/v1/admin/tsdb/...): snapshots, deleting
 * series, cleaning tombstones; and the head's pending deletions.
 *
 * Deleting from blocks writes tombstones (docs/format/blocks.md): the block's tombstones file is
 * replaced atomically and the block reopened and swapped into the db's list, so queriers already open
 * keep the block they started with. Deleting from the head does not rewrite head chunks: a deletion
 * (its matchers and [mint, maxt], maxt clamped to the newest sample stored then) is appended to
 * <data>/head_deletions.json (written to a temporary file, fsynced, renamed) and applied at query time
 * to everything the head returns; when head compaction writes a block, the pending deletions become
 * that block's tombstones before it is served, and a deletion whose maxt is below the new block's end
 * is forgotten (the head holds nothing it could apply to any more). So a deletion survives a restart
 * (the file is read at open, the WAL still replays the samples, the filter hides them again).
 *
 * Cleaning tombstones rewrites each block holding some into a new block without the deleted samples:
 * the new block is written (renamed into place), then the old one is marked deleted and removed from
 * the list; its directory goes with its last querier. A crash in between leaves both, holding the same
 * surviving samples: the merge querier deduplicates by timestamp, so answers do not change.
 *
 * Snapshots hard-link every file of every block into <data>/snapshots/<name>/<ULID>/ (the files of a
 * block never change, a replaced tombstones file is a new inode) and, unless the head is skipped,
 * write the head's current data (deletions applied) as blocks of the db's block duration into the
 * snapshot only. One administrative operation runs at a time. */
#include "tsdb/block_int.h"

#include "util/arena.h"
#include "util/fs.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct del {
    atomic_int refs;
    model_matcher_t **ms;
    size_t n;
    int64_t mint, maxt;
} del_t;

struct tsdb__dels {
    pthread_mutex_t mu;       /* guards v/n */
    pthread_mutex_t admin_mu; /* one administrative operation at a time */
    char *file;               /* NULL: in memory only */
    del_t **v;
    size_t n;
};

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

static void del_unref(del_t *d) {
    if (!d || atomic_fetch_sub(&d->refs, 1) != 1) return;
    for (size_t i = 0; i < d->n; i++) model_matcher_free(d->ms[i]);
    free(d->ms);
    free(d);
}

static const char *type_str(model_match_type_t t) { return model_match_type_str(t); }

static int type_parse(const char *s, model_match_type_t *t) {
    static const model_match_type_t all[] = {MODEL_MATCH_EQ, MODEL_MATCH_NEQ, MODEL_MATCH_RE, MODEL_MATCH_NRE};
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(s, model_match_type_str(all[i]))) return *t = all[i], 0;
    return VG_EINVAL;
}

/* Writes the list to the file (temporary, fsync, rename, fsync of the directory). Under mu. */
static int save(tsdb__dels_t *d, vg_error_t *err) {
    if (!d->file) return 0;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < d->n; i++) {
        json_t *ms = json_array();
        for (size_t k = 0; ms && k < d->v[i]->n; k++) {
            const model_matcher_t *m = d->v[i]->ms[k];
            json_array_append_new(ms, json_pack("[sss]", type_str(model_matcher_type(m)), model_matcher_name(m),
                                                model_matcher_value(m)));
        }
        json_array_append_new(arr, json_pack("{s:o,s:I,s:I}", "matchers", ms, "mint", (json_int_t)d->v[i]->mint, "maxt",
                                             (json_int_t)d->v[i]->maxt));
    }
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!text) return oom(err);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? vg_error_set(err, VG_EIO, "open %s: %s", tmp, strerror(errno)) : 0;
    if (!rc) rc = vg_fs_write_all(fd, text, strlen(text), err);
    if (!rc && fsync(fd) != 0) rc = vg_error_set(err, VG_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    free(text);
    if (!rc && rename(tmp, d->file) != 0) rc = vg_error_set(err, VG_EIO, "rename %s: %s", tmp, strerror(errno));
    if (!rc) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", d->file);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        rc = vg_fs_fsync_dir(dir, err);
    }
    return rc;
}

int tsdb__dels_open(const char *path, tsdb__dels_t **out, vg_error_t *err) {
    *out = NULL;
    tsdb__dels_t *d = calloc(1, sizeof *d);
    if (!d) return oom(err);
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->admin_mu, NULL);
    *out = d;
    if (!path) return 0;
    size_t l = strlen(path) + 32;
    if (!(d->file = malloc(l))) return oom(err);
    snprintf(d->file, l, "%s/head_deletions.json", path);
    uint8_t *buf;
    size_t len;
    int rc = vg_fs_read_file(d->file, &buf, &len, err);
    if (rc == VG_ENOTFOUND) return 0;
    if (rc) return rc;
    json_error_t je;
    json_t *arr = json_loadb((const char *)buf, len, 0, &je);
    free(buf);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return VG_CORRUPT(err, "%s: not a JSON array (line %d: %s)", d->file, je.line, je.text);
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        json_t *ms = json_object_get(e, "matchers");
        json_t *mi = json_object_get(e, "mint"), *ma = json_object_get(e, "maxt");
        if (!json_is_array(ms) || !json_is_integer(mi) || !json_is_integer(ma)) {
            rc = VG_CORRUPT(err, "%s: entry %zu: expected matchers, mint and maxt", d->file, i);
            break;
        }
        model_matcher_t **v = calloc(json_array_size(ms) + 1, sizeof *v);
        size_t k = 0;
        json_t *m;
        size_t j;
        json_array_foreach(ms, j, m) {
            model_match_type_t t;
            const char *ts = json_string_value(json_array_get(m, 0)), *name = json_string_value(json_array_get(m, 1)),
                       *val = json_string_value(json_array_get(m, 2));
            if (!v || !ts || !name || !val || type_parse(ts, &t) || model_matcher_new(t, name, val, &v[k], err)) {
                if (!v) rc = oom(err);
                else rc = VG_CORRUPT(err, "%s: entry %zu: matcher %zu is not [op, name, value]", d->file, i, j);
                break;
            }
            k++;
        }
        int64_t mint = (int64_t)json_integer_value(mi), maxt = (int64_t)json_integer_value(ma);
        if (!rc) rc = tsdb__dels_add(d, v, k, mint, maxt, false, err); /* copies the matchers */
        for (size_t x = 0; x < k; x++) model_matcher_free(v[x]);
        free(v);
        if (rc) break;
    }
    json_decref(arr);
    if (!rc && d->n) vg_log_info("tsdb", "pending head deletions loaded", VG_LI("deletions", d->n), VG_LS("file", d->file));
    return rc;
}

void tsdb__dels_free(tsdb__dels_t *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) del_unref(d->v[i]);
    free(d->v);
    free(d->file);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->admin_mu);
    free(d);
}

void tsdb__dels_admin_lock(tsdb__dels_t *d) { pthread_mutex_lock(&d->admin_mu); }
void tsdb__dels_admin_unlock(tsdb__dels_t *d) { pthread_mutex_unlock(&d->admin_mu); }

int tsdb__dels_add(tsdb__dels_t *d, model_matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, bool persist,
                   vg_error_t *err) {
    del_t *x = calloc(1, sizeof *x);
    if (!x || !(x->ms = calloc(n ? n : 1, sizeof *x->ms))) {
        free(x);
        return oom(err);
    }
    atomic_init(&x->refs, 1);
    x->mint = mint;
    x->maxt = maxt;
    for (size_t i = 0; i < n; i++) {
        int rc = model_matcher_new(model_matcher_type(ms[i]), model_matcher_name(ms[i]), model_matcher_value(ms[i]), &x->ms[i], err);
        if (rc) {
            del_unref(x);
            return rc;
        }
        x->n++;
    }
    pthread_mutex_lock(&d->mu);
    del_t **nv = realloc(d->v, (d->n + 1) * sizeof *nv);
    int rc = nv ? 0 : oom(err);
    if (nv) {
        d->v = nv;
        d->v[d->n++] = x;
        if (persist && (rc = save(d, err))) d->n--; /* not durable: not applied either */
    }
    pthread_mutex_unlock(&d->mu);
    if (rc) del_unref(x);
    return rc;
}

/* ---- applying pending deletions to a block written by head compaction ---- */

int tsdb__dels_apply_block(tsdb__dels_t *d, tsdb__block_t **b, vg_error_t *err) {
    pthread_mutex_lock(&d->mu);
    const tsdb__block_meta_t *m = tsdb__block_meta(*b);
    int64_t bmaxt = m->maxt;
    int rc = 0;
    for (size_t i = 0; i < d->n && !rc; i++) {
        tsdb__block_t *nb;
        uint64_t ns;
        if ((rc = tsdb__block_delete(*b, d->v[i]->ms, d->v[i]->n, d->v[i]->mint, d->v[i]->maxt, &nb, &ns, err))) break;
        if (nb) {
            tsdb__block_unref(*b);
            *b = nb;
        }
    }
    size_t k = 0, before = d->n;
    for (size_t i = 0; !rc && i < d->n; i++) {
        if (d->v[i]->maxt < bmaxt) del_unref(d->v[i]);
        else d->v[k++] = d->v[i];
    }
    if (!rc && k != before) {
        d->n = k;
        rc = save(d, err);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* ---- the head querier with pending deletions applied ---- */

typedef struct dq {
    storage_querier_t base;
    storage_querier_t *inner;
    del_t **v; /* references */
    size_t n;
    int64_t mint, maxt;
    vg_arena_t arena; /* series sets, iterators, ranges: live until close, as the contract lends them */
} dq_t;

typedef struct range {
    int64_t mint, maxt;
} range_t;

typedef struct dit {
    storage_iterator_t base;
    storage_iterator_t *inner;
    const range_t *r;
    size_t n;
} dit_t;

typedef struct dss {
    storage_series_set_t base;
    storage_series_set_t *inner;
    dq_t *q;
    range_t *r; /* of the current series (arena) */
    size_t n;
    int err;
} dss_t;

static bool deleted(const dit_t *it, int64_t t) {
    for (size_t i = 0; i < it->n; i++)
        if (t >= it->r[i].mint && t <= it->r[i].maxt) return true;
    return false;
}

static storage_val_t dit_next(storage_iterator_t *base) {
    dit_t *it = (dit_t *)base;
    storage_val_t r;
    while ((r = it->inner->vt->next(it->inner)) != STORAGE_VAL_NONE) {
        int64_t t;
        double v;
        it->inner->vt->at(it->inner, &t, &v);
        if (!deleted(it, t)) break;
    }
    return r;
}

static storage_val_t dit_seek(storage_iterator_t *base, int64_t t0) {
    dit_t *it = (dit_t *)base;
    storage_val_t r = it->inner->vt->seek(it->inner, t0);
    if (r == STORAGE_VAL_NONE) return r;
    int64_t t;
    double v;
    it->inner->vt->at(it->inner, &t, &v);
    return deleted(it, t) ? dit_next(base) : r;
}

static void dit_at(const storage_iterator_t *base, int64_t *t, double *v) {
    const dit_t *it = (const dit_t *)base;
    it->inner->vt->at(it->inner, t, v);
}

static int dit_err(const storage_iterator_t *base) {
    const dit_t *it = (const dit_t *)base;
    return it->inner->vt->err(it->inner);
}

static const storage_iterator_vt dit_vt = {.next = dit_next, .seek = dit_seek, .at = dit_at, .err = dit_err};

/* Collects the current series' deleted ranges; false when one covers the whole query range. */
static bool series_ranges(dss_t *ss) {
    const model_label_t *l;
    size_t nl;
    ss->inner->vt->labels(ss->inner, &l, &nl);
    ss->n = 0;
    ss->r = NULL;
    for (size_t i = 0; i < ss->q->n; i++) {
        const del_t *d = ss->q->v[i];
        bool match = true;
        for (size_t k = 0; k < d->n && match; k++) {
            const char *val = NULL;
            for (size_t j = 0; j < nl && !val; j++)
                if (!strcmp(l[j].name, model_matcher_name(d->ms[k]))) val = l[j].value;
            match = model_matcher_match(d->ms[k], val) == 1;
        }
        if (!match) continue;
        if (d->mint <= ss->q->mint && d->maxt >= ss->q->maxt) return false;
        if (!ss->r && !(ss->r = vg_arena_alloc(&ss->q->arena, ss->q->n * sizeof *ss->r))) {
            ss->err = VG_ENOMEM;
            return false;
        }
        ss->r[ss->n++] = (range_t){d->mint, d->maxt};
    }
    return true;
}

static bool dss_next(storage_series_set_t *base) {
    dss_t *ss = (dss_t *)base;
    while (!ss->err && ss->inner->vt->next(ss->inner))
        if (series_ranges(ss)) return true;
    return false;
}

static void dss_labels(storage_series_set_t *base, const model_label_t **l, size_t *n) {
    dss_t *ss = (dss_t *)base;
    ss->inner->vt->labels(ss->inner, l, n);
}

static storage_iterator_t *dss_iterator(storage_series_set_t *base, storage_iterator_t *reuse) {
    dss_t *ss = (dss_t *)base;
    dit_t *it = (dit_t *)reuse;
    storage_iterator_t *in = ss->inner->vt->iterator(ss->inner, it ? it->inner : NULL);
    if (!in) return NULL;
    if (!it && !(it = vg_arena_alloc(&ss->q->arena, sizeof *it))) return NULL;
    it->base.vt = &dit_vt;
    it->inner = in;
    it->r = ss->r;
    it->n = ss->n;
    return &it->base;
}

static int dss_err(const storage_series_set_t *base) {
    const dss_t *ss = (const dss_t *)base;
    return ss->err ? ss->err : ss->inner->vt->err(ss->inner);
}

static const storage_series_set_vt dss_vt = {.next = dss_next, .labels = dss_labels, .iterator = dss_iterator, .err = dss_err};

static int dq_select(storage_querier_t *base, bool sorted, model_matcher_t *const *ms, size_t n, storage_series_set_t **out,
                     vg_error_t *err) {
    dq_t *q = (dq_t *)base;
    *out = NULL;
    storage_series_set_t *in;
    int rc = storage_select(q->inner, sorted, ms, n, &in, err);
    if (rc) return rc;
    dss_t *ss = vg_arena_calloc(&q->arena, 1, sizeof *ss);
    if (!ss) return oom(err);
    ss->base.vt = &dss_vt;
    ss->inner = in;
    ss->q = q;
    *out = &ss->base;
    return 0;
}

static int dq_label_names(storage_querier_t *base, model_matcher_t *const *ms, size_t n, const char *const **out,
                          size_t *n_out, vg_error_t *err) {
    dq_t *q = (dq_t *)base;
    return q->inner->vt->label_names(q->inner, ms, n, out, n_out, err);
}

static int dq_label_values(storage_querier_t *base, const char *name, model_matcher_t *const *ms, size_t n,
                           const char *const **out, size_t *n_out, vg_error_t *err) {
    dq_t *q = (dq_t *)base;
    return q->inner->vt->label_values(q->inner, name, ms, n, out, n_out, err);
}

static void dq_close(storage_querier_t *base) {
    dq_t *q = (dq_t *)base;
    storage_querier_close(q->inner);
    for (size_t i = 0; i < q->n; i++) del_unref(q->v[i]);
    vg_arena_deinit(&q->arena);
    free(q);
}

static const storage_querier_vt dq_vt = {
    .select = dq_select, .label_names = dq_label_names, .label_values = dq_label_values, .close = dq_close};

int tsdb__dels_wrap(tsdb__dels_t *d, int64_t mint, int64_t maxt, storage_querier_t **q, vg_error_t *err) {
    if (!d) return 0;
    pthread_mutex_lock(&d->mu);
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) k += d->v[i]->mint <= maxt && d->v[i]->maxt >= mint;
    dq_t *w = k ? calloc(1, sizeof *w + k * sizeof(del_t *)) : NULL;
    if (w) {
        w->v = (del_t **)(w + 1);
        for (size_t i = 0; i < d->n; i++)
            if (d->v[i]->mint <= maxt && d->v[i]->maxt >= mint) {
                atomic_fetch_add(&d->v[i]->refs, 1);
                w->v[w->n++] = d->v[i];
            }
    }
    pthread_mutex_unlock(&d->mu);
    if (!k) return 0;
    if (!w) {
        storage_querier_close(*q);
        *q = NULL;
        return oom(err);
    }
    w->base.vt = &dq_vt;
    w->inner = *q;
    w->mint = mint;
    w->maxt = maxt;
    vg_arena_init(&w->arena, 4096);
    *q = &w->base;
    return 0;
}

/* ---- snapshots ---- */

static int link_tree(const char *from, const char *to, vg_error_t *err) {
    if (mkdir(to, 0755) != 0) return vg_error_set(err, VG_EIO, "mkdir %s: %s", to, strerror(errno));
    DIR *d = opendir(from);
    if (!d) return vg_error_set(err, VG_EIO, "open %s: %s", from, strerror(errno));
    int rc = 0;
    struct dirent *e;
    char a[4200], b[4200];
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || strstr(e->d_name, ".tmp-for-creation")) continue;
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        struct stat st;
        if (stat(a, &st) != 0) rc = vg_error_set(err, VG_EIO, "stat %s: %s", a, strerror(errno));
        else if (S_ISDIR(st.st_mode)) rc = link_tree(a, b, err);
        else if (link(a, b) != 0) rc = vg_error_set(err, VG_EIO, "link %s to %s: %s", a, b, strerror(errno));
    }
    closedir(d);
    if (!rc) rc = vg_fs_fsync_dir(to, err);
    return rc;
}

/* The head's samples (deletions applied) as blocks into dir. */
static int snapshot_head(tsdb_db_t *db, const char *dir, vg_error_t *err) {
    const tsdb_options_t *o = tsdb__db_options(db);
    tsdb_block_builder_opts_t bo = {.dir = dir, .block_ms = o->block_duration_ms > 0 ? o->block_duration_ms : 2 * 3600 * 1000,
                                    .xor_chunks = o->block_chunk_encoding == TSDB_BLOCK_CHUNKS_XOR, .limits = o->limits};
    tsdb_block_builder_t *b;
    int rc = tsdb_block_builder_new(&bo, &b, err);
    if (rc) return rc;
    storage_appender_t *app = NULL;
    storage_querier_t *q = NULL;
    storage_series_set_t *ss;
    model_matcher_t *all = NULL;
    if (!(rc = tsdb_block_builder_appender(b, &app, err)) && !(rc = tsdb__querier_new(tsdb__db_head(db), INT64_MIN, INT64_MAX, &q, err)) &&
        !(rc = tsdb__dels_wrap(tsdb__db_dels(db), INT64_MIN, INT64_MAX, &q, err)) &&
        !(rc = model_matcher_new(MODEL_MATCH_NEQ, MODEL_METRIC_NAME, "", &all, err))) /* every series */
        rc = storage_select(q, false, &all, 1, &ss, err);
    storage_iterator_t *it = NULL;
    while (!rc && ss->vt->next(ss)) {
        const model_label_t *l;
        size_t nl;
        ss->vt->labels(ss, &l, &nl);
        uint64_t ref = 0;
        if (!(it = ss->vt->iterator(ss, it))) {
            rc = oom(err);
            break;
        }
        while (!rc && it->vt->next(it) == STORAGE_VAL_FLOAT) {
            int64_t t;
            double v;
            it->vt->at(it, &t, &v);
            int r = ref ? storage_append_ref(app, ref, t, v, err) : storage_append(app, l, nl, t, v, &ref, err);
            if (r < 0) rc = r;
        }
        if (!rc && it->vt->err(it)) rc = vg_error_set(err, it->vt->err(it), "reading the head failed");
    }
    storage_querier_close(q);
    model_matcher_free(all);
    storage_appender_free(app);
    if (!rc) rc = tsdb_block_builder_flush(b, err);
    const tsdb_block_info_t *bi;
    size_t nb;
    if (!rc) rc = tsdb_block_builder_publish(b, &bi, &nb, err);
    tsdb_block_builder_free(b);
    return rc;
}

int tsdb_db_snapshot(tsdb_db_t *db, bool with_head, char name[TSDB_SNAPSHOT_NAME_MAX], vg_error_t *err) {
    name[0] = '\0';
    const char *path = tsdb__db_path(db);
    if (!path) return vg_error_set(err, VG_EUNSUPPORTED, "the database is in memory: nothing to snapshot");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint64_t)now ^ (uint64_t)(uintptr_t)&r;
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name, TSDB_SNAPSHOT_NAME_MAX, "%s-%016llx", ts, (unsigned long long)r);
    char dir[4200], tmp[4300];
    snprintf(dir, sizeof dir, "%s/snapshots/%s", path, name);
    snprintf(tmp, sizeof tmp, "%s.tmp-for-creation", dir);
    tsdb__dels_t *d = tsdb__db_dels(db);
    tsdb__dels_admin_lock(d);
    tsdb__block_t **bs = NULL;
    size_t n = 0;
    int rc = vg_fs_mkdir_p(tmp, err);
    if (!rc && tsdb__db_blocks(db, &bs, &n)) rc = oom(err);
    char a[4300], b[4400];
    for (size_t i = 0; i < n && !rc; i++) {
        snprintf(b, sizeof b, "%s/%s", tmp, tsdb__block_meta(bs[i])->ulid);
        snprintf(a, sizeof a, "%s", tsdb__block_dir(bs[i]));
        rc = link_tree(a, b, err);
    }
    for (size_t i = 0; i < n; i++) tsdb__block_unref(bs[i]);
    free(bs);
    if (!rc && with_head) rc = snapshot_head(db, tmp, err);
    if (!rc && rename(tmp, dir) != 0) rc = vg_error_set(err, VG_EIO, "rename %s to %s: %s", tmp, dir, strerror(errno));
    if (!rc) {
        snprintf(a, sizeof a, "%s/snapshots", path);
        rc = vg_fs_fsync_dir(a, err);
    }
    if (rc) {
        vg_error_t e2;
        vg_fs_remove_all(tmp, &e2);
        name[0] = '\0';
    } else {
        vg_log_info("tsdb", "snapshot written", VG_LS("dir", dir), VG_LI("blocks", n), VG_LB("head", with_head));
    }
    tsdb__dels_admin_unlock(d);
    return rc;
}

/* ---- deleting series ---- */

int tsdb_db_delete_series(tsdb_db_t *db, model_matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, vg_error_t *err) {
    if (mint > maxt) return vg_error_set(err, VG_EINVAL, "end is before start");
    tsdb__dels_t *d = tsdb__db_dels(db);
    tsdb__dels_admin_lock(d);
    tsdb__block_t **bs = NULL;
    size_t nb = 0;
    int rc = tsdb__db_blocks(db, &bs, &nb) ? oom(err) : 0;
    uint64_t series = 0, blocks = 0;
    for (size_t i = 0; i < nb && !rc; i++) {
        tsdb__block_t *nu;
        uint64_t ns;
        if ((rc = tsdb__block_delete(bs[i], ms, n, mint, maxt, &nu, &ns, err)) || !nu) continue;
        series += ns;
        blocks++;
        if (!tsdb__db_block_replace(db, bs[i], nu)) tsdb__block_unref(nu); /* dropped meanwhile (retention) */
    }
    for (size_t i = 0; i < nb; i++) tsdb__block_unref(bs[i]);
    free(bs);
    /* the head: what it stores now, up to its newest sample (never future samples) */
    tsdb__head_t *h = tsdb__db_head(db);
    int64_t hmin = atomic_load(&h->mint), hmax = atomic_load(&h->maxt);
    bool head = !rc && hmin != INT64_MAX && hmin <= maxt && hmax >= mint;
    if (head) rc = tsdb__dels_add(d, ms, n, mint, maxt < hmax ? maxt : hmax, tsdb__db_path(db) != NULL, err);
    tsdb__dels_admin_unlock(d);
    if (!rc)
        vg_log_info("tsdb", "series deleted", VG_LI("mint", mint), VG_LI("maxt", maxt), VG_LI("block_series", series),
                    VG_LI("blocks", blocks), VG_LB("head", head));
    return rc;
}

/* ---- cleaning tombstones ---- */

int tsdb_db_clean_tombstones(tsdb_db_t *db, vg_error_t *err) {
    const char *path = tsdb__db_path(db);
    if (!path) return 0;
    tsdb__dels_t *d = tsdb__db_dels(db);
    tsdb__dels_admin_lock(d);
    tsdb__block_t **bs = NULL;
    size_t nb = 0;
    int rc = tsdb__db_blocks(db, &bs, &nb) ? oom(err) : 0;
    size_t rewritten = 0;
    for (size_t i = 0; i < nb && !rc; i++) {
        if (!tsdb__block_n_stones(bs[i])) continue;
        const tsdb__block_meta_t *m = tsdb__block_meta(bs[i]);
        tsdb__block_meta_t nm;
        memset(&nm, 0, sizeof nm);
        rc = tsdb__block_rewrite(bs[i], path, m->dense ? TSDB_ENC_DENSE : TSDB_ENC_XOR, &nm, err);
        tsdb__block_t *nu = NULL;
        if (rc == VG_ENOTFOUND) { /* nothing left: the block goes */
            rc = 0;
        } else if (!rc) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/%s", path, nm.ulid);
            if ((rc = tsdb__block_open(dir, &nu, err))) {
                vg_error_t e2;
                vg_fs_remove_all(dir, &e2);
            }
        }
        if (!rc) {
            vg_log_info("tsdb", "block rewritten without its tombstones", VG_LS("old", m->ulid), VG_LS("new", nu ? nm.ulid : "(empty)"));
            tsdb__block_mark_deleted(bs[i]); /* the directory goes with its last reference */
            if (!tsdb__db_block_replace(db, bs[i], nu) && nu) {
                tsdb__block_mark_deleted(nu);
                tsdb__block_unref(nu);
            }
            rewritten++;
        }
        tsdb__block_meta_free(&nm);
    }
    for (size_t i = 0; i < nb; i++) tsdb__block_unref(bs[i]);
    free(bs);
    tsdb__dels_admin_unlock(d);
    return rc;
}

/* ---- picking up blocks written by others (vigil import) ---- */

int tsdb_db_reload_blocks(tsdb_db_t *db, vg_error_t *err) {
    const char *path = tsdb__db_path(db);
    if (!path) return 0;
    tsdb__dels_t *d = tsdb__db_dels(db);
    tsdb__dels_admin_lock(d);
    tsdb__block_t **bs = NULL;
    size_t nb = 0, added = 0, removed = 0;
    int rc = tsdb__db_blocks(db, &bs, &nb) ? oom(err) : 0;
    DIR *dir = rc ? NULL : opendir(path);
    if (!rc && !dir) rc = vg_error_set(err, VG_EIO, "%s: cannot list: %s", path, strerror(errno));
    struct dirent *e;
    char p[4200];
    struct stat st;
    while (!rc && dir && (e = readdir(dir))) {
        if (!tsdb__ulid_valid(e->d_name, strlen(e->d_name))) continue;
        bool known = false;
        for (size_t i = 0; i < nb && !known; i++) {
            const char *bd = tsdb__block_dir(bs[i]), *slash = strrchr(bd, '/');
            known = !strcmp(slash ? slash + 1 : bd, e->d_name);
        }
        snprintf(p, sizeof p, "%s/%s/meta.json", path, e->d_name);
        if (known || stat(p, &st) != 0) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        tsdb__block_t *b;
        vg_error_t e2;
        int r = tsdb__block_open(p, &b, &e2);
        if (r == VG_ENOMEM) rc = vg_error_set(err, r, "opening block %s: out of memory", p);
        else if (r) vg_log_error("tsdb", "a new block does not open; not loaded", VG_LS("dir", p), VG_LS("error", e2.msg));
        else if ((r = tsdb__db_block_add(db, b)) != 0) rc = vg_error_set(err, r, "out of memory"), tsdb__block_unref(b);
        else added++;
    }
    if (dir) closedir(dir);
    for (size_t i = 0; i < nb && !rc; i++) { /* a block directory removed by hand: not served any more */
        snprintf(p, sizeof p, "%s/meta.json", tsdb__block_dir(bs[i]));
        if (stat(p, &st) != 0 && tsdb__db_block_replace(db, bs[i], NULL)) removed++;
    }
    for (size_t i = 0; i < nb; i++) tsdb__block_unref(bs[i]);
    free(bs);
    tsdb__dels_admin_unlock(d);
    if (!rc && (added || removed)) vg_log_info("tsdb", "blocks reloaded", VG_LI("added", added), VG_LI("removed", removed));
    return rc ? rc : (int)(added + removed);
}
