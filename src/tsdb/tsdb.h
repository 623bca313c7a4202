/* The embedded time-series database: an in-memory head (series, postings, open Gorilla chunks, full
 * chunks in mmapped files) made durable by a write-ahead log with checkpoints. Opens a data directory,
 * replays it, and hands out appenders and queriers implementing storage.h.
 *
 *   tsdb_options_t o;
 *   tsdb_options_default(&o);
 *   o.path = "./data";
 *   tsdb_db_t *db;
 *   if (tsdb_db_open(&o, &db, &err) < 0) ...;
 *   storage_appender_t *app; tsdb_db_appender(db, &app, &err);
 *   storage_append(app, labels, n, t_ms, v, &ref, &err); ...; storage_commit(app, &err);
 *   storage_querier_t *q; tsdb_db_querier(db, mint, maxt, &q, &err); ...; storage_querier_close(q);
 *   storage_appender_free(app); tsdb_db_close(db);
 *
 * Durability (fsync policy): with any policy a committed batch survives a crash of the process
 * (kill -9) — commit returns after write(2). ALWAYS also survives an OS crash or power loss (commit
 * returns after fdatasync, shared by concurrent committers: group commit); INTERVAL can lose the last
 * fsync_interval_ms of commits on an OS crash; NEVER leaves it to the kernel (about 30 s). Layout of the
 * directory: docs/storage.md; byte formats: docs/format/wal.md and docs/format/chunks.md. */
#ifndef VG_TSDB_TSDB_H
#define VG_TSDB_TSDB_H

#include "model/labels.h"
#include "tsdb/storage.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { TSDB_FSYNC_NEVER, TSDB_FSYNC_INTERVAL, TSDB_FSYNC_ALWAYS } tsdb_fsync_t;

/* Chunk encoding of blocks written by head compaction: vigil's dense encoding where it is smaller
 * (only vigil reads such blocks), or Prometheus' XOR throughout (promtool, Thanos and Mimir read
 * them). */
typedef enum { TSDB_BLOCK_CHUNKS_DENSE, TSDB_BLOCK_CHUNKS_XOR } tsdb_block_chunks_t;

#define TSDB_BLOCK_DURATION_MIN_MS (60 * 1000)

typedef struct tsdb_options {
    const char *path;              /* data directory (created); NULL: in memory only, no WAL */
    int64_t retention_ms;          /* drop data older than newest - retention (default 15d); 0 = keep */
    uint64_t retention_bytes;      /* blocks + WAL + head chunk files above this: oldest blocks go
                                      (default 0 = no size limit) */
    tsdb_fsync_t fsync;            /* default TSDB_FSYNC_INTERVAL */
    int64_t fsync_interval_ms;     /* for INTERVAL (default 1000) */
    uint64_t wal_segment_bytes;    /* segment size before a new one is cut (default 64 MiB) */
    bool wal_compression;          /* samples records zstd-compressed when that is smaller (default true) */
    unsigned checkpoint_segments;  /* checkpoint once this many segments are closed since the last one
                                      (default 8; 0 = only by tsdb_db_checkpoint()) */
    int64_t out_of_bounds_ms;      /* reject samples older than head max time - this (default 1h, as
                                      Prometheus' half chunk range); 0 = no bound */
    int64_t max_future_ms;         /* reject samples more than this ahead of the wall clock at the start
                                      of the batch (default 10m, as limits.max_future), so one bad
                                      timestamp cannot move the head's time range; 0 = no bound */
    uint64_t max_series;           /* the head refuses to create series past this many, on every append
                                      path (STORAGE_REJECT_SERIES_LIMIT_TOTAL); WAL replay is never
                                      refused, so a head may open above it. 0 = no cap (default) */
    bool wal_repair;               /* on a corrupt record mid-WAL: skip it and go on (default true);
                                      false: tsdb_db_open fails with VG_ECORRUPT */
    bool mmap_chunks;              /* full chunks to mmapped files under path (default true) */
    uint64_t chunk_file_bytes;     /* size of one head chunk file (default 128 MiB) */
    model_label_limits_t limits;   /* label validation limits (default MODEL_LIMITS_DEFAULT) */
    bool register_metrics;         /* register vigil_* metrics in selfmon_default() (default true) */
    int64_t block_duration_ms;     /* time range of a block cut from the head (default 2h, at least
                                      TSDB_BLOCK_DURATION_MIN_MS): head chunks are cut at its multiples,
                                      and once the head spans 1.5x it the oldest aligned range is written
                                      as a block (with a path) */
    tsdb_block_chunks_t block_chunk_encoding; /* default TSDB_BLOCK_CHUNKS_DENSE */
    bool manual_compaction;        /* no compaction thread: only tsdb_db_compact() compacts (tests,
                                      tools); default false */
} tsdb_options_t;

