/* The database: opens the directory (lock file, blocks, chunk files, WAL replay into the head), hands
 * out appenders and queriers (the blocks in range merged with the head), and runs two background
 * threads: housekeeping (interval fsync, checkpoints, retention) and compaction (head ranges into
 * blocks, then blocks into larger blocks as compact.c plans, then block retention).
 *
 * Block compaction (why a query never sees a range twice or not at all, and a crash loses nothing):
 * the new block is complete on disk (renamed into place) before the block list changes; the parents
 * leave the list and the child enters it under blocks_mu in one step, and a querier takes its block
 * references under the same lock; the parents' directories go with their last reference. At open, a
 * block listed as another block's parent is deleted, so a crash between the rename and the removal
 * leaves no sample twice. Retention removes whole blocks under blocks_mu; a compaction whose parent
 * retention took meanwhile discards its child rather than bring the data back.
 *
 * Commit protocol (why replay reproduces the head exactly): under the WAL commit lock a batch writes
 * its series records (for series not logged yet) and its samples record, then applies the samples to
 * the head. WAL order therefore equals apply order for every series, and replay re-applies the same
 * accept/reject decisions. Checkpoint N is taken after cutting segment N under the same lock, so every
 * record in segments <= N is already in the head it snapshots; samples both in the snapshot and in
 * segment N+1 are skipped on replay as already present (t <= series max time).
 *
 * Time bounds of the head: an appended sample is refused when it is older than the head's max time
 * minus out_of_bounds_ms, or further than max_future_ms ahead of the wall clock (read once when the
 * batch starts). The second bound keeps the head's max time (which drives the first bound and
 * retention) near the present: without it one sample at t = 2^62 would make every later current
 * sample "too old", in every tenant, and stay so across restarts via the WAL.
 *
 * Head compaction (why no sample is lost or read twice): once the head spans more than 1.5 block
 * durations D, its oldest aligned range [k·D, (k+1)·D) is closed to appends (head min_valid), written
 * as a block (compact_head.c), published in the block list, cut from the head (tsdb__head_truncate)
 * and dropped from the WAL by a checkpoint. A querier takes its block references and its head querier
 * under blocks_mu, and a head querier holds the truncation lock shared, so a querier opened before the
 * block is published reads the whole range from the head (the truncation waits for it); one opened
 * after reads the block and the head, truncated or not (the merge querier drops duplicate samples).
 * A crash anywhere in between is safe: an unfinished block is a *.tmp-for-creation directory, deleted
 * at open; a finished one is loaded, and replay skips WAL samples older than the newest block's max
 * time, which the head's min_valid also refuses at runtime, so replay makes the same decisions. */
#include "tsdb/block.h"
#include "tsdb/compact.h"
#include "tsdb/tsdb_int.h"

#include "selfmon/selfmon.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

typedef struct metrics {
    selfmon_metric_t *head_series, *head_chunks, *appended, *ooo, *dup, *oob, *future, *wal_bytes, *fsync, *replay,
        *corrupt, *checkpoints, *refused_total, *refused_gate, *series_limit, *blocks, *compactions,
        *compactions_failed, *head_mint, *head_maxt, *compactions_kind[4], *vertical, *compaction_seconds,
        *time_retentions, *size_retentions, *blocks_bytes, *lowest_ts, *blocks_corrupt, *chunk_errors;
} metrics_t;

#define ZPOOL_MAX 8

struct tsdb_db {
    tsdb_options_t o;
    char *path;
    int lock_fd;
    tsdb__cstore_t *cstore;
    tsdb__head_t *head;
    tsdb__wal_t *wal; /* NULL in memory-only mode */
    pthread_mutex_t mem_commit; /* commit lock without a WAL */
    pthread_mutex_t ckpt_mu;
    pthread_t hk;
    bool hk_running, stop;
    pthread_mutex_t hk_mu;
    pthread_cond_t hk_cond;
    metrics_t m;
    tsdb__replay_stats_t rs;
    double replay_seconds;
    atomic_ullong checkpoints;
    atomic_ullong too_far_future; /* samples refused by max_future_ms since open */
    atomic_ullong refused_total, refused_gate; /* new series refused by max_series / a series gate */
    atomic_ullong max_series;                  /* o.max_series, or what tsdb_db_set_max_series set */
    atomic_bool wal_failed; /* health is degraded until a WAL write succeeds again */
    pthread_mutex_t zmu;    /* compression contexts kept for commits (a context per commit costs more
                               than compressing a scrape) */
    void *zpool[ZPOOL_MAX];
    size_t n_zpool;
    /* Blocks, sorted by mint. blocks_mu guards the array; a querier takes its block references and its
     * head querier under it (see the file comment). blocks_maxt only grows while the db is open. */
    pthread_mutex_t blocks_mu;
    tsdb__block_t **blocks;
    size_t n_blocks, cap_blocks;
    atomic_llong blocks_maxt; /* newest block's max time (exclusive); INT64_MIN: none */
    atomic_ullong blocks_corrupt, compactions, compactions_failed;
    uint64_t replay_skipped;  /* WAL samples replay skipped as already in blocks */
    pthread_mutex_t compact_mu; /* one head or block compaction at a time */
    int64_t ranges[TSDB_COMPACT_MAX_RANGES]; /* block compaction ranges (compact.h) */
    size_t n_ranges;
    uint64_t blocks_gen;        /* bumped when the block list changes (under blocks_mu) */
    uint64_t failed_gen;        /* blocks_gen when a block compaction last failed: not retried before
                                   the list changes (0: none failed) */
    atomic_ullong compactions_kind[4]; /* by tsdb_plan_kind_t (TSDB_PLAN_NONE: head compactions) */
    atomic_ullong time_retentions, size_retentions, retained_away, parents_removed;
    atomic_ullong chunk_errors; /* corrupt block chunks met by queries (blocks count into it) */
    uint64_t chunk_errors_seen; /* what the metric has been told */
    char corrupt_block[32], corrupt_reason[256]; /* last block set aside at open */
    pthread_t compactor;
    bool compactor_running;
    atomic_bool closing; /* close has begun: a compaction in progress stops after its current block */
    tsdb__dels_t *dels;  /* pending head deletions (admin.c) */
};

void tsdb_options_default(tsdb_options_t *o) {
    memset(o, 0, sizeof *o);
    o->retention_ms = INT64_C(15) * 24 * 3600 * 1000;
    o->fsync = TSDB_FSYNC_INTERVAL;
    o->fsync_interval_ms = 1000;
    o->wal_segment_bytes = 64u << 20;
    o->wal_compression = true;
    o->checkpoint_segments = 8;
    o->out_of_bounds_ms = 3600 * 1000;
    o->max_future_ms = 10 * 60 * 1000;
    o->wal_repair = true;
    o->mmap_chunks = true;
    o->chunk_file_bytes = 128u << 20;
    o->limits = MODEL_LIMITS_DEFAULT;
    o->register_metrics = true;
    o->block_duration_ms = INT64_C(2) * 3600 * 1000;
    o->block_chunk_encoding = TSDB_BLOCK_CHUNKS_DENSE;
}

static void m_add(selfmon_metric_t *m, double v) {
    if (m && v > 0) selfmon_counter_add(m, v);
}
static void m_set(selfmon_metric_t *m, double v) {
    if (m) selfmon_gauge_set(m, v);
}

