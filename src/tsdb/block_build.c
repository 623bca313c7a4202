/* The block builder: writes blocks straight from samples (import, snapshots of a source that is not
 * the head), without the head or the WAL.
 *
 * Samples are grouped into aligned ranges [k * block_ms, (k + 1) * block_ms) (floor division, so a
 * negative time falls in the range below zero); a block's meta.json spans its samples, [first, last + 1),
 * as promtool writes them. Each series keeps one open XOR chunk, cut at
 * TSDB_CHUNK_MAX_SAMPLES or when the series crosses into another range; closed chunks are copied into
 * slabs of chunk bytes, so a sample costs what it takes encoded (about 1-2 bytes) plus a chunk
 * reference per 120 samples until the flush. flush writes one block per range holding samples (series
 * are sorted by the block writer) into a staging directory <dir>/<ULID>.tmp-for-creation; publish
 * renames every staged block into <dir>; free removes the staging directory, so an import that fails
 * leaves no block behind — and a crash leaves only a .tmp-for-creation directory, which is never read
 * as a block.
 *
 * Order within a series: a sample older than the series' newest is refused (out of order), one at the
 * same time with other value bits is a duplicate, the same value again is accepted and dropped — the
 * head's rules, without its time bounds. */
#include "tsdb/block_int.h"

#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SLAB_BYTES (4u << 20)

_Static_assert(sizeof(((tsdb_block_info_t *)0)->ulid) == TSDB_ULID_LEN + 1, "tsdb.h spells the ULID length out");

typedef struct bchunk {
    int64_t range; /* index of the aligned range */
    int64_t mint, maxt;
    const uint8_t *data; /* in a slab */
    uint32_t len;
} bchunk_t;

typedef struct bseries {
    uint64_t hash;
    model_label_t *labels; /* sorted; one allocation with the strings */
    size_t n_labels;
    tsdb_xor_enc_t open;
    int64_t open_range;
    bool has_open, has_last;
    int64_t last_t;
    uint64_t last_v;
    bchunk_t *chunks;
    uint32_t n_chunks, cap_chunks;
} bseries_t;

struct tsdb_block_builder {
    char *dir, *stage;
    int64_t block_ms;
    uint8_t enc;
    model_label_limits_t limits;
    bseries_t *s;
    size_t n, cap;
    uint32_t *slots; /* series index + 1; 0: empty */
    size_t n_slots;
    uint8_t **slabs;
    size_t n_slabs, slab_used;
    model_label_t *scratch;
    size_t scratch_cap;
    tsdb_block_info_t *blocks; /* staged */
    size_t n_blocks, cap_blocks;
    uint64_t bytes; /* chunk bytes held */
};

