/* The head: every series in memory with its open chunk, references to its full chunks, and the
 * postings index.
 *
 * Locking (always in this order): trunc_lock (shared by appender batches and queriers, exclusive for
 * retention/GC) -> map stripe mutex -> index rwlock; series state is guarded by the series lock
 * (series_locks[ref % STRIPES]), never held while taking another lock except the chunk store's.
 * Invariants: a series is in exactly one stripe chain and one id page slot; its id is in the postings
 * of each of its label pairs and of the all-series key ("" = ""); ids are unique and never reused while
 * the head lives. */
#include "tsdb/tsdb_int.h"

#include <stdlib.h>
#include <string.h>

int tsdb__head_new(tsdb__cstore_t *cs, int64_t oob_ms, tsdb__head_t **out) {
    *out = NULL;
    tsdb__head_t *h = calloc(1, sizeof *h);
    if (!h) return VG_ENOMEM;
    h->syms = model_symtab_new();
    h->postings = tsdb__postings_new();
    if (!h->syms || !h->postings) {
        model_symtab_free(h->syms);
        tsdb__postings_free(h->postings);
        free(h);
        return VG_ENOMEM;
    }
    for (size_t i = 0; i < TSDB__STRIPES; i++) {
        pthread_mutex_init(&h->stripes[i].mu, NULL);
        pthread_mutex_init(&h->series_locks[i], NULL);
    }
    pthread_rwlock_init(&h->index_lock, NULL);
    pthread_rwlock_init(&h->trunc_lock, NULL);
    h->cstore = cs;
    h->next_id = 1;
    h->oob_ms = oob_ms;
    atomic_store(&h->mint, INT64_MAX);
    atomic_store(&h->maxt, INT64_MIN);
    atomic_store(&h->min_valid, INT64_MIN);
    *out = h;
    return 0;
}

static void series_free(tsdb__head_t *h, tsdb__series_t *s) {
    for (uint32_t i = 0; i < s->n_chunks; i++) tsdb__cstore_release(h->cstore, &s->chunks[i]);
    free(s->chunks);
    tsdb_xor_enc_deinit(&s->open);
    free(s);
}

void tsdb__head_free(tsdb__head_t *h) {
    if (!h) return;
    for (size_t i = 0; i < TSDB__STRIPES; i++) {
        tsdb__stripe_t *st = &h->stripes[i];
        for (size_t b = 0; b < st->n_buckets; b++)
            for (tsdb__series_t *s = st->buckets[b], *nx; s; s = nx) {
                nx = s->next;
                series_free(h, s);
            }
        free(st->buckets);
        pthread_mutex_destroy(&st->mu);
        pthread_mutex_destroy(&h->series_locks[i]);
    }
    for (size_t i = 0; i < TSDB__ID_PAGES; i++) free(atomic_load(&h->id_pages[i]));
    tsdb__postings_free(h->postings);
    model_symtab_free(h->syms);
    pthread_rwlock_destroy(&h->index_lock);
    pthread_rwlock_destroy(&h->trunc_lock);
    free(h);
}

tsdb__series_t *tsdb__head_by_ref(tsdb__head_t *h, uint64_t ref) {
    if (ref == 0 || ref >= ((uint64_t)TSDB__ID_PAGES << TSDB__ID_PAGE_BITS)) return NULL;
    tsdb__series_t **page = atomic_load_explicit(&h->id_pages[ref >> TSDB__ID_PAGE_BITS], memory_order_acquire);
    if (!page) return NULL;
    return __atomic_load_n(&page[ref & ((1u << TSDB__ID_PAGE_BITS) - 1)], __ATOMIC_ACQUIRE);
}

static int set_by_ref(tsdb__head_t *h, uint64_t ref, tsdb__series_t *s) {
    size_t pi = (size_t)(ref >> TSDB__ID_PAGE_BITS);
    tsdb__series_t **page = atomic_load(&h->id_pages[pi]);
    if (!page) {
        page = calloc((size_t)1 << TSDB__ID_PAGE_BITS, sizeof *page);
        if (!page) return VG_ENOMEM;
        atomic_store_explicit(&h->id_pages[pi], page, memory_order_release);
    }
    __atomic_store_n(&page[ref & ((1u << TSDB__ID_PAGE_BITS) - 1)], s, __ATOMIC_RELEASE);
    return 0;
}