typedef struct tsdb_db tsdb_db_t;

void tsdb_options_default(tsdb_options_t *o);

/* Opens (creating if needed) and replays the database. *out is owned: close with tsdb_db_close().
 * Returns 0, VG_EUNAVAIL (directory locked by another process), VG_EIO, VG_ECORRUPT (only with
 * wal_repair off), VG_ENOMEM; err says which file and why. */
int tsdb_db_open(const tsdb_options_t *opts, tsdb_db_t **out, vg_error_t *err);
/* Stops background work, syncs the WAL and frees everything. Open appenders/queriers must be freed
 * first. */
void tsdb_db_close(tsdb_db_t *db);

/* A new appender (owned: storage_appender_free). */
int tsdb_db_appender(tsdb_db_t *db, storage_appender_t **out, vg_error_t *err);
/* A querier over [mint, maxt] (inclusive, ms). Owned: storage_querier_close. While it is open,
 * retention cannot drop data it may read. */
int tsdb_db_querier(tsdb_db_t *db, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err);

/* The oldest timestamp the database may hold: the first block's min time, or the head's when older
 * (INT64_MAX when empty). What a query older than this wants is not here (remote_read goes elsewhere
 * for it). */
int64_t tsdb_db_start_time(tsdb_db_t *db);
/* One querier over several (each owned by it from now on, closed with it, even when this fails):
 * series merged by labels, samples by time, a timestamp held by several sources read once from the
 * first of them. Every source must hand out sorted series. n == 1 returns qs[0] itself. Owned:
 * storage_querier_close. VG_EINVAL for n == 0, VG_ENOMEM. */
int tsdb_merge_queriers(storage_querier_t **qs, size_t n, storage_querier_t **out, vg_error_t *err);

/* Applies retention and writes a WAL checkpoint now (normally done in the background). Waits for open
 * queriers and appender batches to finish, so never call it from a thread that holds one. */
int tsdb_db_checkpoint(tsdb_db_t *db, vg_error_t *err);
/* Writes blocks from the head while it spans more than 1.5 block durations, then compacts blocks as
 * the leveled planner decides (overlapping blocks, ranges of block_duration × 3^i, tombstones) and
 * applies retention (normally done in the background, every second). Returns the number of blocks
 * written or <0 (the head keeps the data; a failed block compaction keeps its parents).
 * Like tsdb_db_checkpoint, never call it from a thread holding a querier or an appender batch. No-op
 * without a path. */
int tsdb_db_compact(tsdb_db_t *db, vg_error_t *err);
/* A reader of the WAL (storage_feed_t, storage.h) from position `from` (NULL: from the end of the WAL,
 * as a new remote_write queue starts: "now", knowing every live series). Owned: storage_feed_free;
 * free it before tsdb_db_close. It reads the files on its own thread and never blocks writers; what a
 * checkpoint deletes before the feed read it is reported through the handler's gap(). VG_EUNSUPPORTED
 * for an in-memory database (no WAL). */
int tsdb_db_feed(tsdb_db_t *db, const storage_feed_pos_t *from, storage_feed_t **out, vg_error_t *err);
/* fsyncs the WAL now. */
int tsdb_db_sync(tsdb_db_t *db, vg_error_t *err);

