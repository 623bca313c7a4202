/* OpenMetrics import; see import.h. Series are counted by the hash of their label set in the checking
 * pass; samples without a timestamp, with invalid labels, or rejected by the storage are skipped and
 * counted by reason, never silently dropped. A pass keeps only a series reference for the series
 * being read (files list a series' samples together), so it allocates nothing per sample. */
#include "import.h"

#include "ingest/expfmt.h"
#include "model/labels.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 1024 /* the largest limits.max_label_names_per_series; the labels are validated with the defaults */
#define SCRATCH_BYTES (1u << 20)
#define PROGRESS_EVERY (1u << 18)

static int oom(vg_error_t *err) { return vg_error_set(err, VG_ENOMEM, "out of memory"); }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Input bytes per aligned range: open addressing on the range index. */
typedef struct range_map {
    int64_t *key;
    uint64_t *bytes;
    bool *used;
    size_t n, cap;
} range_map_t;

static int range_add(range_map_t *m, int64_t k, uint64_t bytes) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        range_map_t nm = {calloc(cap, sizeof(int64_t)), calloc(cap, sizeof(uint64_t)), calloc(cap, sizeof(bool)), m->n, cap};
        if (!nm.key || !nm.bytes || !nm.used) {
            free(nm.key), free(nm.bytes), free(nm.used);
            return VG_ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->used[i]) continue;
            size_t j = (uint64_t)m->key[i] * UINT64_C(0x9E3779B97F4A7C15) >> 32 & (cap - 1);
            while (nm.used[j]) j = (j + 1) & (cap - 1);
            nm.used[j] = true, nm.key[j] = m->key[i], nm.bytes[j] = m->bytes[i];
        }
        free(m->key), free(m->bytes), free(m->used);
        *m = nm;
    }
    size_t j = (uint64_t)k * UINT64_C(0x9E3779B97F4A7C15) >> 32 & (m->cap - 1);
    while (m->used[j] && m->key[j] != k) j = (j + 1) & (m->cap - 1);
    if (!m->used[j]) m->used[j] = true, m->key[j] = k, m->n++;
    m->bytes[j] += bytes;
    return 0;
}

typedef struct range_bytes {
    int64_t k;
    uint64_t bytes;
} range_bytes_t;

static int cmp_range(const void *a, const void *b) {
    int64_t x = ((const range_bytes_t *)a)->k, y = ((const range_bytes_t *)b)->k;
    return x < y ? -1 : x > y;
}

/* One pass's reading state. */
typedef struct reader {
    ingest_expfmt_parser_t p;
    ingest_label_t labels[MAX_LABELS];
    char *scratch;
    vg_arena_t arena;
    model_label_t *ls; /* the current entry's normalized labels (arena) */
    size_t n;
} reader_t;

static int reader_init(reader_t *r, const char *buf, size_t len) {
    if (!(r->scratch = malloc(SCRATCH_BYTES))) return VG_ENOMEM;
    vg_arena_init(&r->arena, 16384);
    ingest_expfmt_init(&r->p, INGEST_EXPFMT_OPENMETRICS, buf, len, NULL, r->labels, MAX_LABELS, r->scratch, SCRATCH_BYTES);
    return 0;
}

static void reader_deinit(reader_t *r) {
    free(r->scratch);
    vg_arena_deinit(&r->arena);
}

/* The next sample with a timestamp: 1 with e filled (labels in r->ls/r->n, or r->ls NULL when they are
 * invalid), 0 at the end, <0 on a syntax error. *no_ts counts samples without a timestamp. */