static int stripe_insert(tsdb__stripe_t *st, tsdb__series_t *s) {
    if (st->n + 1 > st->n_buckets * 2) { /* chains of two on average: buckets cost memory per series */
        size_t nb = st->n_buckets ? st->n_buckets * 2 : 16;
        tsdb__series_t **nbk = calloc(nb, sizeof *nbk);
        if (!nbk) return VG_ENOMEM;
        for (size_t b = 0; b < st->n_buckets; b++)
            for (tsdb__series_t *x = st->buckets[b], *nx; x; x = nx) {
                nx = x->next;
                size_t j = (size_t)(x->hash >> 10) & (nb - 1);
                x->next = nbk[j];
                nbk[j] = x;
            }
        free(st->buckets);
        st->buckets = nbk;
        st->n_buckets = nb;
    }
    size_t j = (size_t)(s->hash >> 10) & (st->n_buckets - 1);
    s->next = st->buckets[j];
    st->buckets[j] = s;
    st->n++;
    return 0;
}

/* The series with these labels in a stripe whose mutex is held, or NULL. */
static tsdb__series_t *stripe_find(const tsdb__stripe_t *st, const model_label_t *l, size_t n, uint64_t hash) {
    if (!st->n_buckets) return NULL;
    for (tsdb__series_t *s = st->buckets[(size_t)(hash >> 10) & (st->n_buckets - 1)]; s; s = s->next)
        if (s->hash == hash && model_labels_equal(s->labels, s->n_labels, l, n)) return s;
    return NULL;
}

/* Reserves one series slot under max_series (0: no cap). The count is taken by the reservation itself
 * (fetch-add, given back when over), so creations racing in different stripes cannot overshoot. */
static bool reserve_series(tsdb__head_t *h, uint64_t max_series) {
    uint64_t before = atomic_fetch_add(&h->n_series, 1);
    if (max_series == 0 || before < max_series) return true;
    atomic_fetch_sub(&h->n_series, 1);
    return false;
}

