/* Internals of the tsdb module shared across its files: the head (series map, postings, chunk
 * references), the head chunk files and the WAL writer/reader. The WAL record codec has its own
 * internal header, tsdb/record.h, included here. Nothing outside src/tsdb and its tests includes this.
 * Invariants are stated next to each structure. */
#ifndef VG_TSDB_INT_H
#define VG_TSDB_INT_H

#include "model/labels.h"
#include "model/symbols.h"
#include "tsdb/chunkenc.h"
#include "tsdb/record.h"
#include "tsdb/tsdb.h"
#include "util/error.h"
#include "util/varint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- head chunk files (chunks_head.c) ---- */

/* A full chunk: immutable bytes (XOR or dense encoding) in a chunk file mapping (file != TSDB__HEAP)
 * or a heap copy. */
#define TSDB__HEAP UINT32_MAX
typedef struct tsdb__chunk {
    int64_t mint, maxt;
    const uint8_t *data;
    uint16_t len;
    uint8_t enc; /* TSDB_ENC_XOR or TSDB_ENC_DENSE */
    uint32_t file;
} tsdb__chunk_t;

typedef struct tsdb__cstore tsdb__cstore_t;
/* dir NULL: heap only. Removes old files in dir (the head is rebuilt from the WAL). */
int tsdb__cstore_open(const char *dir, uint64_t file_bytes, tsdb__cstore_t **out, vg_error_t *err);
void tsdb__cstore_close(tsdb__cstore_t *cs);
/* Stores a copy of data; fills c. Thread-safe. */
int tsdb__cstore_put(tsdb__cstore_t *cs, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc,
                     const uint8_t *data, uint32_t len, tsdb__chunk_t *c);
/* Releases a chunk (frees heap copies; file space is reclaimed by cstore_gc). */
void tsdb__cstore_release(tsdb__cstore_t *cs, const tsdb__chunk_t *c);
/* Deletes files whose chunks all end before cutoff. Caller guarantees no reader holds such chunks. */
void tsdb__cstore_gc(tsdb__cstore_t *cs, int64_t cutoff);
uint64_t tsdb__cstore_files(tsdb__cstore_t *cs);
/* Reads back every frame of the live chunk files and checks it (length, encoding, CRC32C); counts
 * them in *n_frames. VG_ECORRUPT names the file, the offset and what was wrong. */
int tsdb__cstore_verify(tsdb__cstore_t *cs, uint64_t *n_frames, vg_error_t *err);

/* ---- postings (postings.c): label pair -> sorted series ids. Not thread-safe: the head guards it
 * with its index lock. Names and values are interned pointers (compared by address). ---- */

typedef struct tsdb__idvec {
    uint32_t *v;
    size_t n, cap;
} tsdb__idvec_t;

typedef struct tsdb__postings tsdb__postings_t;
tsdb__postings_t *tsdb__postings_new(void);
void tsdb__postings_free(tsdb__postings_t *p);
int tsdb__postings_add(tsdb__postings_t *p, const char *name, const char *value, uint32_t id);
/* The list for name=value (NULL if none). Borrowed while the index lock is held. */
const tsdb__idvec_t *tsdb__postings_get(const tsdb__postings_t *p, const char *name, const char *value);
/* Calls fn for every value of name (unordered); stops early when fn returns non-zero. */
int tsdb__postings_each_value(const tsdb__postings_t *p, const char *name,
                              int (*fn)(void *ctx, const char *value, const tsdb__idvec_t *ids), void *ctx);
/* Every label name (unordered) into out (malloc'd array of interned pointers; caller frees). */
int tsdb__postings_names(const tsdb__postings_t *p, const char ***out, size_t *n);
/* Removes the ids in dead (sorted) from every list; drops empty lists. */
void tsdb__postings_remove(tsdb__postings_t *p, const uint32_t *dead, size_t n_dead);

int tsdb__idvec_push(tsdb__idvec_t *v, uint32_t id);
/* Inserts keeping the vector sorted and unique (ids usually arrive in order: O(1) then). */
int tsdb__idvec_insert(tsdb__idvec_t *v, uint32_t id);
void tsdb__idvec_free(tsdb__idvec_t *v);

/* ---- head (head.c) ---- */

/* A series. Immutable after creation: ref, hash, labels. Guarded by the series' stripe lock
 * (tsdb__series_lock): everything else. Invariants: samples are strictly increasing in time across
 * chunks[] then the open chunk; maxt is the newest sample (INT64_MIN when empty); chunks[] are sorted
 * and non-overlapping. */
