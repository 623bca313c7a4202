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
    /* Optional (NULL: use next and at). Only after next/seek returned STORAGE_VAL_FLOAT: copies the
     * current sample and the ones after it with timestamp <= maxt into t/v, at most cap of them, and
     * returns how many. Fewer than cap: no more samples up to maxt (or an error, see err). Exactly cap:
     * the iterator stands on the first sample not copied, if any; call again. */
    size_t (*read)(storage_iterator_t *it, int64_t maxt, int64_t *t, double *v, size_t cap);
} storage_iterator_vt;

struct storage_iterator {
    const storage_iterator_vt *vt;
};

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

#endif