static void register_metrics(metrics_t *m) {
    selfmon_registry_t *r = selfmon_default();
    static const double fsync_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
#define MET(f) ((f) ? selfmon_metric(f) : NULL)
    m->head_series = MET(selfmon_gauge(r, "vigil_head_series", "Series in the storage head.", 0, NULL));
    m->head_chunks = MET(selfmon_gauge(r, "vigil_head_chunks", "Full chunks held by the storage head.", 0, NULL));
    m->appended = MET(selfmon_counter(r, "vigil_samples_appended_total", "Samples appended to storage.", 0, NULL));
    m->ooo = MET(selfmon_counter(r, "vigil_samples_out_of_order_total",
                                 "Samples rejected because they were older than the series' newest sample.", 0, NULL));
    m->dup = MET(selfmon_counter(r, "vigil_samples_duplicate_total",
                                 "Samples rejected for a timestamp already stored with another value.", 0, NULL));
    m->oob = MET(selfmon_counter(r, "vigil_samples_out_of_bounds_total",
                                 "Samples rejected as older than the head accepts.", 0, NULL));
    m->future = MET(selfmon_counter(r, "vigil_samples_too_far_future_total",
                                    "Samples rejected as further ahead of the server's clock than limits.max_future.", 0, NULL));
    m->wal_bytes = MET(selfmon_counter(r, "vigil_wal_bytes_total", "Bytes written to the write-ahead log.", 0, NULL));
    m->fsync = MET(selfmon_histogram(r, "vigil_wal_fsync_duration_seconds", "Duration of WAL fsyncs.", 0, NULL,
                                     sizeof fsync_buckets / sizeof fsync_buckets[0], fsync_buckets));
    m->replay = MET(selfmon_gauge(r, "vigil_wal_replay_duration_seconds", "Time the last WAL replay took.", 0, NULL));
    m->corrupt = MET(selfmon_counter(r, "vigil_wal_corruptions_total",
                                     "Corrupt WAL records skipped or torn tails dropped during replay.", 0, NULL));
    m->checkpoints = MET(selfmon_counter(r, "vigil_wal_checkpoints_total", "WAL checkpoints written.", 0, NULL));
    static const char *const reason_label[] = {"reason"};
    selfmon_family_t *refused =
        selfmon_counter(r, "vigil_series_refused_total",
                        "New series refused on any ingest path: reason=\"global\" by the server-wide cap "
                        "(limits.max_series_total), reason=\"tenant\" by a tenant's limits.max_series.",
                        1, reason_label);
    m->refused_total = refused ? selfmon_with(refused, (const char *const[]){"global"}) : NULL;
    m->refused_gate = refused ? selfmon_with(refused, (const char *const[]){"tenant"}) : NULL;
    m->series_limit = MET(selfmon_gauge(r, "vigil_head_series_limit",
                                        "Series the storage head creates at most (limits.max_series_total; 0: no cap).",
                                        0, NULL));
    m->blocks = MET(selfmon_gauge(r, "vigil_tsdb_blocks_loaded", "Persistent blocks currently loaded.", 0, NULL));
    static const char *const kind_label[] = {"kind"};
    selfmon_family_t *comp = selfmon_counter(
        r, "vigil_tsdb_compactions_total",
        "Compactions that wrote a block: kind=\"head\" from the head, \"level\" adjacent blocks into a larger "
        "range, \"vertical\" overlapping blocks, \"tombstone\" a block rewritten without deleted samples.",
        1, kind_label);
    m->compactions = comp ? selfmon_with(comp, (const char *const[]){"head"}) : NULL;
    m->compactions_kind[TSDB_PLAN_LEVEL] = comp ? selfmon_with(comp, (const char *const[]){"level"}) : NULL;
    m->compactions_kind[TSDB_PLAN_VERTICAL] = comp ? selfmon_with(comp, (const char *const[]){"vertical"}) : NULL;
    m->compactions_kind[TSDB_PLAN_TOMBSTONES] = comp ? selfmon_with(comp, (const char *const[]){"tombstone"}) : NULL;
    m->vertical = MET(selfmon_counter(r, "vigil_tsdb_vertical_compactions_total",
                                      "Compactions of blocks with overlapping time ranges.", 0, NULL));
    m->compactions_failed = MET(selfmon_counter(r, "vigil_tsdb_compactions_failed_total",
                                                "Compactions that failed (the head or the parent blocks keep the data).",
                                                0, NULL));
    static const double comp_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
    m->compaction_seconds = MET(selfmon_histogram(r, "vigil_tsdb_compaction_duration_seconds",
                                                  "Duration of compactions that wrote a block (head and blocks).", 0,
                                                  NULL, sizeof comp_buckets / sizeof comp_buckets[0], comp_buckets));
    m->time_retentions = MET(selfmon_counter(r, "vigil_tsdb_time_retentions_total",
                                             "Times blocks were deleted because they fell out of storage.retention.",
                                             0, NULL));
    m->size_retentions = MET(selfmon_counter(
        r, "vigil_tsdb_size_retentions_total",
        "Times blocks were deleted because storage took more than storage.retention_size.", 0, NULL));
    m->blocks_bytes = MET(selfmon_gauge(r, "vigil_tsdb_storage_blocks_bytes",
                                        "Bytes on disk of the loaded blocks (index, chunks, meta.json, tombstones).",
                                        0, NULL));
    m->lowest_ts = MET(selfmon_gauge(r, "vigil_tsdb_lowest_timestamp",
                                     "Oldest timestamp stored, in blocks or the head (ms; 0 when empty).", 0, NULL));
    m->blocks_corrupt = MET(selfmon_gauge(r, "vigil_tsdb_blocks_corrupt",
                                          "Block directories set aside at the last start as unreadable (<ULID>.corrupt).",
                                          0, NULL));
    m->chunk_errors = MET(selfmon_counter(r, "vigil_tsdb_block_chunk_errors_total",
                                          "Corrupt block chunks met by queries (the query fails with an error naming "
                                          "the block).",
                                          0, NULL));
    m->head_mint = MET(selfmon_gauge(r, "vigil_tsdb_head_min_time",
                                     "Oldest sample timestamp in the head (ms; 0 when empty).", 0, NULL));
    m->head_maxt = MET(selfmon_gauge(r, "vigil_tsdb_head_max_time",
                                     "Newest sample timestamp in the head (ms; 0 when empty).", 0, NULL));
#undef MET
}

static void on_fsync(void *ctx, double s) {
    tsdb_db_t *db = ctx;
    if (db->m.fsync) selfmon_histogram_observe(db->m.fsync, s);
}

/* ---- replay ---- */

static int rp_series(void *ctx, uint64_t ref, const model_label_t *l, size_t n) {
    tsdb_db_t *db = ctx;
    model_label_t tmp[1024];
    if (n > 1024) return VG_ECORRUPT;
    if (n) memcpy(tmp, l, n * sizeof *l);
    size_t k = n;
    vg_error_t err;
    if (model_labels_normalize(tmp, &k, NULL, &err) != 0) return VG_ECORRUPT;
    tsdb__series_t *s;
    bool created;
    /* no cap: what the WAL holds was accepted once */
    int rc = tsdb__head_get_or_create(db->head, tmp, k, model_labels_hash(tmp, k), ref, 0, NULL, NULL, &s, &created);
    if (rc == VG_EEXIST || rc == VG_ECORRUPT) return VG_ECORRUPT; /* the ref names other labels, or is too big */
    if (rc) return rc;
    atomic_store(&s->logged, 1);
    return 0;
}

static int rp_sample(void *ctx, uint64_t ref, int64_t t, uint64_t v) {
    tsdb_db_t *db = ctx;
    if (t < atomic_load_explicit(&db->blocks_maxt, memory_order_relaxed)) { /* a block holds it */
        db->replay_skipped++;
        return 0;
    }
    tsdb__series_t *s = tsdb__head_by_ref(db->head, ref);
    if (!s) {
        db->rs.unknown_refs++;
        return 0;
    }
    /* Replay is single-threaded and the head is not published yet: no series lock needed. */
    int rc = tsdb__series_append_locked(db->head, s, t, v);
    db->rs.samples++;
    return rc < 0 ? rc : 0; /* rejections replay as they happened the first time */
}

static int rp_chunk(void *ctx, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc, uint8_t flags, const uint8_t *data,
                    uint32_t len) {
    tsdb_db_t *db = ctx;
    if (maxt < atomic_load_explicit(&db->blocks_maxt, memory_order_relaxed)) { /* a block holds it */
        db->replay_skipped += enc == TSDB_ENC_XOR ? tsdb_xor_num_samples(data, len) : (len ? data[0] : 0);
        return 0;
    }
    tsdb__series_t *s = tsdb__head_by_ref(db->head, ref);
    if (!s) {
        db->rs.unknown_refs++;
        return 0;
    }
    pthread_mutex_t *mu = tsdb__series_lock(db->head, s);
    pthread_mutex_lock(mu);
    int rc = tsdb__series_add_chunk_locked(db->head, s, mint, maxt, enc, data, len, flags & TSDB__CHUNK_OPEN,
                                           flags & TSDB__CHUNK_NEWEST);
    pthread_mutex_unlock(mu);
    db->rs.samples += enc == TSDB_ENC_XOR ? tsdb_xor_num_samples(data, len) : (len ? data[0] : 0);
    return rc;
}

/* ---- checkpoint ---- */

typedef struct ckpt {
    tsdb_db_t *db;
    int64_t bmax; /* blocks_maxt when the checkpoint started */
    tsdb__series_t **v;
    size_t n, cap, next;
} ckpt_t;

static int ck_collect(void *ctx, tsdb__series_t *s) {
    ckpt_t *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        tsdb__series_t **nv = VG_FAULT_ALLOC_FAILS() ? NULL : realloc(c->v, nc * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = s;
    return 0;
}

/* Emits up to 512 series per call: one series record, then their chunk records. The open chunk goes
 * out flagged "open" so replay resumes appending to it; without one, the newest full chunk is flagged
 * "newest" so replay knows the last value. Chunks that end before the newest block's max time are in
 * blocks and left out (a chunk crossing it goes out whole; the merge querier reads its overlap once). */
static int ck_emit(void *ctx, tsdb__recbuf_t *b) {
    ckpt_t *c = ctx;
    tsdb__head_t *h = c->db->head;
    size_t end = c->next + 512 < c->n ? c->next + 512 : c->n;
    tsdb__rec_begin(b, TSDB__REC_SERIES);
    for (size_t i = c->next; i < end; i++) {
        tsdb__series_t *s = c->v[i];
        if (atomic_load(&s->logged)) tsdb__rec_series(b, s->ref, s->labels, s->n_labels);
    }
    tsdb__rec_end(b);
    for (size_t i = c->next; i < end; i++) {
        tsdb__series_t *s = c->v[i];
        if (!atomic_load(&s->logged)) continue;
        pthread_mutex_t *mu = tsdb__series_lock(h, s);
        pthread_mutex_lock(mu);
        for (uint32_t k = 0; k < s->n_chunks; k++) {
            const tsdb__chunk_t *ch = &s->chunks[k];
            if (ch->maxt < c->bmax) continue;
            uint8_t fl = !s->open.n && k + 1 == s->n_chunks ? TSDB__CHUNK_NEWEST : 0;
            tsdb__rec_chunk(b, s->ref, ch->mint, ch->maxt, ch->enc, fl, ch->data, ch->len);
        }
        if (s->open.n)
            tsdb__rec_chunk(b, s->ref, tsdb__open_mint(s), s->open.t, TSDB_ENC_XOR, TSDB__CHUNK_OPEN, s->open.buf,
                            (uint32_t)tsdb_xor_enc_len(&s->open));
        pthread_mutex_unlock(mu);
    }
    c->next = end;
    return c->next >= c->n ? 1 : 0;
}

/* Under blocks_mu. */
static void set_block_metrics(tsdb_db_t *db) {
    m_set(db->m.blocks, (double)db->n_blocks);
    uint64_t bytes = 0;
    for (size_t i = 0; i < db->n_blocks; i++) bytes += tsdb__block_bytes(db->blocks[i]);
    m_set(db->m.blocks_bytes, (double)bytes);
    db->blocks_gen++;
}

static uint64_t dir_bytes(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    uint64_t n = 0;
    struct dirent *e;
    char p[4200];
    struct stat st;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0) continue;
        n += S_ISDIR(st.st_mode) ? dir_bytes(p) : (uint64_t)st.st_size;
    }
    closedir(d);
    return n;
}