typedef struct tsdb__series {
    uint32_t ref;              /* ids stay below 2^32 (TSDB__ID_PAGES << TSDB__ID_PAGE_BITS) */
    uint16_t n_labels;
    atomic_uchar logged;       /* its series record is in the WAL (2: in a record being written) */
    uint64_t hash;
    struct tsdb__series *next; /* hash chain (stripe lock of the map) */
    int64_t maxt;              /* written under the series lock with __atomic_store_n; read lock-free
                                  by the append pre-check */
    uint64_t lastv;            /* value bits of the newest sample */
    tsdb_xor_enc_t open;       /* its first timestamp: tsdb__open_mint() */
    tsdb__chunk_t *chunks;
    uint32_t n_chunks, cap_chunks;
    model_label_t labels[]; /* interned strings, allocated with the series */
} tsdb__series_t;

#define TSDB__STRIPES 1024
typedef struct tsdb__stripe {
    pthread_mutex_t mu;
    tsdb__series_t **buckets;
    size_t n_buckets, n;
} tsdb__stripe_t;

#define TSDB__ID_PAGE_BITS 16
#define TSDB__ID_PAGES 65536 /* up to 2^32 series ids */

typedef struct tsdb__head {
    model_symtab_t *syms;
    tsdb__cstore_t *cstore;
    tsdb__stripe_t stripes[TSDB__STRIPES];   /* hash -> series */
    pthread_mutex_t series_locks[TSDB__STRIPES]; /* ref -> lock of the series' mutable state */
    pthread_rwlock_t index_lock;             /* postings, next_id, id pages */
    tsdb__postings_t *postings;
    _Atomic(tsdb__series_t **) id_pages[TSDB__ID_PAGES];
    uint64_t next_id;
    pthread_rwlock_t trunc_lock;             /* readers shared; retention/GC exclusive */
    atomic_llong mint, maxt;
    int64_t oob_ms;
    int64_t chunk_range_ms;   /* > 0: the open chunk is also cut when a sample enters the next
                                 multiple of it (the block duration), so every aligned range of the
                                 head is made of whole chunks; 0: cut at TSDB_CHUNK_MAX_SAMPLES only */
    atomic_llong min_valid;   /* samples older than this are out of bounds whatever oob_ms says: the
                                 max time of the newest block (INT64_MIN: no block) */
    atomic_ullong n_series, n_chunks, chunk_bytes; /* n_series counts a series from the moment its
                                                     creation reserves a slot (see get_or_create) */
    atomic_ullong appended, ooo, dup, oob;
} tsdb__head_t;

int tsdb__head_new(tsdb__cstore_t *cs, int64_t oob_ms, tsdb__head_t **out);
void tsdb__head_free(tsdb__head_t *h);

/* First timestamp of an XOR chunk being appended (a byte-aligned varint right after the header). */
static inline int64_t tsdb__enc_mint(const tsdb_xor_enc_t *e) {
    int64_t t = INT64_MIN;
    if (e->n == 0 || !vg_varint_get(e->buf + 2, e->buf + e->cap, &t)) return INT64_MIN;
    return t;
}
static inline int64_t tsdb__open_mint(const tsdb__series_t *s) { return tsdb__enc_mint(&s->open); }

static inline pthread_mutex_t *tsdb__series_lock(tsdb__head_t *h, const tsdb__series_t *s) {
    return &h->series_locks[s->ref & (TSDB__STRIPES - 1)];
}

/* Finds or creates the series for a normalized label set. ref == 0: allocate the next id; else use
 * that ref (replay; an existing series with the same labels is returned as is). *created tells.
 * Before a series is created, under the stripe lock: with max_series > 0 a creation that would take
 * the head past max_series series is refused with STORAGE_REJECT_SERIES_LIMIT_TOTAL (replay passes 0:
 * what the WAL holds was accepted once and is never refused); then a gate (may be NULL) is asked:
 * STORAGE_REJECT_SERIES_LIMIT when it refuses. The cap is checked first so a refused creation never
 * holds a unit of the gate's budget. */
int tsdb__head_get_or_create(tsdb__head_t *h, const model_label_t *l, size_t n, uint64_t hash, uint64_t ref,
                             uint64_t max_series, storage_series_gate_fn gate, void *gate_ctx, tsdb__series_t **out,
                             bool *created);
tsdb__series_t *tsdb__head_by_ref(tsdb__head_t *h, uint64_t ref);
/* Series with label `name` set to one of values whose newest sample is at or after since (or that have
 * none yet); since == INT64_MIN counts them all from the postings alone. */