static int next_sample(reader_t *r, ingest_expfmt_entry_t *e, uint64_t *no_ts, vg_error_t *err) {
    for (;;) {
        int kind = ingest_expfmt_next(&r->p, e, err);
        if (kind <= 0) return kind;
        if (kind != INGEST_EXPFMT_SERIES) continue;
        if (!e->has_ts) {
            (*no_ts)++;
            continue;
        }
        vg_arena_reset(&r->arena);
        model_label_t *ls = vg_arena_alloc(&r->arena, (e->n_labels + 1) * sizeof *ls);
        if (!ls) return oom(err);
        ls[0] = (model_label_t){MODEL_METRIC_NAME, vg_arena_strndup(&r->arena, e->name.ptr, e->name.len)};
        for (size_t i = 0; i < e->n_labels; i++)
            ls[i + 1] = (model_label_t){vg_arena_strndup(&r->arena, e->labels[i].name.ptr, e->labels[i].name.len),
                                        vg_arena_strndup(&r->arena, e->labels[i].value.ptr, e->labels[i].value.len)};
        size_t n = e->n_labels + 1;
        vg_error_t lerr;
        r->ls = model_labels_normalize(ls, &n, NULL, &lerr) ? NULL : ls;
        r->n = n;
        return 1;
    }
}

static void progress(const ingest_import_opts_t *o, unsigned pass, unsigned passes, const reader_t *r, uint64_t samples) {
    if (!o->progress) return;
    ingest_import_progress_t p = {pass, passes, r->p.pos, r->p.len, samples};
    o->progress(o->progress_ctx, &p);
}

/* The checking pass: syntax, labels, series, time range, input bytes per range. */
static int check_pass(const char *buf, size_t len, const ingest_import_opts_t *o, ingest_import_stats_t *st,
                      range_map_t *ranges, vg_error_t *err) {
    reader_t r;
    if (reader_init(&r, buf, len)) return oom(err);
    uint64_t *hashes = NULL, last_hash = 0;
    size_t n_hashes = 0, cap_hashes = 0, entries = 0;
    bool have_last = false;
    int rc;
    ingest_expfmt_entry_t e;
    size_t before = r.p.pos;
    while ((rc = next_sample(&r, &e, &st->skipped_no_timestamp, err)) > 0) {
        size_t bytes = r.p.pos - before;
        before = r.p.pos;
        if (++entries % PROGRESS_EVERY == 0) progress(o, 0, 0, &r, 0);
        if (!r.ls) {
            st->skipped_invalid_labels++;
            continue;
        }
        if (e.ts_ms < st->mint) st->mint = e.ts_ms;
        if (e.ts_ms > st->maxt) st->maxt = e.ts_ms;
        if ((rc = range_add(ranges, floor_div(e.ts_ms, o->range_ms), bytes))) {
            rc = oom(err);
            break;
        }
        uint64_t h = model_labels_hash(r.ls, r.n);
        if (have_last && h == last_hash) continue;
        have_last = true;
        last_hash = h;
        if (n_hashes == cap_hashes) {
            cap_hashes = cap_hashes ? cap_hashes * 2 : 1024;
            uint64_t *nh = realloc(hashes, cap_hashes * sizeof *nh);
            if (!nh) {
                rc = oom(err);
                break;
            }
            hashes = nh;
        }
        hashes[n_hashes++] = h;
    }
    if (!rc) progress(o, 0, 0, &r, 0);
    if (hashes) {
        qsort(hashes, n_hashes, sizeof *hashes, cmp_u64);
        for (size_t i = 0; i < n_hashes; i++) st->series += !i || hashes[i] != hashes[i - 1];
    }
    free(hashes);
    reader_deinit(&r);
    return rc < 0 ? rc : 0;
}

