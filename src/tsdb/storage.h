/* The storage interface: the vtables through which everything above the TSDB writes and reads
 * samples. Writers (scrape, remote_write receive, import, recording rules) use an appender; readers
 * (the PromQL engine, the metadata APIs) use a querier. The local TSDB (tsdb.h) implements both; the
 * remote_write queue implements the appender. Only this header may be included by promql/, ingest/,
 * rules/ and remote/.
 *
 * Threading: one appender or querier object is used by one thread at a time; any number of them may
 * be open concurrently. Everything a querier hands out (labels, value lists, series sets, iterators)
 * is borrowed until the querier is closed. */
#ifndef VG_TSDB_STORAGE_H
#define VG_TSDB_STORAGE_H

#include "model/labels.h"
#include "model/matcher.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- appender ----
 * A batch starts with the first append after creation, commit or rollback and must end with commit
 * or rollback: an open batch holds the storage's retention lock (shared), so keep batches short (one
 * scrape, one remote_write request, one rule group evaluation). */

/* Positive results of append: the sample was rejected (not an error of the batch, which stays usable;
 * the caller counts it as Prometheus' scrape loop does). */
enum {
    STORAGE_REJECT_OUT_OF_ORDER = 1, /* t < the series' newest timestamp */
    STORAGE_REJECT_DUPLICATE = 2,    /* t == newest timestamp with a different value */
    STORAGE_REJECT_OUT_OF_BOUNDS = 3, /* t older than the head accepts (too old) */
    STORAGE_REJECT_SERIES_LIMIT = 4,  /* a new series the series gate refused (nothing created) */
    STORAGE_REJECT_TOO_FAR_FUTURE = 5, /* t further ahead of the storage's clock than it accepts */
    STORAGE_REJECT_SERIES_LIMIT_TOTAL = 6 /* a new series past the storage's own cap on series, whoever
                                             writes it (nothing created; existing series still append) */
};

/* A gate on series creation: asked, under the storage's own lock for that series, just before a new
 * series would be created (never for an existing one); false refuses it. Called with the normalized
 * labels; must not call back into the storage. */
typedef bool (*storage_series_gate_fn)(void *ctx, const model_label_t *labels, size_t n_labels);

typedef struct storage_appender storage_appender_t;

typedef struct storage_appender_vt {
    /* Adds one sample to the batch. labels need not be sorted (they are copied/interned, borrowed only
     * for the call); *ref_out (may be NULL) receives a series reference for append_ref. Returns 0,
     * a STORAGE_REJECT_* code, or <0 (VG_EINVAL/VG_ELIMIT for bad labels, VG_ENOMEM) with err set. */
    int (*append)(storage_appender_t *a, const model_label_t *labels, size_t n_labels, int64_t t, double v,
                  uint64_t *ref_out, vg_error_t *err);
    /* Same for a series reference obtained from append (skips hashing the labels). Returns VG_ENOTFOUND
     * if the reference is unknown (the series was dropped): fall back to append. */
    int (*append_ref)(storage_appender_t *a, uint64_t ref, int64_t t, double v, vg_error_t *err);
    /* Makes the batch durable per the fsync policy and visible to readers. Returns the number of
     * samples rejected at commit (>= 0; e.g. a concurrent appender wrote newer samples first) or <0.
     * The appender is empty and reusable afterwards, whatever the result. */
    int (*commit)(storage_appender_t *a, vg_error_t *err);
    /* Drops the batch; the appender is empty and reusable. */
    void (*rollback)(storage_appender_t *a);
    /* Rolls back anything pending and frees the appender. */
    void (*free)(storage_appender_t *a);
    /* Installs a series gate for this appender's appends (fn NULL removes it). Returns VG_EUNSUPPORTED
     * where the storage cannot enforce one. */
    int (*set_series_gate)(storage_appender_t *a, storage_series_gate_fn fn, void *ctx);
} storage_appender_vt;

struct storage_appender {
    const storage_appender_vt *vt;
};