typedef struct bapp {
    storage_appender_t base;
    tsdb_block_builder_t *b;
} bapp_t;

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int tsdb_block_builder_new(const tsdb_block_builder_opts_t *o, tsdb_block_builder_t **out, vg_error_t *err) {
    *out = NULL;
    if (o->block_ms <= 0) return vg_error_set(err, VG_EINVAL, "block duration must be positive");
    tsdb_block_builder_t *b = calloc(1, sizeof *b);
    if (!b) return oom(err);
    b->block_ms = o->block_ms;
    b->enc = o->xor_chunks ? TSDB_ENC_XOR : TSDB_ENC_DENSE;
    b->limits = o->limits.max_labels ? o->limits : MODEL_LIMITS_DEFAULT;
    char ulid[TSDB_ULID_LEN + 1];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tsdb__ulid_new((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, ulid);
    size_t l = strlen(o->dir) + TSDB_ULID_LEN + 32;
    b->dir = strdup(o->dir);
    b->stage = malloc(l);
    if (!b->dir || !b->stage) {
        tsdb_block_builder_free(b);
        return oom(err);
    }
    snprintf(b->stage, l, "%s/%s.tmp-for-creation", o->dir, ulid);
    int rc = vg_fs_mkdir_p(b->stage, err);
    if (rc) {
        free(b->stage);
        b->stage = NULL; /* nothing of ours to remove */
        tsdb_block_builder_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* Drops every series and chunk (after a flush, or to discard). */
static void reset(tsdb_block_builder_t *b) {
    for (size_t i = 0; i < b->n; i++) {
        free(b->s[i].labels);
        free(b->s[i].chunks);
        tsdb_xor_enc_deinit(&b->s[i].open);
    }
    b->n = 0;
    if (b->slots) memset(b->slots, 0, b->n_slots * sizeof *b->slots);
    for (size_t i = 0; i < b->n_slabs; i++) free(b->slabs[i]);
    b->n_slabs = 0;
    b->slab_used = 0;
    b->bytes = 0;
}

void tsdb_block_builder_free(tsdb_block_builder_t *b) {
    if (!b) return;
    reset(b);
    if (b->stage) {
        vg_error_t err;
        vg_fs_remove_all(b->stage, &err);
    }
    free(b->s);
    free(b->slots);
    free(b->slabs);
    free(b->scratch);
    free(b->blocks);
    free(b->stage);
    free(b->dir);
    free(b);
}

uint64_t tsdb_block_builder_bytes(const tsdb_block_builder_t *b) {
    return b->bytes + b->n * (sizeof(bseries_t) + 2 * sizeof(uint32_t));
}

static const uint8_t *slab_copy(tsdb_block_builder_t *b, const uint8_t *p, size_t len) {
    if (!b->n_slabs || b->slab_used + len > SLAB_BYTES) {
        uint8_t **ns = realloc(b->slabs, (b->n_slabs + 1) * sizeof *ns);
        if (!ns) return NULL;
        b->slabs = ns;
        if (!(ns[b->n_slabs] = malloc(SLAB_BYTES))) return NULL;
        b->n_slabs++;
        b->slab_used = 0;
    }
    uint8_t *d = b->slabs[b->n_slabs - 1] + b->slab_used;
    memcpy(d, p, len);
    b->slab_used += len;
    b->bytes += len;
    return d;
}

/* Closes the series' open chunk into the slabs. */
static int close_chunk(tsdb_block_builder_t *b, bseries_t *s, vg_error_t *err) {
    if (!s->has_open) return 0;
    size_t len = tsdb_xor_enc_len(&s->open);
    if (s->n_chunks == s->cap_chunks) {
        uint32_t cap = s->cap_chunks ? s->cap_chunks * 2 : 2;
        bchunk_t *nc = realloc(s->chunks, cap * sizeof *nc);
        if (!nc) return oom(err);
        s->chunks = nc;
        s->cap_chunks = cap;
    }
    const uint8_t *d = slab_copy(b, s->open.buf, len);
    if (!d) return oom(err);
    int64_t mint;
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, d, len);
    mint = tsdb_xor_iter_next(&it) ? it.t : s->open.t;
    s->chunks[s->n_chunks++] = (bchunk_t){s->open_range, mint, s->open.t, d, (uint32_t)len};
    b->bytes += sizeof(bchunk_t);
    tsdb_xor_enc_deinit(&s->open);
    s->has_open = false;
    return 0;
}

static int grow_slots(tsdb_block_builder_t *b) {
    size_t ns = b->n_slots ? b->n_slots * 2 : 1024;
    uint32_t *v = calloc(ns, sizeof *v);
    if (!v) return VG_ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        size_t j = b->s[i].hash & (ns - 1);
        while (v[j]) j = (j + 1) & (ns - 1);
        v[j] = (uint32_t)i + 1;
    }
    free(b->slots);
    b->slots = v;
    b->n_slots = ns;
    return 0;
}

/* The series of sorted labels l[0..n) (hash h), created if new. */
static int lookup(tsdb_block_builder_t *b, const model_label_t *l, size_t n, uint64_t h, bseries_t **out, vg_error_t *err) {
    if ((b->n + 1) * 2 > b->n_slots && grow_slots(b)) return oom(err);
    size_t j = h & (b->n_slots - 1);
    for (; b->slots[j]; j = (j + 1) & (b->n_slots - 1)) {
        bseries_t *s = &b->s[b->slots[j] - 1];
        if (s->hash == h && model_labels_equal(s->labels, s->n_labels, l, n)) {
            *out = s;
            return 0;
        }
    }
    if (b->n >= UINT32_MAX - 1) return vg_error_set(err, VG_ELIMIT, "too many series for one block builder");
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        bseries_t *ns = realloc(b->s, cap * sizeof *ns);
        if (!ns) return oom(err);
        b->s = ns;
        b->cap = cap;
    }
    bseries_t *s = &b->s[b->n];
    memset(s, 0, sizeof *s);
    if (!(s->labels = model_labels_dup(l, n))) return oom(err);
    s->n_labels = n;
    s->hash = h;
    b->slots[j] = (uint32_t)++b->n;
    *out = s;
    return 0;
}