uint64_t tsdb__head_count(tsdb__head_t *h, const char *name, const char *const *values, size_t n, int64_t since);
/* Pre-check of a sample against a series (lock taken inside): 0 or STORAGE_REJECT_*. */
int tsdb__head_check(tsdb__head_t *h, tsdb__series_t *s, int64_t t, uint64_t vbits);
/* Appends with the series lock held by the caller: 0 (appended; the caller adds it to h->appended),
 * TSDB__IGNORED (identical resend of the newest sample), STORAGE_REJECT_* (counted here), or
 * VG_ENOMEM. */
#define TSDB__IGNORED 9
int tsdb__series_append_locked(tsdb__head_t *h, tsdb__series_t *s, int64_t t, uint64_t vbits);
/* Adds an already-encoded chunk (checkpoint replay) with the series lock held. open: resume it as
 * the open chunk (XOR only); newest: the series' newest sample is in it (its value is looked up for
 * duplicate detection). Chunks older than the series' newest sample are ignored. */
int tsdb__series_add_chunk_locked(tsdb__head_t *h, tsdb__series_t *s, int64_t mint, int64_t maxt, uint8_t enc,
                                  const uint8_t *data, uint32_t len, bool open, bool newest);
/* Drops chunks ending before cutoff and series left empty. Takes trunc_lock exclusively. */
void tsdb__head_truncate(tsdb__head_t *h, int64_t cutoff);
/* Calls fn on every series (no lock held; fn takes the series lock itself). */
int tsdb__head_each(tsdb__head_t *h, int (*fn)(void *ctx, tsdb__series_t *s), void *ctx);

/* ---- WAL records: see tsdb/record.h (record.c owns the record formats in both directions) ---- */

/* ---- WAL (wal.c; segment layout in docs/format/wal.md) ---- */

#define TSDB__SEG_HDR 8 /* "VGWL", version u8 (1 or 2; 2 may hold TSDB__REC_SAMPLES_ZSTD), 3 zero bytes */

typedef struct tsdb__wal tsdb__wal_t;
typedef struct tsdb__replay_stats {
    uint64_t records, samples, corrupt, torn, unknown_refs;
    uint64_t first_segment, last_segment; /* the segments replayed; 0, 0 when there were none */
} tsdb__replay_stats_t;

/* Replays dir (checkpoint + segments) into h, repairs a torn tail, then opens a new segment for
 * writing. */
int tsdb__wal_open(const char *dir, const tsdb_options_t *o, const tsdb__rec_handler_t *replay,
                   tsdb__replay_stats_t *rs, tsdb__wal_t **out, vg_error_t *err);
void tsdb__wal_close(tsdb__wal_t *w);
/* Appends framed records (one write(2)); caller holds the commit lock (tsdb__wal_lock). Returns 0 or
 * VG_EIO, and the end position for tsdb__wal_wait_synced. */
int tsdb__wal_write(tsdb__wal_t *w, const uint8_t *p, size_t n, uint64_t *end_pos, vg_error_t *err);
void tsdb__wal_lock(tsdb__wal_t *w);
void tsdb__wal_unlock(tsdb__wal_t *w);
/* Group commit: returns once everything up to pos is fsynced (one fsync serves all waiters). */
int tsdb__wal_wait_synced(tsdb__wal_t *w, uint64_t pos, vg_error_t *err);
int tsdb__wal_sync(tsdb__wal_t *w, vg_error_t *err);
/* With the commit lock held: closes the current segment and starts the next; returns the number of
 * the last closed segment. */
int tsdb__wal_cut(tsdb__wal_t *w, uint64_t *closed, vg_error_t *err);
/* Writes checkpoint.<upto> from the records produced by emit (called repeatedly with a buffer to
 * fill, until it returns 1), then deletes segments <= upto and older checkpoints. */
int tsdb__wal_checkpoint(tsdb__wal_t *w, uint64_t upto, int (*emit)(void *ctx, tsdb__recbuf_t *b), void *ctx,
                         vg_error_t *err);
uint64_t tsdb__wal_closed_since_checkpoint(tsdb__wal_t *w);
uint64_t tsdb__wal_bytes(tsdb__wal_t *w);
/* Called after every fsync of a live segment with its duration (for the fsync histogram). */
void tsdb__wal_set_fsync_observer(tsdb__wal_t *w, void (*fn)(void *ctx, double seconds), void *ctx);
uint64_t tsdb__wal_segments(tsdb__wal_t *w);