/* The number of series carrying label `name` with one of `values` (a tenant's series) whose newest
 * sample is at or after since_ms, counting series created and still awaiting their first sample;
 * since_ms == INT64_MIN counts every such series in the head, in O(n) from the postings. */
uint64_t tsdb_db_count_series(tsdb_db_t *db, const char *name, const char *const *values, size_t n, int64_t since_ms);

/* Changes the head's cap on series (tsdb_options_t.max_series) for appends from now on; existing
 * series are never dropped for it. */
void tsdb_db_set_max_series(tsdb_db_t *db, uint64_t max_series);

typedef struct tsdb_stats {
    uint64_t head_series;
    uint64_t head_chunks;       /* full chunks */
    uint64_t head_chunk_bytes;  /* bytes of full chunks (in files or memory) */
    uint64_t samples_appended;
    uint64_t samples_out_of_order;
    uint64_t samples_duplicate;
    uint64_t samples_out_of_bounds;
    uint64_t samples_too_far_future;
    uint64_t series_refused_total;   /* new series refused by max_series since open */
    uint64_t series_refused_gate;    /* new series refused by an appender's series gate since open */
    uint64_t max_series;             /* the cap the head was opened with (0 = none) */
    int64_t head_mint, head_maxt; /* INT64_MAX/INT64_MIN when empty */
    uint64_t wal_bytes;           /* written since open */
    uint64_t wal_segments;        /* on disk now */
    uint64_t replay_samples;
    double replay_seconds;
    uint64_t replay_corrupt_records;
    uint64_t replay_first_segment, replay_last_segment; /* WAL segments replayed at open; 0, 0: none */
    uint64_t checkpoints;
    uint64_t replay_samples_skipped; /* WAL samples replay skipped because blocks hold them */
    uint64_t blocks;                 /* blocks loaded */
    uint64_t block_bytes;            /* their size on disk */
    uint64_t blocks_corrupt;         /* block directories set aside at open as unreadable */
    uint64_t compactions;            /* head compactions that wrote a block since open */
    uint64_t compactions_failed;
    int64_t blocks_maxt;             /* newest block's max time (exclusive); INT64_MIN: no block */
    int64_t blocks_mint;             /* oldest block's min time; INT64_MAX: no block */
    uint64_t compactions_level;      /* blocks merged into a block of a larger range since open */
    uint64_t compactions_vertical;   /* overlapping blocks merged since open */
    uint64_t compactions_tombstone;  /* blocks rewritten without their deleted samples since open */
    uint64_t time_retentions;        /* retention passes that deleted blocks by time since open */
    uint64_t size_retentions;        /* ... by size */
    uint64_t blocks_retained_away;   /* blocks deleted by retention since open */
    uint64_t parents_removed_at_open;/* blocks deleted at open as parents of a compacted block */
    uint64_t chunk_read_errors;      /* corrupt block chunks met by queries since open */
    uint64_t storage_bytes;          /* blocks + WAL + head chunk files: what retention_bytes limits */
    char corrupt_block[32];          /* ULID of the last block set aside at open ("" if none) */
    char corrupt_reason[256];        /* and why */
} tsdb_stats_t;

void tsdb_db_stats(tsdb_db_t *db, tsdb_stats_t *out);

/* ---- writing blocks directly (src/tsdb/block_build.c): import ----
 * A builder collects samples through appenders (labels validated with `limits`; out-of-order and
 * duplicate samples refused as the head refuses them, with no time bounds) and writes one block per
 * aligned range [k * block_ms, (k + 1) * block_ms) holding samples, its minTime/maxTime spanning its
 * samples ([first, last + 1), as promtool's blocks). Blocks are staged in
 * dir/<ULID>.tmp-for-creation and appear in dir only at publish; freeing the builder without
 * publishing removes everything it wrote. Commit on its appenders keeps the samples (nothing is
 * written until flush); rollback discards everything appended since the last flush. */
typedef struct tsdb_block_builder tsdb_block_builder_t;