static int add(tsdb_block_builder_t *b, bseries_t *s, int64_t t, double v, vg_error_t *err) {
    union {
        double d;
        uint64_t u;
    } c = {.d = v};
    if (s->has_last && t <= s->last_t) {
        if (t < s->last_t) return STORAGE_REJECT_OUT_OF_ORDER;
        return c.u == s->last_v ? 0 : STORAGE_REJECT_DUPLICATE;
    }
    int64_t r = floor_div(t, b->block_ms);
    if (r > INT64_MAX / b->block_ms - 1 || r < INT64_MIN / b->block_ms) return STORAGE_REJECT_OUT_OF_BOUNDS;
    if (s->has_open && (s->open_range != r || s->open.n >= TSDB_CHUNK_MAX_SAMPLES)) {
        int rc = close_chunk(b, s, err);
        if (rc) return rc;
    }
    if (!s->has_open) {
        tsdb_xor_enc_init(&s->open);
        s->has_open = true;
        s->open_range = r;
    }
    if (tsdb_xor_enc_append(&s->open, t, v)) return oom(err);
    s->has_last = true;
    s->last_t = t;
    s->last_v = c.u;
    return 0;
}

static int a_append(storage_appender_t *base, const model_label_t *l, size_t n, int64_t t, double v, uint64_t *ref_out,
                    vg_error_t *err) {
    tsdb_block_builder_t *b = ((bapp_t *)base)->b;
    if (n > b->scratch_cap) {
        model_label_t *ns = realloc(b->scratch, n * sizeof *ns);
        if (!ns) return oom(err);
        b->scratch = ns;
        b->scratch_cap = n;
    }
    if (n) memcpy(b->scratch, l, n * sizeof *l);
    size_t k = n;
    int rc = model_labels_normalize(b->scratch, &k, &b->limits, err);
    if (rc) return rc;
    bseries_t *s = NULL;
    if ((rc = lookup(b, b->scratch, k, model_labels_hash(b->scratch, k), &s, err))) return rc;
    if (ref_out) *ref_out = (uint64_t)(s - b->s) + 1;
    return add(b, s, t, v, err);
}

static int a_append_ref(storage_appender_t *base, uint64_t ref, int64_t t, double v, vg_error_t *err) {
    tsdb_block_builder_t *b = ((bapp_t *)base)->b;
    if (!ref || ref > b->n) return VG_ENOTFOUND;
    return add(b, &b->s[ref - 1], t, v, err);
}

static int a_commit(storage_appender_t *base, vg_error_t *err) {
    (void)base, (void)err;
    return 0; /* samples stay in the builder until tsdb_block_builder_flush */
}

static void a_rollback(storage_appender_t *base) { reset(((bapp_t *)base)->b); }

static void a_free(storage_appender_t *base) { free(base); }

static const storage_appender_vt bapp_vt = {
    .append = a_append, .append_ref = a_append_ref, .commit = a_commit, .rollback = a_rollback, .free = a_free};

int tsdb_block_builder_appender(tsdb_block_builder_t *b, storage_appender_t **out, vg_error_t *err) {
    bapp_t *a = calloc(1, sizeof *a);
    if (!a) {
        *out = NULL;
        return oom(err);
    }
    a->base.vt = &bapp_vt;
    a->b = b;
    *out = &a->base;
    return 0;
}

/* A series' run of chunks in one range. */
typedef struct run {
    int64_t range;
    uint32_t series, first, n;
} run_t;

static int cmp_run(const void *x, const void *y) {
    const run_t *a = x, *b = y;
    if (a->range != b->range) return a->range < b->range ? -1 : 1;
    return a->series < b->series ? -1 : a->series > b->series;
}