/* Bytes of the WAL and the head chunk files: what size retention counts besides the blocks. */
static uint64_t head_disk_bytes(tsdb_db_t *db) {
    if (!db->path) return 0;
    char p[4200];
    snprintf(p, sizeof p, "%s/wal", db->path);
    uint64_t n = dir_bytes(p);
    snprintf(p, sizeof p, "%s/chunks_head", db->path);
    return n + dir_bytes(p);
}

static int cmp_block_mint_desc(const void *a, const void *b) {
    int64_t x = tsdb__block_meta(*(tsdb__block_t *const *)a)->mint, y = tsdb__block_meta(*(tsdb__block_t *const *)b)->mint;
    return x > y ? -1 : x < y;
}

/* Block retention, as Prometheus applies it, over the blocks newest first (by min time):
 * - time: from the first block whose max time is more than retention_ms older than the reference,
 *   that block and every older one go. The reference is the newest block's max time, or the head's
 *   max time when that is newer (so an idle head keeps its blocks and a restored backup does not
 *   bring back data the head has moved past);
 * - size: the WAL and head chunk files are counted first, then blocks newest first; from the first
 *   block that takes the total past retention_bytes, it and every older one go.
 * Deleted blocks leave the list at once; their directories go when the last querier lets go.
 * Returns the number of blocks deleted. */
static size_t block_retention(tsdb_db_t *db) {
    if (db->o.retention_ms <= 0 && !db->o.retention_bytes) return 0;
    uint64_t head_bytes = db->o.retention_bytes ? head_disk_bytes(db) : 0;
    int64_t hmax = atomic_load(&db->head->maxt);
    pthread_mutex_lock(&db->blocks_mu);
    size_t n = db->n_blocks, cut = n; /* blocks[cut..] of the newest-first order go */
    tsdb__block_t **v = n ? malloc(n * sizeof *v) : NULL;
    bool by_time = false, by_size = false;
    if (v) {
        memcpy(v, db->blocks, n * sizeof *v);
        qsort(v, n, sizeof *v, cmp_block_mint_desc);
        int64_t ref = INT64_MIN;
        for (size_t i = 0; i < n; i++)
            if (tsdb__block_meta(v[i])->maxt > ref) ref = tsdb__block_meta(v[i])->maxt;
        if (hmax != INT64_MIN && hmax > ref) ref = hmax;
        for (size_t i = 0; db->o.retention_ms > 0 && i < n; i++) {
            int64_t age;
            if (!__builtin_sub_overflow(ref, tsdb__block_meta(v[i])->maxt, &age) && age > db->o.retention_ms) {
                cut = i, by_time = true;
                break;
            }
        }
        uint64_t total = head_bytes;
        for (size_t i = 0; db->o.retention_bytes && i < cut; i++) {
            total += tsdb__block_bytes(v[i]);
            if (total > db->o.retention_bytes) {
                cut = i, by_size = true, by_time = false;
                break;
            }
        }
    }
    size_t gone = 0;
    for (size_t i = cut; i < n; i++) {
        tsdb__block_t *b = v[i];
        const tsdb__block_meta_t *m = tsdb__block_meta(b);
        vg_log_info("tsdb", "block deleted by retention", VG_LS("block", m->ulid), VG_LI("mint", m->mint),
                    VG_LI("maxt", m->maxt), VG_LS("by", by_size ? "size" : "time"));
        for (size_t k = 0; k < db->n_blocks; k++)
            if (db->blocks[k] == b) {
                memmove(&db->blocks[k], &db->blocks[k + 1], (db->n_blocks - k - 1) * sizeof *db->blocks);
                db->n_blocks--;
                break;
            }
        tsdb__block_mark_deleted(b);
        tsdb__block_unref(b);
        gone++;
    }
    if (gone) set_block_metrics(db);
    pthread_mutex_unlock(&db->blocks_mu);
    free(v);
    if (by_time) atomic_fetch_add(&db->time_retentions, 1), m_add(db->m.time_retentions, 1);
    if (by_size) atomic_fetch_add(&db->size_retentions, 1), m_add(db->m.size_retentions, 1);
    atomic_fetch_add(&db->retained_away, gone);
    return gone;
}

static void apply_retention(tsdb_db_t *db) {
    block_retention(db);
    if (db->o.retention_ms <= 0) return;
    int64_t maxt = atomic_load(&db->head->maxt), mint = atomic_load(&db->head->mint);
    if (maxt == INT64_MIN) return;
    if (mint == INT64_MAX || maxt - mint <= db->o.retention_ms) return;
    tsdb__head_truncate(db->head, maxt - db->o.retention_ms);
}

int tsdb_db_checkpoint(tsdb_db_t *db, vg_error_t *err) {
    if (!db->wal) {
        apply_retention(db);
        return 0;
    }
    pthread_mutex_lock(&db->ckpt_mu);
    apply_retention(db);
    uint64_t t0 = vg_mono_ns();
    tsdb__wal_lock(db->wal);
    uint64_t closed;
    int rc = tsdb__wal_cut(db->wal, &closed, err);
    tsdb__wal_unlock(db->wal);
    if (rc == 0) {
        ckpt_t c = {.db = db, .bmax = atomic_load(&db->blocks_maxt)};
        pthread_rwlock_rdlock(&db->head->trunc_lock);
        rc = tsdb__head_each(db->head, ck_collect, &c);
        if (rc) vg_error_set(err, rc, "checkpoint: %s", vg_error_str(rc));
        else rc = tsdb__wal_checkpoint(db->wal, closed, ck_emit, &c, err);
        pthread_rwlock_unlock(&db->head->trunc_lock);
        free(c.v);
        if (rc == 0) {
            atomic_fetch_add(&db->checkpoints, 1);
            m_add(db->m.checkpoints, 1);
            vg_log_info("tsdb", "WAL checkpoint written", VG_LI("segment", closed), VG_LI("series", c.n),
                        VG_LF("seconds", (double)(vg_mono_ns() - t0) / 1e9));
        }
    }
    pthread_mutex_unlock(&db->ckpt_mu);
    if (rc) vg_log_error("tsdb", "WAL checkpoint failed", VG_LS("error", err ? err->msg : vg_error_str(rc)));
    return rc;
}

int tsdb_db_sync(tsdb_db_t *db, vg_error_t *err) { return db->wal ? tsdb__wal_sync(db->wal, err) : 0; }

/* Hands freed heap pages back to the kernel. glibc keeps what a burst freed (a query's series
 * buffers, the series and chunk references a head truncation dropped) in its arenas, resident,
 * and only trims the top of each heap by itself: after a query over 100k series the process stayed
 * at 3-5x its steady-state RSS (docs/performance.md, "Memory"). */
static void release_free_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* ---- blocks and head compaction ---- */

static int64_t floor_div(int64_t t, int64_t d) { return t / d - (t % d < 0); }

/* Inserts b (one reference, passed in) keeping the list sorted by mint. */
static int add_block(tsdb_db_t *db, tsdb__block_t *b) {
    pthread_mutex_lock(&db->blocks_mu);
    if (db->n_blocks == db->cap_blocks) {
        size_t nc = db->cap_blocks ? db->cap_blocks * 2 : 16;
        tsdb__block_t **nv = realloc(db->blocks, nc * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&db->blocks_mu);
            return VG_ENOMEM;
        }
        db->blocks = nv;
        db->cap_blocks = nc;
    }
    const tsdb__block_meta_t *m = tsdb__block_meta(b);
    size_t i = db->n_blocks;
    while (i > 0 && tsdb__block_meta(db->blocks[i - 1])->mint > m->mint) {
        db->blocks[i] = db->blocks[i - 1];
        i--;
    }
    db->blocks[i] = b;
    db->n_blocks++;
    tsdb__block_set_error_counter(b, &db->chunk_errors);
    if (m->maxt > atomic_load(&db->blocks_maxt)) atomic_store(&db->blocks_maxt, m->maxt);
    set_block_metrics(db);
    pthread_mutex_unlock(&db->blocks_mu);
    return 0;
}

/* Raises the head's min_valid to t (never lowers it). */
static void close_head_below(tsdb_db_t *db, int64_t t) {
    long long cur = atomic_load(&db->head->min_valid);
    while (t > cur && !atomic_compare_exchange_weak(&db->head->min_valid, &cur, t)) {
    }
}

/* One head compaction step: 1 when a block was written, 0 when none is due, <0 on failure (the head
 * keeps the data; the range stays closed to appends, as it would be by the time bound anyway). */