typedef struct tsdb_block_builder_opts {
    const char *dir;             /* the data directory the blocks are published into (created) */
    int64_t block_ms;            /* range of a block (Prometheus' default: 2h) */
    bool xor_chunks;             /* Prometheus' XOR chunks only (promtool, Prometheus, Thanos read them);
                                    false: vigil's dense encoding wherever it is smaller */
    model_label_limits_t limits; /* zeroed: MODEL_LIMITS_DEFAULT */
} tsdb_block_builder_opts_t;

typedef struct tsdb_block_info {
    char ulid[27];
    int64_t mint, maxt; /* [mint, maxt) */
    uint64_t n_samples, n_series, n_chunks;
} tsdb_block_info_t;

int tsdb_block_builder_new(const tsdb_block_builder_opts_t *o, tsdb_block_builder_t **out, vg_error_t *err);
/* An appender into b (owned: storage_appender_free; it does not free b). One thread at a time. */
int tsdb_block_builder_appender(tsdb_block_builder_t *b, storage_appender_t **out, vg_error_t *err);
/* Bytes the builder holds for samples collected since the last flush (chunks, series, chunk refs;
 * label strings not included). */
uint64_t tsdb_block_builder_bytes(const tsdb_block_builder_t *b);
/* Writes (stages) the blocks of everything collected so far and empties the builder. */
int tsdb_block_builder_flush(tsdb_block_builder_t *b, vg_error_t *err);
/* Moves every staged block into dir (on failure none stays there). *blocks (borrowed from b, valid
 * until it is freed) lists them in the order written. */
int tsdb_block_builder_publish(tsdb_block_builder_t *b, const tsdb_block_info_t **blocks, size_t *n_blocks,
                               vg_error_t *err);
void tsdb_block_builder_free(tsdb_block_builder_t *b);

/* ---- administration (src/tsdb/admin.c): Prometheus' /api/v1/admin/tsdb/... ----
 * One of these runs at a time; queries and appends go on meanwhile. */
#define TSDB_SNAPSHOT_NAME_MAX 64
/* Hard-links every block into <path>/snapshots/<name>/ and, with_head, writes the head's data there as
 * blocks too (not into the db). name: "<YYYYMMDDTHHMMSSZ>-<16 hex digits>". VG_EUNSUPPORTED in memory. */
int tsdb_db_snapshot(tsdb_db_t *db, bool with_head, char name[TSDB_SNAPSHOT_NAME_MAX], vg_error_t *err);
/* Deletes the samples in [mint, maxt] (inclusive) of the series matching every matcher in ms: tombstones
 * in the blocks, a durable pending deletion for the head (applied at query time, tombstones at head
 * compaction). Matchers are borrowed for the call. */
int tsdb_db_delete_series(tsdb_db_t *db, model_matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, vg_error_t *err);
/* Rewrites every block that has tombstones without the deleted samples (new block first, then the old
 * one is dropped). */
int tsdb_db_clean_tombstones(tsdb_db_t *db, vg_error_t *err);
/* Loads the block directories that appeared under the data directory since open (`vigil import` into
 * a running server's directory) and drops those whose directory is gone. Returns how many changed, or
 * <0. A block that does not open is logged and left out. */
int tsdb_db_reload_blocks(tsdb_db_t *db, vg_error_t *err);

/* `vigil tsdb list|dump|export|verify` over block directories (src/tsdb/cli.c); argv[0] is the
 * subcommand. A --match selector is turned into matchers by parse_selector (main.c passes PromQL's
 * parser: tsdb does not depend on promql): it fills ms[0..*n) (cap slots, each owned by the caller:
 * model_matcher_free) or returns a VG_E* code with err set. Returns the process exit code. */
typedef int (*tsdb_selector_parse_fn)(const char *selector, model_matcher_t **ms, size_t cap, size_t *n,
                                      vg_error_t *err);
int tsdb_cmd(int argc, char **argv, tsdb_selector_parse_fn parse_selector);

#endif