static int write_range(tsdb_block_builder_t *b, const run_t *runs, size_t n, vg_error_t *err) {
    /* the block spans its samples, [first, last + 1), as promtool's do: a block's end bounds what the
     * head of a server on the directory accepts, so it must not claim the rest of the aligned range */
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const bseries_t *s = &b->s[runs[i].series];
        const bchunk_t *c = &s->chunks[runs[i].first];
        if (c[0].mint < mint) mint = c[0].mint;
        if (c[runs[i].n - 1].maxt > maxt) maxt = c[runs[i].n - 1].maxt;
    }
    tsdb__block_writer_opts_t o = {.mint = mint, .maxt = maxt + 1, .encoding = b->enc, .level = 1};
    tsdb__block_writer_t *w;
    int rc = tsdb__block_writer_new(b->stage, &o, &w, err);
    if (rc) return rc;
    tsdb__chunk_in_t *in = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const bseries_t *s = &b->s[runs[i].series];
        if (runs[i].n > cap) {
            tsdb__chunk_in_t *ni = realloc(in, runs[i].n * sizeof *ni);
            if (!ni) {
                rc = oom(err);
                break;
            }
            in = ni;
            cap = runs[i].n;
        }
        for (uint32_t j = 0; j < runs[i].n; j++) {
            const bchunk_t *c = &s->chunks[runs[i].first + j];
            in[j] = (tsdb__chunk_in_t){c->mint, c->maxt, TSDB_ENC_XOR, c->data, c->len};
        }
        rc = tsdb__block_writer_add_chunks(w, s->labels, s->n_labels, in, runs[i].n, err);
    }
    free(in);
    if (rc) {
        tsdb__block_writer_abort(w);
        return rc;
    }
    tsdb__block_meta_t m;
    if ((rc = tsdb__block_writer_commit(w, &m, err))) return rc == VG_ENOTFOUND ? 0 : rc;
    if (b->n_blocks == b->cap_blocks) {
        size_t c2 = b->cap_blocks ? b->cap_blocks * 2 : 16;
        tsdb_block_info_t *nb = realloc(b->blocks, c2 * sizeof *nb);
        if (!nb) {
            tsdb__block_meta_free(&m);
            return oom(err);
        }
        b->blocks = nb;
        b->cap_blocks = c2;
    }
    tsdb_block_info_t *bi = &b->blocks[b->n_blocks++];
    memset(bi, 0, sizeof *bi);
    memcpy(bi->ulid, m.ulid, sizeof bi->ulid);
    bi->mint = m.mint;
    bi->maxt = m.maxt;
    bi->n_samples = m.n_samples;
    bi->n_series = m.n_series;
    bi->n_chunks = m.n_chunks;
    tsdb__block_meta_free(&m);
    return 0;
}

int tsdb_block_builder_flush(tsdb_block_builder_t *b, vg_error_t *err) {
    int rc = 0;
    size_t n_runs = 0;
    for (size_t i = 0; i < b->n && !rc; i++) {
        rc = close_chunk(b, &b->s[i], err);
        for (uint32_t j = 0; j < b->s[i].n_chunks; j++) n_runs += !j || b->s[i].chunks[j].range != b->s[i].chunks[j - 1].range;
    }
    run_t *runs = rc || !n_runs ? NULL : malloc(n_runs * sizeof *runs);
    if (!rc && n_runs && !runs) rc = oom(err);
    size_t k = 0;
    for (size_t i = 0; runs && i < b->n; i++) {
        const bseries_t *s = &b->s[i];
        for (uint32_t j = 0; j < s->n_chunks; j++) {
            if (j && s->chunks[j].range == s->chunks[j - 1].range) runs[k - 1].n++;
            else runs[k++] = (run_t){s->chunks[j].range, (uint32_t)i, j, 1};
        }
    }
    if (runs) qsort(runs, n_runs, sizeof *runs, cmp_run);
    for (size_t i = 0; i < n_runs && !rc;) {
        size_t e = i;
        while (e < n_runs && runs[e].range == runs[i].range) e++;
        rc = write_range(b, runs + i, e - i, err);
        i = e;
    }
    free(runs);
    reset(b);
    return rc;
}

int tsdb_block_builder_publish(tsdb_block_builder_t *b, const tsdb_block_info_t **blocks, size_t *n_blocks, vg_error_t *err) {
    char from[4200], to[4200];
    int rc = 0;
    size_t moved = 0;
    for (; moved < b->n_blocks; moved++) {
        snprintf(from, sizeof from, "%s/%s", b->stage, b->blocks[moved].ulid);
        snprintf(to, sizeof to, "%s/%s", b->dir, b->blocks[moved].ulid);
        if (rename(from, to) != 0) {
            rc = vg_error_set(err, VG_EIO, "rename %s to %s: %s", from, to, strerror(errno));
            break;
        }
    }
    if (rc) { /* put back what was moved, so the staging directory's removal takes every block */
        while (moved--) {
            snprintf(from, sizeof from, "%s/%s", b->stage, b->blocks[moved].ulid);
            snprintf(to, sizeof to, "%s/%s", b->dir, b->blocks[moved].ulid);
            rename(to, from);
        }
    }
    if (!rc) rc = vg_fs_fsync_dir(b->dir, err);
    if (!rc) {
        vg_error_t e2;
        vg_fs_remove_all(b->stage, &e2);
        free(b->stage);
        b->stage = NULL;
    }
    *blocks = rc ? NULL : b->blocks;
    *n_blocks = rc ? 0 : b->n_blocks;
    return rc;
}