static int compact_once(tsdb_db_t *db, vg_error_t *err) {
    tsdb__head_t *h = db->head;
    const int64_t d = db->o.block_duration_ms;
    int64_t mint = atomic_load(&h->mint), maxt = atomic_load(&h->maxt), span;
    if (!db->wal || maxt == INT64_MIN || mint == INT64_MAX) return 0;
    if (__builtin_sub_overflow(maxt, mint, &span) || span <= d / 2 * 3) return 0;
    int64_t lo = floor_div(mint, d), bmax = atomic_load(&db->blocks_maxt), hi;
    if (bmax != INT64_MIN && floor_div(bmax, d) > lo) lo = floor_div(bmax, d); /* the head kept a chunk
                                                                                 crossing a block's end */
    if (__builtin_mul_overflow(lo + 1, d, &hi) || __builtin_mul_overflow(lo, d, &lo)) return 0;
    if (bmax > lo) lo = bmax;
    if (hi > maxt - d / 2) return 0; /* keep the newest half range appendable */
    uint64_t t0 = vg_mono_ns();
    close_head_below(db, hi);
    tsdb__block_meta_t meta;
    memset(&meta, 0, sizeof meta);
    int rc = tsdb__head_compact_range(h, db->path, lo, hi,
                                      db->o.block_chunk_encoding == TSDB_BLOCK_CHUNKS_XOR ? TSDB_ENC_XOR : TSDB_ENC_DENSE,
                                      &meta, err);
    if (rc == VG_ENOTFOUND) { /* retention took the range meanwhile: nothing to write */
        tsdb__head_truncate(h, hi);
        return 0;
    }
    char dir[4096];
    tsdb__block_t *b = NULL;
    if (rc == 0) {
        snprintf(dir, sizeof dir, "%s/%s", db->path, meta.ulid);
        if ((rc = tsdb__block_open(dir, &b, err)) != 0) {
            vg_error_t e2;
            vg_fs_remove_all(dir, &e2); /* a restart must not find a block the head still holds */
        } else if ((rc = tsdb__dels_apply_block(db->dels, &b, err)) != 0) { /* pending deletions: tombstones */
            tsdb__block_mark_deleted(b);
            tsdb__block_unref(b);
        } else if ((rc = add_block(db, b)) != 0) {
            vg_error_set(err, rc, "out of memory adding block %s", meta.ulid);
            tsdb__block_mark_deleted(b);
            tsdb__block_unref(b);
        }
    }
    if (rc) {
        atomic_fetch_add(&db->compactions_failed, 1);
        m_add(db->m.compactions_failed, 1);
        tsdb__block_meta_free(&meta);
        vg_log_error("tsdb", "head compaction failed", VG_LI("mint", lo), VG_LI("maxt", hi),
                     VG_LS("error", err ? err->msg : vg_error_str(rc)));
        return rc;
    }
    tsdb__head_truncate(h, hi);
    release_free_memory();
    atomic_fetch_add(&db->compactions, 1);
    m_add(db->m.compactions, 1);
    if (db->m.compaction_seconds) selfmon_histogram_observe(db->m.compaction_seconds, (double)(vg_mono_ns() - t0) / 1e9);
    vg_log_info("tsdb", "head compacted into a block", VG_LS("block", meta.ulid), VG_LI("mint", lo),
                VG_LI("maxt", hi), VG_LI("series", meta.n_series), VG_LI("samples", meta.n_samples),
                VG_LI("chunks", meta.n_chunks), VG_LF("seconds", (double)(vg_mono_ns() - t0) / 1e9));
    tsdb__block_meta_free(&meta);
    vg_error_t cerr;
    /* a failed checkpoint loses nothing: replay skips what the block holds */
    tsdb_db_checkpoint(db, &cerr);
    return 1;
}

static const char *const plan_names[] = {"none", "vertical", "level", "tombstone"};

/* Replaces the parents p[0..n) in the block list by child (NULL: nothing left of them). Fails (false)
 * when retention took a parent meanwhile: the child would bring its data back. */
static bool swap_blocks(tsdb_db_t *db, tsdb__block_t *const *p, size_t n, tsdb__block_t *child) {
    pthread_mutex_lock(&db->blocks_mu);
    size_t found = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < db->n_blocks; k++) found += db->blocks[k] == p[i];
    bool ok = found == n;
    if (ok) {
        size_t k = 0;
        for (size_t i = 0; i < db->n_blocks; i++) {
            bool parent = false;
            for (size_t j = 0; j < n; j++) parent |= db->blocks[i] == p[j];
            if (parent) {
                tsdb__block_mark_deleted(db->blocks[i]);
                tsdb__block_unref(db->blocks[i]); /* the list's reference; the caller holds another */
            } else {
                db->blocks[k++] = db->blocks[i];
            }
        }
        db->n_blocks = k; /* room for the child: n >= 1 entries were freed */
        if (child) {
            const tsdb__block_meta_t *m = tsdb__block_meta(child);
            size_t i = db->n_blocks;
            while (i > 0 && tsdb__block_meta(db->blocks[i - 1])->mint > m->mint) {
                db->blocks[i] = db->blocks[i - 1];
                i--;
            }
            db->blocks[i] = child;
            db->n_blocks++;
            tsdb__block_set_error_counter(child, &db->chunk_errors);
        }
        set_block_metrics(db);
    }
    pthread_mutex_unlock(&db->blocks_mu);
    return ok;
}

/* One block compaction as the planner decides: 1 when blocks were compacted, 0 when none is due,
 * <0 on failure (the parents stay; not retried until the block list changes). */
static int compact_blocks_once(tsdb_db_t *db, vg_error_t *err) {
    if (!db->wal) return 0;
    pthread_mutex_lock(&db->blocks_mu);
    size_t n = db->n_blocks;
    if (n < 2 || db->failed_gen == db->blocks_gen) {
        pthread_mutex_unlock(&db->blocks_mu);
        return 0;
    }
    tsdb__block_t **v = malloc(n * sizeof *v), **p = malloc(n * sizeof *p);
    const tsdb__block_meta_t **m = malloc(n * sizeof *m);
    size_t *sel = malloc(n * sizeof *sel);
    if (!v || !p || !m || !sel) {
        pthread_mutex_unlock(&db->blocks_mu);
        free(v), free(p), free(m), free(sel);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = db->blocks[i];
        m[i] = tsdb__block_meta(v[i]);
    }
    uint64_t gen = db->blocks_gen;
    size_t n_sel = 0;
    tsdb_plan_kind_t kind = tsdb__compact_plan(m, n, db->ranges, db->n_ranges, sel, &n_sel);
    for (size_t i = 0; i < n_sel; i++) {
        p[i] = v[sel[i]];
        tsdb__block_ref(p[i]);
    }
    pthread_mutex_unlock(&db->blocks_mu);
    int rc = 0;
    if (kind != TSDB_PLAN_NONE) {
        uint64_t t0 = vg_mono_ns();
        tsdb__block_meta_t meta;
        tsdb__compact_stats_t st;
        tsdb__block_t *child = NULL;
        uint8_t enc = db->o.block_chunk_encoding == TSDB_BLOCK_CHUNKS_XOR ? TSDB_ENC_XOR : TSDB_ENC_DENSE;
        rc = tsdb__compact_blocks(p, n_sel, db->path, enc, &meta, &st, err);
        bool have_meta = rc == 0;
        char dir[4096];
        if (rc == 0) {
            snprintf(dir, sizeof dir, "%s/%s", db->path, meta.ulid);
            if ((rc = tsdb__block_open(dir, &child, err)) != 0) {
                vg_error_t e2;
                vg_fs_remove_all(dir, &e2); /* its parents stay: it must not come back at a restart */
            }
        }
        if (rc == 0 || rc == VG_ENOTFOUND) {
            if (!swap_blocks(db, p, n_sel, child)) {
                vg_log_info("tsdb", "compacted block discarded: retention deleted a parent meanwhile",
                            VG_LS("block", rc == 0 ? meta.ulid : "(none)"));
                if (child) tsdb__block_mark_deleted(child), tsdb__block_unref(child);
            } else {
                atomic_fetch_add(&db->compactions_kind[kind], 1);
                m_add(db->m.compactions_kind[kind], 1);
                if (kind == TSDB_PLAN_VERTICAL) m_add(db->m.vertical, 1);
                double secs = (double)(vg_mono_ns() - t0) / 1e9;
                if (db->m.compaction_seconds) selfmon_histogram_observe(db->m.compaction_seconds, secs);
                vg_log_info("tsdb", "blocks compacted", VG_LS("kind", plan_names[kind]), VG_LI("parents", n_sel),
                            VG_LS("block", rc == 0 ? meta.ulid : "(nothing left)"), VG_LI("level", rc == 0 ? meta.level : 0),
                            VG_LI("mint", rc == 0 ? meta.mint : 0), VG_LI("maxt", rc == 0 ? meta.maxt : 0),
                            VG_LI("series", st.series), VG_LI("samples", st.samples),
                            VG_LI("chunks_copied", st.chunks_copied), VG_LI("series_merged", st.series_merged),
                            VG_LI("duplicates", st.duplicates), VG_LF("seconds", secs));
            }
            rc = 1;
        } else {
            atomic_fetch_add(&db->compactions_failed, 1);
            m_add(db->m.compactions_failed, 1);
            pthread_mutex_lock(&db->blocks_mu);
            db->failed_gen = gen;
            pthread_mutex_unlock(&db->blocks_mu);
            vg_log_error("tsdb", "block compaction failed; the parent blocks stay", VG_LS("kind", plan_names[kind]),
                         VG_LS("error", err ? err->msg : vg_error_str(rc)));
        }
        if (have_meta) tsdb__block_meta_free(&meta);
    }
    for (size_t i = 0; i < n_sel; i++) tsdb__block_unref(p[i]);
    free(v), free(p), free(m), free(sel);
    return rc;
}

