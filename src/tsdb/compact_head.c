/* Head compaction, the writing half: copies the head's samples in one aligned range [mint, maxt) into
 * a new level-1 block. The db (db.c) decides the range, closes it to appends, publishes the block,
 * truncates the head and checkpoints the WAL.
 *
 * Invariants and protocol:
 * - The caller has raised the head's min_valid to maxt before calling, so no append lands in the range
 *   once a series has been copied: every series is read under its series lock, and an append either
 *   completed before (it is copied) or checks min_valid after (it is refused).
 * - Appends and queries go on meanwhile: the truncation lock is held shared only while one batch of
 *   series is copied (chunk bytes and label pointers into scratch), never while the block is written,
 *   so retention can run between batches; series are found by id, and an id that no longer resolves
 *   is a series retention dropped.
 * - Head chunks are cut at multiples of the block duration (head.c), so a range is made of whole
 *   chunks, copied encoded (the block writer re-encodes only where the block's encoding asks). A chunk
 *   crossing the range's edges (written by a head with another block duration) makes its series go
 *   through decoded samples instead.
 * Block layout: src/tsdb/block.h, docs/format/blocks.md. */
#include "tsdb/block.h"
#include "tsdb/tsdb_int.h"

#include "util/fault.h"

#include <stdlib.h>
#include <string.h>

#define BATCH 1024 /* series copied per hold of the truncation lock */

/* One series' part of the range, copied out of the head. */
typedef struct cseries {
    model_label_t *labels; /* pointers into the head's symbol table (live as long as the head) */
    size_t n_labels;
    size_t first_chunk, n_chunks; /* into the batch's chunk array */
    bool straddles;               /* a chunk crosses mint or maxt */
} cseries_t;

typedef struct batch {
    cseries_t *s;
    size_t n_s, cap_s;
    tsdb__chunk_in_t *c;
    size_t n_c, cap_c;
    model_label_t *l;
    size_t n_l, cap_l;
    uint8_t *bytes; /* chunk data; tsdb__chunk_in_t.data holds offsets until the batch is complete */
    size_t n_b, cap_b;
} batch_t;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = VG_FAULT_ALLOC_FAILS() ? NULL : realloc(*p, nc * elem);
    if (!np) return VG_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static int add_chunk(batch_t *b, cseries_t *cs, int64_t mint, int64_t maxt, uint8_t enc, const uint8_t *data,
                     uint32_t len, int64_t lo, int64_t hi) {
    if (maxt < lo || mint >= hi) return 0;
    if (mint < lo || maxt >= hi) cs->straddles = true;
    if (grow((void **)&b->c, &b->cap_c, b->n_c + 1, sizeof *b->c) ||
        grow((void **)&b->bytes, &b->cap_b, b->n_b + len, 1))
        return VG_ENOMEM;
    memcpy(b->bytes + b->n_b, data, len);
    b->c[b->n_c++] = (tsdb__chunk_in_t){mint, maxt, enc, (const uint8_t *)(uintptr_t)b->n_b, len};
    b->n_b += len;
    cs->n_chunks++;
    return 0;
}

/* Copies series s's chunks overlapping [lo, hi) into b (nothing when it has none there). */
static int copy_series(tsdb__head_t *h, tsdb__series_t *s, int64_t lo, int64_t hi, batch_t *b) {
    if (grow((void **)&b->s, &b->cap_s, b->n_s + 1, sizeof *b->s) ||
        grow((void **)&b->l, &b->cap_l, b->n_l + s->n_labels, sizeof *b->l))
        return VG_ENOMEM;
    cseries_t cs = {.first_chunk = b->n_c};
    size_t n_c0 = b->n_c, n_b0 = b->n_b;
    int rc = 0;
    pthread_mutex_t *mu = tsdb__series_lock(h, s);
    pthread_mutex_lock(mu);
    for (uint32_t k = 0; k < s->n_chunks && rc == 0; k++) {
        const tsdb__chunk_t *c = &s->chunks[k];
        rc = add_chunk(b, &cs, c->mint, c->maxt, c->enc, c->data, c->len, lo, hi);
    }
    if (rc == 0 && s->open.n)
        rc = add_chunk(b, &cs, tsdb__open_mint(s), s->open.t, TSDB_ENC_XOR, s->open.buf,
                       (uint32_t)tsdb_xor_enc_len(&s->open), lo, hi);
    pthread_mutex_unlock(mu);
    if (rc || cs.n_chunks == 0) {
        b->n_c = n_c0, b->n_b = n_b0;
        return rc;
    }
    memcpy(b->l + b->n_l, s->labels, s->n_labels * sizeof *b->l);
    cs.labels = (model_label_t *)(uintptr_t)b->n_l; /* an offset until the batch is complete */
    cs.n_labels = s->n_labels;
    b->n_l += s->n_labels;
    b->s[b->n_s++] = cs;
    return 0;
}