static inline int storage_append(storage_appender_t *a, const model_label_t *l, size_t n, int64_t t, double v,
                                 uint64_t *ref_out, vg_error_t *err) {
    return a->vt->append(a, l, n, t, v, ref_out, err);
}
static inline int storage_append_ref(storage_appender_t *a, uint64_t ref, int64_t t, double v, vg_error_t *err) {
    return a->vt->append_ref(a, ref, t, v, err);
}
static inline int storage_commit(storage_appender_t *a, vg_error_t *err) { return a->vt->commit(a, err); }
static inline void storage_rollback(storage_appender_t *a) { a->vt->rollback(a); }
static inline int storage_set_series_gate(storage_appender_t *a, storage_series_gate_fn fn, void *ctx) {
    return a->vt->set_series_gate ? a->vt->set_series_gate(a, fn, ctx) : VG_EUNSUPPORTED;
}
static inline void storage_appender_free(storage_appender_t *a) {
    if (a) a->vt->free(a);
}

/* ---- iterators ---- */

typedef enum { STORAGE_VAL_NONE = 0, STORAGE_VAL_FLOAT = 1 } storage_val_t;

typedef struct storage_iterator storage_iterator_t;
typedef struct storage_iterator_vt {
    /* Advances to the next sample; STORAGE_VAL_NONE at the end or on error (see err). */
    storage_val_t (*next)(storage_iterator_t *it);
    /* Advances to the first sample with timestamp >= t (stays put if already there; never moves back). */
    storage_val_t (*seek)(storage_iterator_t *it, int64_t t);
    /* The current sample (valid after next/seek returned STORAGE_VAL_FLOAT). */
    void (*at)(const storage_iterator_t *it, int64_t *t, double *v);
    /* 0 or the error that ended iteration (VG_ECORRUPT for an undecodable chunk). */
    int (*err)(const storage_iterator_t *it);
    /* Optional (NULL in the vtable, or a NULL result: none): what err means, e.g. which block holds
     * the corrupt chunk. Borrowed, valid while the iterator is. */
    const char *(*err_msg)(const storage_iterator_t *it);
    /* Optional (NULL: use next and at). Only after next/seek returned STORAGE_VAL_FLOAT: copies the
     * current sample and the ones after it with timestamp <= maxt into t/v, at most cap of them, and
     * returns how many. Fewer than cap: no more samples up to maxt (or an error, see err). Exactly cap:
     * the iterator stands on the first sample not copied, if any; call again. */
    size_t (*read)(storage_iterator_t *it, int64_t maxt, int64_t *t, double *v, size_t cap);
} storage_iterator_vt;

struct storage_iterator {
    const storage_iterator_vt *vt;
};

/* err_msg of it, or NULL. */
static inline const char *storage_iterator_err_msg(const storage_iterator_t *it) {
    return it->vt->err_msg ? it->vt->err_msg(it) : NULL;
}

/* ---- series sets ---- */

typedef struct storage_series_set storage_series_set_t;
typedef struct storage_series_set_vt {
    /* Advances to the next series; false at the end (check err). */
    bool (*next)(storage_series_set_t *ss);
    /* Labels of the current series (sorted; borrowed until the querier closes). */
    void (*labels)(storage_series_set_t *ss, const model_label_t **labels, size_t *n_labels);
    /* An iterator over the current series' samples within the querier's [mint, maxt]. Valid until the
     * querier closes; later calls may reuse its memory when `reuse` is a previous iterator. */
    storage_iterator_t *(*iterator)(storage_series_set_t *ss, storage_iterator_t *reuse);
    int (*err)(const storage_series_set_t *ss);
} storage_series_set_vt;

struct storage_series_set {
    const storage_series_set_vt *vt;
};

/* ---- querier ---- */

typedef struct storage_querier storage_querier_t;
typedef struct storage_querier_vt {
    /* Series matching all matchers that have samples in [mint, maxt]. Matchers that match the empty
     * string also select series without the label; with only such matchers every series is a candidate
     * (the PromQL parser is where Prometheus requires one non-empty matcher). n_ms == 0 selects
     * everything. sorted: series come in label order. The set is borrowed until close. A regex matcher
     * that cannot be decided on some value (model_matcher_match < 0) fails the call with its error
     * (model_matcher_error: VG_ELIMIT/VG_EEXEC, 422) — the same for label_names and label_values. */
    int (*select)(storage_querier_t *q, bool sorted, model_matcher_t *const *ms, size_t n_ms,
                  storage_series_set_t **out, vg_error_t *err);
    /* Sorted, distinct label names / values of `name` over the series matching ms that have samples in
     * [mint, maxt]; with n_ms == 0, every name/value in the index (no time filter, as Prometheus' head
     * does). The array and strings are borrowed until close. */
    int (*label_names)(storage_querier_t *q, model_matcher_t *const *ms, size_t n_ms, const char *const **out,
                       size_t *n_out, vg_error_t *err);
    int (*label_values)(storage_querier_t *q, const char *name, model_matcher_t *const *ms, size_t n_ms,
                        const char *const **out, size_t *n_out, vg_error_t *err);
    void (*close)(storage_querier_t *q);
} storage_querier_vt;