int tsdb_db_compact(tsdb_db_t *db, vg_error_t *err) {
    pthread_mutex_lock(&db->compact_mu);
    int rc = 0, n = 0;
    /* a head range, then a block step: a head fed faster than it is compacted must not starve the
     * blocks (Prometheus finishes the head first) */
    while (!atomic_load(&db->closing)) {
        int h = compact_once(db, err), b = h < 0 ? 0 : compact_blocks_once(db, err);
        if (h < 0 || b < 0) {
            rc = h < 0 ? h : b;
            break;
        }
        if (h + b == 0) break;
        n += h + b;
    }
    if (db->wal) block_retention(db);
    pthread_mutex_unlock(&db->compact_mu);
    return rc < 0 ? rc : n;
}

static void *compactor(void *arg) {
    tsdb_db_t *db = arg;
    pthread_mutex_lock(&db->hk_mu);
    while (!db->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&db->hk_cond, &db->hk_mu, &ts);
        if (db->stop) break;
        pthread_mutex_unlock(&db->hk_mu);
        vg_error_t err;
        tsdb_db_compact(db, &err);
        pthread_mutex_lock(&db->hk_mu);
    }
    pthread_mutex_unlock(&db->hk_mu);
    return NULL;
}

static bool is_ulid(const char *s) {
    if (strlen(s) != TSDB_ULID_LEN) return false;
    for (; *s; s++)
        if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", *s)) return false;
    return true;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int cmp_block(const void *a, const void *b) {
    int64_t x = tsdb__block_meta(*(tsdb__block_t *const *)a)->mint, y = tsdb__block_meta(*(tsdb__block_t *const *)b)->mint;
    return x < y ? -1 : x > y;
}

typedef struct failed {
    char name[TSDB_ULID_LEN + 1];
    char msg[VG_ERROR_MSG_MAX];
} failed_t;

static bool is_parent(tsdb_db_t *db, const char *ulid) {
    for (size_t i = 0; i < db->n_blocks; i++) {
        const tsdb__block_meta_t *m = tsdb__block_meta(db->blocks[i]);
        for (size_t k = 0; k < m->n_parents; k++)
            if (!strcmp(m->parents[k], ulid)) return true;
    }
    return false;
}

/* Opens the blocks of the data directory:
 * - leftovers of a block being written (*.tmp-for-creation) or removed (*.tmp-for-deletion) when the
 *   process died are deleted;
 * - a block listed as a parent of another loaded block is deleted, readable or not, as Prometheus
 *   does: a crash came after the compacted block's rename and before its parents went;
 * - any other block that does not open (corrupt or incomplete) is renamed <ulid>.corrupt, logged and
 *   counted, and the others are loaded.
 * Fails only when out of memory or when the directory cannot be read. */
static int load_blocks(tsdb_db_t *db, vg_error_t *err) {
    DIR *d = opendir(db->path);
    if (!d) return vg_error_set(err, VG_EIO, "%s: cannot list: %s", db->path, strerror(errno));
    int rc = 0;
    struct dirent *e;
    char p[4096];
    failed_t *bad = NULL;
    size_t n_bad = 0;
    while (rc == 0 && (e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", db->path, e->d_name);
        vg_error_t e2;
        if (has_suffix(e->d_name, ".tmp-for-creation") || has_suffix(e->d_name, ".tmp-for-deletion")) {
            vg_log_warn("tsdb", "removing a block directory left half written or half removed by a crash",
                        VG_LS("dir", p));
            vg_fs_remove_all(p, &e2);
            continue;
        }
        if (!is_ulid(e->d_name)) continue;
        tsdb__block_t *b;
        int r = tsdb__block_open(p, &b, &e2);
        if (r == VG_ENOMEM) {
            rc = vg_error_set(err, r, "opening block %s: out of memory", p);
        } else if (r) {
            failed_t *nb = realloc(bad, (n_bad + 1) * sizeof *bad);
            if (!nb) {
                rc = vg_error_set(err, VG_ENOMEM, "out of memory");
                break;
            }
            bad = nb;
            vg_strlcpy(bad[n_bad].name, e->d_name, sizeof bad[n_bad].name);
            vg_strlcpy(bad[n_bad].msg, e2.msg, sizeof bad[n_bad].msg);
            n_bad++;
        } else if ((rc = add_block(db, b)) != 0) {
            vg_error_set(err, rc, "out of memory");
            tsdb__block_unref(b);
        }
    }
    closedir(d);
    /* parents of a loaded block: their data is in it (decided for all before any is released) */
    bool *gone = rc == 0 && db->n_blocks ? calloc(db->n_blocks, sizeof *gone) : NULL;
    if (rc == 0 && db->n_blocks && !gone) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; gone && i < db->n_blocks; i++) gone[i] = is_parent(db, tsdb__block_meta(db->blocks[i])->ulid);
    size_t k = 0;
    for (size_t i = 0; gone && i < db->n_blocks; i++) {
        tsdb__block_t *b = db->blocks[i];
        if (!gone[i]) {
            db->blocks[k++] = b;
            continue;
        }
        vg_log_warn("tsdb", "deleting a block already compacted into another (a crash interrupted the compaction)",
                    VG_LS("block", tsdb__block_meta(b)->ulid));
        tsdb__block_mark_deleted(b);
        tsdb__block_unref(b);
        atomic_fetch_add(&db->parents_removed, 1);
    }
    if (gone) db->n_blocks = k;
    free(gone);
    for (size_t i = 0; rc == 0 && i < n_bad; i++) {
        snprintf(p, sizeof p, "%s/%s", db->path, bad[i].name);
        vg_error_t e3;
        if (is_parent(db, bad[i].name)) {
            vg_log_warn("tsdb", "deleting an unreadable block already compacted into another", VG_LS("dir", p),
                        VG_LS("error", bad[i].msg));
            vg_fs_remove_all(p, &e3);
            atomic_fetch_add(&db->parents_removed, 1);
            continue;
        }
        char to[4200];
        snprintf(to, sizeof to, "%s.corrupt", p);
        vg_fs_remove_all(to, &e3);
        bool moved = rename(p, to) == 0;
        vg_log_error("tsdb", "unreadable block set aside", VG_LS("dir", p), VG_LS("error", bad[i].msg),
                     VG_LS("moved_to", moved ? to : "(rename failed; left in place)"));
        atomic_fetch_add(&db->blocks_corrupt, 1);
        vg_strlcpy(db->corrupt_block, bad[i].name, sizeof db->corrupt_block);
        vg_strlcpy(db->corrupt_reason, bad[i].msg, sizeof db->corrupt_reason);
    }
    free(bad);
    if (rc == 0 && db->n_blocks > 1) qsort(db->blocks, db->n_blocks, sizeof *db->blocks, cmp_block);
    set_block_metrics(db);
    m_set(db->m.blocks_corrupt, (double)atomic_load(&db->blocks_corrupt));
    if (rc == 0 && db->n_blocks)
        vg_log_info("tsdb", "blocks loaded", VG_LI("blocks", db->n_blocks),
                    VG_LI("maxt", atomic_load(&db->blocks_maxt)), VG_LI("set_aside", atomic_load(&db->blocks_corrupt)));
    return rc;
}

/* The oldest timestamp stored: the oldest block's min time, else the head's (INT64_MAX: none). */
static int64_t lowest_time(tsdb_db_t *db) {
    int64_t lo = atomic_load(&db->head->mint);
    pthread_mutex_lock(&db->blocks_mu);
    if (db->n_blocks && tsdb__block_meta(db->blocks[0])->mint < lo) lo = tsdb__block_meta(db->blocks[0])->mint;
    pthread_mutex_unlock(&db->blocks_mu);
    return lo;
}

static void set_time_metrics(tsdb_db_t *db) {
    int64_t mint = atomic_load(&db->head->mint), maxt = atomic_load(&db->head->maxt), lo = lowest_time(db);
    m_set(db->m.head_mint, mint == INT64_MAX ? 0 : (double)mint);
    m_set(db->m.head_maxt, maxt == INT64_MIN ? 0 : (double)maxt);
    m_set(db->m.lowest_ts, lo == INT64_MAX ? 0 : (double)lo);
    /* corrupt chunks the block queriers met since the last tick */
    uint64_t n = atomic_load(&db->chunk_errors);
    if (n != db->chunk_errors_seen) {
        m_add(db->m.chunk_errors, (double)(n - db->chunk_errors_seen));
        db->chunk_errors_seen = n;
        char msg[160];
        snprintf(msg, sizeof msg, "%llu corrupt block chunks met by queries (see log)", (unsigned long long)n);
        selfmon_health_set("storage", SELFMON_DEGRADED, msg);
    }
}

static void *housekeeping(void *arg) {
    tsdb_db_t *db = arg;
    int64_t tick = db->o.fsync == TSDB_FSYNC_INTERVAL && db->o.fsync_interval_ms > 0 ? db->o.fsync_interval_ms : 1000;
    if (tick > 1000) tick = 1000;
    uint64_t last_ret = vg_mono_ns(), last_trim = last_ret;
    pthread_mutex_lock(&db->hk_mu);
    while (!db->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(tick % 1000) * 1000000L;
        ts.tv_sec += (time_t)(tick / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&db->hk_cond, &db->hk_mu, &ts);
        if (db->stop) break;
        pthread_mutex_unlock(&db->hk_mu);
        vg_error_t err;
        if (db->wal && db->o.fsync == TSDB_FSYNC_INTERVAL) tsdb__wal_sync(db->wal, &err);
        if (db->wal && db->o.checkpoint_segments &&
            tsdb__wal_closed_since_checkpoint(db->wal) >= db->o.checkpoint_segments)
            tsdb_db_checkpoint(db, &err);
        else if (vg_mono_ns() - last_ret > UINT64_C(60) * 1000000000u) {
            apply_retention(db);
            last_ret = vg_mono_ns();
        }
        if (vg_mono_ns() - last_trim > UINT64_C(15) * 1000000000u) {
            release_free_memory();
            last_trim = vg_mono_ns();
        }
        m_set(db->m.head_series, (double)atomic_load(&db->head->n_series));
        m_set(db->m.head_chunks, (double)atomic_load(&db->head->n_chunks));
        set_time_metrics(db);
        pthread_mutex_lock(&db->hk_mu);
    }
    pthread_mutex_unlock(&db->hk_mu);
    return NULL;
}

int tsdb_db_open(const tsdb_options_t *opts, tsdb_db_t **out, vg_error_t *err) {
    *out = NULL;
    tsdb_db_t *db = calloc(1, sizeof *db);
    if (!db) return vg_error_set(err, VG_ENOMEM, "out of memory");
    db->o = *opts;
    db->lock_fd = -1;
    if (db->o.block_duration_ms < TSDB_BLOCK_DURATION_MIN_MS) {
        free(db);
        return vg_error_set(err, VG_EINVAL, "block duration %lldms is below the minimum of %dms",
                            (long long)opts->block_duration_ms, TSDB_BLOCK_DURATION_MIN_MS);
    }
    pthread_mutex_init(&db->mem_commit, NULL);
    pthread_mutex_init(&db->ckpt_mu, NULL);
    pthread_mutex_init(&db->hk_mu, NULL);
    pthread_mutex_init(&db->zmu, NULL);
    pthread_mutex_init(&db->blocks_mu, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    pthread_cond_init(&db->hk_cond, NULL);
    atomic_store(&db->blocks_maxt, INT64_MIN);
    db->n_ranges = tsdb__compact_ranges(db->o.block_duration_ms, db->o.retention_ms, db->ranges);
    if (db->o.register_metrics) register_metrics(&db->m);
    selfmon_health_set("storage", SELFMON_STARTING, "replaying WAL");
    int rc;
    char p[4096];
    if (opts->path) {
        if (!(db->path = strdup(opts->path))) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            goto fail;
        }
        db->o.path = db->path;
        if ((rc = vg_fs_mkdir_p(db->path, err)) != 0) goto fail;
        if ((rc = vg_fs_lock_dir(db->path, &db->lock_fd, err)) != 0) goto fail;
        int foreign;
        if ((rc = tsdb__set_aside_foreign(db->path, &foreign, err)) != 0) goto fail;
        if ((rc = load_blocks(db, err)) != 0) goto fail;
        snprintf(p, sizeof p, "%s/chunks_head", db->path);
    }
    if ((rc = tsdb__dels_open(db->path, &db->dels, err)) != 0) goto fail;
    if ((rc = tsdb__cstore_open(opts->path && opts->mmap_chunks ? p : NULL, opts->chunk_file_bytes, &db->cstore, err)) != 0)
        goto fail;
    if ((rc = tsdb__head_new(db->cstore, opts->out_of_bounds_ms, &db->head)) != 0) {
        vg_error_set(err, rc, "out of memory");
        goto fail;
    }
    db->head->chunk_range_ms = db->o.block_duration_ms;
    atomic_store(&db->head->min_valid, atomic_load(&db->blocks_maxt)); /* blocks hold what is older */
    if (opts->path) {
        snprintf(p, sizeof p, "%s/wal", db->path);
        tsdb__rec_scratch_t scratch = {0};
        tsdb__rec_handler_t h = {.ctx = db, .scratch = &scratch, .series = rp_series, .sample = rp_sample, .chunk = rp_chunk};
        tsdb__replay_stats_t rs;
        uint64_t t0 = vg_mono_ns();
        db->rs = (tsdb__replay_stats_t){0};
        /* No time bound while replaying: a checkpoint can hold newer samples of other series than the
         * segments after it, and the bound must not reject what was accepted the first time. */
        db->head->oob_ms = 0;
        rc = tsdb__wal_open(p, &db->o, &h, &rs, &db->wal, err);
        tsdb__rec_scratch_free(&scratch);
        db->head->oob_ms = opts->out_of_bounds_ms;
        db->replay_seconds = (double)(vg_mono_ns() - t0) / 1e9;
        if (rc) goto fail;
        db->rs.records = rs.records;
        db->rs.corrupt = rs.corrupt;
        db->rs.torn = rs.torn;
        db->rs.first_segment = rs.first_segment;
        db->rs.last_segment = rs.last_segment;
        tsdb__wal_set_fsync_observer(db->wal, on_fsync, db);
        /* replay re-applied old decisions; the rejection counters describe this run only */
        atomic_store(&db->head->appended, 0);
        atomic_store(&db->head->ooo, 0);
        atomic_store(&db->head->dup, 0);
        atomic_store(&db->head->oob, 0);
        m_set(db->m.replay, db->replay_seconds);
        m_add(db->m.corrupt, (double)(rs.corrupt + rs.torn));
        vg_log_info("tsdb", "WAL replayed", VG_LI("series", atomic_load(&db->head->n_series)),
                    VG_LI("samples", db->rs.samples), VG_LI("records", rs.records), VG_LI("corrupt", rs.corrupt),
                    VG_LI("torn", rs.torn), VG_LI("unknown_refs", db->rs.unknown_refs),
                    VG_LI("skipped_in_blocks", db->replay_skipped), VG_LF("seconds", db->replay_seconds));
    }
    /* retention at open too: a restored backup must not bring back data past it */
    if (db->wal) block_retention(db);
    m_set(db->m.head_series, (double)atomic_load(&db->head->n_series));
    set_time_metrics(db);
    atomic_store(&db->max_series, db->o.max_series);
    m_set(db->m.series_limit, (double)db->o.max_series);
    if (db->o.max_series && atomic_load(&db->head->n_series) >= db->o.max_series)
        vg_log_warn("tsdb", "the head holds as many series as max_series or more: new series are refused until "
                            "retention drops some",
                    VG_LI("series", atomic_load(&db->head->n_series)), VG_LI("max_series", db->o.max_series));
    if (pthread_create(&db->hk, NULL, housekeeping, db) != 0) {
        rc = vg_error_set(err, VG_ENOMEM, "cannot start the storage housekeeping thread");
        goto fail;
    }
    db->hk_running = true;
    if (db->wal && !db->o.manual_compaction) {
        if (pthread_create(&db->compactor, NULL, compactor, db) != 0) {
            rc = vg_error_set(err, VG_ENOMEM, "cannot start the storage compaction thread");
            goto fail;
        }
        db->compactor_running = true;
    }
    if (atomic_load(&db->blocks_corrupt)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%llu unreadable block(s) set aside at startup; last: block %s (moved to %s.corrupt): %.300s",
                 (unsigned long long)atomic_load(&db->blocks_corrupt), db->corrupt_block, db->corrupt_block,
                 db->corrupt_reason);
        selfmon_health_set("storage", SELFMON_DEGRADED, msg);
    }
    else if (db->rs.corrupt)
        selfmon_health_set("storage", SELFMON_DEGRADED, "corrupt WAL records were skipped at startup (see log)");
    else
        selfmon_health_set("storage", SELFMON_UP, "");
    *out = db;
    return 0;
fail:
    selfmon_health_set("storage", SELFMON_DOWN, err ? err->msg : "open failed");
    tsdb_db_close(db);
    return rc;
}