/* Adds a series whose chunks cross the range's edges: its samples in [lo, hi), decoded. */
static int add_decoded(tsdb__block_writer_t *w, const cseries_t *cs, const tsdb__chunk_in_t *c, int64_t lo, int64_t hi,
                       vg_error_t *err) {
    size_t cap = cs->n_chunks * TSDB_CHUNK_MAX_SAMPLES, n = 0;
    int64_t *t = malloc(cap * sizeof *t);
    double *v = malloc(cap * sizeof *v);
    tsdb_chunk_iter_t *it = malloc(sizeof *it);
    int rc = 0;
    if (!t || !v || !it) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < cs->n_chunks; k++) {
        tsdb_chunk_iter_init(it, c[k].enc, c[k].data, c[k].len);
        while (tsdb_chunk_iter_next(it)) {
            if (it->t < lo || it->t >= hi || (n && it->t <= t[n - 1])) continue;
            t[n] = it->t;
            v[n++] = tsdb_chunk_iter_v_at(it);
        }
        if (it->err) rc = vg_error_set(err, VG_ECORRUPT, "head chunk of %lld..%lld does not decode",
                                       (long long)c[k].mint, (long long)c[k].maxt);
    }
    if (rc == 0 && n) rc = tsdb__block_writer_add_samples(w, cs->labels, cs->n_labels, t, v, n, err);
    free(t);
    free(v);
    free(it);
    return rc;
}

/* Hands a completed batch to the writer. */
static int flush(tsdb__block_writer_t *w, batch_t *b, int64_t lo, int64_t hi, vg_error_t *err) {
    for (size_t i = 0; i < b->n_c; i++) b->c[i].data = b->bytes + (uintptr_t)b->c[i].data;
    int rc = 0;
    for (size_t i = 0; i < b->n_s && rc == 0; i++) {
        cseries_t *cs = &b->s[i];
        cs->labels = b->l + (uintptr_t)cs->labels;
        const tsdb__chunk_in_t *c = b->c + cs->first_chunk;
        rc = cs->straddles ? add_decoded(w, cs, c, lo, hi, err)
                           : tsdb__block_writer_add_chunks(w, cs->labels, cs->n_labels, c, cs->n_chunks, err);
    }
    b->n_s = b->n_c = b->n_l = b->n_b = 0;
    return rc;
}

int tsdb__head_compact_range(tsdb__head_t *h, const char *dir, int64_t lo, int64_t hi, uint8_t enc,
                             tsdb__block_meta_t *meta, vg_error_t *err) {
    tsdb__block_writer_opts_t o = {.mint = lo, .maxt = hi, .encoding = enc, .level = 1};
    tsdb__block_writer_t *w;
    int rc = tsdb__block_writer_new(dir, &o, &w, err);
    if (rc) return rc;
    batch_t b = {0};
    pthread_rwlock_rdlock(&h->index_lock);
    uint64_t end = h->next_id;
    pthread_rwlock_unlock(&h->index_lock);
    for (uint64_t ref = 1; ref < end && rc == 0; ref += BATCH) {
        pthread_rwlock_rdlock(&h->trunc_lock);
        for (uint64_t r = ref; r < ref + BATCH && r < end && rc == 0; r++) {
            tsdb__series_t *s = tsdb__head_by_ref(h, r);
            if (s) rc = copy_series(h, s, lo, hi, &b);
        }
        pthread_rwlock_unlock(&h->trunc_lock);
        if (rc) vg_error_set(err, rc, "copying head chunks: %s", vg_error_str(rc));
        else rc = flush(w, &b, lo, hi, err);
    }
    free(b.s);
    free(b.c);
    free(b.l);
    free(b.bytes);
    if (rc) {
        tsdb__block_writer_abort(w);
        return rc;
    }
    return tsdb__block_writer_commit(w, meta, err);
}