struct storage_querier {
    const storage_querier_vt *vt;
};

static inline int storage_select(storage_querier_t *q, bool sorted, model_matcher_t *const *ms, size_t n,
                                 storage_series_set_t **out, vg_error_t *err) {
    return q->vt->select(q, sorted, ms, n, out, err);
}
static inline void storage_querier_close(storage_querier_t *q) {
    if (q) q->vt->close(q);
}

/* ---- feed ----
 * The storage's log of writes, read from outside it (the remote_write queue): series records (a
 * reference and its labels) and samples (reference, t, v) in the order the storage accepted them, from
 * a position on. A position names a place between two records; it stays valid across restarts of the
 * storage for as long as the storage keeps the log there (a local TSDB drops what a checkpoint
 * replaces: see tsdb_db_feed). Samples come at least once from a given position: what a reader
 * acknowledges is the position it persists, not the samples.
 *
 * Every series a sample refers to is delivered before the sample (at the start, the series of the
 * whole log before the position are delivered, without their samples). A reference is never reused
 * for other labels; the same series may be delivered again (same labels, a newer epoch). Samples the
 * storage rejected when they were committed concurrently (out of order, duplicates) may be in the log
 * and delivered: a receiver applies the same rules.
 *
 * Threading: one feed is used by one thread at a time; callbacks run on that thread. */

typedef struct storage_feed_pos {
    uint64_t segment; /* a number that grows along the log (0: none yet) */
    uint64_t offset;  /* bytes into that segment */
} storage_feed_pos_t;

typedef struct storage_feed_sample {
    uint64_t ref;
    int64_t t;
    double v; /* bit-exact: staleness markers included */
} storage_feed_sample_t;

typedef struct storage_feed_handler {
    void *ctx;
    /* A series: labels sorted, borrowed for the call. epoch grows along the log (see forget). */
    int (*series)(void *ctx, uint64_t ref, const model_label_t *labels, size_t n_labels, uint64_t epoch);
    /* Samples in log order, borrowed for the call. A non-zero return stops storage_feed_next before
     * the position passes the record they came from (that record is delivered again by the next call,
     * from its first sample). */
    int (*samples)(void *ctx, const storage_feed_sample_t *s, size_t n);
    /* Series last delivered with an epoch below `epoch` are gone from the storage: forget them. */
    void (*forget)(void *ctx, uint64_t epoch);
    /* Part of the log between the position and `to` was dropped by the storage before it was read
     * (the reader fell behind a checkpoint): its samples are lost to this reader. May be NULL. */
    void (*gap)(void *ctx, storage_feed_pos_t from, storage_feed_pos_t to);
} storage_feed_handler_t;

typedef struct storage_feed storage_feed_t;
typedef struct storage_feed_vt {
    /* Delivers what the log holds after the position, up to about max_samples samples (whole records);
     * when nothing is there, waits up to wait_ms for more. Returns the number of samples delivered
     * (>= 0), the non-zero value a callback returned, or <0 (VG_EIO, VG_ENOMEM) with err set. */
    int (*next)(storage_feed_t *f, const storage_feed_handler_t *h, size_t max_samples, int64_t wait_ms,
                vg_error_t *err);
    /* The position after the last record fully delivered. */
    void (*position)(const storage_feed_t *f, storage_feed_pos_t *out);
    /* The newest timestamp the storage has accepted (INT64_MIN: none), to tell how far a reader lags. */
    int64_t (*newest)(const storage_feed_t *f);
    void (*free)(storage_feed_t *f);
} storage_feed_vt;

struct storage_feed {
    const storage_feed_vt *vt;
};

static inline int storage_feed_next(storage_feed_t *f, const storage_feed_handler_t *h, size_t max_samples,
                                    int64_t wait_ms, vg_error_t *err) {
    return f->vt->next(f, h, max_samples, wait_ms, err);
}
static inline void storage_feed_position(const storage_feed_t *f, storage_feed_pos_t *out) { f->vt->position(f, out); }
static inline void storage_feed_free(storage_feed_t *f) {
    if (f) f->vt->free(f);
}

#endif