void tsdb_db_close(tsdb_db_t *db) {
    if (!db) return;
    atomic_store(&db->closing, true);
    if (db->hk_running || db->compactor_running) {
        pthread_mutex_lock(&db->hk_mu);
        db->stop = true;
        pthread_cond_broadcast(&db->hk_cond);
        pthread_mutex_unlock(&db->hk_mu);
        if (db->hk_running) pthread_join(db->hk, NULL);
    }
    if (db->compactor_running) pthread_join(db->compactor, NULL); /* stop is set: it finishes its step */
    tsdb__wal_close(db->wal);
    for (size_t i = 0; i < db->n_blocks; i++) tsdb__block_unref(db->blocks[i]);
    free(db->blocks);
    tsdb__dels_free(db->dels);
    tsdb__head_free(db->head);
    tsdb__cstore_close(db->cstore);
    if (db->lock_fd >= 0) close(db->lock_fd);
    pthread_mutex_destroy(&db->mem_commit);
    pthread_mutex_destroy(&db->ckpt_mu);
    pthread_mutex_destroy(&db->hk_mu);
    for (size_t i = 0; i < db->n_zpool; i++) ZSTD_freeCCtx(db->zpool[i]);
    pthread_mutex_destroy(&db->zmu);
    pthread_mutex_destroy(&db->blocks_mu);
    pthread_mutex_destroy(&db->compact_mu);
    pthread_cond_destroy(&db->hk_cond);
    free(db->path);
    free(db);
}

uint64_t tsdb_db_count_series(tsdb_db_t *db, const char *name, const char *const *values, size_t n, int64_t since_ms) {
    return tsdb__head_count(db->head, name, values, n, since_ms);
}

void tsdb_db_set_max_series(tsdb_db_t *db, uint64_t max_series) {
    if (atomic_exchange(&db->max_series, max_series) != max_series)
        vg_log_info("tsdb", "series cap changed", VG_LI("max_series", max_series),
                    VG_LI("series", atomic_load(&db->head->n_series)));
    m_set(db->m.series_limit, (double)max_series);
}