int tsdb__head_get_or_create(tsdb__head_t *h, const model_label_t *l, size_t n, uint64_t hash, uint64_t ref,
                             uint64_t max_series, storage_series_gate_fn gate, void *gate_ctx, tsdb__series_t **out,
                             bool *created) {
    *out = NULL;
    *created = false;
    if (ref >= ((uint64_t)TSDB__ID_PAGES << TSDB__ID_PAGE_BITS)) return VG_ECORRUPT;
    tsdb__stripe_t *st = &h->stripes[hash & (TSDB__STRIPES - 1)];
    pthread_mutex_lock(&st->mu);
    tsdb__series_t *found = stripe_find(st, l, n, hash);
    if (found) {
        pthread_mutex_unlock(&st->mu);
        *out = found;
        return 0;
    }
    /* under the stripe lock: no other creation of this series races */
    if (!reserve_series(h, max_series)) {
        pthread_mutex_unlock(&st->mu);
        return STORAGE_REJECT_SERIES_LIMIT_TOTAL;
    }
    if (gate && !gate(gate_ctx, l, n)) {
        atomic_fetch_sub(&h->n_series, 1);
        pthread_mutex_unlock(&st->mu);
        return STORAGE_REJECT_SERIES_LIMIT;
    }
    int rc = VG_ENOMEM;
    tsdb__series_t *s = calloc(1, sizeof *s + n * sizeof(model_label_t));
    if (!s) goto fail;
    for (size_t i = 0; i < n; i++) {
        s->labels[i].name = model_symtab_intern(h->syms, l[i].name, strlen(l[i].name));
        s->labels[i].value = model_symtab_intern(h->syms, l[i].value, strlen(l[i].value));
        if (!s->labels[i].name || !s->labels[i].value) goto fail;
    }
    s->n_labels = (uint16_t)n;
    s->hash = hash;
    s->maxt = INT64_MIN;
    tsdb_xor_enc_init(&s->open);
    const char *all = model_symtab_intern(h->syms, "", 0);
    if (!all) goto fail;

    pthread_rwlock_wrlock(&h->index_lock);
    if (ref && tsdb__head_by_ref(h, ref)) {
        pthread_rwlock_unlock(&h->index_lock);
        rc = VG_EEXIST; /* a different label set already has this ref: corrupt WAL */
        goto fail;
    }
    uint64_t id = ref ? ref : h->next_id;
    if (id >= ((uint64_t)TSDB__ID_PAGES << TSDB__ID_PAGE_BITS) || (n >> 16)) {
        pthread_rwlock_unlock(&h->index_lock);
        rc = VG_ELIMIT;
        goto fail;
    }
    s->ref = (uint32_t)id;
    if (s->ref >= h->next_id) h->next_id = (uint64_t)s->ref + 1;
    rc = set_by_ref(h, s->ref, s);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = tsdb__postings_add(h->postings, s->labels[i].name, s->labels[i].value, (uint32_t)s->ref);
    if (rc == 0) rc = tsdb__postings_add(h->postings, all, all, (uint32_t)s->ref);
    if (rc == 0) rc = stripe_insert(st, s);
    pthread_rwlock_unlock(&h->index_lock);
    if (rc != 0) goto fail; /* leaves postings entries of a ref that resolves to nothing: harmless */
    pthread_mutex_unlock(&st->mu);
    *out = s;
    *created = true;
    return 0;
fail:
    atomic_fetch_sub(&h->n_series, 1); /* the slot reserved above */
    pthread_mutex_unlock(&st->mu);
    if (s) {
        if (s->ref) {
            pthread_rwlock_wrlock(&h->index_lock);
            if (tsdb__head_by_ref(h, s->ref) == s) set_by_ref(h, s->ref, NULL);
            pthread_rwlock_unlock(&h->index_lock);
        }
        free(s);
    }
    return rc;
}

static void bump_range(tsdb__head_t *h, int64_t t) {
    long long cur = atomic_load_explicit(&h->maxt, memory_order_relaxed);
    while (t > cur && !atomic_compare_exchange_weak(&h->maxt, &cur, t)) {
    }
    cur = atomic_load_explicit(&h->mint, memory_order_relaxed);
    while (t < cur && !atomic_compare_exchange_weak(&h->mint, &cur, t)) {
    }
}

/* Out of bounds: older than head max time - oob_ms, or older than the newest block's max time (the
 * range a block holds is closed to appends, or a later restart would find the sample twice or lose
 * it). min_valid is read under the series lock, so an append either lands before a compaction
 * snapshots its series or sees the new bound. */
static bool too_old(tsdb__head_t *h, int64_t t) {
    if (t < atomic_load(&h->min_valid)) return true;
    if (h->oob_ms > 0) {
        int64_t hmax = atomic_load_explicit(&h->maxt, memory_order_relaxed);
        if (hmax != INT64_MIN && t < hmax - h->oob_ms) return true;
    }
    return false;
}

static int check_locked(tsdb__head_t *h, const tsdb__series_t *s, int64_t t, uint64_t vbits, bool count) {
    if (t == INT64_MIN) { /* the "no sample yet" mark of maxt: a sample there can never be stored */
        if (count) atomic_fetch_add(&h->oob, 1);
        return STORAGE_REJECT_OUT_OF_BOUNDS;
    }
    if (t <= s->maxt) {
        if (t == s->maxt) {
            if (vbits == s->lastv) return -1; /* identical resend: ignored, not an error */
            if (count) atomic_fetch_add(&h->dup, 1);
            return STORAGE_REJECT_DUPLICATE;
        }
        if (count) atomic_fetch_add(&h->ooo, 1);
        return STORAGE_REJECT_OUT_OF_ORDER;
    }
    if (too_old(h, t)) {
        if (count) atomic_fetch_add(&h->oob, 1);
        return STORAGE_REJECT_OUT_OF_BOUNDS;
    }
    return 0;
}