/* ---- WAL feed (wal_watch.c) ---- */
/* A feed over wal_dir (storage.h); head (may be NULL) answers newest(). from NULL or segment 0: start
 * at the end of the WAL. */
int tsdb__feed_new(const char *wal_dir, tsdb__head_t *head, const storage_feed_pos_t *from, storage_feed_t **out,
                   vg_error_t *err);

/* ---- querier (querier.c) ---- */
/* Sorts strings and drops repeats in place (label names and values of the queriers); returns how many
 * remain. */
size_t tsdb__sort_unique_strs(const char **v, size_t n);
int tsdb__querier_new(tsdb__head_t *h, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err);

/* ---- head compaction (compact_head.c) ---- */
struct tsdb__block_meta;
/* Writes the head's samples in [lo, hi) as a level-1 block under dir with chunk encoding enc
 * (TSDB_ENC_XOR or TSDB_ENC_DENSE); fills *meta (free with tsdb__block_meta_free). The caller has set
 * h->min_valid >= hi first (appends into the range are refused from then on). Takes the truncation
 * lock shared per batch of series only. VG_ENOTFOUND: the head has no sample in the range (nothing
 * written). */
int tsdb__head_compact_range(tsdb__head_t *h, const char *dir, int64_t lo, int64_t hi, uint8_t enc,
                             struct tsdb__block_meta *meta, vg_error_t *err);

/* ---- merge querier (merge.c) ---- */
/* One querier over the n sources qs (blocks and head, in time order): series merged by labels, samples
 * in time order with duplicate timestamps dropped (the first source's sample is kept). Takes ownership
 * of the sources whatever the result (closed on failure, and by the merge querier's close). n == 1
 * returns qs[0] itself. */
int tsdb__merge_querier_new(storage_querier_t **qs, size_t n, storage_querier_t **out, vg_error_t *err);

/* ---- a Prometheus data directory (foreign.c) ---- */

/* Renames Prometheus' wal/ and chunks_head/ under path (recognised by their bytes) to
 * <name>.prometheus-<unix seconds>, logging each; *moved counts them. Deletes nothing. */
int tsdb__set_aside_foreign(const char *path, int *moved, vg_error_t *err);

/* ---- administrative operations (admin.c) and what they need of the db (db.c) ---- */

struct tsdb__block;
/* Pending head deletions: matchers and [mint, maxt] applied to what the head returns until head
 * compaction turns them into tombstones; persisted in <path>/head_deletions.json (path NULL: memory). */
typedef struct tsdb__dels tsdb__dels_t;
int tsdb__dels_open(const char *path, tsdb__dels_t **out, vg_error_t *err);
void tsdb__dels_free(tsdb__dels_t *d);
/* Adds a deletion (matchers copied); persist: written to the file first (on failure nothing changes). */
int tsdb__dels_add(tsdb__dels_t *d, model_matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, bool persist,
                   vg_error_t *err);
/* Gives a block just cut from the head the pending deletions as tombstones (*b may be replaced by the
 * block reopened) and forgets deletions that end before the block does. */
int tsdb__dels_apply_block(tsdb__dels_t *d, struct tsdb__block **b, vg_error_t *err);
/* Wraps *q (a head querier over [mint, maxt]) so that the deletions overlapping the range apply; on
 * failure *q is closed and NULL. No deletion: *q unchanged. */
int tsdb__dels_wrap(tsdb__dels_t *d, int64_t mint, int64_t maxt, storage_querier_t **q, vg_error_t *err);
void tsdb__dels_admin_lock(tsdb__dels_t *d);
void tsdb__dels_admin_unlock(tsdb__dels_t *d);

tsdb__dels_t *tsdb__db_dels(tsdb_db_t *db);
tsdb__head_t *tsdb__db_head(tsdb_db_t *db);
const char *tsdb__db_path(tsdb_db_t *db); /* NULL in memory */
const tsdb_options_t *tsdb__db_options(tsdb_db_t *db);
/* Adds b (its reference passes to the list), sorted by min time. */
int tsdb__db_block_add(tsdb_db_t *db, struct tsdb__block *b);
/* A reference to every block, in the list's order (free the array, unref each). */
int tsdb__db_blocks(tsdb_db_t *db, struct tsdb__block ***out, size_t *n);
/* Puts nu (which gives the list its reference) in old's place, or removes old when nu is NULL; drops
 * the list's reference on old. false when old is no longer listed (nothing changed). */
bool tsdb__db_block_replace(tsdb_db_t *db, struct tsdb__block *old, struct tsdb__block *nu);

#endif