void tsdb_db_stats(tsdb_db_t *db, tsdb_stats_t *o) {
    memset(o, 0, sizeof *o);
    tsdb__head_t *h = db->head;
    o->head_series = atomic_load(&h->n_series);
    o->head_chunks = atomic_load(&h->n_chunks);
    o->head_chunk_bytes = atomic_load(&h->chunk_bytes);
    o->samples_appended = atomic_load(&h->appended);
    o->samples_out_of_order = atomic_load(&h->ooo);
    o->samples_duplicate = atomic_load(&h->dup);
    o->samples_out_of_bounds = atomic_load(&h->oob);
    o->samples_too_far_future = atomic_load(&db->too_far_future);
    o->series_refused_total = atomic_load(&db->refused_total);
    o->series_refused_gate = atomic_load(&db->refused_gate);
    o->max_series = atomic_load(&db->max_series);
    o->head_mint = atomic_load(&h->mint);
    o->head_maxt = atomic_load(&h->maxt);
    if (db->wal) {
        o->wal_bytes = tsdb__wal_bytes(db->wal);
        o->wal_segments = tsdb__wal_segments(db->wal);
    }
    o->replay_samples = db->rs.samples;
    o->replay_seconds = db->replay_seconds;
    o->replay_first_segment = db->rs.first_segment;
    o->replay_last_segment = db->rs.last_segment;
    o->replay_corrupt_records = db->rs.corrupt + db->rs.torn;
    o->checkpoints = atomic_load(&db->checkpoints);
    o->replay_samples_skipped = db->replay_skipped;
    pthread_mutex_lock(&db->blocks_mu);
    o->blocks = db->n_blocks;
    for (size_t i = 0; i < db->n_blocks; i++) o->block_bytes += tsdb__block_bytes(db->blocks[i]);
    o->blocks_mint = db->n_blocks ? tsdb__block_meta(db->blocks[0])->mint : INT64_MAX;
    pthread_mutex_unlock(&db->blocks_mu);
    o->blocks_maxt = atomic_load(&db->blocks_maxt);
    o->blocks_corrupt = atomic_load(&db->blocks_corrupt);
    o->compactions = atomic_load(&db->compactions);
    o->compactions_failed = atomic_load(&db->compactions_failed);
    o->compactions_level = atomic_load(&db->compactions_kind[TSDB_PLAN_LEVEL]);
    o->compactions_vertical = atomic_load(&db->compactions_kind[TSDB_PLAN_VERTICAL]);
    o->compactions_tombstone = atomic_load(&db->compactions_kind[TSDB_PLAN_TOMBSTONES]);
    o->time_retentions = atomic_load(&db->time_retentions);
    o->size_retentions = atomic_load(&db->size_retentions);
    o->blocks_retained_away = atomic_load(&db->retained_away);
    o->parents_removed_at_open = atomic_load(&db->parents_removed);
    o->chunk_read_errors = atomic_load(&db->chunk_errors);
    o->storage_bytes = o->block_bytes + head_disk_bytes(db);
    vg_strlcpy(o->corrupt_block, db->corrupt_block, sizeof o->corrupt_block);
    vg_strlcpy(o->corrupt_reason, db->corrupt_reason, sizeof o->corrupt_reason);
}

/* ---- appender ---- */

typedef struct pending {
    tsdb__series_t *s;
    int64_t t;
    uint64_t v;
} pending_t;

typedef struct app {
    storage_appender_t base;
    tsdb_db_t *db;
    bool in_batch; /* holds the head's trunc_lock shared */
    int64_t max_t;  /* newest timestamp accepted in this batch (max_future_ms from the batch's start) */
    pending_t *p;
    size_t n, cap;
    model_label_t *scratch;
    size_t scratch_cap;
    tsdb__recbuf_t rb, rs, rz; /* samples, series, compressed samples */
    storage_series_gate_fn gate; /* asked before a series is created (NULL: none) */
    void *gate_ctx;
} app_t;

static void batch_begin(app_t *a) {
    if (!a->in_batch) {
        pthread_rwlock_rdlock(&a->db->head->trunc_lock);
        a->in_batch = true;
        a->max_t = a->db->o.max_future_ms > 0 ? vg_now_ms() + a->db->o.max_future_ms : INT64_MAX;
    }
}

static void batch_end(app_t *a) {
    a->n = 0;
    if (a->in_batch) {
        pthread_rwlock_unlock(&a->db->head->trunc_lock);
        a->in_batch = false;
    }
}

/* Counts and refuses a sample past the batch's max_t (checked before the series is looked up, so a
 * refused sample never creates a series). */
static int too_far_future(app_t *a) {
    atomic_fetch_add_explicit(&a->db->too_far_future, 1, memory_order_relaxed);
    m_add(a->db->m.future, 1);
    return STORAGE_REJECT_TOO_FAR_FUTURE;
}

static int add_pending(app_t *a, tsdb__series_t *s, int64_t t, double v, vg_error_t *err) {
    uint64_t vb;
    memcpy(&vb, &v, 8);
    int rc = tsdb__head_check(a->db->head, s, t, vb);
    if (rc) {
        if (rc == STORAGE_REJECT_OUT_OF_ORDER) m_add(a->db->m.ooo, 1);
        else if (rc == STORAGE_REJECT_DUPLICATE) m_add(a->db->m.dup, 1);
        else m_add(a->db->m.oob, 1);
        return rc;
    }
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        pending_t *np = VG_FAULT_ALLOC_FAILS() ? NULL : realloc(a->p, nc * sizeof *np);
        if (!np) return vg_error_set(err, VG_ENOMEM, "out of memory");
        a->p = np;
        a->cap = nc;
    }
    a->p[a->n++] = (pending_t){s, t, vb};
    return 0;
}

static int app_append(storage_appender_t *base, const model_label_t *l, size_t n, int64_t t, double v, uint64_t *ref_out,
                      vg_error_t *err) {
    app_t *a = (app_t *)base;
    if (ref_out) *ref_out = 0;
    if (n > a->scratch_cap) {
        model_label_t *ns = VG_FAULT_ALLOC_FAILS() ? NULL : realloc(a->scratch, n * sizeof *ns);
        if (!ns) return vg_error_set(err, VG_ENOMEM, "out of memory");
        a->scratch = ns;
        a->scratch_cap = n;
    }
    if (n) memcpy(a->scratch, l, n * sizeof *l);
    size_t k = n;
    int rc = model_labels_normalize(a->scratch, &k, &a->db->o.limits, err);
    if (rc) return rc;
    batch_begin(a);
    if (t > a->max_t) return too_far_future(a);
    tsdb__series_t *s;
    bool created;
    rc = tsdb__head_get_or_create(a->db->head, a->scratch, k, model_labels_hash(a->scratch, k), 0,
                                  atomic_load_explicit(&a->db->max_series, memory_order_relaxed), a->gate, a->gate_ctx, &s, &created);
    if (rc == STORAGE_REJECT_SERIES_LIMIT_TOTAL) {
        atomic_fetch_add_explicit(&a->db->refused_total, 1, memory_order_relaxed);
        m_add(a->db->m.refused_total, 1);
        return rc;
    }
    if (rc == STORAGE_REJECT_SERIES_LIMIT) {
        atomic_fetch_add_explicit(&a->db->refused_gate, 1, memory_order_relaxed);
        m_add(a->db->m.refused_gate, 1);
        return rc;
    }
    if (rc) return vg_error_set(err, rc, "creating series: %s", vg_error_str(rc));
    if (created) m_set(a->db->m.head_series, (double)atomic_load(&a->db->head->n_series));
    if (ref_out) *ref_out = s->ref;
    return add_pending(a, s, t, v, err);
}

static int app_append_ref(storage_appender_t *base, uint64_t ref, int64_t t, double v, vg_error_t *err) {
    app_t *a = (app_t *)base;
    batch_begin(a);
    if (t > a->max_t) return too_far_future(a);
    tsdb__series_t *s = tsdb__head_by_ref(a->db->head, ref);
    if (!s) return vg_error_set(err, VG_ENOTFOUND, "unknown series reference %llu", (unsigned long long)ref);
    return add_pending(a, s, t, v, err);
}

/* A compression context from the database's pool, or a new one (NULL when out of memory). */
static ZSTD_CCtx *zctx_take(tsdb_db_t *db) {
    pthread_mutex_lock(&db->zmu);
    ZSTD_CCtx *z = db->n_zpool ? db->zpool[--db->n_zpool] : NULL;
    pthread_mutex_unlock(&db->zmu);
    return z ? z : VG_FAULT_ALLOC_FAILS() ? NULL : ZSTD_createCCtx();
}

static void zctx_give(tsdb_db_t *db, ZSTD_CCtx *z) {
    pthread_mutex_lock(&db->zmu);
    if (db->n_zpool < ZPOOL_MAX) db->zpool[db->n_zpool++] = z, z = NULL;
    pthread_mutex_unlock(&db->zmu);
    ZSTD_freeCCtx(z);
}