int tsdb__head_check(tsdb__head_t *h, tsdb__series_t *s, int64_t t, uint64_t vbits) {
    /* Common case without the lock: newer than the newest sample. The commit checks again. */
    if (t > __atomic_load_n(&s->maxt, __ATOMIC_RELAXED)) {
        if (too_old(h, t)) {
            atomic_fetch_add(&h->oob, 1);
            return STORAGE_REJECT_OUT_OF_BOUNDS;
        }
        return 0;
    }
    pthread_mutex_t *mu = tsdb__series_lock(h, s);
    pthread_mutex_lock(mu);
    int rc = check_locked(h, s, t, vbits, true);
    pthread_mutex_unlock(mu);
    return rc < 0 ? 0 : rc;
}

static int push_chunk(tsdb__series_t *s, const tsdb__chunk_t *c) {
    if (s->n_chunks == s->cap_chunks) {
        uint32_t nc = s->cap_chunks < 4 ? s->cap_chunks + 1 : s->cap_chunks + s->cap_chunks / 4;
        tsdb__chunk_t *nv = realloc(s->chunks, nc * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        s->chunks = nv;
        s->cap_chunks = nc;
    }
    s->chunks[s->n_chunks++] = *c;
    return 0;
}

/* Moves the full open chunk to the chunk store — re-encoded densely when that is smaller — and
 * resets the encoder. */
static int cut_open(tsdb__head_t *h, tsdb__series_t *s) {
    tsdb__chunk_t c;
    uint32_t len = (uint32_t)tsdb_xor_enc_len(&s->open);
    uint8_t dense[TSDB_CHUNK_MAX_BYTES];
    size_t dl = tsdb_chunk_densify(s->open.buf, len, dense, sizeof dense);
    int64_t mint = tsdb__open_mint(s);
    int rc = dl ? tsdb__cstore_put(h->cstore, s->ref, mint, s->open.t, TSDB_ENC_DENSE, dense, (uint32_t)dl, &c)
                : tsdb__cstore_put(h->cstore, s->ref, mint, s->open.t, TSDB_ENC_XOR, s->open.buf, len, &c);
    if (dl) len = (uint32_t)dl;
    if (rc) return rc;
    if ((rc = push_chunk(s, &c)) != 0) {
        tsdb__cstore_release(h->cstore, &c);
        return rc;
    }
    atomic_fetch_add(&h->n_chunks, 1);
    atomic_fetch_add(&h->chunk_bytes, len);
    tsdb_xor_enc_deinit(&s->open); /* the next chunk grows from a small buffer again */
    return 0;
}

/* floor(t / d) for any sign of t. */
static int64_t range_of(int64_t t, int64_t d) { return t / d - (t % d < 0); }

/* Whether t falls in a later chunk range than last (the open chunk's newest sample): every sample of
 * the open chunk is in one range, so comparing with the newest is enough. */
static bool crosses_range(const tsdb__head_t *h, int64_t last, int64_t t) {
    return h->chunk_range_ms > 0 && range_of(t, h->chunk_range_ms) != range_of(last, h->chunk_range_ms);
}

int tsdb__series_append_locked(tsdb__head_t *h, tsdb__series_t *s, int64_t t, uint64_t vbits) {
    int rc = check_locked(h, s, t, vbits, true);
    if (rc) return rc < 0 ? TSDB__IGNORED : rc;
    if (s->open.n && (s->open.n >= TSDB_CHUNK_MAX_SAMPLES || crosses_range(h, s->open.t, t)) &&
        (rc = cut_open(h, s)) != 0)
        return rc;
    double v;
    memcpy(&v, &vbits, 8);
    if ((rc = tsdb_xor_enc_append(&s->open, t, v)) != 0) return rc;
    __atomic_store_n(&s->maxt, t, __ATOMIC_RELAXED);
    s->lastv = vbits;
    bump_range(h, t);
    return 0;
}

int tsdb__series_add_chunk_locked(tsdb__head_t *h, tsdb__series_t *s, int64_t mint, int64_t maxt, uint8_t enc,
                                  const uint8_t *data, uint32_t len, bool open, bool newest) {
    if (maxt <= s->maxt || mint > maxt) return 0; /* already have it (or nonsense): skip */
    if (s->maxt != INT64_MIN && mint <= s->maxt) return 0;
    int rc;
    if (s->open.n > 0 && (rc = cut_open(h, s)) != 0) return rc;
    if (open) {
        if (enc != TSDB_ENC_XOR) return VG_ECORRUPT;
        tsdb_xor_enc_t e;
        if ((rc = tsdb_xor_enc_resume(&e, data, len)) != 0) return rc;
        if (e.n == 0 || e.t != maxt) {
            tsdb_xor_enc_deinit(&e);
            return VG_ECORRUPT;
        }
        tsdb_xor_enc_deinit(&s->open);
        if (e.n == 0 || tsdb__enc_mint(&e) != mint) {
            tsdb_xor_enc_deinit(&e);
            return VG_ECORRUPT;
        }
        s->open = e;
        s->lastv = e.v;
    } else {
        tsdb__chunk_t c;
        if (newest) { /* the newest value, for duplicate detection; also validates the chunk */
            tsdb_chunk_iter_t *it = malloc(sizeof *it);
            if (!it) return VG_ENOMEM;
            tsdb_chunk_iter_init(it, enc, data, len);
            int64_t lt = INT64_MIN;
            while (tsdb_chunk_iter_next(it)) lt = it->t, s->lastv = it->v;
            rc = it->err ? it->err : lt != maxt ? VG_ECORRUPT : 0;
            free(it);
            if (rc) return rc;
        }
        if ((rc = tsdb__cstore_put(h->cstore, s->ref, mint, maxt, enc, data, len, &c)) != 0) return rc;
        if ((rc = push_chunk(s, &c)) != 0) {
            tsdb__cstore_release(h->cstore, &c);
            return rc;
        }
        atomic_fetch_add(&h->n_chunks, 1);
        atomic_fetch_add(&h->chunk_bytes, len);
    }
    __atomic_store_n(&s->maxt, maxt, __ATOMIC_RELAXED);
    bump_range(h, mint);
    bump_range(h, maxt);
    return 0;
}

typedef struct svec {
    tsdb__series_t **v;
    size_t n, cap;
} svec_t;

static int svec_push(svec_t *sv, tsdb__series_t *s) {
    if (sv->n == sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 256;
        tsdb__series_t **nv = realloc(sv->v, nc * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        sv->v = nv;
        sv->cap = nc;
    }
    sv->v[sv->n++] = s;
    return 0;
}

uint64_t tsdb__head_count(tsdb__head_t *h, const char *name, const char *const *values, size_t n, int64_t since) {
    tsdb__idvec_t ids = {0};
    uint64_t count = 0;
    pthread_rwlock_rdlock(&h->trunc_lock);
    pthread_rwlock_rdlock(&h->index_lock);
    const char *iname = model_symtab_find(h->syms, name, strlen(name));
    for (size_t i = 0; iname && i < n; i++) {
        bool dup = false; /* a value listed twice counts once */
        for (size_t j = 0; j < i && !dup; j++) dup = !strcmp(values[i], values[j]);
        const char *v = dup ? NULL : model_symtab_find(h->syms, values[i], strlen(values[i]));
        const tsdb__idvec_t *l = v ? tsdb__postings_get(h->postings, iname, v) : NULL;
        if (!l) continue;
        if (since == INT64_MIN) {
            count += l->n;
            continue;
        }
        for (size_t k = 0; k < l->n; k++)
            if (tsdb__idvec_push(&ids, l->v[k])) break; /* out of memory: counts what it has */
    }
    pthread_rwlock_unlock(&h->index_lock);
    for (size_t k = 0; k < ids.n; k++) {
        tsdb__series_t *s = tsdb__head_by_ref(h, ids.v[k]);
        if (!s) continue;
        pthread_mutex_t *mu = tsdb__series_lock(h, s);
        pthread_mutex_lock(mu);
        count += s->maxt == INT64_MIN || s->maxt >= since; /* no sample yet: just created, so active */
        pthread_mutex_unlock(mu);
    }
    pthread_rwlock_unlock(&h->trunc_lock);
    tsdb__idvec_free(&ids);
    return count;
}

int tsdb__head_each(tsdb__head_t *h, int (*fn)(void *ctx, tsdb__series_t *s), void *ctx) {
    svec_t sv = {0};
    int rc = 0;
    for (size_t i = 0; i < TSDB__STRIPES && rc == 0; i++) {
        tsdb__stripe_t *st = &h->stripes[i];
        pthread_mutex_lock(&st->mu);
        for (size_t b = 0; b < st->n_buckets && rc == 0; b++)
            for (tsdb__series_t *s = st->buckets[b]; s && rc == 0; s = s->next) rc = svec_push(&sv, s);
        pthread_mutex_unlock(&st->mu);
    }
    for (size_t i = 0; i < sv.n && rc == 0; i++) rc = fn(ctx, sv.v[i]);
    free(sv.v);
    return rc;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void tsdb__head_truncate(tsdb__head_t *h, int64_t cutoff) {
    pthread_rwlock_wrlock(&h->trunc_lock);
    tsdb__idvec_t dead = {0};
    svec_t gone = {0};
    int64_t newmin = INT64_MAX;
    for (size_t i = 0; i < TSDB__STRIPES; i++) {
        tsdb__stripe_t *st = &h->stripes[i];
        pthread_mutex_lock(&st->mu);
        for (size_t b = 0; b < st->n_buckets; b++) {
            for (tsdb__series_t **pp = &st->buckets[b]; *pp;) {
                tsdb__series_t *s = *pp;
                pthread_mutex_t *mu = tsdb__series_lock(h, s);
                pthread_mutex_lock(mu);
                uint32_t k = 0;
                for (uint32_t c = 0; c < s->n_chunks; c++) {
                    if (s->chunks[c].maxt < cutoff) {
                        atomic_fetch_sub(&h->n_chunks, 1);
                        atomic_fetch_sub(&h->chunk_bytes, s->chunks[c].len);
                        tsdb__cstore_release(h->cstore, &s->chunks[c]);
                    } else {
                        s->chunks[k++] = s->chunks[c];
                    }
                }
                s->n_chunks = k;
                bool empty = k == 0 && (s->open.n == 0 || s->open.t < cutoff) && s->maxt < cutoff;
                if (!empty) {
                    int64_t m = k ? s->chunks[0].mint : tsdb__open_mint(s);
                    if (s->open.n || k) newmin = m < newmin ? m : newmin;
                }
                pthread_mutex_unlock(mu);
                if (empty && s->maxt != INT64_MIN && tsdb__idvec_push(&dead, (uint32_t)s->ref) == 0 &&
                    svec_push(&gone, s) == 0) {
                    *pp = s->next;
                    st->n--;
                    continue;
                }
                pp = &s->next;
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
    if (dead.n) {
        qsort(dead.v, dead.n, sizeof *dead.v, cmp_u32);
        pthread_rwlock_wrlock(&h->index_lock);
        tsdb__postings_remove(h->postings, dead.v, dead.n);
        for (size_t i = 0; i < gone.n; i++) set_by_ref(h, gone.v[i]->ref, NULL);
        pthread_rwlock_unlock(&h->index_lock);
        for (size_t i = 0; i < gone.n; i++) series_free(h, gone.v[i]);
        atomic_fetch_sub(&h->n_series, gone.n);
    }
    /* appends hold trunc_lock shared: none raced the scan, so newmin is exact (INT64_MAX: empty) */
    atomic_store(&h->mint, newmin);
    tsdb__cstore_gc(h->cstore, cutoff);
    tsdb__idvec_free(&dead);
    free(gone.v);
    pthread_rwlock_unlock(&h->trunc_lock);
}