/* One appending pass over the samples with mint <= t < maxt. */
static int append_pass(const char *buf, size_t len, const ingest_import_opts_t *o, const ingest_import_sink_t *sink,
                       unsigned pass, unsigned passes, int64_t mint, int64_t maxt, ingest_import_stats_t *st, vg_error_t *err) {
    storage_appender_t *app;
    int rc = sink->begin(sink->ctx, mint, maxt, &app, err);
    if (rc) return rc;
    reader_t r;
    if (reader_init(&r, buf, len)) {
        storage_appender_free(app);
        return oom(err);
    }
    uint64_t ignored = 0, last_ref = 0, last_hash = 0;
    size_t entries = 0;
    ingest_expfmt_entry_t e;
    while ((rc = next_sample(&r, &e, &ignored, err)) > 0) {
        if (++entries % PROGRESS_EVERY == 0) progress(o, pass, passes, &r, st->samples);
        if (!r.ls || e.ts_ms < mint || e.ts_ms >= maxt) continue;
        uint64_t h = model_labels_hash(r.ls, r.n);
        /* series come one after another: a ref is reused while the series repeats */
        int a = h == last_hash && last_ref ? storage_append_ref(app, last_ref, e.ts_ms, e.value, err) : VG_ENOTFOUND;
        if (a == VG_ENOTFOUND) {
            a = storage_append(app, r.ls, r.n, e.ts_ms, e.value, &last_ref, err);
            last_hash = h;
        }
        if (a < 0) {
            rc = a;
            break;
        }
        if (a == STORAGE_REJECT_OUT_OF_ORDER) st->skipped_out_of_order++;
        else if (a == STORAGE_REJECT_DUPLICATE) st->skipped_duplicate++;
        else if (a == STORAGE_REJECT_OUT_OF_BOUNDS || a == STORAGE_REJECT_TOO_FAR_FUTURE) st->skipped_out_of_bounds++;
        else if (a == STORAGE_REJECT_SERIES_LIMIT_TOTAL || a == STORAGE_REJECT_SERIES_LIMIT) st->skipped_series_limit++;
        else st->samples++;
    }
    if (!rc) {
        progress(o, pass, passes, &r, st->samples);
        int c = storage_commit(app, err);
        if (c < 0) rc = c;
    }
    if (rc) storage_rollback(app);
    storage_appender_free(app);
    reader_deinit(&r);
    if (rc < 0) return rc;
    return sink->end(sink->ctx, err);
}

int ingest_import_openmetrics(const char *buf, size_t len, const ingest_import_opts_t *o, const ingest_import_sink_t *sink,
                              ingest_import_stats_t *st, vg_error_t *err) {
    memset(st, 0, sizeof *st);
    st->mint = INT64_MAX;
    st->maxt = INT64_MIN;
    if (o->range_ms <= 0) return vg_error_set(err, VG_EINVAL, "the range of a block must be positive");
    range_map_t m = {0};
    int rc = check_pass(buf, len, o, st, &m, err);
    range_bytes_t *rs = !rc && m.n ? malloc(m.n * sizeof *rs) : NULL;
    if (!rc && m.n && !rs) rc = oom(err);
    size_t n = 0;
    for (size_t i = 0; rs && i < m.cap; i++)
        if (m.used[i]) rs[n++] = (range_bytes_t){m.key[i], m.bytes[i]};
    free(m.key), free(m.bytes), free(m.used);
    if (rs) qsort(rs, n, sizeof *rs, cmp_range);
    st->ranges = n;
    /* passes: consecutive ranges while their bytes fit max_pass_bytes (one range at least) */
    unsigned passes = 0;
    for (size_t i = 0; i < n;) {
        uint64_t sum = rs[i].bytes;
        size_t e = i + 1;
        while (e < n && (!o->max_pass_bytes || sum + rs[e].bytes <= o->max_pass_bytes)) sum += rs[e++].bytes;
        passes++;
        i = e;
    }
    unsigned pass = 0;
    for (size_t i = 0; i < n && !rc;) {
        uint64_t sum = rs[i].bytes;
        size_t e = i + 1;
        while (e < n && (!o->max_pass_bytes || sum + rs[e].bytes <= o->max_pass_bytes)) sum += rs[e++].bytes;
        /* [first range's start, last range's end), clamped where the arithmetic would overflow */
        int64_t lo = rs[i].k, hi = rs[e - 1].k;
        int64_t mint = lo < INT64_MIN / o->range_ms ? INT64_MIN : lo * o->range_ms;
        int64_t maxt = hi >= INT64_MAX / o->range_ms - 1 ? INT64_MAX : (hi + 1) * o->range_ms;
        rc = append_pass(buf, len, o, sink, ++pass, passes, mint, maxt, st, err);
        i = e;
    }
    st->passes = pass;
    free(rs);
    return rc;
}