static int app_commit(storage_appender_t *base, vg_error_t *err) {
    app_t *a = (app_t *)base;
    tsdb_db_t *db = a->db;
    if (a->n == 0) {
        batch_end(a);
        return 0;
    }
    int rc = 0, rejected = 0;
    uint64_t end_pos = 0, accepted = 0, ooo = 0, dup = 0, oob = 0;
    if (db->wal) {
        tsdb__recbuf_reset(&a->rb);
        tsdb__samples_enc_t se;
        tsdb__rec_samples_begin(&a->rb, &se);
        for (size_t i = 0; i < a->n; i++) tsdb__rec_sample(&a->rb, &se, a->p[i].s->ref, a->p[i].t, a->p[i].v);
        tsdb__rec_samples_end(&a->rb, &se);
        tsdb__recbuf_t *samples = &a->rb;
        ZSTD_CCtx *z;
        if (db->o.wal_compression && !a->rb.failed && (z = zctx_take(db))) { /* outside the WAL lock */
            tsdb__recbuf_reset(&a->rz);
            tsdb__rec_compress(&a->rb, &a->rz, z);
            samples = &a->rz;
            zctx_give(db, z);
        }
        if (samples->failed) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory encoding the batch");
            goto out;
        }
        tsdb__wal_lock(db->wal);
        tsdb__recbuf_reset(&a->rs);
        tsdb__rec_begin(&a->rs, TSDB__REC_SERIES);
        for (size_t i = 0; i < a->n; i++) {
            tsdb__series_t *s = a->p[i].s;
            if (!atomic_load_explicit(&s->logged, memory_order_relaxed)) {
                tsdb__rec_series(&a->rs, s->ref, s->labels, s->n_labels);
                atomic_store(&s->logged, 2); /* 2: in this batch's record, not yet written */
            }
        }
        tsdb__rec_end(&a->rs);
        if (a->rs.failed) rc = vg_error_set(err, VG_ENOMEM, "out of memory encoding series");
        if (rc == 0 && a->rs.len) rc = tsdb__wal_write(db->wal, a->rs.p, a->rs.len, &end_pos, err);
        if (rc == 0) rc = tsdb__wal_write(db->wal, samples->p, samples->len, &end_pos, err);
        for (size_t i = 0; i < a->n; i++) {
            tsdb__series_t *s = a->p[i].s;
            if (atomic_load(&s->logged) == 2) atomic_store(&s->logged, rc == 0 ? 1 : 0);
        }
        if (rc) {
            tsdb__wal_unlock(db->wal);
            vg_log_error("tsdb", "WAL write failed, batch dropped", VG_LS("error", err ? err->msg : ""));
            selfmon_health_set("storage", SELFMON_DEGRADED, "WAL write failed; appends are being dropped");
            atomic_store(&db->wal_failed, true);
            goto out;
        }
        m_add(db->m.wal_bytes, (double)(a->rs.len + a->rb.len));
        if (atomic_load_explicit(&db->wal_failed, memory_order_relaxed) && atomic_exchange(&db->wal_failed, false))
            selfmon_health_set("storage", SELFMON_UP, "");
    } else {
        pthread_mutex_lock(&db->mem_commit);
    }
    for (size_t i = 0; i < a->n; i++) {
        /* A batch touches its series in an order unrelated to memory: fetch a series ahead, then (once
         * it is cached) the byte its open chunk grows at. Reading another series' open chunk here is
         * safe: it only changes under this lock (the WAL's or mem_commit) or before the db opens. */
        if (i + 8 < a->n) __builtin_prefetch(a->p[i + 8].s, 1);
        if (i + 4 < a->n) {
            const tsdb_xor_enc_t *e = &a->p[i + 4].s->open;
            if (e->buf) __builtin_prefetch(e->buf + 2 + e->nbits / 8, 1);
        }
        tsdb__series_t *s = a->p[i].s;
        pthread_mutex_t *mu = tsdb__series_lock(db->head, s);
        pthread_mutex_lock(mu);
        int r = tsdb__series_append_locked(db->head, s, a->p[i].t, a->p[i].v);
        pthread_mutex_unlock(mu);
        if (r == 0) accepted++;
        else if (r == TSDB__IGNORED) continue;
        else if (r == STORAGE_REJECT_OUT_OF_ORDER) ooo++;
        else if (r == STORAGE_REJECT_DUPLICATE) dup++;
        else if (r == STORAGE_REJECT_OUT_OF_BOUNDS) oob++;
        else if (rc == 0) rc = vg_error_set(err, r, "appending to the head: %s", vg_error_str(r));
    }
    if (db->wal) tsdb__wal_unlock(db->wal);
    else pthread_mutex_unlock(&db->mem_commit);
    rejected = (int)(ooo + dup + oob);
    atomic_fetch_add_explicit(&db->head->appended, accepted, memory_order_relaxed);
    m_add(db->m.appended, (double)accepted);
    m_add(db->m.ooo, (double)ooo);
    m_add(db->m.dup, (double)dup);
    m_add(db->m.oob, (double)oob);
    if (rc == 0 && db->wal && db->o.fsync == TSDB_FSYNC_ALWAYS) rc = tsdb__wal_wait_synced(db->wal, end_pos, err);
out:
    batch_end(a);
    return rc ? rc : rejected;
}

static void app_rollback(storage_appender_t *base) { batch_end((app_t *)base); }

static void app_free(storage_appender_t *base) {
    app_t *a = (app_t *)base;
    if (!a) return;
    batch_end(a);
    free(a->p);
    free(a->scratch);
    tsdb__recbuf_free(&a->rb);
    tsdb__recbuf_free(&a->rs);
    tsdb__recbuf_free(&a->rz);
    free(a);
}

static int app_set_series_gate(storage_appender_t *base, storage_series_gate_fn fn, void *ctx) {
    app_t *a = (app_t *)base;
    a->gate = fn;
    a->gate_ctx = ctx;
    return 0;
}

static const storage_appender_vt app_vt = {.append = app_append,
                                           .append_ref = app_append_ref,
                                           .commit = app_commit,
                                           .rollback = app_rollback,
                                           .free = app_free,
                                           .set_series_gate = app_set_series_gate};

int tsdb_db_appender(tsdb_db_t *db, storage_appender_t **out, vg_error_t *err) {
    *out = NULL;
    app_t *a = calloc(1, sizeof *a);
    if (!a) return vg_error_set(err, VG_ENOMEM, "out of memory");
    a->base.vt = &app_vt;
    a->db = db;
    *out = &a->base;
    return 0;
}

int tsdb_db_querier(tsdb_db_t *db, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    *out = NULL;
    if (!db->wal) {
        int r = tsdb__querier_new(db->head, mint, maxt, out, err);
        return r ? r : tsdb__dels_wrap(db->dels, mint, maxt, out, err);
    }
    /* under blocks_mu: the block list and the head querier's view of the head are one snapshot */
    pthread_mutex_lock(&db->blocks_mu);
    size_t n = 0, cap = db->n_blocks + 1;
    storage_querier_t *stack[16], **qs = cap <= 16 ? stack : malloc(cap * sizeof *qs);
    int rc = qs ? 0 : vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < db->n_blocks; i++) {
        const tsdb__block_meta_t *m = tsdb__block_meta(db->blocks[i]);
        if (m->mint > maxt || m->maxt <= mint) continue;
        if ((rc = tsdb__block_querier(db->blocks[i], mint, maxt, &qs[n], err)) == 0) n++;
    }
    if (rc == 0 && (rc = tsdb__querier_new(db->head, mint, maxt, &qs[n], err)) == 0 &&
        (rc = tsdb__dels_wrap(db->dels, mint, maxt, &qs[n], err)) == 0)
        n++;
    pthread_mutex_unlock(&db->blocks_mu);
    if (rc) {
        for (size_t i = 0; i < n; i++) storage_querier_close(qs[i]);
    } else {
        rc = tsdb__merge_querier_new(qs, n, out, err);
    }
    if (qs != stack) free(qs);
    return rc;
}

/* ---- for the administrative operations (admin.c) ---- */

tsdb__dels_t *tsdb__db_dels(tsdb_db_t *db) { return db->dels; }
int tsdb__db_block_add(tsdb_db_t *db, tsdb__block_t *b) { return add_block(db, b); }
tsdb__head_t *tsdb__db_head(tsdb_db_t *db) { return db->head; }
const char *tsdb__db_path(tsdb_db_t *db) { return db->path; }
const tsdb_options_t *tsdb__db_options(tsdb_db_t *db) { return &db->o; }

int tsdb__db_blocks(tsdb_db_t *db, tsdb__block_t ***out, size_t *n) {
    pthread_mutex_lock(&db->blocks_mu);
    tsdb__block_t **v = malloc((db->n_blocks ? db->n_blocks : 1) * sizeof *v);
    if (v)
        for (size_t i = 0; i < db->n_blocks; i++) tsdb__block_ref(v[i] = db->blocks[i]);
    *n = v ? db->n_blocks : 0;
    pthread_mutex_unlock(&db->blocks_mu);
    *out = v;
    return v ? 0 : VG_ENOMEM;
}

bool tsdb__db_block_replace(tsdb_db_t *db, tsdb__block_t *old, tsdb__block_t *nu) {
    pthread_mutex_lock(&db->blocks_mu);
    size_t i = 0;
    while (i < db->n_blocks && db->blocks[i] != old) i++;
    bool found = i < db->n_blocks;
    if (found && nu) db->blocks[i] = nu;
    else if (found) memmove(db->blocks + i, db->blocks + i + 1, (--db->n_blocks - i) * sizeof *db->blocks);
    if (found) set_block_metrics(db);
    pthread_mutex_unlock(&db->blocks_mu);
    if (found) tsdb__block_unref(old);
    return found;
}

int64_t tsdb_db_start_time(tsdb_db_t *db) {
    int64_t t = atomic_load(&db->head->mint);
    pthread_mutex_lock(&db->blocks_mu);
    if (db->n_blocks && tsdb__block_meta(db->blocks[0])->mint < t) t = tsdb__block_meta(db->blocks[0])->mint;
    pthread_mutex_unlock(&db->blocks_mu);
    return t;
}

int tsdb_db_feed(tsdb_db_t *db, const storage_feed_pos_t *from, storage_feed_t **out, vg_error_t *err) {
    *out = NULL;
    if (!db->wal) return vg_error_set(err, VG_EUNSUPPORTED, "an in-memory database has no WAL to feed from");
    char p[4096];
    snprintf(p, sizeof p, "%s/wal", db->path);
    return tsdb__feed_new(p, db->head, from, out, err);
}
